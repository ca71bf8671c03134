//! One PATCH operation with a `path`, on the working copy.

use super::index::{is_primary, ValueIndex};
use super::{OpKind, Run};
use crate::coerce::{coerce_attribute, coerce_single};
use crate::error::ScimError;
use crate::filter::{CompValue, CompareOp, Filter, PatchPath};
use crate::schema::{get_ci, remove_ci, AttributeDef, Mutability, Resolved, Schema};
use serde_json::{Map, Value};

/// The stored value a resolved path points at, if any.
pub(super) fn current_value<'v>(doc: &'v Value, resolved: &Resolved<'_>) -> Option<&'v Value> {
    let map = doc.as_object()?;
    let container = match resolved.extension {
        Some(urn) => get_ci(map, urn)?.as_object()?,
        None => map,
    };
    let value = get_ci(container, resolved.attr.name)?;
    match resolved.sub {
        Some(sub) => get_ci(value.as_object()?, sub.name),
        None => Some(value),
    }
}

pub(super) fn apply_path_op(
    doc: &mut Value,
    kind: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    schema: &Schema,
    run: &mut Run,
) -> Result<(), ScimError> {
    let Some(resolved) = schema.resolve(&path.path) else {
        return Err(ScimError::invalid_path(format!("\"{}\" is not an attribute of {}", path.path, schema.name)));
    };
    let attr = resolved.attr;
    if attr.mutability == Mutability::ReadOnly || resolved.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly) {
        return Err(ScimError::mutability(format!("\"{}\" is read-only", path.path)));
    }
    if attr.mutability == Mutability::WriteOnly {
        // The password: accepted so the client's request succeeds, never kept.
        return Ok(());
    }
    let value = match (kind, value) {
        (OpKind::Remove, v) => v,
        (_, Some(v)) => Some(v),
        (_, None) => return Err(ScimError::invalid_value(format!("\"{}\" needs a \"value\"", path.path))),
    };
    let Value::Object(root) = doc else {
        return Err(ScimError::internal("the stored resource is not a JSON object"));
    };
    let container = match resolved.extension {
        None => root,
        Some(urn) => {
            if kind == OpKind::Remove && get_ci(root, urn).is_none() {
                return Ok(());
            }
            let key = crate::schema::key_ci(root, urn).unwrap_or_else(|| urn.to_owned());
            let slot = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            match slot {
                Value::Object(map) => map,
                _ => return Err(ScimError::internal("extension slot is not an object")),
            }
        }
    };
    normalise_key(container, attr.name);
    // Only an immutable attribute needs its old value: copying every other one would cost a
    // pass over all its values per operation.
    let before = if attr.mutability == Mutability::Immutable { container.get(attr.name).cloned() } else { None };
    // An index kept from an earlier operation is valid only while nothing else changed the
    // attribute: every operation takes it, and only `whole_attribute` gives it back.
    let cache_key = (resolved.extension, attr.name);
    let kept = run.indexes.take(cache_key);
    match (&path.filter, resolved.sub) {
        (None, None) => {
            if let Some(index) = whole_attribute(container, kind, attr, value, kept)? {
                run.indexes.put(cache_key, index);
            }
        }
        (None, Some(sub)) if attr.multi_valued => {
            return Err(ScimError::invalid_path(format!(
                "\"{}\" is multi-valued: select values with a filter, e.g. {}[type eq \"work\"].{}",
                attr.name, attr.name, sub.name
            )))
        }
        (None, Some(sub)) => sub_of_single(container, kind, attr, sub, value)?,
        (Some(filter), sub) => value_path(container, kind, attr, filter, sub, value, run)?,
    }
    if attr.mutability == Mutability::Immutable && before.is_some() && container.get(attr.name) != before.as_ref() {
        return Err(ScimError::mutability(format!("\"{}\" is immutable once set", attr.name)));
    }
    if let Some(urn) = resolved.extension {
        if let Value::Object(root) = doc {
            if root.get(urn).is_some_and(|v| v.as_object().is_some_and(Map::is_empty)) {
                root.remove(urn);
            }
        }
    }
    Ok(())
}

/// Stores the attribute under its canonical spelling only.
fn normalise_key(container: &mut Map<String, Value>, name: &str) {
    if container.contains_key(name) || crate::schema::key_ci(container, name).is_none() {
        return;
    }
    if let Some(v) = remove_ci(container, name) {
        container.insert(name.to_owned(), v);
    }
}

fn drop_read_only_subs(value: &mut Value, attr: &AttributeDef) {
    let read_only = |name: &str| attr.sub_attribute(name).is_some_and(|s| s.mutability == Mutability::ReadOnly);
    match value {
        Value::Object(map) => map.retain(|k, _| !read_only(k)),
        Value::Array(items) => items.iter_mut().for_each(|item| {
            if let Value::Object(map) = item {
                map.retain(|k, _| !read_only(k));
            }
        }),
        _ => {}
    }
}

/// `add`, `replace` or `remove` of a whole attribute. For a multi-valued one, `kept` is the
/// index of its values an earlier `add` left, and the index of the values now stored is
/// returned for the next operation.
pub(super) fn whole_attribute(
    container: &mut Map<String, Value>,
    kind: OpKind,
    attr: &AttributeDef,
    value: Option<&Value>,
    kept: Option<ValueIndex>,
) -> Result<Option<ValueIndex>, ScimError> {
    let name = attr.name;
    if kind == OpKind::Remove {
        let listed = match value {
            Some(v) if attr.multi_valued => coerce_attribute(v, attr)?,
            _ => None,
        };
        match (listed, container.get_mut(name)) {
            // Entra: `Remove` `members` with a value list removes only those members.
            (Some(Value::Array(listed)), Some(Value::Array(items))) => {
                // Linear: each value is compared only with the listed ones sharing its key.
                let index = ValueIndex::of(&listed, attr);
                items.retain(|item| !index.candidates(item).any(|l| listed.get(l).is_some_and(|l| same_value(item, l, attr))));
                if items.is_empty() {
                    container.remove(name);
                }
            }
            (Some(_), _) => {}
            (None, _) => {
                container.remove(name);
            }
        }
        return Ok(None);
    }
    let Some(mut coerced) = value.map(|v| coerce_attribute(v, attr)).transpose()?.flatten() else {
        // `replace` with null or `[]` unassigns (Okta pushes `members: []`); `add` of
        // nothing changes nothing.
        if kind == OpKind::Replace {
            container.remove(name);
            return Ok(None);
        }
        return Ok(kept);
    };
    drop_read_only_subs(&mut coerced, attr);
    if attr.multi_valued {
        let Value::Array(new_items) = coerced else {
            return Err(ScimError::internal("multi-valued coercion returned a single value"));
        };
        let mut items = match (kind, container.remove(name)) {
            (OpKind::Add, Some(Value::Array(existing))) => existing,
            _ => Vec::new(),
        };
        let mut touched = Vec::new();
        // Linear: each new value is compared only with the values that share its key. A
        // re-added value fills in missing sub-attributes, never `value`, so keys hold.
        let mut index = match kept {
            Some(index) if kind == OpKind::Add && index.len == items.len() => index,
            _ => ValueIndex::of(&items, attr),
        };
        for new_item in new_items {
            let found = index.candidates(&new_item).find(|&i| items.get(i).is_some_and(|item| same_value(item, &new_item, attr)));
            match found {
                Some(i) => {
                    // Re-adding is a no-op; only sub-attributes the value lacked are filled in.
                    if let (Some(Value::Object(old)), Value::Object(new)) = (items.get_mut(i), new_item) {
                        let primary = |m: &Map<String, Value>| m.get("primary") == Some(&Value::Bool(true));
                        let was_primary = primary(old);
                        for (k, v) in new {
                            if crate::schema::key_ci(old, &k).is_none() {
                                old.insert(k, v);
                            }
                        }
                        if !was_primary && primary(old) {
                            index.primaries += 1;
                        }
                    }
                    touched.push(i);
                }
                None => {
                    index.push(&new_item);
                    items.push(new_item);
                    touched.push(items.len() - 1);
                }
            }
        }
        // Without a primary value it would change nothing, after a pass over every value.
        // With one it may change others, and with them the key of a value without `value`
        // (the whole value): the index is not kept then.
        let kept = if index.primaries > 0 {
            enforce_single_primary(&mut items, &touched);
            None
        } else {
            Some(index)
        };
        if !items.is_empty() {
            container.insert(name.to_owned(), Value::Array(items));
        }
        return Ok(kept);
    }
    match (container.get_mut(name), coerced) {
        // Complex: given sub-attributes replace theirs, the others stay (RFC 7644 §3.5.2.3).
        (Some(Value::Object(old)), Value::Object(new)) if attr.is_complex() => old.extend(new),
        (_, new) => {
            container.insert(name.to_owned(), new);
        }
    }
    Ok(None)
}

fn sub_of_single(
    container: &mut Map<String, Value>,
    kind: OpKind,
    attr: &AttributeDef,
    sub: &AttributeDef,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let coerced = match (kind, value) {
        (OpKind::Remove, _) | (_, None) => None,
        (_, Some(v)) => coerce_single(v, sub)?,
    };
    match coerced {
        None => {
            if let Some(Value::Object(inner)) = container.get_mut(attr.name) {
                remove_ci(inner, sub.name);
                if inner.is_empty() {
                    container.remove(attr.name);
                }
            }
        }
        Some(v) => {
            let slot = container.entry(attr.name.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                remove_ci(inner, sub.name);
                inner.insert(sub.name.to_owned(), v);
            }
        }
    }
    Ok(())
}

fn value_path(
    container: &mut Map<String, Value>,
    kind: OpKind,
    attr: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    value: Option<&Value>,
    run: &mut Run,
) -> Result<(), ScimError> {
    let mut items = match container.remove(attr.name) {
        Some(Value::Array(items)) => items,
        Some(single) => vec![single],
        None => Vec::new(),
    };
    // `members[value eq "x"]`, Okta's way to remove a member: a cheap test rules out
    // nearly every value before the evaluator sees it.
    let wanted = value_eq_term(filter).map(|s| (s, s.is_ascii()));
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| wanted.is_none_or(|(s, ascii)| may_equal(item, s, ascii)) && filter.matches_element(item, Some(attr)))
        .map(|(i, _)| i)
        .collect();
    let result = edit_matches(&mut items, &matched, kind, attr, filter, sub, value, run);
    if !items.is_empty() {
        container.insert(attr.name.to_owned(), Value::Array(items));
    }
    result
}

#[expect(clippy::too_many_arguments, reason = "one call site; a struct would only rename them")]
fn edit_matches(
    items: &mut Vec<Value>,
    matched: &[usize],
    kind: OpKind,
    attr: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    value: Option<&Value>,
    run: &mut Run,
) -> Result<(), ScimError> {
    if kind == OpKind::Remove {
        match sub {
            None => {
                let mut doomed = vec![false; items.len()];
                for &i in matched {
                    if let Some(flag) = doomed.get_mut(i) {
                        *flag = true;
                    }
                }
                let mut doomed = doomed.into_iter();
                items.retain(|_| !doomed.next().unwrap_or(false));
            }
            Some(sub) => {
                for &i in matched {
                    if let Some(Value::Object(item)) = items.get_mut(i) {
                        remove_ci(item, sub.name);
                    }
                }
                items.retain(|item| item.as_object().is_none_or(|o| !o.is_empty()));
            }
        }
        return Ok(());
    }
    let new_value = match (sub, value) {
        (_, None) => None,
        (Some(sub), Some(v)) => coerce_single(v, sub)?,
        (None, Some(v)) => {
            let mut coerced = coerce_single(v, attr)?;
            if let Some(c) = coerced.as_mut() {
                drop_read_only_subs(c, attr);
            }
            coerced
        }
    };
    if matched.is_empty() {
        if kind == OpKind::Replace && !run.mode.add_missing_value_path_target {
            return Err(ScimError::no_target(format!("no value of \"{}\" matches [{filter}]", attr.name)));
        }
        let Some(mut seed) = seed_from_filter(filter, attr) else {
            return Err(ScimError::no_target(format!("no value of \"{}\" matches [{filter}], and none can be built from it", attr.name)));
        };
        match (sub, new_value) {
            (Some(sub), Some(v)) => {
                seed.insert(sub.name.to_owned(), v);
            }
            (None, Some(Value::Object(fields))) => seed.extend(fields),
            _ => {}
        }
        items.push(Value::Object(seed));
        let last = items.len() - 1;
        enforce_single_primary(items, &[last]);
        return Ok(());
    }
    if let Some(v) = &new_value {
        crate::limits::spend_copy_budget(&mut run.copy_budget, matched.len(), v, attr.name)?;
    }
    for &i in matched {
        let Some(item) = items.get_mut(i) else {
            continue;
        };
        match (sub, &new_value) {
            (Some(sub), Some(v)) => {
                if let Value::Object(map) = item {
                    remove_ci(map, sub.name);
                    map.insert(sub.name.to_owned(), v.clone());
                }
            }
            (Some(sub), None) => {
                if let Value::Object(map) = item {
                    remove_ci(map, sub.name);
                }
            }
            (None, Some(Value::Object(fields))) if kind == OpKind::Add => {
                if let Value::Object(map) = item {
                    map.extend(fields.clone());
                }
            }
            (None, Some(v)) => *item = v.clone(),
            (None, None) => {}
        }
    }
    items.retain(|item| item.as_object().is_none_or(|o| !o.is_empty()));
    enforce_single_primary(items, matched);
    Ok(())
}

/// `s` when the filter holds only of values whose `value` equals `s`: a `value eq "s"`
/// term, alone or joined to others by `and`.
fn value_eq_term(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(s) }
            if path.urn.is_none() && path.sub_attr.is_none() && path.attr == "value" =>
        {
            Some(s)
        }
        Filter::And(l, r) => value_eq_term(l).or_else(|| value_eq_term(r)),
        _ => None,
    }
}

/// False only when the evaluator would find that `value eq "s"` fails for `item`: its
/// `value` (or the item itself, for a simple attribute) is not text equal to `s` in any
/// case. Allocates nothing; anything unusual is left to the evaluator. `s_ascii` is
/// `s.is_ascii()`, worked out once.
fn may_equal(item: &Value, s: &str, s_ascii: bool) -> bool {
    let text = match item {
        Value::Object(map) => match get_ci(map, "value") {
            Some(v) => v,
            None => return false,
        },
        other => other,
    };
    match text {
        // Non-ASCII text may lower-case to equal text of another length (the Kelvin sign).
        Value::String(v) => v.eq_ignore_ascii_case(s) || !(s_ascii && v.is_ascii()),
        Value::Number(_) | Value::Bool(_) | Value::Null => false,
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The value `emails[type eq "work"]` describes: the `eq` terms joined by `and`. Anything
/// else (`or`, `not`, `co`) describes no single value.
fn seed_from_filter(filter: &Filter, attr: &AttributeDef) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value } if path.urn.is_none() && path.sub_attr.is_none() => {
            let sub = attr.sub_attribute(&path.attr)?;
            let json = value.to_json();
            if json.is_null() {
                return None;
            }
            let coerced = coerce_single(&json, sub).ok()??;
            let mut map = Map::new();
            map.insert(sub.name.to_owned(), coerced);
            Some(map)
        }
        Filter::And(l, r) => {
            let mut map = seed_from_filter(l, attr)?;
            map.extend(seed_from_filter(r, attr)?);
            Some(map)
        }
        _ => None,
    }
}

/// Whether two values of a multi-valued attribute are the same value: complex values with
/// a `value` are compared on it (and on `type` when both have one), so re-adding a member
/// or an email is a no-op whatever `display` says.
pub(super) fn same_value(a: &Value, b: &Value, attr: &AttributeDef) -> bool {
    let text_eq = |x: &Value, y: &Value, case_exact: bool| match (x, y) {
        // For ASCII text `to_lowercase` is `to_ascii_lowercase`: no need to allocate.
        (Value::String(x), Value::String(y)) if !case_exact => {
            x.eq_ignore_ascii_case(y) || (!(x.is_ascii() && y.is_ascii()) && x.to_lowercase() == y.to_lowercase())
        }
        _ => x == y,
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => match (get_ci(x, "value"), get_ci(y, "value")) {
            (Some(vx), Some(vy)) => {
                let case_exact = attr.sub_attribute("value").is_some_and(|d| d.case_exact);
                text_eq(vx, vy, case_exact)
                    && match (get_ci(x, "type"), get_ci(y, "type")) {
                        (Some(tx), Some(ty)) => text_eq(tx, ty, false),
                        _ => true,
                    }
            }
            _ => a == b,
        },
        _ => text_eq(a, b, attr.case_exact),
    }
}

/// RFC 7644 §3.5.2: setting `primary` on one value clears it on the others. The values
/// just written (`preferred`) win.
pub(super) fn enforce_single_primary(items: &mut [Value], preferred: &[usize]) {
    let winner = preferred.iter().rev().copied().find(|&i| items.get(i).is_some_and(is_primary)).or_else(|| items.iter().position(is_primary));
    let Some(winner) = winner else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != winner && is_primary(item) {
            if let Value::Object(map) = item {
                map.insert("primary".to_owned(), Value::Bool(false));
            }
        }
    }
}
