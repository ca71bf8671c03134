//! A plan as an admin reads it before anything is applied: how many changes of each kind, and
//! one line per change naming the person or team and what changes, field by field (before →
//! after). Pure: it reads the plan and the snapshot it was planned from.

use crate::plan::{Change, Plan};
use crate::reconcile::Snapshot;
use crate::{Profile, TeamId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One change, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewLine {
    /// The person's e-mail or the team's name.
    pub who: String,
    /// `Change::action()`, e.g. `user.updated`.
    pub action: String,
    /// What changes: "job title: Engineer → Lead", "new: Ada Lovelace".
    pub detail: String,
}

/// What a preview keeps: every count, and the first lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPreview {
    pub by_action: BTreeMap<String, usize>,
    pub lines: Vec<PreviewLine>,
    /// Changes beyond `lines` (counted in `by_action`).
    pub more: usize,
}

/// Describe `plan` (planned from `snapshot`), keeping at most `limit` lines.
pub fn describe(plan: &Plan, snapshot: &Snapshot, limit: usize) -> PlanPreview {
    let mut people: HashMap<UserId, String> = snapshot.people.iter().map(|p| (p.id, p.email.to_string())).collect();
    let mut names: HashMap<UserId, String> = snapshot.people.iter().map(|p| (p.id, p.profile.display_name())).collect();
    let mut teams: HashMap<TeamId, String> = snapshot.teams.iter().map(|t| (t.id, t.name.as_str().to_owned())).collect();
    for change in &plan.changes {
        match change {
            Change::CreatePerson { person } => {
                people.insert(person.id, person.email.to_string());
                names.insert(person.id, person.profile.display_name());
            }
            Change::CreateTeam { id, name } => {
                teams.insert(*id, name.as_str().to_owned());
            }
            _ => {}
        }
    }
    let person = |id: &UserId| people.get(id).cloned().unwrap_or_else(|| id.to_string());
    let team = |id: &Option<TeamId>| id.map_or_else(|| "none".to_owned(), |t| teams.get(&t).cloned().unwrap_or_else(|| t.to_string()));
    let manager = |id: &Option<UserId>| id.map_or_else(|| "none".to_owned(), |m| names.get(&m).cloned().unwrap_or_else(|| person(&m)));

    let mut preview = PlanPreview::default();
    for change in &plan.changes {
        *preview.by_action.entry(change.action().to_owned()).or_default() += 1;
        if preview.lines.len() >= limit {
            preview.more += 1;
            continue;
        }
        let (who, detail) = line(change, &person, &team, &manager);
        preview.lines.push(PreviewLine { who, action: change.action().to_owned(), detail });
    }
    preview
}

/// Who a change is about and what it changes, naming people, teams and managers through the
/// given lookups.
fn line(
    change: &Change,
    person: &dyn Fn(&UserId) -> String,
    team: &dyn Fn(&Option<TeamId>) -> String,
    manager: &dyn Fn(&Option<UserId>) -> String,
) -> (String, String) {
    match change {
        Change::CreateTeam { name, .. } => (name.as_str().to_owned(), "new team".to_owned()),
        Change::RenameTeam { before, after, .. } => (before.as_str().to_owned(), format!("renamed: {} → {}", before.as_str(), after.as_str())),
        Change::SetTeamParent { id, before, after } => (team(&Some(*id)), format!("parent: {} → {}", team(before), team(after))),
        Change::CreatePerson { person: new } => (new.email.to_string(), format!("new: {}", new.profile.display_name())),
        Change::UpdateProfile { id, before, after } => (person(id), profile_changes(before, after)),
        Change::ChangeEmail { before, after, .. } => (before.to_string(), format!("e-mail: {before} → {after}")),
        Change::SetStatus { id, before, after } => (person(id), format!("status: {before} → {after}")),
        Change::SetRole { id, before, after } => (person(id), format!("role: {before} → {after}")),
        Change::SetPrimaryTeam { id, before, after } => (person(id), format!("team: {} → {}", team(before), team(after))),
        Change::AddSecondaryTeam { id, team: t } => (person(id), format!("also in {}", team(&Some(*t)))),
        Change::RemoveSecondaryTeam { id, team: t } => (person(id), format!("no longer also in {}", team(&Some(*t)))),
        Change::SetManager { id, before, after } => (person(id), format!("manager: {} → {}", manager(before), manager(after))),
        Change::LinkSource { id, link } => (person(id), format!("linked to the source's id {}", link.external_id)),
        Change::Invite { email, .. } => (email.to_string(), "invitation e-mail".to_owned()),
    }
}

/// One change in words, for a record that keeps it without the names around it (an audit
/// entry): people and teams appear by id.
pub fn describe_change(change: &Change) -> String {
    let person = |id: &UserId| id.to_string();
    let team = |id: &Option<TeamId>| id.map_or_else(|| "none".to_owned(), |t| t.to_string());
    let manager = |id: &Option<UserId>| id.map_or_else(|| "none".to_owned(), |m| m.to_string());
    line(change, &person, &team, &manager).1
}

/// An audit entry's detail in words: a change as a preview says it ("job title: Engineer →
/// Lead"), anything else as its fields ("status: invited → active; via: Okta"), never as JSON.
pub fn describe_audit(detail: &serde_json::Value) -> String {
    if let Ok(change) = serde_json::from_value::<Change>(detail.clone()) {
        return describe_change(&change);
    }
    let Some(fields) = detail.as_object() else { return plain(detail) };
    // What brought the change is shown beside who made it, not as a changed field.
    let parts: Vec<String> = fields
        .iter()
        .filter(|(key, _)| key.as_str() != "trigger")
        .map(|(key, value)| match (value.get("before"), value.get("after")) {
            (Some(before), Some(after)) => format!("{}: {} → {}", key.replace('_', " "), plain(before), plain(after)),
            _ => format!("{}: {}", key.replace('_', " "), plain(value)),
        })
        .collect();
    parts.join("; ")
}

/// A value as a person reads it: text unquoted, nothing as "none", lists and objects compact.
fn plain(value: &serde_json::Value) -> String {
    const LONGEST: usize = 120;
    let text = match value {
        serde_json::Value::Null => "none".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        serde_json::Value::Object(_) => describe_audit(value),
        other => other.to_string(),
    };
    if text.chars().count() > LONGEST {
        format!("{}…", text.chars().take(LONGEST).collect::<String>())
    } else {
        text
    }
}

/// "job title: Engineer → Lead; department: none → Research".
fn profile_changes(before: &Profile, after: &Profile) -> String {
    let shown = |value: Option<String>| value.filter(|v| !v.is_empty()).unwrap_or_else(|| "none".to_owned());
    let value = |profile: &Profile, field: &str| -> Option<String> {
        match field {
            "first_name" => Some(profile.first_name.clone()),
            "last_name" => Some(profile.last_name.clone()),
            "job_title" => profile.job_title.clone(),
            "department" => profile.department.clone(),
            "location" => profile.location.clone(),
            "language" => profile.language.clone(),
            "hire_date" => profile.hire_date.map(|d| d.to_string()),
            _ => None,
        }
    };
    let mut parts = Vec::new();
    for field in before.changed_fields(after) {
        if field == "custom_fields" {
            let keys: std::collections::BTreeSet<&String> = before.custom_fields.keys().chain(after.custom_fields.keys()).collect();
            for key in keys.into_iter().filter(|k| before.custom_fields.get(*k) != after.custom_fields.get(*k)) {
                parts.push(format!("{key}: {} → {}", shown(before.custom_fields.get(key).cloned()), shown(after.custom_fields.get(key).cloned())));
            }
            continue;
        }
        parts.push(format!("{}: {} → {}", field.replace('_', " "), shown(value(before, field)), shown(value(after, field))));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn audit_entries_read_as_words_not_json() {
        let role = serde_json::json!({ "change": "set_role", "id": "01a242d0-2636-71a0-a532-86eaca30b4b3", "before": "learner", "after": "admin" });
        assert_eq!(describe_audit(&role), "role: learner → admin");
        let activated = serde_json::json!({ "status": { "before": "invited", "after": "active" }, "via": "Okta" });
        assert_eq!(describe_audit(&activated), "status: invited → active; via: Okta");
        assert_eq!(describe_audit(&serde_json::json!({ "reason": null, "tokens": ["a", "b"] })), "reason: none; tokens: a, b");
    }

    use super::*;
    use crate::{Actor, OrgId};

    #[test]
    fn a_profile_change_is_told_field_by_field() {
        let before = Profile { first_name: "Ada".into(), last_name: "Lovelace".into(), job_title: Some("Engineer".into()), ..Profile::default() };
        let mut after = before.clone();
        after.job_title = Some("Lead".into());
        after.department = Some("Research".into());
        after.custom_fields.insert("employee_id".into(), "42".into());
        assert_eq!(profile_changes(&before, &after), "job title: Engineer → Lead; department: none → Research; employee_id: none → 42");
    }

    #[test]
    fn counts_every_change_and_keeps_the_first_lines() {
        let org = OrgId::from_uuid(uuid::Uuid::nil());
        let mut plan = Plan::new(org, Actor::System);
        for n in 0..3u128 {
            let id = UserId::from_uuid(uuid::Uuid::from_u128(n + 1));
            plan.changes.push(Change::SetStatus { id, before: crate::Status::Active, after: crate::Status::Deactivated });
        }
        let preview = describe(&plan, &Snapshot::default(), 2);
        assert_eq!(preview.by_action.get("user.deactivated"), Some(&3));
        assert_eq!((preview.lines.len(), preview.more), (2, 1));
        assert_eq!(preview.lines[0].detail, "status: active → deactivated");
    }
}
