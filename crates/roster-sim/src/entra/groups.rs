//! `/groups`, `/groups/{id}`, `/groups/{id}/members` and `/groups/{id}/transitiveMembers`.

use serde_json::{json, Map, Value};

use super::errors::{bad_request, forbidden, not_found, unsupported_query, GraphResponse};
use super::graph::{has_any, Call, GROUP_MEMBER_READ, USER_READ};
use super::paging::{page, PageCtx};
use super::tenant::ObjectKind;
use super::users::{is_user_property, project_user};
use super::SimState;

pub const DEFAULT_GROUP_PROPERTIES: &[&str] =
    &["id", "createdDateTime", "description", "displayName", "groupTypes", "mail", "mailEnabled", "mailNickname", "securityEnabled"];

pub const GROUP_PROPERTIES: &[&str] = &[
    "id",
    "classification",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "securityEnabled",
    "visibility",
];

const OTHER_PROPERTIES: &[&str] = &["id", "displayName", "mail", "accountEnabled", "deviceId", "operatingSystem"];

pub fn is_group_property(name: &str) -> bool {
    GROUP_PROPERTIES.iter().any(|p| p.eq_ignore_ascii_case(name))
}

pub fn project_props(
    id: &str,
    props: &std::collections::BTreeMap<String, Value>,
    known: &[&str],
    default: &[&str],
    select: Option<&[String]>,
) -> Map<String, Value> {
    let names: Vec<&str> = match select {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => default.to_vec(),
    };
    let mut out = Map::new();
    for name in names {
        // On a mixed list, a property the type does not have is simply not there.
        let Some(canonical) = known.iter().find(|p| p.eq_ignore_ascii_case(name)).copied() else {
            continue;
        };
        let value = if canonical == "id" { json!(id) } else { props.get(canonical).cloned().unwrap_or(Value::Null) };
        out.insert(canonical.to_string(), value);
    }
    out
}

fn check_group_id(id: &str) -> Result<(), GraphResponse> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(bad_request(&format!("Invalid object identifier '{id}'.")));
    }
    Ok(())
}

pub fn get_group(s: &mut SimState, call: &Call, id: &str) -> GraphResponse {
    if !has_any(s, GROUP_MEMBER_READ) {
        return forbidden();
    }
    if let Err(e) = check_group_id(id) {
        return e;
    }
    let select = call.query.select();
    for name in select.as_deref().unwrap_or_default() {
        if !is_group_property(name) {
            return bad_request(&format!("Could not find a property named '{name}' on type 'microsoft.graph.group'."));
        }
    }
    let Some(group) = s.tenant.groups.get(id) else {
        return not_found(id);
    };
    let mut obj = project_props(&group.id, &group.props, GROUP_PROPERTIES, DEFAULT_GROUP_PROPERTIES, select.as_deref());
    obj.insert("@odata.context".into(), json!(format!("{}/$metadata#groups/$entity", call.base)));
    GraphResponse::json(200, Value::Object(obj))
}

/// The words `$search="displayName:..."` looks for: Graph matches each at the start of a word
/// of the display name, case-insensitively.
fn search_terms(raw: &str) -> Result<Vec<String>, GraphResponse> {
    let quoted = raw.trim().strip_prefix('"').and_then(|r| r.strip_suffix('"'));
    let Some((property, value)) = quoted.and_then(|q| q.split_once(':')) else {
        return Err(bad_request(&format!("Syntax error: character '{}' is not valid at position 0 in '{raw}'.", raw.chars().next().unwrap_or(' '))));
    };
    if !property.trim().eq_ignore_ascii_case("displayName") && !property.trim().eq_ignore_ascii_case("description") {
        return Err(bad_request(&format!("Invalid search property '{property}'.")));
    }
    Ok(value.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect())
}

fn matches_search(name: &str, terms: &[String]) -> bool {
    let words: Vec<String> = name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    terms.iter().all(|t| words.iter().any(|w| w.starts_with(t.as_str())))
}

/// `GET /groups`, and `GET /groups?$search="displayName:..."`, an advanced query that needs
/// `ConsistencyLevel: eventual`.
pub fn list_groups(s: &mut SimState, call: &Call) -> GraphResponse {
    if !has_any(s, GROUP_MEMBER_READ) {
        return forbidden();
    }
    let select = call.query.select();
    let ids: Vec<String> = match call.query.get("search") {
        None => s.tenant.group_order.clone(),
        Some(_) if !call.eventual() => {
            return unsupported_query(
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
            );
        }
        Some(raw) => match search_terms(raw) {
            Err(e) => return e,
            Ok(terms) => s
                .tenant
                .group_order
                .iter()
                .filter(|id| {
                    let name = s.tenant.groups.get(*id).and_then(|g| g.props.get("displayName")).and_then(Value::as_str).unwrap_or("");
                    matches_search(name, &terms)
                })
                .cloned()
                .collect(),
        },
    };
    let count = (call.query.count() && call.eventual()).then_some(ids.len());
    let ctx = PageCtx { base: &call.base, path: &call.path, query: &call.query, context: "groups", count, empty_pages: s.faults.empty_pages };
    let state: &SimState = s;
    let rendered = page(&state.page_key, &ctx, ids.len(), |window| {
        ids[window]
            .iter()
            .filter_map(|id| state.tenant.groups.get(id))
            .map(|g| Value::Object(project_props(&g.id, &g.props, GROUP_PROPERTIES, DEFAULT_GROUP_PROPERTIES, select.as_deref())))
            .collect()
    });
    match rendered {
        Ok(body) => GraphResponse::json(200, body),
        Err(e) => e,
    }
}

fn cast_kind(cast: &str) -> Option<ObjectKind> {
    match cast.to_ascii_lowercase().as_str() {
        "microsoft.graph.user" => Some(ObjectKind::User),
        "microsoft.graph.group" => Some(ObjectKind::Group),
        "microsoft.graph.orgcontact" => Some(ObjectKind::OrgContact),
        "microsoft.graph.device" => Some(ObjectKind::Device),
        _ => None,
    }
}

/// One member as a member list shows it, with its `@odata.type`.
fn project_member(s: &SimState, id: &str, select: Option<&[String]>) -> Option<Value> {
    let kind = s.tenant.kind_of(id)?;
    let mut obj = match kind {
        ObjectKind::User => {
            let user = s.tenant.users.get(id)?;
            if has_any(s, USER_READ) {
                project_user(s, user, select)
            } else {
                // Without a user permission Graph still lists the member, with its id only.
                let mut limited = project_user(s, user, select);
                for (k, v) in limited.iter_mut() {
                    if k != "id" {
                        *v = Value::Null;
                    }
                }
                limited.insert("id".into(), json!(id));
                limited
            }
        }
        ObjectKind::Group => {
            let g = s.tenant.groups.get(id)?;
            project_props(&g.id, &g.props, GROUP_PROPERTIES, DEFAULT_GROUP_PROPERTIES, select)
        }
        ObjectKind::OrgContact | ObjectKind::Device => {
            let o = s.tenant.others.get(id)?;
            project_props(&o.id, &o.props, OTHER_PROPERTIES, &["id", "displayName"], select)
        }
    };
    obj.insert("@odata.type".into(), json!(kind.odata_type()));
    Some(Value::Object(obj))
}

/// `GET /groups/{id}/members[/{cast}]` and `GET /groups/{id}/transitiveMembers[/{cast}]`.
pub fn list_members(s: &mut SimState, call: &Call, id: &str, transitive: bool, cast: Option<&str>) -> GraphResponse {
    if !has_any(s, GROUP_MEMBER_READ) {
        return forbidden();
    }
    if let Err(e) = check_group_id(id) {
        return e;
    }
    let cast = match cast.map(|c| (c, cast_kind(c))) {
        None => None,
        Some((_, Some(kind))) => Some(kind),
        Some((raw, None)) => return unsupported_query(&format!("The specified cast '{raw}' is not supported on this navigation property.")),
    };
    // Casts on transitive lists and $count are advanced queries: both need the header, and the
    // header is not part of any nextLink, so a client must send it again on every page.
    if transitive && cast.is_some() && !(call.eventual() && call.query.count()) {
        return unsupported_query("Request with cast on transitive members is only supported with ConsistencyLevel: eventual and $count=true.");
    }
    if call.query.count() && !call.eventual() {
        return bad_request("$count is not currently supported.");
    }
    if call.eventual() && call.query.has("expand") {
        return unsupported_query("$expand is not supported with advanced queries.");
    }
    let select = call.query.select();
    for name in select.as_deref().unwrap_or_default() {
        let known = is_user_property(name) || is_group_property(name) || OTHER_PROPERTIES.iter().any(|p| p.eq_ignore_ascii_case(name));
        if !known {
            return bad_request(&format!("Could not find a property named '{name}' on type 'microsoft.graph.directoryObject'."));
        }
    }
    let Some(group) = s.tenant.groups.get(id) else {
        return not_found(id);
    };
    let members: Vec<String> = if transitive { s.tenant.transitive_members(id) } else { group.members.clone() };
    let keep = |m: &String| cast.is_none_or(|k| s.tenant.kind_of(m) == Some(k));
    let count = call.query.count().then(|| members.iter().filter(|m| keep(m)).count());
    let ctx =
        PageCtx { base: &call.base, path: &call.path, query: &call.query, context: "directoryObjects", count, empty_pages: s.faults.empty_pages };
    let state: &SimState = s;
    // The cast is applied after windowing, so a window of only groups yields an empty page
    // that still links to the next one.
    let rendered = page(&state.page_key, &ctx, members.len(), |window| {
        members[window].iter().filter(|m| keep(m)).filter_map(|m| project_member(state, m, select.as_deref())).collect()
    });
    match rendered {
        Ok(body) => GraphResponse::json(200, body),
        Err(e) => e,
    }
}

/// `GET /users/{id}/memberOf` and `GET /users/{id}/transitiveMemberOf`: the groups a user is in,
/// directly or through nested groups.
pub fn list_member_of(s: &mut SimState, call: &Call, user: &str, transitive: bool) -> GraphResponse {
    if !has_any(s, GROUP_MEMBER_READ) {
        return forbidden();
    }
    let Some(user) = s.tenant.find_user(user).map(|u| u.id.clone()) else {
        return not_found(user);
    };
    let select = call.query.select();
    let groups: Vec<String> = s
        .tenant
        .group_order
        .iter()
        .filter(|id| {
            if transitive {
                s.tenant.transitive_members(id).contains(&user)
            } else {
                s.tenant.groups.get(*id).is_some_and(|g| g.members.contains(&user))
            }
        })
        .cloned()
        .collect();
    let ctx = PageCtx {
        base: &call.base,
        path: &call.path,
        query: &call.query,
        context: "directoryObjects",
        count: None,
        empty_pages: s.faults.empty_pages,
    };
    let state: &SimState = s;
    let rendered = page(&state.page_key, &ctx, groups.len(), |window| {
        groups[window].iter().filter_map(|id| project_member(state, id, select.as_deref())).collect()
    });
    match rendered {
        Ok(body) => GraphResponse::json(200, body),
        Err(e) => e,
    }
}
