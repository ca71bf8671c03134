//! `attributes` / `excludedAttributes` (RFC 7644 §3.9) and `returned` (RFC 7643 §2.4).

use crate::error::ScimError;
use crate::filter::{parse_patch_path, AttrPath};
use crate::schema::{get_ci, remove_ci, AttributeDef, Returned, Schema};
use serde_json::{Map, Value};

/// What one entry of `attributes` or `excludedAttributes` names.
enum Selected<'s> {
    /// A whole extension, by its URN.
    Extension(&'static str),
    Attribute {
        extension: Option<&'static str>,
        attr: &'s AttributeDef,
        sub: Option<&'s AttributeDef>,
    },
}

/// The resource as the client asked to see it. `attributes` and `excludedAttributes` are
/// the raw comma-separated query values and are mutually exclusive. `returned: always`
/// attributes (`id`, `schemas`) are always kept and `returned: never` (`password`) never
/// shown. Names the schema does not know are ignored, as a filter on them would be.
pub fn project(resource: &Value, attributes: Option<&str>, excluded_attributes: Option<&str>, schema: &Schema) -> Result<Value, ScimError> {
    let Value::Object(map) = resource else {
        return Err(ScimError::internal("a resource must be a JSON object"));
    };
    let mut out = map.clone();
    drop_by_returned(&mut out, schema, |r| r == Returned::Never);
    let included = parse_list(attributes, schema, "attributes")?;
    let excluded = parse_list(excluded_attributes, schema, "excludedAttributes")?;
    let out = match (included, excluded) {
        (Some(_), Some(_)) => return Err(ScimError::invalid_syntax("\"attributes\" and \"excludedAttributes\" cannot be used together")),
        (Some(selected), None) => include_only(&out, &selected, schema),
        (None, Some(selected)) => {
            for item in &selected {
                exclude(&mut out, item);
            }
            drop_empty(&mut out);
            out
        }
        (None, None) => {
            drop_by_returned(&mut out, schema, |r| r == Returned::Request);
            out
        }
    };
    Ok(Value::Object(out))
}

fn parse_list<'s>(raw: Option<&str>, schema: &'s Schema, param: &str) -> Result<Option<Vec<Selected<'s>>>, ScimError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(None);
    };
    let mut selected = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if let Some(ext) = schema.extension(name) {
            selected.push(Selected::Extension(ext.def.id));
            continue;
        }
        let parsed = parse_patch_path(name).map_err(|e| ScimError::invalid_syntax(format!("{param}: {}", e.detail)))?;
        if parsed.filter.is_some() {
            return Err(ScimError::invalid_syntax(format!("{param} takes attribute names, not filters")));
        }
        if let Some(r) = schema.resolve(&parsed.path) {
            selected.push(Selected::Attribute { extension: r.extension, attr: r.attr, sub: r.sub });
        } else if let Some(ext) = whole_extension(&parsed.path, schema) {
            selected.push(Selected::Extension(ext));
        }
    }
    Ok(Some(selected))
}

fn whole_extension(path: &AttrPath, schema: &Schema) -> Option<&'static str> {
    let urn = path.urn.as_deref()?;
    schema.extension(&format!("{urn}:{}", path.attr)).map(|e| e.def.id)
}

fn drop_by_returned(map: &mut Map<String, Value>, schema: &Schema, drop: impl Fn(Returned) -> bool) {
    for attr in schema.top_level() {
        drop_attr(map, attr, &drop);
    }
    for ext in &schema.extensions {
        if let Some(Value::Object(inner)) = map.get_mut(ext.def.id) {
            for attr in &ext.def.attributes {
                drop_attr(inner, attr, &drop);
            }
        }
    }
}

fn drop_attr(map: &mut Map<String, Value>, attr: &AttributeDef, drop: &impl Fn(Returned) -> bool) {
    if drop(attr.returned) {
        remove_ci(map, attr.name);
        return;
    }
    for sub in attr.sub_attributes.iter().filter(|s| drop(s.returned)) {
        if let Some(value) = map.get_mut(attr.name) {
            remove_sub(value, sub.name);
        }
    }
}

fn remove_sub(value: &mut Value, sub: &str) {
    match value {
        Value::Object(inner) => {
            remove_ci(inner, sub);
        }
        Value::Array(items) => items.iter_mut().for_each(|item| {
            if let Value::Object(inner) = item {
                remove_ci(inner, sub);
            }
        }),
        _ => {}
    }
}

fn include_only(source: &Map<String, Value>, selected: &[Selected<'_>], schema: &Schema) -> Map<String, Value> {
    let mut out = Map::new();
    for attr in schema.top_level().filter(|a| a.returned == Returned::Always) {
        if let Some(v) = get_ci(source, attr.name) {
            out.insert(attr.name.to_owned(), v.clone());
        }
    }
    for item in selected {
        match item {
            Selected::Extension(urn) => {
                if let Some(v) = get_ci(source, urn) {
                    out.insert((*urn).to_owned(), v.clone());
                }
            }
            Selected::Attribute { extension, attr, sub } => {
                let from = match extension {
                    Some(urn) => get_ci(source, urn).and_then(Value::as_object),
                    None => Some(source),
                };
                let Some(value) = from.and_then(|m| get_ci(m, attr.name)) else {
                    continue;
                };
                let to = match extension {
                    Some(urn) => match out.entry((*urn).to_owned()).or_insert_with(|| Value::Object(Map::new())) {
                        Value::Object(m) => m,
                        _ => continue,
                    },
                    None => &mut out,
                };
                match sub {
                    None => {
                        to.insert(attr.name.to_owned(), value.clone());
                    }
                    Some(sub) => copy_sub(value, to, attr.name, sub.name),
                }
            }
        }
    }
    drop_empty(&mut out);
    out
}

/// Copies one sub-attribute, keeping multi-valued elements aligned so that
/// `emails.value,emails.type` yields pairs from the same email.
fn copy_sub(value: &Value, to: &mut Map<String, Value>, name: &str, sub: &str) {
    match value {
        Value::Object(inner) => {
            let Some(v) = get_ci(inner, sub) else {
                return;
            };
            if let Value::Object(target) = to.entry(name.to_owned()).or_insert_with(|| Value::Object(Map::new())) {
                target.insert(sub.to_owned(), v.clone());
            }
        }
        Value::Array(items) => {
            let slot = to.entry(name.to_owned()).or_insert_with(|| Value::Array(vec![Value::Object(Map::new()); items.len()]));
            let Value::Array(targets) = slot else {
                return;
            };
            for (item, target) in items.iter().zip(targets.iter_mut()) {
                if let (Some(v), Value::Object(target)) = (item.as_object().and_then(|o| get_ci(o, sub)), target) {
                    target.insert(sub.to_owned(), v.clone());
                }
            }
        }
        _ => {}
    }
}

fn exclude(map: &mut Map<String, Value>, item: &Selected<'_>) {
    match item {
        Selected::Extension(urn) => {
            remove_ci(map, urn);
        }
        Selected::Attribute { attr, .. } if attr.returned == Returned::Always => {}
        Selected::Attribute { extension, attr, sub } => {
            let container = match extension {
                Some(urn) => match map.get_mut(*urn) {
                    Some(Value::Object(inner)) => inner,
                    _ => return,
                },
                None => map,
            };
            match sub {
                None => {
                    remove_ci(container, attr.name);
                }
                Some(sub) => {
                    if let Some(value) = container.get_mut(attr.name) {
                        remove_sub(value, sub.name);
                    }
                }
            }
        }
    }
}

/// Removes the empty objects and arrays projection leaves behind.
fn drop_empty(map: &mut Map<String, Value>) {
    for value in map.values_mut() {
        match value {
            Value::Array(items) => items.retain(|i| !matches!(i, Value::Object(o) if o.is_empty())),
            Value::Object(inner) => drop_empty(inner),
            _ => {}
        }
    }
    map.retain(|_, v| match v {
        Value::Array(items) => !items.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_URN, USER_URN};
    use crate::ScimType;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "id": "u-1",
            "userName": "alice",
            "password": "never shown",
            "name": {"givenName": "Alice", "familyName": "Hara"},
            "emails": [{"value": "a@x", "type": "work"}, {"value": "a@y", "type": "home"}],
            "active": true,
            "meta": {"resourceType": "User"},
            ENTERPRISE_USER_URN: {"department": "R&D", "manager": {"value": "m-1", "displayName": "Boss"}}
        })
    }

    fn run(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        project(&user(), attributes, excluded, Schema::user()).unwrap()
    }

    #[test]
    fn default_view_hides_the_password_only() {
        let mut expected = user();
        expected.as_object_mut().unwrap().remove("password");
        assert_eq!(run(None, None), expected);
    }

    #[test]
    fn attributes_keeps_id_and_schemas_and_what_was_asked() {
        let out = run(Some("userName, name.givenName,emails.value,password"), None);
        assert_eq!(
            out,
            json!({
                "schemas": [USER_URN, ENTERPRISE_USER_URN],
                "id": "u-1",
                "userName": "alice",
                "name": {"givenName": "Alice"},
                "emails": [{"value": "a@x"}, {"value": "a@y"}]
            })
        );
    }

    #[test]
    fn attributes_accepts_urn_paths_and_whole_extensions() {
        let out = run(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None);
        assert_eq!(out[ENTERPRISE_USER_URN], json!({"department": "R&D"}));
        let out = run(Some(ENTERPRISE_USER_URN), None);
        assert_eq!(out[ENTERPRISE_USER_URN]["manager"]["value"], "m-1");
        assert!(out.get("userName").is_none());
    }

    #[test]
    fn excluded_attributes_removes_but_never_id() {
        let out = run(None, Some("emails,id,name.familyName,manager"));
        assert!(out.get("emails").is_none());
        assert_eq!(out["id"], "u-1");
        assert_eq!(out["name"], json!({"givenName": "Alice"}));
        assert_eq!(out[ENTERPRISE_USER_URN], json!({"department": "R&D"}));
    }

    #[test]
    fn entra_excludes_members_from_groups() {
        let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "G",
                           "members": [{"value": "u1"}]});
        let out = project(&group, None, Some("members"), Schema::group()).unwrap();
        assert_eq!(out, json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "G"}));
    }

    #[test]
    fn both_parameters_at_once_is_an_error() {
        let e = project(&user(), Some("userName"), Some("emails"), Schema::user()).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidSyntax)));
    }

    #[test]
    fn unknown_names_are_ignored_and_filters_refused() {
        let out = run(Some("shoeSize,userName"), None);
        assert_eq!(out["userName"], "alice");
        assert!(project(&user(), Some("emails[type eq \"work\"]"), None, Schema::user()).is_err());
    }
}
