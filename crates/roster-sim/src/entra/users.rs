//! `/users`, `/users/{id}` and `/users/{id}/manager`.

use serde_json::{json, Map, Value};

use super::errors::{bad_request, not_found, GraphResponse};
use super::graph::{has_any, Call, USER_READ};
use super::paging::{page, PageCtx};
use super::tenant::{ObjectKind, User};
use super::SimState;

/// What Graph returns for a user when no `$select` is given, and nothing more.
pub const DEFAULT_USER_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

/// Properties `$select` may name on a user. Unknown names are a 400, as in Graph.
pub const USER_PROPERTIES: &[&str] = &[
    "id",
    "accountEnabled",
    "ageGroup",
    "businessPhones",
    "city",
    "companyName",
    "country",
    "createdDateTime",
    "creationType",
    "department",
    "displayName",
    "employeeHireDate",
    "employeeId",
    "employeeLeaveDateTime",
    "employeeType",
    "externalUserState",
    "faxNumber",
    "givenName",
    "identities",
    "imAddresses",
    "jobTitle",
    "lastPasswordChangeDateTime",
    "mail",
    "mailNickname",
    "mobilePhone",
    "officeLocation",
    "onPremisesImmutableId",
    "onPremisesSamAccountName",
    "onPremisesSyncEnabled",
    "otherMails",
    "postalCode",
    "preferredLanguage",
    "proxyAddresses",
    "showInAddressList",
    "state",
    "streetAddress",
    "surname",
    "usageLocation",
    "userPrincipalName",
    "userType",
];

const LIFECYCLE_READ: &[&str] = &["User-LifeCycleInfo.Read.All", "User-LifeCycleInfo.ReadWrite.All"];

pub fn is_user_property(name: &str) -> bool {
    USER_PROPERTIES.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// Checks a `$select` against the user type: 400 on a name Graph would not know.
pub fn check_user_select(select: Option<&[String]>) -> Result<(), GraphResponse> {
    for name in select.unwrap_or_default() {
        if !is_user_property(name) {
            return Err(bad_request(&format!("Could not find a property named '{name}' on type 'microsoft.graph.user'.")));
        }
    }
    Ok(())
}

/// The user as Graph shows it: the default set, or exactly the selected properties (nulls
/// included). employeeLeaveDateTime reads as null without a lifecycle permission.
pub fn project_user(s: &SimState, user: &User, select: Option<&[String]>) -> Map<String, Value> {
    let lifecycle = has_any(s, LIFECYCLE_READ);
    let names: Vec<&str> = match select {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => DEFAULT_USER_PROPERTIES.to_vec(),
    };
    let mut out = Map::new();
    for name in names {
        let canonical = USER_PROPERTIES.iter().find(|p| p.eq_ignore_ascii_case(name)).copied().unwrap_or(name);
        let value = match canonical {
            "id" => json!(user.id),
            "employeeLeaveDateTime" if !lifecycle => Value::Null,
            other => user.props.get(other).cloned().unwrap_or(Value::Null),
        };
        out.insert(canonical.to_string(), value);
    }
    out
}

/// `$expand=manager` or `$expand=manager($select=id,...)`; anything else is a 400.
fn parse_expand(call: &Call) -> Result<Option<Option<Vec<String>>>, GraphResponse> {
    let Some(raw) = call.query.get("expand") else {
        return Ok(None);
    };
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("manager") {
        return Ok(Some(None));
    }
    let inner = raw
        .strip_prefix("manager(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.trim().strip_prefix("$select=").or_else(|| r.trim().strip_prefix("select=")));
    match inner {
        Some(list) => Ok(Some(Some(list.split(',').map(|p| p.trim().to_string()).collect()))),
        None => Err(bad_request(&format!(
            "Parsing OData Select and Expand failed: Could not find a property named '{raw}' on type 'microsoft.graph.user'."
        ))),
    }
}

fn with_manager(s: &SimState, user: &User, mut obj: Map<String, Value>, expand: &Option<Option<Vec<String>>>) -> Map<String, Value> {
    if let Some(select) = expand {
        // An absent manager is left out entirely, not set to null.
        if let Some(manager) = user.manager.as_deref().and_then(|m| s.tenant.users.get(m)) {
            let mut m = project_user(s, manager, select.as_deref());
            m.insert("@odata.type".into(), json!(ObjectKind::User.odata_type()));
            obj.insert("manager".into(), Value::Object(m));
        }
    }
    obj
}

pub fn list_users(s: &mut SimState, call: &Call) -> GraphResponse {
    if !has_any(s, USER_READ) {
        return super::errors::forbidden();
    }
    let select = call.query.select();
    if let Err(e) = check_user_select(select.as_deref()) {
        return e;
    }
    let expand = match parse_expand(call) {
        Ok(e) => e,
        Err(e) => return e,
    };
    if call.query.count() && !call.eventual() {
        return bad_request("$count is not currently supported.");
    }
    let total = s.tenant.user_order.len();
    let ctx = PageCtx {
        base: &call.base,
        path: &call.path,
        query: &call.query,
        context: "users",
        count: call.query.count().then_some(total),
        empty_pages: s.faults.empty_pages,
    };
    let state: &SimState = s;
    let rendered = page(&state.page_key, &ctx, total, |window| {
        state.tenant.user_order[window]
            .iter()
            .filter_map(|id| state.tenant.users.get(id))
            .map(|u| Value::Object(with_manager(state, u, project_user(state, u, select.as_deref()), &expand)))
            .collect()
    });
    match rendered {
        Ok(body) => GraphResponse::json(200, body),
        Err(e) => e,
    }
}

pub fn get_user(s: &mut SimState, call: &Call, key: &str) -> GraphResponse {
    if !has_any(s, USER_READ) {
        return super::errors::forbidden();
    }
    let select = call.query.select();
    if let Err(e) = check_user_select(select.as_deref()) {
        return e;
    }
    let expand = match parse_expand(call) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let Some(user) = s.tenant.find_user(key) else {
        return not_found(key);
    };
    let mut obj = with_manager(s, user, project_user(s, user, select.as_deref()), &expand);
    obj.insert("@odata.context".into(), json!(format!("{}/$metadata#users/$entity", call.base)));
    GraphResponse::json(200, Value::Object(obj))
}

pub fn get_manager(s: &mut SimState, call: &Call, key: &str) -> GraphResponse {
    if !has_any(s, USER_READ) {
        return super::errors::forbidden();
    }
    let select = call.query.select();
    if let Err(e) = check_user_select(select.as_deref()) {
        return e;
    }
    let Some(user) = s.tenant.find_user(key) else {
        return not_found(key);
    };
    let Some(manager) = user.manager.as_deref().and_then(|m| s.tenant.users.get(m)) else {
        return not_found("manager");
    };
    let mut obj = project_user(s, manager, select.as_deref());
    obj.insert("@odata.type".into(), json!(ObjectKind::User.odata_type()));
    obj.insert("@odata.context".into(), json!(format!("{}/$metadata#directoryObjects/$entity", call.base)));
    GraphResponse::json(200, Value::Object(obj))
}
