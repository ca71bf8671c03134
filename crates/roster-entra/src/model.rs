//! What Roster reads from Graph, typed.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Properties Roster always selects on users (several are outside Graph's default set).
pub const USER_SELECT: &[&str] = &[
    "id",
    "accountEnabled",
    "givenName",
    "surname",
    "displayName",
    "userPrincipalName",
    "mail",
    "jobTitle",
    "department",
    "officeLocation",
    "preferredLanguage",
    "employeeHireDate",
    "employeeId",
];

#[derive(Debug, Clone, PartialEq)]
pub struct GraphUser {
    /// Immutable object id (equal to the OIDC `oid`).
    pub id: String,
    pub account_enabled: Option<bool>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub office_location: Option<String>,
    pub preferred_language: Option<String>,
    /// ISO 8601 as sent.
    pub employee_hire_date: Option<String>,
    pub employee_id: Option<String>,
    /// Extra properties asked for by custom mappings, by Graph name (nulls included).
    pub extra: BTreeMap<String, Value>,
}

/// Entra sometimes sends booleans as `"True"`/`"False"`; accept any case.
fn lenient_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl GraphUser {
    /// Reads a user object; `extra` names the custom properties to keep.
    pub fn from_json(obj: &Map<String, Value>, extra: &[String]) -> Option<GraphUser> {
        let id = text(obj, "id")?;
        Some(GraphUser {
            id,
            account_enabled: lenient_bool(obj.get("accountEnabled")),
            given_name: text(obj, "givenName"),
            surname: text(obj, "surname"),
            display_name: text(obj, "displayName"),
            user_principal_name: text(obj, "userPrincipalName"),
            mail: text(obj, "mail"),
            job_title: text(obj, "jobTitle"),
            department: text(obj, "department"),
            office_location: text(obj, "officeLocation"),
            preferred_language: text(obj, "preferredLanguage"),
            employee_hire_date: text(obj, "employeeHireDate"),
            employee_id: text(obj, "employeeId"),
            extra: extra.iter().map(|k| (k.clone(), obj.get(k).cloned().unwrap_or(Value::Null))).collect(),
        })
    }
}

/// The flattened membership of a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupMembers {
    /// Each user once, in the order Graph listed them.
    pub users: Vec<GraphUser>,
    /// Nested groups found under the group (not the group itself).
    pub group_ids: Vec<String>,
    /// Members of other types (contacts, devices, service principals), which Roster ignores.
    pub skipped: usize,
    /// `@odata.count`, when the listing asked for it.
    pub count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoMeta {
    /// Changes whenever the photo changes; compare it to skip downloads.
    pub etag: String,
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl PhotoMeta {
    /// `None` for the "no photo" answers: 404 is handled by callers; the 1x1 placeholder here.
    pub fn from_json(v: &Value) -> Option<PhotoMeta> {
        let etag = v.get("@odata.mediaEtag").and_then(Value::as_str).unwrap_or_default().to_string();
        let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
        if etag.is_empty() || id == "1x1" {
            return None;
        }
        let dim = |k: &str| v.get(k).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
        Some(PhotoMeta {
            etag,
            content_type: v.get("@odata.mediaContentType").and_then(Value::as_str).unwrap_or("image/jpeg").to_string(),
            width: dim("width"),
            height: dim("height"),
        })
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub etag: Option<String>,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo").field("content_type", &self.content_type).field("len", &self.bytes.len()).field("etag", &self.etag).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_booleans_and_nulls() {
        let v = json!({"id": "u1", "accountEnabled": "False", "givenName": null, "employeeId": 42, "costCenter": "C1"});
        let user = GraphUser::from_json(v.as_object().expect("object"), &["costCenter".into(), "division".into()]).expect("user");
        assert_eq!(user.account_enabled, Some(false));
        assert_eq!(user.given_name, None);
        assert_eq!(user.employee_id.as_deref(), Some("42"));
        assert_eq!(user.extra.get("costCenter"), Some(&json!("C1")));
        assert_eq!(user.extra.get("division"), Some(&Value::Null));
        assert!(GraphUser::from_json(json!({"mail": "x"}).as_object().expect("object"), &[]).is_none());
    }

    #[test]
    fn placeholder_photo_is_no_photo() {
        assert_eq!(PhotoMeta::from_json(&json!({"@odata.mediaEtag": "", "id": "1x1", "@odata.mediaContentType": "image/gif"})), None);
        let meta = PhotoMeta::from_json(&json!({"@odata.mediaEtag": "\"AB\"", "id": "240x240", "width": 240})).expect("meta");
        assert_eq!((meta.etag.as_str(), meta.width), ("\"AB\"", Some(240)));
    }
}
