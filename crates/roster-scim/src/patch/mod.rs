//! PATCH (RFC 7644 §3.5.2): add, remove and replace, with the forms Okta and Entra send.
//!
//! The request is atomic: operations run in order on a copy, and the first failure
//! returns its error while the caller's resource stays as it was.
//!
//! Accepted beyond the letter of the RFC, each because a real client sends it:
//! - `op` in any case (`Add`, `Replace`, `Remove`: Entra);
//! - `"True"`/`"False"` for booleans (Entra), and the other coercions of [`crate::coerce`];
//! - no-path values whose keys are dotted paths (`name.givenName`), URN-qualified paths
//!   (`urn:...:enterprise:2.0:User:employeeNumber`) or a nested extension object (Entra's
//!   `aadOptscim062020` mode);
//! - `remove` on a multi-valued attribute with a `value` list removes only the listed values
//!   (Entra's group membership removal; the RFC would clear the whole attribute);
//! - read-only attributes inside a no-path value are ignored when unchanged (Okta's group
//!   rename repeats the `id`); naming one in `path` is a `mutability` error;
//! - with [`PatchMode::entra`], `replace` through a value filter that matches nothing adds
//!   a value built from the filter's `eq` terms (Entra's
//!   `emails[type eq "work"].value` on a user with no work email).
//!
//! `password` is accepted and discarded: the result never carries one.

mod apply;
#[cfg(test)]
mod hardening_tests;
mod index;
#[cfg(test)]
mod tests;

use crate::coerce::{check_required, set_schemas, strip_mutability};
use crate::error::ScimError;
use crate::filter::{parse_patch_path, AttrPath, Filter, PatchPath};
use crate::schema::{get_ci, Mutability, Schema};
use apply::apply_path_op;
use serde_json::Value;

pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Client-compatibility switches the caller chooses per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatchMode {
    /// `replace` through a value filter with no match adds a value instead of failing
    /// with `noTarget`.
    pub add_missing_value_path_target: bool,
}

impl PatchMode {
    /// RFC 7644 to the letter where it matters.
    pub fn strict() -> Self {
        PatchMode { add_missing_value_path_target: false }
    }

    /// For Microsoft Entra ID connections.
    pub fn entra() -> Self {
        PatchMode { add_missing_value_path_target: true }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

impl OpKind {
    fn parse(op: &str) -> Option<OpKind> {
        match op.trim().to_ascii_lowercase().as_str() {
            "add" => Some(OpKind::Add),
            "remove" => Some(OpKind::Remove),
            "replace" => Some(OpKind::Replace),
            _ => None,
        }
    }
}

/// What one request has left to spend while its operations run.
struct Run {
    mode: PatchMode,
    /// Bytes value filters may still copy into the values they match
    /// ([`crate::limits::MAX_DOCUMENT_BYTES`] per request).
    copy_budget: usize,
    /// Indexes of multi-valued attributes that successive `add`s keep up to date.
    indexes: index::IndexCache,
}

/// Applies a PatchOp request to `resource` and returns the patched resource, or the first
/// error. `resource` is never modified.
///
/// The request is checked against [`crate::limits`] before any operation runs: at most
/// [`MAX_OPERATIONS`](crate::limits::MAX_OPERATIONS) operations (413), no control character
/// (400), at most [`MAX_MEMBERS`](crate::limits::MAX_MEMBERS) values in all (400); value
/// filters copy at most [`MAX_DOCUMENT_BYTES`](crate::limits::MAX_DOCUMENT_BYTES) into the
/// values they match (413); and the result must pass [`crate::limits::check_document`].
pub fn apply_patch(resource: &Value, request: &Value, schema: &Schema, mode: PatchMode) -> Result<Value, ScimError> {
    let Value::Object(body) = request else {
        return Err(ScimError::invalid_syntax("the PATCH body must be a JSON object"));
    };
    if let Some(schemas) = get_ci(body, "schemas") {
        let names_patch_op =
            schemas.as_array().is_some_and(|ids| ids.iter().any(|id| id.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_URN))));
        if !names_patch_op {
            return Err(ScimError::invalid_syntax(format!("\"schemas\" must contain \"{PATCH_OP_URN}\"")));
        }
    }
    let Some(Value::Array(operations)) = get_ci(body, "Operations") else {
        return Err(ScimError::invalid_syntax("the PATCH body needs an \"Operations\" array"));
    };
    crate::limits::check_patch_size(operations)?;
    crate::limits::check_text(request)?;
    let mut run = Run { mode, copy_budget: crate::limits::MAX_DOCUMENT_BYTES, indexes: index::IndexCache::default() };
    let mut working = resource.clone();
    for (index, operation) in operations.iter().enumerate() {
        apply_operation(&mut working, operation, schema, &mut run)
            .map_err(|e| ScimError { detail: format!("Operations[{index}]: {}", e.detail), ..e })?;
    }
    strip_mutability(&mut working, schema, Mutability::WriteOnly);
    set_schemas(&mut working, schema);
    check_required(&working, schema, "after PATCH").map_err(|e| ScimError::mutability(e.detail))?;
    crate::limits::check_document(&working, schema)?;
    Ok(working)
}

fn apply_operation(doc: &mut Value, operation: &Value, schema: &Schema, run: &mut Run) -> Result<(), ScimError> {
    let Value::Object(op) = operation else {
        return Err(ScimError::invalid_syntax("each operation must be a JSON object"));
    };
    let op_name = get_ci(op, "op").and_then(Value::as_str).unwrap_or("");
    let Some(kind) = OpKind::parse(op_name) else {
        return Err(ScimError::invalid_syntax(format!("\"op\" must be \"add\", \"remove\" or \"replace\", not \"{op_name}\"")));
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(parse_patch_path(p)?),
        Some(other) => return Err(ScimError::invalid_path(format!("\"path\" must be a string, not {other}"))),
    };
    let value = get_ci(op, "value");
    match (kind, path) {
        (OpKind::Remove, None) => Err(ScimError::no_target("\"remove\" needs a \"path\" naming what to remove")),
        (_, Some(path)) => match whole_extension(&path, schema) {
            Some(urn) => apply_to_extension(doc, kind, urn, value, schema, run),
            None => {
                check_path_filter(&path, schema)?;
                apply_path_op(doc, kind, &path, value, schema, run)
            }
        },
        (_, None) => apply_without_path(doc, kind, value, schema, run),
    }
}

/// A path that is an extension's URN alone (`urn:...:enterprise:2.0:User`) names the
/// whole extension object; the URN parser reads its last segment as an attribute.
fn whole_extension(path: &PatchPath, schema: &Schema) -> Option<&'static str> {
    if path.filter.is_some() || path.path.sub_attr.is_some() {
        return None;
    }
    let urn = path.path.urn.as_deref()?;
    schema.extension(&format!("{urn}:{}", path.path.attr)).map(|e| e.def.id)
}

fn apply_to_extension(
    doc: &mut Value,
    kind: OpKind,
    urn: &'static str,
    value: Option<&Value>,
    schema: &Schema,
    run: &mut Run,
) -> Result<(), ScimError> {
    if kind == OpKind::Remove {
        if let Value::Object(map) = doc {
            crate::schema::remove_ci(map, urn);
        }
        run.indexes.clear();
        return Ok(());
    }
    let mut wrapped = serde_json::Map::new();
    wrapped.insert(urn.to_owned(), value.cloned().unwrap_or(Value::Null));
    apply_without_path(doc, kind, Some(&Value::Object(wrapped)), schema, run)
}

/// A filter in a path must name sub-attributes that exist; reported as `invalidPath`.
fn check_path_filter(path: &PatchPath, schema: &Schema) -> Result<(), ScimError> {
    let Some(filter) = &path.filter else {
        return Ok(());
    };
    let attr = AttrPath { sub_attr: None, ..path.path.clone() };
    Filter::ValuePath { attr, filter: Box::new(filter.clone()) }.validate(schema).map_err(|e| ScimError::invalid_path(e.detail))
}

/// `add`/`replace` without `path`: each key of `value` is an attribute, a dotted or
/// URN-qualified path, or an extension URN holding an object of its attributes.
fn apply_without_path(doc: &mut Value, kind: OpKind, value: Option<&Value>, schema: &Schema, run: &mut Run) -> Result<(), ScimError> {
    let Some(Value::Object(fields)) = value else {
        return Err(ScimError::invalid_value("without \"path\", \"value\" must be an object of attributes"));
    };
    for (key, v) in fields {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            match v {
                Value::Object(inner) => {
                    for (k, inner_v) in inner {
                        apply_keyed(doc, kind, &format!("{}:{k}", ext.def.id), inner_v, schema, run)?;
                    }
                }
                Value::Null if kind == OpKind::Replace => {
                    if let Value::Object(map) = doc {
                        crate::schema::remove_ci(map, ext.def.id);
                    }
                    run.indexes.clear();
                }
                Value::Null => {}
                _ => return Err(ScimError::invalid_value(format!("\"{key}\" must be an object"))),
            }
            continue;
        }
        apply_keyed(doc, kind, key, v, schema, run)?;
    }
    Ok(())
}

fn apply_keyed(doc: &mut Value, kind: OpKind, key: &str, value: &Value, schema: &Schema, run: &mut Run) -> Result<(), ScimError> {
    let path = parse_patch_path(key)?;
    let Some(resolved) = schema.resolve(&path.path) else {
        // Unknown keys (Entra's `roles`, unmapped custom attributes) are tolerated.
        return Ok(());
    };
    if resolved.attr.mutability == Mutability::ReadOnly || resolved.leaf().mutability == Mutability::ReadOnly {
        let current = apply::current_value(doc, &resolved);
        if resolved.attr.name == "id" && current.is_some_and(|c| c != value) {
            return Err(ScimError::mutability("\"id\" is assigned by the server and cannot change"));
        }
        return Ok(());
    }
    check_path_filter(&path, schema)?;
    apply_path_op(doc, kind, &path, Some(value), schema, run)
}
