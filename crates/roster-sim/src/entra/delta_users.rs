//! The entries of `/users/delta`, initial and incremental.
//!
//! An entry is the user with its selected properties (never-set ones left out), or
//! `{"id","@removed":{"reason":"changed"|"deleted"}}`. With `manager` selected it carries
//! `manager@delta`: in the initial round for users who have a manager, later only when the
//! manager changed (a removal names the manager that went).

use serde_json::{json, Map, Value};

use super::delta::{self, build_page, link, removed, without_nulls, Cursor, DeltaKind, DeltaSettings, Entry, RoundState, Summary};
use super::errors::GraphResponse;
use super::tenant::{ObjectKind, User};
use super::users::{check_user_select, project_user, DEFAULT_USER_PROPERTIES, USER_PROPERTIES};
use super::SimState;

/// Checks a users/delta `$select` (user properties plus `manager`) and names it canonically.
pub fn canonical_select(list: &[String]) -> Result<Vec<String>, GraphResponse> {
    let properties: Vec<String> = list.iter().filter(|p| !p.eq_ignore_ascii_case("manager")).cloned().collect();
    check_user_select(Some(&properties))?;
    Ok(list
        .iter()
        .map(|p| {
            if p.eq_ignore_ascii_case("manager") {
                "manager".to_string()
            } else {
                USER_PROPERTIES.iter().find(|k| k.eq_ignore_ascii_case(p)).map_or_else(|| p.clone(), |k| (*k).to_string())
            }
        })
        .collect())
}

/// The properties a round shows (always with `id`) and whether `manager` is selected.
struct Selection {
    props: Vec<String>,
    manager: bool,
}

impl Selection {
    fn of(round: &RoundState) -> Selection {
        let list: Vec<String> = match &round.select {
            Some(list) => list.clone(),
            None => DEFAULT_USER_PROPERTIES.iter().map(|p| (*p).to_string()).collect(),
        };
        let manager = list.iter().any(|p| p == "manager");
        let mut props: Vec<String> = list.into_iter().filter(|p| p != "manager").collect();
        if !props.iter().any(|p| p == "id") {
            props.insert(0, "id".into());
        }
        Selection { props, manager }
    }
}

fn live_manager(s: &SimState, user: &User) -> Option<String> {
    user.manager.clone().filter(|m| s.tenant.users.contains_key(m))
}

fn initial_entry(s: &SimState, id: &str, sel: &Selection) -> Option<Value> {
    let Some(user) = s.tenant.users.get(id) else {
        return s.tenant.deleted_users.contains_key(id).then(|| removed(id, true));
    };
    let mut obj = without_nulls(project_user(s, user, Some(&sel.props)), &[]);
    if sel.manager {
        if let Some(manager) = live_manager(s, user) {
            obj.insert("manager@delta".into(), json!([link(ObjectKind::User, &manager, true)]));
        }
    }
    Some(Value::Object(obj))
}

fn later_entry(s: &SimState, id: &str, summary: &Summary, sel: &Selection, minimal: bool) -> Option<Value> {
    let Some(user) = s.tenant.users.get(id) else {
        return Some(removed(id, s.tenant.deleted_users.contains_key(id)));
    };
    let changed: Vec<&str> = sel.props.iter().map(String::as_str).filter(|p| summary.props.contains(&p.to_ascii_lowercase())).collect();
    let manager_changed = sel.manager && summary.manager_before.is_some();
    if !summary.whole && changed.is_empty() && !manager_changed {
        return None;
    }
    let full = project_user(s, user, Some(&sel.props));
    let mut obj: Map<String, Value> = if summary.whole {
        without_nulls(full, &[])
    } else if minimal {
        full.into_iter().filter(|(k, _)| k == "id" || changed.iter().any(|c| c.eq_ignore_ascii_case(k))).collect()
    } else {
        without_nulls(full, &changed)
    };
    if sel.manager && (summary.whole || manager_changed) {
        match live_manager(s, user) {
            Some(manager) => {
                obj.insert("manager@delta".into(), json!([link(ObjectKind::User, &manager, true)]));
            }
            None => {
                let gone = summary.manager_before.clone().flatten().or_else(|| user.manager.clone());
                if let (Some(gone), false) = (gone, summary.whole) {
                    obj.insert("manager@delta".into(), json!([{ "id": gone, "@removed": { "reason": "deleted" } }]));
                }
            }
        }
    }
    Some(Value::Object(obj))
}

/// One page of a users/delta round.
pub fn page(s: &SimState, round: &RoundState, minimal: bool, settings: DeltaSettings) -> (Vec<Value>, Option<Cursor>) {
    let sel = Selection::of(round);
    match round.base {
        None => {
            let ids = delta::all_ids(s, DeltaKind::Users);
            let items = round.items(ids.iter());
            build_page(&items, round.cursor.as_ref(), settings.page_size, |id, _| initial_entry(s, id, &sel).map(|value| Entry { value, more: None }))
        }
        Some(base) => {
            let summaries = delta::changed(s, DeltaKind::Users, base, round.upto);
            let items = round.items(summaries.keys());
            build_page(&items, round.cursor.as_ref(), settings.page_size, |id, _| {
                let summary = summaries.get(id)?;
                later_entry(s, id, summary, &sel, minimal).map(|value| Entry { value, more: None })
            })
        }
    }
}
