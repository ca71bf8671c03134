//! Size limits on what a SCIM client may send and store, and the checks that enforce them.
//!
//! Every write path calls them: [`crate::prepare_create`], [`crate::apply_put`] and
//! [`crate::apply_patch`] run [`check_text`] on their input and [`check_document`] on the
//! resource they produce, and the PATCH engine refuses an oversized request before applying
//! any of it. The HTTP layer also runs [`check_text`] on every request body first.
//!
//! Errors name the attribute and the limit, never the offending value: a 400 `invalidValue`
//! for a string, a value or a list that is too long, a 413 for a whole document or request
//! that is too large. Okta and Entra send a handful of operations and short strings, so real
//! clients stay far inside every limit.

#[cfg(test)]
mod tests;

use crate::error::ScimError;
use crate::schema::{AttributeDef, Mutability, Schema, GROUP_URN};
use serde_json::Value;
use std::io;

/// Operations in one PATCH request; a path-less operation counts once per attribute it
/// sets. Okta and Entra send a handful, Entra's membership batches far fewer than this. An
/// operation costs at most one pass over the values of the attribute it changes (successive
/// `add`s to one attribute less), so this bounds a request to a thousand such passes.
pub const MAX_OPERATIONS: usize = 1_000;

/// Values of one multi-valued attribute other than a Group's `members` (emails,
/// phoneNumbers, addresses...). People have a few of each; a hundred is generous.
pub const MAX_MULTI_VALUES: usize = 100;

/// Members of one Group, and values carried by one PATCH request. All-staff groups of large
/// organisations reach a few thousand; 20,000 members is a 3 to 4 MiB body, within the 4 MiB
/// the HTTP layer accepts.
pub const MAX_MEMBERS: usize = 20_000;

/// Serialised bytes of one `members` value. A member is an id, a display name, a `$ref` and
/// a type, about 200 bytes; with [`MAX_MEMBERS`] this keeps a Group's members under 20 MiB,
/// which [`MAX_DOCUMENT_BYTES`] does not cover.
pub const MAX_MEMBER_BYTES: usize = 1_024;

/// Characters in one string value. Names, e-mail addresses (254 at most) and URLs (about
/// 2,000 in practice) fit with room to spare.
pub const MAX_STRING_CHARS: usize = 4_096;

/// Serialised bytes of a User document, and of a Group document without its `members`, not
/// counting what the server maintains (`id`, `meta`, a User's `groups`). A typical User is
/// about 1 KiB; 256 KiB leaves room for every attribute at a generous size. Also the most a
/// PATCH request's value filters may copy into the values they match (see
/// [`crate::apply_patch`]).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Characters in a `filter=` expression or a PATCH `path`. Two hundred comparisons of
/// 80 characters each fit; parsing is linear, so this is the parser's main guard.
pub const MAX_FILTER_CHARS: usize = 16_384;

/// Comparisons in one filter: a filter is a lookup, not a program. Also bounds how deep a
/// chain of `and` / `or` makes the AST, which `Display`, `Drop` and evaluation walk
/// recursively.
pub const MAX_FILTER_TERMS: usize = 200;

/// Nesting of parentheses, `not` and value filters in one filter.
pub const MAX_FILTER_DEPTH: usize = 32;

/// Refuses a request body with a control character (`char::is_control`) other than tab, line
/// feed and carriage return in any string, object keys included, at any depth: a NUL cannot
/// be stored in PostgreSQL text, and the others only hide text from administrators.
///
/// 400 `invalidValue` naming the attribute path, e.g. `"name.givenName" contains a control
/// character`.
pub fn check_text(body: &Value) -> Result<(), ScimError> {
    each_string(body, |path, text| match text {
        Text::Value(s) if has_control(s) => Err(ScimError::invalid_value(match path {
            [] => "the body contains a control character".to_owned(),
            _ => format!("\"{}\" contains a control character", render(path)),
        })),
        Text::Key(k) if has_control(k) => Err(ScimError::invalid_value(match path {
            [] => "an attribute name contains a control character".to_owned(),
            _ => format!("an attribute name in \"{}\" contains a control character", render(path)),
        })),
        _ => Ok(()),
    })
}

/// Checks a resource about to be stored against the limits above: every string at most
/// [`MAX_STRING_CHARS`] characters and each multi-valued attribute at most
/// [`MAX_MULTI_VALUES`] values (400 `invalidValue`); a Group at most [`MAX_MEMBERS`]
/// members of at most [`MAX_MEMBER_BYTES`] each (400 `invalidValue`); the document at most
/// [`MAX_DOCUMENT_BYTES`] (413). Read-only attributes the server maintains (`id`, `meta`, a
/// User's `groups`) are neither counted nor measured.
pub fn check_document(document: &Value, schema: &Schema) -> Result<(), ScimError> {
    each_string(document, |path, text| match text {
        Text::Value(s) if too_long(s) => Err(ScimError::invalid_value(format!("\"{}\" is longer than {MAX_STRING_CHARS} characters", render(path)))),
        _ => Ok(()),
    })?;
    let Value::Object(map) = document else {
        return Err(ScimError::invalid_syntax("the resource must be a JSON object"));
    };
    // `{`, then each measured member with its `:` and the `,` or `}` after it.
    let mut bytes = 1usize;
    let mut measured = 0usize;
    for (key, value) in map {
        let attr = schema.top_level().find(|a| a.name.eq_ignore_ascii_case(key));
        let extension = schema.extension(key);
        if let Some(attr) = attr {
            check_values(key, attr, value, schema)?;
        }
        if let (Some(ext), Value::Object(fields)) = (extension, value) {
            for (name, v) in fields {
                if let Some(attr) = ext.def.attribute(name) {
                    check_values(&format!("{key}:{name}"), attr, v, schema)?;
                }
            }
        }
        let server_kept = attr.is_some_and(|a| a.mutability == Mutability::ReadOnly);
        if server_kept || attr.is_some_and(|a| is_members(a, schema)) {
            continue;
        }
        bytes = bytes.saturating_add(json_len(&Value::String(key.clone()))?).saturating_add(json_len(value)?).saturating_add(2);
        measured += 1;
    }
    if measured == 0 {
        bytes += 1;
    }
    if bytes > MAX_DOCUMENT_BYTES {
        let what = if is_group(schema) { "without its members " } else { "" };
        return Err(ScimError::payload_too_large(format!("the {} {what}is larger than {MAX_DOCUMENT_BYTES} bytes of JSON", schema.name)));
    }
    Ok(())
}

/// Refuses a PATCH request with more than [`MAX_OPERATIONS`] operations (413) or whose
/// operations carry more than [`MAX_MEMBERS`] values (400 `invalidValue`). Cheap: it reads
/// the envelope and the top level of each value only.
pub(crate) fn check_patch_size(operations: &[Value]) -> Result<(), ScimError> {
    if operations.len() > MAX_OPERATIONS {
        return Err(too_many_operations());
    }
    let mut units = 0usize;
    let mut values = 0usize;
    for operation in operations {
        let Value::Object(op) = operation else {
            units += 1;
            continue;
        };
        let has_path = match crate::schema::get_ci(op, "path") {
            None | Some(Value::Null) => false,
            Some(Value::String(p)) => !p.trim().is_empty(),
            Some(_) => true,
        };
        match crate::schema::get_ci(op, "value") {
            Some(Value::Object(fields)) if !has_path => {
                let mut keys = 0usize;
                for v in fields.values() {
                    match v {
                        // An extension URN holding its attributes (Entra's path-less form).
                        Value::Object(inner) => {
                            keys += inner.len().max(1);
                            values += inner.values().map(count_values).sum::<usize>();
                        }
                        other => {
                            keys += 1;
                            values += count_values(other);
                        }
                    }
                }
                units += keys.max(1);
            }
            Some(value) => {
                units += 1;
                values += count_values(value);
            }
            None => units += 1,
        }
        if units > MAX_OPERATIONS {
            return Err(too_many_operations());
        }
        if values > MAX_MEMBERS {
            return Err(ScimError::invalid_value(format!("the operations carry more than {MAX_MEMBERS} values; send them in several requests")));
        }
    }
    Ok(())
}

fn too_many_operations() -> ScimError {
    ScimError::payload_too_large(format!(
        "a PATCH request may have at most {MAX_OPERATIONS} operations (a path-less operation \
         counts once per attribute it sets); send them in several requests"
    ))
}

fn count_values(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::Array(items) => items.len(),
        _ => 1,
    }
}

/// Refuses the bytes a value filter would copy into the values it matched, once the request
/// has copied [`MAX_DOCUMENT_BYTES`] in all: without it, `members[value pr].display` with a
/// long value multiplies the request by the number of members.
pub(crate) fn spend_copy_budget(budget: &mut usize, copies: usize, value: &Value, attr: &str) -> Result<(), ScimError> {
    let total = copies.saturating_mul(json_len(value)?);
    match budget.checked_sub(total) {
        Some(left) => {
            *budget = left;
            Ok(())
        }
        None => Err(ScimError::payload_too_large(format!(
            "the value filters on \"{attr}\" would copy more than {MAX_DOCUMENT_BYTES} bytes \
             into the values they match"
        ))),
    }
}

fn is_group(schema: &Schema) -> bool {
    schema.core.id == GROUP_URN
}

fn is_members(attr: &AttributeDef, schema: &Schema) -> bool {
    is_group(schema) && attr.name == "members"
}

fn check_values(name: &str, attr: &AttributeDef, value: &Value, schema: &Schema) -> Result<(), ScimError> {
    if !attr.multi_valued || attr.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    let Value::Array(items) = value else {
        return Ok(());
    };
    let members = is_members(attr, schema);
    let limit = if members { MAX_MEMBERS } else { MAX_MULTI_VALUES };
    if items.len() > limit {
        return Err(ScimError::invalid_value(format!("\"{name}\" has {} values; at most {limit} are allowed", items.len())));
    }
    if members {
        for item in items {
            if json_len(item)? > MAX_MEMBER_BYTES {
                return Err(ScimError::invalid_value(format!("a value of \"{name}\" is larger than {MAX_MEMBER_BYTES} bytes of JSON")));
            }
        }
    }
    Ok(())
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

fn too_long(s: &str) -> bool {
    // A char is at least one byte, so only long byte strings need counting.
    s.len() > MAX_STRING_CHARS && s.chars().count() > MAX_STRING_CHARS
}

/// Counts what is written to it.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The length of `value` serialised as compact JSON, without building the text.
pub(crate) fn json_len(value: &Value) -> Result<usize, ScimError> {
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).map_err(|e| ScimError::internal(format!("measuring a JSON value failed: {e}")))?;
    Ok(counter.0)
}

/// One step of the path to a value: an object key or an array index.
#[derive(Debug, Clone, Copy)]
enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

/// What [`each_string`] visits.
enum Text<'v> {
    Key(&'v str),
    Value(&'v str),
}

/// Longer keys are cut in messages, which must stay short whatever the client sent.
const MAX_KEY_IN_MESSAGE: usize = 64;
/// Deeper paths show their first and last few steps only.
const MAX_STEPS_IN_MESSAGE: usize = 8;

/// `name.givenName`, `emails[1].value`, `urn:...:enterprise:2.0:User:employeeNumber`.
fn render(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    let mut after_urn = false;
    let half = MAX_STEPS_IN_MESSAGE / 2;
    for (step, seg) in path.iter().enumerate() {
        if path.len() > MAX_STEPS_IN_MESSAGE && step >= half && step < path.len() - half {
            if step == half {
                out.push('…');
            }
            continue;
        }
        let after_gap = path.len() > MAX_STEPS_IN_MESSAGE && step == path.len() - half;
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() && !after_gap {
                    out.push(if after_urn { ':' } else { '.' });
                }
                let mut chars = key.chars();
                out.extend(chars.by_ref().take(MAX_KEY_IN_MESSAGE));
                if chars.next().is_some() {
                    out.push('…');
                }
                after_urn = key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
            }
            Seg::Index(i) => {
                out.push_str(&format!("[{i}]"));
                after_urn = false;
            }
        }
    }
    out
}

enum Children<'v> {
    Object(serde_json::map::Iter<'v>),
    Array(std::iter::Enumerate<std::slice::Iter<'v, Value>>),
}

impl<'v> Children<'v> {
    fn of(value: &'v Value) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Children::Object(map.iter())),
            Value::Array(items) => Some(Children::Array(items.iter().enumerate())),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<(Seg<'v>, &'v Value)> {
        match self {
            Children::Object(it) => it.next().map(|(k, v)| (Seg::Key(k.as_str()), v)),
            Children::Array(it) => it.next().map(|(i, v)| (Seg::Index(i), v)),
        }
    }
}

/// Visits every key and string value under `root` with its path, depth first, with an
/// explicit stack rather than recursion so that no nesting can exhaust the thread's stack.
fn each_string<'v>(root: &'v Value, mut visit: impl FnMut(&[Seg<'v>], Text<'v>) -> Result<(), ScimError>) -> Result<(), ScimError> {
    if let Value::String(s) = root {
        return visit(&[], Text::Value(s));
    }
    let Some(children) = Children::of(root) else {
        return Ok(());
    };
    // `path` holds the segment of every container on `stack` but the root.
    let mut stack = vec![children];
    let mut path: Vec<Seg<'v>> = Vec::new();
    while let Some(top) = stack.last_mut() {
        let Some((seg, child)) = top.next() else {
            stack.pop();
            path.pop();
            continue;
        };
        if let Seg::Key(key) = seg {
            visit(&path, Text::Key(key))?;
        }
        path.push(seg);
        match child {
            Value::String(s) => {
                visit(&path, Text::Value(s))?;
                path.pop();
            }
            other => match Children::of(other) {
                Some(grandchildren) => stack.push(grandchildren),
                None => {
                    path.pop();
                }
            },
        }
    }
    Ok(())
}
