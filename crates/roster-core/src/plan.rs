//! Plans: what a run will change, computed before anything is written. A dry run shows a plan;
//! a real run hands the same plan to the store, which applies it in one transaction together
//! with its audit rows and outbox rows.

use crate::email::Email;
use crate::ids::{ConnectionId, OrgId, TeamId, UserId};
use crate::person::{Profile, Role, SourceLink, Status};
use crate::team::TeamName;
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    CreateTeam {
        id: TeamId,
        name: TeamName,
    },
    RenameTeam {
        id: TeamId,
        before: TeamName,
        after: TeamName,
    },
    SetTeamParent {
        id: TeamId,
        before: Option<TeamId>,
        after: Option<TeamId>,
    },
    // Boxed: a plan holds one change per person and field, and an unboxed profile would make
    // every change, even a manager link, as large as two profiles.
    CreatePerson {
        person: Box<NewPerson>,
    },
    UpdateProfile {
        id: UserId,
        before: Box<Profile>,
        after: Box<Profile>,
    },
    ChangeEmail {
        id: UserId,
        before: Email,
        after: Email,
    },
    SetStatus {
        id: UserId,
        before: Status,
        after: Status,
    },
    SetRole {
        id: UserId,
        before: Role,
        after: Role,
    },
    SetPrimaryTeam {
        id: UserId,
        before: Option<TeamId>,
        after: Option<TeamId>,
    },
    AddSecondaryTeam {
        id: UserId,
        team: TeamId,
    },
    RemoveSecondaryTeam {
        id: UserId,
        team: TeamId,
    },
    SetManager {
        id: UserId,
        before: Option<UserId>,
        after: Option<UserId>,
    },
    LinkSource {
        id: UserId,
        link: SourceLink,
    },
    /// Send (or resend) the invitation e-mail. Its single-use link is minted when the e-mail is
    /// sent, so no plan, audit row or queued e-mail ever holds one; earlier links stop working.
    Invite {
        id: UserId,
        email: Email,
        name: String,
    },
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

/// What kind of problem a [`RecordIssue`] is, so callers decide on the kind, never on the
/// message's wording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The record itself is wrong (a bad CSV cell, an unreadable row, a bad address). Also what
    /// issues stored before kinds existed read as.
    #[default]
    Invalid,
    /// The record appears more than once in the run; the later ones are refused.
    Duplicate,
    /// The e-mail address or the identity belongs to someone else: another person, another
    /// connection, or another identity of this connection.
    Conflict,
    /// The person is protected from this source: an owner's role, or an owner or admin whom no
    /// owner let connections manage ([`crate::Person::provisioning_allowed`]). Either the whole
    /// record was refused (adopting such a person) or only the protected part was left out.
    Protected,
    /// The manager named is not in the directory; the manager is left unchanged.
    ManagerUnresolved,
    /// The record names the person as their own manager; the manager is left unchanged.
    ManagerSelf,
    /// The manager named would close a reporting loop; the manager is left unchanged.
    ManagerCycle,
}

impl IssueKind {
    /// What the admin reads for a group of issues of this kind.
    pub fn label(self) -> &'static str {
        match self {
            IssueKind::Invalid => "Records that could not be read",
            IssueKind::Duplicate => "Records sent more than once",
            IssueKind::Conflict => "E-mail addresses or identities that belong to someone else",
            IssueKind::Protected => "Owners and admins left as they are",
            IssueKind::ManagerUnresolved => "Managers who are not in the directory",
            IssueKind::ManagerSelf => "People named as their own manager",
            IssueKind::ManagerCycle => "Managers that would close a reporting loop",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::Invalid => "invalid",
            IssueKind::Duplicate => "duplicate",
            IssueKind::Conflict => "conflict",
            IssueKind::Protected => "protected",
            IssueKind::ManagerUnresolved => "manager_unresolved",
            IssueKind::ManagerSelf => "manager_self",
            IssueKind::ManagerCycle => "manager_cycle",
        }
    }

    pub const ALL: [IssueKind; 7] = [
        IssueKind::Invalid,
        IssueKind::Duplicate,
        IssueKind::Conflict,
        IssueKind::Protected,
        IssueKind::ManagerUnresolved,
        IssueKind::ManagerSelf,
        IssueKind::ManagerCycle,
    ];

    /// A note about the manager link only: the rest of the record's plan stands.
    pub fn is_manager_note(self) -> bool {
        matches!(self, IssueKind::ManagerUnresolved | IssueKind::ManagerSelf | IssueKind::ManagerCycle)
    }
}

/// A problem with one input record; it blocks that record (or, for manager notes and some
/// protected parts, one part of it), and the run reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordIssue {
    /// What identifies the record to the admin: a CSV line, an external id, an e-mail.
    pub record: String,
    /// Reports stored before kinds existed read as [`IssueKind::Invalid`].
    #[serde(default)]
    pub kind: IssueKind,
    pub message: String,
    /// What many issues can share, so a report groups them: the manager that is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl RecordIssue {
    pub fn new(record: impl Into<String>, kind: IssueKind, message: impl Into<String>) -> Self {
        Self { record: record.into(), kind, message: message.into(), cause: None }
    }

    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }
}

/// The issues of one kind in a report, and the causes they share, most frequent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueGroup {
    pub kind: IssueKind,
    pub count: usize,
    /// (cause, how many issues it explains), most first; empty when issues have no cause.
    pub causes: Vec<(String, usize)>,
}

/// The report's issues grouped by kind (in the order of [`IssueKind::ALL`]) and by cause.
pub fn group_issues(issues: &[RecordIssue]) -> Vec<IssueGroup> {
    let mut groups = Vec::new();
    for kind in IssueKind::ALL {
        let mut count = 0;
        let mut causes: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for issue in issues.iter().filter(|i| i.kind == kind) {
            count += 1;
            if let Some(cause) = &issue.cause {
                *causes.entry(cause.as_str()).or_default() += 1;
            }
        }
        if count == 0 {
            continue;
        }
        let mut causes: Vec<(String, usize)> = causes.into_iter().map(|(c, n)| (c.to_owned(), n)).collect();
        causes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        groups.push(IssueGroup { kind, count, causes });
    }
    groups
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
    /// Set when the deactivation guard held the run: nothing was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<crate::guard::Hold>,
    /// Who a held run would have deactivated, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_deactivate: Vec<crate::guard::WouldDeactivate>,
    /// What the source calls the causes of issues (a missing manager's name), by cause.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub cause_names: std::collections::BTreeMap<String, String>,
    /// A preview's changes in words (a run that only previewed applies nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<crate::preview::PlanPreview>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub org: OrgId,
    pub actor: Actor,
    pub changes: Vec<Change>,
    pub report: RunReport,
    /// What brought a connection's changes, named in their audit entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
}

/// What started the run that made a connection's change: the audit log names it, so an admin
/// can tell a change Entra announced from one the nightly reconciliation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A change notification from the identity provider, then a delta round.
    Notification,
    /// A delta round on the schedule (no notification).
    DeltaRound,
    /// A full sync on the schedule.
    FullSync,
    /// An admin's "Sync users", from the pages or the command line.
    Manual,
    /// An admin provisioning one person on demand.
    OnDemand,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Notification => "notification",
            Via::DeltaRound => "delta_round",
            Via::FullSync => "full_sync",
            Via::Manual => "manual",
            Via::OnDemand => "on_demand",
        }
    }

    /// The words the audit log shows.
    pub fn describe(self) -> &'static str {
        match self {
            Via::Notification => "change notification",
            Via::DeltaRound => "delta round",
            Via::FullSync => "full sync",
            Via::Manual => "manual sync",
            Via::OnDemand => "provisioned on demand",
        }
    }

    pub fn parse(raw: &str) -> Option<Via> {
        [Via::Notification, Via::DeltaRound, Via::FullSync, Via::Manual, Via::OnDemand].into_iter().find(|v| v.as_str() == raw)
    }
}

impl Plan {
    pub fn new(org: OrgId, actor: Actor) -> Self {
        Self { org, actor, changes: Vec::new(), report: RunReport::default(), via: None }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn deactivations(&self) -> usize {
        self.changes.iter().filter(|c| matches!(c, Change::SetStatus { after: Status::Deactivated, .. })).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_stored_before_kinds_read_as_invalid() {
        let old: RecordIssue = serde_json::from_str(r#"{"record":"line 2","message":"bad"}"#).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(old, RecordIssue::new("line 2", IssueKind::Invalid, "bad"));
        let report: RunReport = serde_json::from_str(r#"{"created":0,"updated":0,"deactivated":0,"reactivated":0,"unchanged":0,"skipped":0,"invited":0,"teams_created":0,"issues":[{"record":"x","message":"y"}]}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(report.issues[0].kind, IssueKind::Invalid);
    }

    #[test]
    fn issues_group_by_kind_then_by_cause() {
        let missing = |who: &str, boss: &str| RecordIssue::new(who, IssueKind::ManagerUnresolved, "manager missing").with_cause(boss);
        let issues =
            vec![missing("a", "m1"), RecordIssue::new("b", IssueKind::Invalid, "bad"), missing("c", "m2"), missing("d", "m1"), missing("e", "m1")];
        let groups = group_issues(&issues);
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].kind, groups[0].count, groups[0].causes.is_empty()), (IssueKind::Invalid, 1, true));
        assert_eq!(groups[1].causes, vec![("m1".to_owned(), 3), ("m2".to_owned(), 1)]);
        let json = serde_json::to_string(&issues[1]).unwrap_or_default();
        assert!(!json.contains("cause"), "no cause, no field: {json}");
    }

    #[test]
    fn kinds_round_trip_in_snake_case() {
        let issue = RecordIssue::new("ada@x.com", IssueKind::ManagerCycle, "loop");
        let json = serde_json::to_string(&issue).unwrap_or_default();
        assert!(json.contains(r#""kind":"manager_cycle""#), "{json}");
        assert_eq!(serde_json::from_str::<RecordIssue>(&json).ok(), Some(issue));
    }

    #[test]
    fn only_manager_kinds_are_manager_notes() {
        let notes: Vec<IssueKind> = [
            IssueKind::Invalid,
            IssueKind::Duplicate,
            IssueKind::Conflict,
            IssueKind::Protected,
            IssueKind::ManagerUnresolved,
            IssueKind::ManagerSelf,
            IssueKind::ManagerCycle,
        ]
        .into_iter()
        .filter(|k| k.is_manager_note())
        .collect();
        assert_eq!(notes, [IssueKind::ManagerUnresolved, IssueKind::ManagerSelf, IssueKind::ManagerCycle]);
    }
}
