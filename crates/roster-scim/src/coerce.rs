//! Turns the JSON clients send into the canonical shape the rest of the crate works on.
//!
//! Entra and Okta bodies carry things a strict reader would refuse; each is tolerated here
//! on purpose:
//! - `null` means unassigned (RFC 7643 §2.5), so null attributes are dropped;
//! - empty arrays (`roles: []`, `groups: []`) and empty objects are dropped likewise;
//! - attributes the schema does not know (`roles`, custom mappings) are dropped, not refused;
//! - `"True"`/`"False"` in any case become booleans for boolean attributes;
//! - numbers and booleans sent for string attributes become strings;
//! - a bare string for a complex attribute with a `value` sub-attribute becomes
//!   `{"value": s}` (Entra's manager), and a one-element array for a single-valued complex
//!   attribute becomes its element;
//! - attribute names are matched case-insensitively and stored in their canonical spelling.
//!
//! Mutability is not judged here: `meta` and `id` survive coercion, and the caller (create,
//! PUT, PATCH) decides what read-only input means.

use crate::error::ScimError;
use crate::schema::{get_ci, AttrType, AttributeDef, Mutability, Schema, SchemaDef};
use serde_json::{Map, Value};

/// Coerces a whole resource body (POST or PUT).
pub fn normalize_resource(body: &Value, schema: &Schema) -> Result<Value, ScimError> {
    let Value::Object(input) = body else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
    };
    let mut out = Map::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            let Value::Object(fields) = value else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!("\"{key}\" must be an object")));
            };
            let coerced = normalize_attributes(fields, &ext.def)?;
            if !coerced.is_empty() {
                out.insert(ext.def.id.to_owned(), Value::Object(coerced));
            }
            continue;
        }
        let Some(def) = schema.top_level().find(|a| a.name.eq_ignore_ascii_case(key)) else {
            continue;
        };
        if let Some(v) = coerce_attribute(value, def)? {
            out.insert(def.name.to_owned(), v);
        }
    }
    let mut resource = Value::Object(out);
    set_schemas(&mut resource, schema);
    Ok(resource)
}

fn normalize_attributes(fields: &Map<String, Value>, def: &SchemaDef) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in fields {
        let Some(attr) = def.attribute(key) else {
            continue;
        };
        if let Some(v) = coerce_attribute(value, attr)? {
            out.insert(attr.name.to_owned(), v);
        }
    }
    Ok(out)
}

/// Coerces one attribute's value; `None` means unassigned.
pub fn coerce_attribute(value: &Value, def: &AttributeDef) -> Result<Option<Value>, ScimError> {
    if def.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Null => return Ok(None),
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(item, def)? {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    match value {
        Value::Array(items) if def.is_complex() => match items.as_slice() {
            [] => Ok(None),
            [only] => coerce_single(only, def),
            _ => Err(ScimError::invalid_value(format!("\"{}\" takes a single value, not a list of {}", def.name, items.len()))),
        },
        other => coerce_single(other, def),
    }
}

/// Coerces one value (one element of a multi-valued attribute, or a single value).
pub fn coerce_single(value: &Value, def: &AttributeDef) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if def.is_complex() {
        return coerce_complex(value, def);
    }
    coerce_simple(value, def).map(Some)
}

fn coerce_complex(value: &Value, def: &AttributeDef) -> Result<Option<Value>, ScimError> {
    let fields = match value {
        Value::Object(fields) => fields,
        Value::String(_) | Value::Number(_) | Value::Bool(_) if def.sub_attribute("value").is_some() => {
            let mut wrapped = Map::new();
            wrapped.insert("value".to_owned(), value.clone());
            return coerce_complex(&Value::Object(wrapped), def);
        }
        _ => return Err(ScimError::invalid_value(format!("\"{}\" must be an object with its sub-attributes", def.name))),
    };
    let mut out = Map::new();
    for (key, v) in fields {
        let Some(sub) = def.sub_attribute(key) else {
            continue;
        };
        if let Some(coerced) = coerce_single(v, sub)? {
            out.insert(sub.name.to_owned(), coerced);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn coerce_simple(value: &Value, def: &AttributeDef) -> Result<Value, ScimError> {
    let wrong = || ScimError::invalid_value(format!("\"{}\" must be a {}, not {value}", def.name, def.attr_type.as_str()));
    match def.attr_type {
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong()),
        },
        AttrType::Integer | AttrType::Decimal => match value {
            Value::Number(n) if def.attr_type == AttrType::Decimal || n.is_i64() || n.is_u64() => Ok(value.clone()),
            Value::String(s) => serde_json::from_str::<serde_json::Number>(s.trim())
                .ok()
                .filter(|n| def.attr_type == AttrType::Decimal || n.is_i64() || n.is_u64())
                .map(Value::Number)
                .ok_or_else(wrong),
            _ => Err(wrong()),
        },
        AttrType::String | AttrType::Reference | AttrType::DateTime | AttrType::Binary => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(wrong()),
        },
        AttrType::Complex => Err(wrong()),
    }
}

/// Sets `schemas` to the core URN plus each extension the resource carries data for.
pub fn set_schemas(resource: &mut Value, schema: &Schema) {
    let Value::Object(map) = resource else {
        return;
    };
    let mut ids = vec![Value::String(schema.core.id.to_owned())];
    for ext in &schema.extensions {
        if map.get(ext.def.id).is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
            ids.push(Value::String(ext.def.id.to_owned()));
        } else {
            map.remove(ext.def.id);
        }
    }
    map.insert("schemas".to_owned(), Value::Array(ids));
}

/// Removes every attribute whose mutability is `mutability` (top level, extensions and
/// sub-attributes of single-valued complex attributes).
pub(crate) fn strip_mutability(resource: &mut Value, schema: &Schema, mutability: Mutability) {
    let Value::Object(map) = resource else {
        return;
    };
    for attr in schema.top_level() {
        strip_in(map, attr, mutability);
    }
    for ext in &schema.extensions {
        if let Some(Value::Object(ext_map)) = map.get_mut(ext.def.id) {
            for attr in &ext.def.attributes {
                strip_in(ext_map, attr, mutability);
            }
        }
    }
}

fn strip_in(map: &mut Map<String, Value>, attr: &AttributeDef, mutability: Mutability) {
    if attr.mutability == mutability {
        crate::schema::remove_ci(map, attr.name);
        return;
    }
    if attr.is_complex() && !attr.multi_valued {
        if let Some(Value::Object(inner)) = map.get_mut(attr.name) {
            for sub in &attr.sub_attributes {
                if sub.mutability == mutability {
                    crate::schema::remove_ci(inner, sub.name);
                }
            }
            if inner.is_empty() {
                map.remove(attr.name);
            }
        }
    }
}

/// Checks that every required attribute has a value; `what` names the operation.
pub(crate) fn check_required(resource: &Value, schema: &Schema, what: &str) -> Result<(), ScimError> {
    let Value::Object(map) = resource else {
        return Err(ScimError::invalid_syntax("the resource must be a JSON object"));
    };
    for attr in schema.core.attributes.iter().filter(|a| a.required) {
        let present = get_ci(map, attr.name).is_some_and(|v| match v {
            Value::String(s) => !s.trim().is_empty(),
            Value::Null => false,
            _ => true,
        });
        if !present {
            return Err(ScimError::invalid_value(format!("{what}: \"{}\" is required", attr.name)));
        }
    }
    Ok(())
}

/// A POST body made ready to store: coerced, read-only input (`id`, `meta`, `groups`)
/// dropped, the password dropped (Roster never stores one, though Okta always sends it),
/// required attributes checked and `schemas` set. The caller assigns `id` and `meta`.
/// The body must pass [`crate::limits::check_text`] and the result
/// [`crate::limits::check_document`].
pub fn prepare_create(body: &Value, schema: &Schema) -> Result<Value, ScimError> {
    crate::limits::check_text(body)?;
    let mut resource = normalize_resource(body, schema)?;
    strip_mutability(&mut resource, schema, Mutability::ReadOnly);
    strip_mutability(&mut resource, schema, Mutability::WriteOnly);
    check_required(&resource, schema, "create")?;
    crate::limits::check_document(&resource, schema)?;
    Ok(resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_URN, USER_URN};
    use crate::ScimType;
    use serde_json::json;

    #[test]
    fn entra_create_body_is_tolerated() {
        let body = json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "UserName": "OMalley@contoso.com",
            "active": "True",
            "displayName": "Kathy O'Malley",
            "title": null,
            "roles": [],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "Kathy O'Malley", "familyName": "O'Malley", "givenName": "Kathy", "middleName": null},
            "emails": [{"Primary": true, "type": "work", "value": "OMalley@contoso.com"}],
            ENTERPRISE_USER_URN: {"employeeNumber": 701984, "department": null, "manager": null}
        });
        let out = normalize_resource(&body, Schema::user()).unwrap();
        assert_eq!(out["userName"], "OMalley@contoso.com");
        assert_eq!(out["active"], true);
        assert!(out.get("title").is_none() && out.get("roles").is_none());
        assert_eq!(out["meta"], json!({"resourceType": "User"}));
        assert_eq!(out["name"], json!({"formatted": "Kathy O'Malley", "familyName": "O'Malley", "givenName": "Kathy"}));
        assert_eq!(out["emails"][0]["primary"], true);
        assert_eq!(out[ENTERPRISE_USER_URN], json!({"employeeNumber": "701984"}));
        assert_eq!(out["schemas"], json!([USER_URN, ENTERPRISE_USER_URN]));
    }

    #[test]
    fn okta_create_drops_password_groups_and_read_only_input() {
        let body = json!({
            "schemas": [USER_URN],
            "id": "client-chosen",
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": true
        });
        let out = prepare_create(&body, Schema::user()).unwrap();
        assert!(out.get("password").is_none() && out.get("id").is_none() && out.get("groups").is_none());
        assert_eq!(out["externalId"], "00ujl29u0le5T6Aj10h7");
        assert_eq!(out["active"], true);
    }

    #[test]
    fn create_needs_a_user_name_and_a_json_object() {
        let e = prepare_create(&json!({"displayName": "x"}), Schema::user()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let e = prepare_create(&json!("x"), Schema::user()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        let e = prepare_create(&json!({"members": []}), Schema::group()).unwrap_err();
        assert!(e.detail.contains("displayName"));
    }

    #[test]
    fn wrong_types_are_invalid_value() {
        for body in [
            json!({"userName": "a", "active": "yes"}),
            json!({"userName": "a", "name": "Alice"}),
            json!({"userName": {"x": 1}}),
            json!({"userName": "a", ENTERPRISE_USER_URN: "x"}),
        ] {
            let e = normalize_resource(&body, Schema::user()).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{body}");
        }
    }
}
