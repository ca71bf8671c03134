//! Plans: what a run will change, computed before anything is written. A dry run shows a plan;
//! a real run hands the same plan to the store, which applies it in one transaction together
//! with its audit rows and outbox rows.

use crate::email::Email;
use crate::ids::{ConnectionId, OrgId, TeamId, UserId};
use crate::person::{Profile, Role, SourceLink, Status};
use crate::team::TeamName;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who or what caused a change; every audit row names one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A signed-in person acting in the pages or through their session.
    Person { id: UserId },
    /// An API key of the organisation.
    ApiKey { name: String },
    /// The command line, run by an operator.
    Cli,
    /// A CSV import started by a person (or the command line, then `by` is None).
    CsvImport { by: Option<UserId> },
    /// A provisioning connection (Entra, SCIM, Okta).
    Connection { id: ConnectionId },
    /// The service itself (demo seeding, scheduled housekeeping).
    System,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Actor::Person { id } => format!("person:{id}"),
            Actor::ApiKey { name } => format!("api key:{name}"),
            Actor::Cli => "cli".into(),
            Actor::CsvImport { by: Some(id) } => format!("csv import by person:{id}"),
            Actor::CsvImport { by: None } => "csv import".into(),
            Actor::Connection { id } => format!("connection:{id}"),
            Actor::System => "system".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPerson {
    pub id: UserId,
    pub email: Email,
    pub profile: Profile,
    pub role: Role,
    pub status: Status,
    pub primary_team: Option<TeamId>,
    pub source: Option<SourceLink>,
}

/// A single-use secret mailed to a person (invitation or password reset). Only its hash is stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailedToken {
    pub raw: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for MailedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailedToken").field("raw", &"<redacted>").field("expires_at", &self.expires_at).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    CreateTeam { id: TeamId, name: TeamName },
    RenameTeam { id: TeamId, before: TeamName, after: TeamName },
    SetTeamParent { id: TeamId, before: Option<TeamId>, after: Option<TeamId> },
    // Boxed: a plan holds one change per person and field, and an unboxed profile would make
    // every change, even a manager link, as large as two profiles.
    CreatePerson { person: Box<NewPerson> },
    UpdateProfile { id: UserId, before: Box<Profile>, after: Box<Profile> },
    ChangeEmail { id: UserId, before: Email, after: Email },
    SetStatus { id: UserId, before: Status, after: Status },
    SetRole { id: UserId, before: Role, after: Role },
    SetPrimaryTeam { id: UserId, before: Option<TeamId>, after: Option<TeamId> },
    AddSecondaryTeam { id: UserId, team: TeamId },
    RemoveSecondaryTeam { id: UserId, team: TeamId },
    SetManager { id: UserId, before: Option<UserId>, after: Option<UserId> },
    LinkSource { id: UserId, link: SourceLink },
    /// Send (or resend) the invitation e-mail; the token is stored hashed.
    Invite { id: UserId, email: Email, name: String, token: MailedToken },
}

impl Change {
    /// The audit action and outbound event name of this change.
    pub fn action(&self) -> &'static str {
        match self {
            Change::CreateTeam { .. } => "team.created",
            Change::RenameTeam { .. } => "team.renamed",
            Change::SetTeamParent { .. } => "team.parent_changed",
            Change::CreatePerson { .. } => "user.created",
            Change::UpdateProfile { .. } => "user.updated",
            Change::ChangeEmail { .. } => "user.email_changed",
            Change::SetStatus { after: Status::Deactivated, .. } => "user.deactivated",
            Change::SetStatus { before: Status::Deactivated, .. } => "user.reactivated",
            Change::SetStatus { .. } => "user.status_changed",
            Change::SetRole { .. } => "user.role_changed",
            Change::SetPrimaryTeam { .. } => "user.primary_team_changed",
            Change::AddSecondaryTeam { .. } => "user.secondary_team_added",
            Change::RemoveSecondaryTeam { .. } => "user.secondary_team_removed",
            Change::SetManager { .. } => "user.manager_changed",
            Change::LinkSource { .. } => "user.linked",
            Change::Invite { .. } => "user.invited",
        }
    }

    /// The person a change concerns, if it concerns one.
    pub fn person(&self) -> Option<UserId> {
        match self {
            Change::CreatePerson { person } => Some(person.id),
            Change::UpdateProfile { id, .. }
            | Change::ChangeEmail { id, .. }
            | Change::SetStatus { id, .. }
            | Change::SetRole { id, .. }
            | Change::SetPrimaryTeam { id, .. }
            | Change::AddSecondaryTeam { id, .. }
            | Change::RemoveSecondaryTeam { id, .. }
            | Change::SetManager { id, .. }
            | Change::LinkSource { id, .. }
            | Change::Invite { id, .. } => Some(*id),
            Change::CreateTeam { .. } | Change::RenameTeam { .. } | Change::SetTeamParent { .. } => None,
        }
    }

    pub fn team(&self) -> Option<TeamId> {
        match self {
            Change::CreateTeam { id, .. } | Change::RenameTeam { id, .. } | Change::SetTeamParent { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// A problem with one input record; it blocks that record only, and the run reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordIssue {
    /// What identifies the record to the admin: a CSV line, an external id, an e-mail.
    pub record: String,
    pub message: String,
}

/// Counts a run reports to the admin, and the problems it met.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub created: usize,
    pub updated: usize,
    pub deactivated: usize,
    pub reactivated: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub invited: usize,
    pub teams_created: usize,
    pub issues: Vec<RecordIssue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub org: OrgId,
    pub actor: Actor,
    pub changes: Vec<Change>,
    pub report: RunReport,
}

impl Plan {
    pub fn new(org: OrgId, actor: Actor) -> Self {
        Self { org, actor, changes: Vec::new(), report: RunReport::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn deactivations(&self) -> usize {
        self.changes.iter().filter(|c| matches!(c, Change::SetStatus { after: Status::Deactivated, .. })).count()
    }
}
