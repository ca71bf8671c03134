//! People and teams as the host platform sees them: the shape the API answers with and each
//! event carries (`resource`: the person or team as they were just after the change).

use crate::{Person, Team, UserId};
use serde_json::{json, Value};

/// A person as the API shows them.
pub fn person(p: &Person) -> Value {
    json!({
        "id": p.id,
        "email": p.email.as_str(),
        "first_name": p.profile.first_name,
        "last_name": p.profile.last_name,
        "display_name": p.display_name(),
        "job_title": p.profile.job_title,
        "department": p.profile.department,
        "location": p.profile.location,
        "language": p.profile.language,
        "hire_date": p.profile.hire_date,
        "custom_fields": p.profile.custom_fields,
        "status": p.status.to_string(),
        "role": p.role.to_string(),
        "primary_team_id": p.primary_team,
        "secondary_team_ids": p.secondary_teams,
        "manager_id": p.manager,
        "avatar_url": p.avatar_url,
        "source": p.source.as_ref().map(|s| json!({ "connection_id": s.connection, "external_id": s.external_id })),
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    })
}

/// A team as the API shows it, with the people who manage it.
pub fn team(t: &Team, managers: &[UserId]) -> Value {
    json!({ "id": t.id, "name": t.name.to_string(), "parent_id": t.parent, "manager_ids": managers })
}
