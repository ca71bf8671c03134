//! PUT (RFC 7644 §3.5.1): replace a resource with the client's full representation.
//!
//! Choices, each allowed by the RFC and what Okta's "PUT everything" update expects:
//! - omitted read-write attributes are cleared: the incoming body is the new resource;
//! - read-only input (`id`, `meta`, `groups`, `manager.displayName`) is ignored and the
//!   stored values are kept;
//! - an immutable attribute that has a value may be repeated but not changed or dropped
//!   (`mutability`); one without a value may be set;
//! - `password` is discarded;
//! - the body must pass [`crate::limits::check_text`] and the result
//!   [`crate::limits::check_document`].

use crate::coerce::{check_required, normalize_resource, set_schemas, strip_mutability};
use crate::error::ScimError;
use crate::schema::{get_ci, AttributeDef, Mutability, Schema};
use serde_json::{Map, Value};

pub fn apply_put(existing: &Value, incoming: &Value, schema: &Schema) -> Result<Value, ScimError> {
    let Value::Object(old) = existing else {
        return Err(ScimError::internal("the stored resource is not a JSON object"));
    };
    crate::limits::check_text(incoming)?;
    let mut new = normalize_resource(incoming, schema)?;
    strip_mutability(&mut new, schema, Mutability::ReadOnly);
    strip_mutability(&mut new, schema, Mutability::WriteOnly);
    let Value::Object(new_map) = &mut new else {
        return Err(ScimError::internal("normalisation returned a non-object"));
    };
    carry_over(old, new_map, schema.top_level())?;
    for ext in &schema.extensions {
        let old_ext = get_ci(old, ext.def.id).and_then(Value::as_object).cloned().unwrap_or_default();
        let slot = new_map.entry(ext.def.id.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(new_ext) = slot {
            carry_over(&old_ext, new_ext, ext.def.attributes.iter())?;
        }
    }
    set_schemas(&mut new, schema);
    check_required(&new, schema, "PUT")?;
    crate::limits::check_document(&new, schema)?;
    Ok(new)
}

/// Restores read-only values from `old` and enforces immutability.
fn carry_over<'a>(
    old: &Map<String, Value>,
    new: &mut Map<String, Value>,
    attributes: impl Iterator<Item = &'a AttributeDef>,
) -> Result<(), ScimError> {
    for attr in attributes {
        let before = get_ci(old, attr.name);
        match attr.mutability {
            Mutability::ReadOnly => {
                if let Some(v) = before {
                    new.insert(attr.name.to_owned(), v.clone());
                }
            }
            Mutability::Immutable => match (before, new.get(attr.name)) {
                (Some(b), Some(n)) if b != n => return Err(ScimError::mutability(format!("\"{}\" is immutable and cannot change", attr.name))),
                (Some(b), None) => {
                    new.insert(attr.name.to_owned(), b.clone());
                }
                _ => {}
            },
            Mutability::ReadWrite | Mutability::WriteOnly => {}
        }
        if attr.is_complex() && !attr.multi_valued {
            keep_read_only_subs(attr, before, new);
        }
    }
    Ok(())
}

/// `manager.displayName` and the like: kept from the stored value while the complex
/// attribute still points at the same `value`.
fn keep_read_only_subs(attr: &AttributeDef, before: Option<&Value>, new: &mut Map<String, Value>) {
    let (Some(Value::Object(before)), Some(Value::Object(after))) = (before, new.get_mut(attr.name)) else {
        return;
    };
    if get_ci(before, "value") != get_ci(after, "value") {
        return;
    }
    for sub in attr.sub_attributes.iter().filter(|s| s.mutability == Mutability::ReadOnly) {
        if let Some(v) = get_ci(before, sub.name) {
            after.insert(sub.name.to_owned(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{AttributeDef, SchemaDef, ENTERPRISE_USER_URN, USER_URN};
    use crate::ScimType;
    use serde_json::json;

    fn stored() -> Value {
        json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "id": "u-1",
            "externalId": "00u1",
            "userName": "alice",
            "title": "Engineer",
            "active": true,
            "groups": [{"value": "g-1", "display": "Eng"}],
            "meta": {"resourceType": "User", "version": "W/\"3\""},
            ENTERPRISE_USER_URN: {"department": "R&D", "manager": {"value": "m-1", "displayName": "Boss"}}
        })
    }

    #[test]
    fn read_only_input_is_ignored_and_stored_values_kept() {
        let incoming = json!({
            "schemas": [USER_URN],
            "id": "evil", "meta": {"version": "forged"}, "groups": [{"value": "g-admin"}],
            "userName": "alice", "active": true,
            ENTERPRISE_USER_URN: {"department": "R&D", "manager": {"value": "m-1", "displayName": "Someone"}}
        });
        let out = apply_put(&stored(), &incoming, Schema::user()).unwrap();
        assert_eq!(out["id"], "u-1");
        assert_eq!(out["meta"], stored()["meta"]);
        assert_eq!(out["groups"], stored()["groups"]);
        assert_eq!(out[ENTERPRISE_USER_URN]["manager"]["displayName"], "Boss");
    }

    #[test]
    fn omitted_read_write_attributes_are_cleared() {
        let out = apply_put(&stored(), &json!({"userName": "alice", "active": false}), Schema::user()).unwrap();
        assert!(out.get("title").is_none());
        assert!(out.get("externalId").is_none());
        assert!(out.get(ENTERPRISE_USER_URN).is_none());
        assert_eq!(out["schemas"], json!([USER_URN]));
        assert_eq!(out["active"], false);
    }

    #[test]
    fn password_is_stripped_and_string_booleans_coerced() {
        let out = apply_put(&stored(), &json!({"userName": "alice", "password": "x", "active": "False"}), Schema::user()).unwrap();
        assert!(out.get("password").is_none());
        assert_eq!(out["active"], false);
    }

    #[test]
    fn user_name_is_required() {
        let e = apply_put(&stored(), &json!({"active": true}), Schema::user()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn a_changed_manager_loses_the_old_display_name() {
        let incoming = json!({"userName": "alice", ENTERPRISE_USER_URN: {"manager": {"value": "m-2"}}});
        let out = apply_put(&stored(), &incoming, Schema::user()).unwrap();
        assert_eq!(out[ENTERPRISE_USER_URN]["manager"], json!({"value": "m-2"}));
    }

    #[test]
    fn immutable_attributes_cannot_change() {
        let schema = Schema {
            name: "Badge",
            endpoint: "/Badges",
            description: "",
            common: Vec::new(),
            core: SchemaDef {
                id: "urn:example:Badge",
                name: "Badge",
                description: "",
                attributes: vec![AttributeDef::string("serial").mutability(Mutability::Immutable), AttributeDef::string("label")],
            },
            extensions: Vec::new(),
        };
        let existing = json!({"serial": "S1", "label": "a"});
        let same = apply_put(&existing, &json!({"serial": "S1", "label": "b"}), &schema).unwrap();
        assert_eq!(same["label"], "b");
        let omitted = apply_put(&existing, &json!({"label": "b"}), &schema).unwrap();
        assert_eq!(omitted["serial"], "S1");
        let e = apply_put(&existing, &json!({"serial": "S2"}), &schema).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        let fresh = apply_put(&json!({"label": "a"}), &json!({"serial": "S9"}), &schema).unwrap();
        assert_eq!(fresh["serial"], "S9");
    }
}
