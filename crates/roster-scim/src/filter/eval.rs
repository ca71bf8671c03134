//! In-memory evaluation of filters, for PATCH value filters and tests. Storage compiles the
//! same AST to SQL; the semantics here are the reference it should agree with:
//! - a multi-valued attribute matches if any of its values does (RFC 7644 §3.4.2.2);
//! - a complex multi-valued attribute named without a sub-attribute (`emails co "@x"`)
//!   compares its `value` sub-attribute;
//! - strings compare case-insensitively unless the attribute is `caseExact`;
//! - `ne` is `not eq`, so it holds when the attribute is absent; `eq null` means absent;
//! - a value of the wrong type (a number against a string attribute) never matches.

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use crate::error::ScimError;
use crate::schema::{get_ci, AttrType, AttributeDef, Mutability, Schema};
use serde_json::Value;
use std::cmp::Ordering;

/// What the paths of a filter are relative to.
#[derive(Clone, Copy)]
enum Scope<'s> {
    Resource(&'s Schema),
    /// One value of a multi-valued attribute, inside `attr[...]`.
    Element(Option<&'s AttributeDef>),
}

impl Filter {
    /// Whether `resource` (a SCIM resource's JSON) satisfies this filter.
    pub fn matches(&self, resource: &Value, schema: &Schema) -> bool {
        eval(self, resource, Scope::Resource(schema))
    }

    /// Whether one value of the multi-valued attribute `parent` satisfies this filter, as
    /// the filter inside `members[value eq "x"]` is applied.
    pub fn matches_element(&self, element: &Value, parent: Option<&AttributeDef>) -> bool {
        eval(self, element, Scope::Element(parent))
    }

    /// Checks the filter against the schema: every attribute exists, ordering operators
    /// are not used on booleans or binary data, complex attributes are compared through
    /// a sub-attribute, and `password` is never a filter target. Storage may rely on
    /// every path resolving once this passes.
    pub fn validate(&self, schema: &Schema) -> Result<(), ScimError> {
        validate(self, Scope::Resource(schema))
    }
}

fn eval(filter: &Filter, target: &Value, scope: Scope<'_>) -> bool {
    match filter {
        Filter::And(l, r) => eval(l, target, scope) && eval(r, target, scope),
        Filter::Or(l, r) => eval(l, target, scope) || eval(r, target, scope),
        Filter::Not(inner) => !eval(inner, target, scope),
        Filter::Present(path) => {
            let (values, _) = lookup(target, path, scope, false);
            values.iter().any(|v| is_present(v))
        }
        Filter::Compare { path, op, value } => {
            let (values, def) = lookup(target, path, scope, true);
            compare_values(&values, *op, value, def)
        }
        Filter::ValuePath { attr, filter } => {
            let (values, def) = lookup(target, attr, scope, false);
            values.iter().any(|element| eval(filter, element, Scope::Element(def)))
        }
    }
}

fn compare_values(values: &[&Value], op: CompareOp, expected: &CompValue, def: Option<&AttributeDef>) -> bool {
    let present: Vec<&Value> = values.iter().copied().filter(|v| !v.is_null()).collect();
    match (op, expected) {
        (CompareOp::Eq, CompValue::Null) => present.is_empty(),
        (CompareOp::Ne, CompValue::Null) => !present.is_empty(),
        (CompareOp::Ne, _) => !present.iter().any(|v| compare_one(v, CompareOp::Eq, expected, def)),
        _ => present.iter().any(|v| compare_one(v, op, expected, def)),
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// The values `path` names in `target`, flattened over multi-valued attributes, and the
/// definition of the attribute they belong to (None when the schema does not know it).
fn lookup<'v, 's>(target: &'v Value, path: &AttrPath, scope: Scope<'s>, default_to_value: bool) -> (Vec<&'v Value>, Option<&'s AttributeDef>) {
    let (base, attr_def, sub_def): (Option<&Value>, Option<&AttributeDef>, Option<&AttributeDef>) = match scope {
        Scope::Resource(schema) => match schema.resolve(path) {
            Some(resolved) => {
                let base = match resolved.extension {
                    Some(urn) => target.as_object().and_then(|o| get_ci(o, urn)),
                    None => Some(target),
                };
                (base, Some(resolved.attr), resolved.sub)
            }
            None => (Some(target), None, None),
        },
        Scope::Element(parent) => {
            // A simple multi-valued attribute's element is itself the `value`.
            if !target.is_object() && path.attr == "value" && path.sub_attr.is_none() {
                return (vec![target], parent);
            }
            let def = parent.and_then(|p| p.sub_attribute(&path.attr));
            let sub = def.zip(path.sub_attr.as_deref()).and_then(|(d, s)| d.sub_attribute(s));
            (Some(target), def, sub)
        }
    };
    let attr_name = attr_def.map_or(path.attr.as_str(), |d| d.name);
    let Some(found) = base.and_then(Value::as_object).and_then(|o| get_ci(o, attr_name)) else {
        return (Vec::new(), sub_def.or(attr_def));
    };
    let elements: Vec<&Value> = match found {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let sub_name = match (&path.sub_attr, attr_def) {
        (Some(sub), _) => Some(sub_def.map_or(sub.as_str(), |d| d.name)),
        (None, Some(def)) if default_to_value && def.is_complex() && def.multi_valued => Some("value"),
        _ => None,
    };
    match sub_name {
        None => (elements, attr_def),
        Some(sub) => {
            let leaf = sub_def.or_else(|| attr_def.and_then(|d| d.sub_attribute(sub)));
            let values = elements
                .into_iter()
                .filter_map(Value::as_object)
                .filter_map(|o| get_ci(o, sub))
                .flat_map(|v| match v {
                    Value::Array(items) => items.iter().collect::<Vec<_>>(),
                    other => vec![other],
                })
                .collect();
            (values, leaf)
        }
    }
}

fn string_boolean(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn compare_one(actual: &Value, op: CompareOp, expected: &CompValue, def: Option<&AttributeDef>) -> bool {
    let case_exact = def.is_some_and(|d| d.case_exact);
    match expected {
        CompValue::Null => false,
        CompValue::Bool(want) => {
            let have = match actual {
                Value::Bool(b) => Some(*b),
                Value::String(s) => string_boolean(s),
                _ => None,
            };
            have.is_some_and(|have| match op {
                CompareOp::Eq => have == *want,
                CompareOp::Ne => have != *want,
                _ => false,
            })
        }
        CompValue::Number(want) => match (actual.as_f64(), want.as_f64()) {
            (Some(have), Some(want)) => match op {
                CompareOp::Eq => have == want,
                CompareOp::Ne => have != want,
                _ => have.partial_cmp(&want).is_some_and(|ord| ordering_holds(op, ord)),
            },
            _ => false,
        },
        CompValue::Str(want) => {
            let Value::String(have) = actual else {
                return false;
            };
            if def.is_some_and(|d| d.attr_type == AttrType::Boolean) {
                return false;
            }
            if case_exact {
                compare_strings(have, want, op)
            } else {
                compare_strings(&have.to_lowercase(), &want.to_lowercase(), op)
            }
        }
    }
}

fn compare_strings(have: &str, want: &str, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => have == want,
        CompareOp::Ne => have != want,
        CompareOp::Co => have.contains(want),
        CompareOp::Sw => have.starts_with(want),
        CompareOp::Ew => have.ends_with(want),
        // ISO 8601 timestamps in one format order the same as text, which is what dateTime
        // comparison needs for the `meta.lastModified` values this server writes.
        _ => ordering_holds(op, have.cmp(want)),
    }
}

fn ordering_holds(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn validate(filter: &Filter, scope: Scope<'_>) -> Result<(), ScimError> {
    match filter {
        Filter::And(l, r) | Filter::Or(l, r) => {
            validate(l, scope)?;
            validate(r, scope)
        }
        Filter::Not(inner) => validate(inner, scope),
        Filter::Present(path) => resolve_for_filter(path, scope).map(|_| ()),
        Filter::Compare { path, op, .. } => {
            let (attr, leaf) = resolve_for_filter(path, scope)?;
            let leaf =
                if path.sub_attr.is_none() && attr.is_complex() && attr.multi_valued { attr.sub_attribute("value").unwrap_or(attr) } else { leaf };
            if leaf.is_complex() {
                return Err(ScimError::invalid_filter(format!(
                    "\"{path}\" is a complex attribute; compare one of its sub-attributes, e.g. \"{path}.{}\"",
                    leaf.sub_attributes.first().map_or("value", |s| s.name)
                )));
            }
            if op.is_ordering() && matches!(leaf.attr_type, AttrType::Boolean | AttrType::Binary) {
                return Err(ScimError::invalid_filter(format!(
                    "the operator '{op}' cannot be used on the {} attribute \"{path}\"",
                    leaf.attr_type.as_str()
                )));
            }
            Ok(())
        }
        Filter::ValuePath { attr: path, filter } => {
            let (attr, leaf) = resolve_for_filter(path, scope)?;
            if !attr.multi_valued || path.sub_attr.is_some() {
                return Err(ScimError::invalid_filter(format!("\"{path}\" is not a multi-valued attribute, so it takes no '[...]' filter")));
            }
            validate(filter, Scope::Element(Some(leaf)))
        }
    }
}

/// The attribute and the leaf a filter path names, or the invalidFilter that explains why not.
fn resolve_for_filter<'s>(path: &AttrPath, scope: Scope<'s>) -> Result<(&'s AttributeDef, &'s AttributeDef), ScimError> {
    let found = match scope {
        Scope::Resource(schema) => schema.resolve(path).map(|r| (r.attr, r.leaf())),
        Scope::Element(Some(parent)) if !parent.is_complex() && path.attr == "value" => Some((parent, parent)),
        Scope::Element(Some(parent)) => parent.sub_attribute(&path.attr).and_then(|attr| match &path.sub_attr {
            Some(sub) => attr.sub_attribute(sub).map(|leaf| (attr, leaf)),
            None => Some((attr, attr)),
        }),
        Scope::Element(None) => None,
    };
    let Some((attr, leaf)) = found else {
        return Err(ScimError::invalid_filter(format!("the filter names an unknown attribute \"{path}\"")));
    };
    if attr.mutability == Mutability::WriteOnly {
        return Err(ScimError::invalid_filter(format!("\"{path}\" is write-only and cannot be filtered on")));
    }
    Ok((attr, leaf))
}
