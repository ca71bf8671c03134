//! The entries of `/groups/delta`, initial and incremental.
//!
//! With `members` selected (and by default) a group carries `members@delta`: all its members
//! in the initial round, only the additions and removals later. A big list is split over
//! pages, the group object repeated on each with part of the list; clients must merge.

use serde_json::{Map, Value};

use super::delta::{self, build_page, link, removed, without_nulls, Cursor, DeltaKind, DeltaSettings, Entry, RoundState, Summary};
use super::errors::{bad_request, GraphResponse};
use super::groups::{is_group_property, project_props, DEFAULT_GROUP_PROPERTIES, GROUP_PROPERTIES};
use super::tenant::Group;
use super::SimState;

/// Checks a groups/delta `$select` (group properties plus `members`) and names it canonically.
pub fn canonical_select(list: &[String]) -> Result<Vec<String>, GraphResponse> {
    list.iter()
        .map(|p| {
            if p.eq_ignore_ascii_case("members") {
                Ok("members".to_string())
            } else if is_group_property(p) {
                Ok(GROUP_PROPERTIES.iter().find(|k| k.eq_ignore_ascii_case(p)).map_or_else(|| p.clone(), |k| (*k).to_string()))
            } else {
                Err(bad_request(&format!("Could not find a property named '{p}' on type 'microsoft.graph.group'.")))
            }
        })
        .collect()
}

struct Selection {
    props: Vec<String>,
    members: bool,
}

impl Selection {
    /// Without `$select`: the default properties and the members.
    fn of(round: &RoundState) -> Selection {
        let list: Vec<String> = match &round.select {
            Some(list) => list.clone(),
            None => DEFAULT_GROUP_PROPERTIES.iter().map(|p| (*p).to_string()).chain(["members".to_string()]).collect(),
        };
        let members = list.iter().any(|p| p == "members");
        let mut props: Vec<String> = list.into_iter().filter(|p| p != "members").collect();
        if !props.iter().any(|p| p == "id") {
            props.insert(0, "id".into());
        }
        Selection { props, members }
    }
}

fn properties(group: &Group, sel: &Selection) -> Map<String, Value> {
    project_props(&group.id, &group.props, GROUP_PROPERTIES, DEFAULT_GROUP_PROPERTIES, Some(&sel.props))
}

/// Adds the next chunk of `changes` (member id, added?) after `after` to `obj`; returns the last
/// member served when more remain.
fn add_members(s: &SimState, obj: &mut Map<String, Value>, changes: &[(String, bool)], after: Option<&str>, chunk: usize) -> Option<String> {
    let start = after.map_or(0, |a| changes.partition_point(|(m, _)| m.as_str() <= a));
    let rest = changes.get(start..).unwrap_or_default();
    if rest.is_empty() {
        return None;
    }
    let take = &rest[..rest.len().min(chunk.max(1))];
    let list: Vec<Value> = take.iter().map(|(m, added)| link(s.tenant.member_kind(m), m, *added)).collect();
    obj.insert("members@delta".into(), Value::Array(list));
    (rest.len() > take.len()).then(|| take.last().map(|(m, _)| m.clone())).flatten()
}

fn current_members(group: &Group) -> Vec<(String, bool)> {
    let mut members: Vec<(String, bool)> = group.members.iter().map(|m| (m.clone(), true)).collect();
    members.sort();
    members
}

fn initial_entry(s: &SimState, id: &str, sel: &Selection, after: Option<&str>, chunk: usize) -> Option<Entry> {
    let Some(group) = s.tenant.groups.get(id) else {
        return s.tenant.deleted_groups.contains_key(id).then(|| Entry { value: removed(id, true), more: None });
    };
    let mut obj = without_nulls(properties(group, sel), &[]);
    let more = if sel.members { add_members(s, &mut obj, &current_members(group), after, chunk) } else { None };
    Some(Entry { value: Value::Object(obj), more })
}

fn later_entry(s: &SimState, id: &str, summary: &Summary, sel: &Selection, minimal: bool, after: Option<&str>, chunk: usize) -> Option<Entry> {
    let Some(group) = s.tenant.groups.get(id) else {
        return Some(Entry { value: removed(id, s.tenant.deleted_groups.contains_key(id)), more: None });
    };
    let changed: Vec<&str> = sel.props.iter().map(String::as_str).filter(|p| summary.props.contains(&p.to_ascii_lowercase())).collect();
    let members: Vec<(String, bool)> = match (sel.members, summary.whole) {
        (false, _) => Vec::new(),
        (true, true) => current_members(group),
        (true, false) => summary.members.iter().map(|(m, added)| (m.clone(), *added)).collect(),
    };
    if !summary.whole && changed.is_empty() && members.is_empty() {
        return None;
    }
    let full = properties(group, sel);
    let mut obj: Map<String, Value> = if summary.whole {
        without_nulls(full, &[])
    } else if minimal {
        full.into_iter().filter(|(k, _)| k == "id" || changed.iter().any(|c| c.eq_ignore_ascii_case(k))).collect()
    } else {
        without_nulls(full, &changed)
    };
    let more = add_members(s, &mut obj, &members, after, chunk);
    Some(Entry { value: Value::Object(obj), more })
}

/// One page of a groups/delta round.
pub fn page(s: &SimState, round: &RoundState, minimal: bool, settings: DeltaSettings) -> (Vec<Value>, Option<Cursor>) {
    let sel = Selection::of(round);
    let chunk = settings.member_chunk;
    match round.base {
        None => {
            let ids = delta::all_ids(s, DeltaKind::Groups);
            let items = round.items(ids.iter());
            build_page(&items, round.cursor.as_ref(), settings.page_size, |id, after| initial_entry(s, id, &sel, after, chunk))
        }
        Some(base) => {
            let summaries = delta::changed(s, DeltaKind::Groups, base, round.upto);
            let items = round.items(summaries.keys());
            build_page(&items, round.cursor.as_ref(), settings.page_size, |id, after| {
                later_entry(s, id, summaries.get(id)?, &sel, minimal, after, chunk)
            })
        }
    }
}
