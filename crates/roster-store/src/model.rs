//! Records the store reads and writes that are not domain types.

use chrono::{DateTime, Utc};
use roster_core::{ConnectionId, ConnectionKind, Email, OrgId, Person, Role, RunId, Status, Team, TeamId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonPage {
    pub people: Vec<Person>,
    /// Every match, when the query asked for it.
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PeopleCounts {
    pub total: u64,
    pub active: u64,
    pub invited: u64,
    pub deactivated: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamSummary {
    pub team: Team,
    /// People whose primary team this is.
    pub primary_members: u64,
    pub secondary_members: u64,
}

/// One row of the audit trail: who, what, before and after, when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: Uuid,
    pub org: OrgId,
    pub at: DateTime<Utc>,
    pub run: Option<RunId>,
    /// `Actor::label()` of whoever caused it.
    pub actor: String,
    /// `Change::action()`, e.g. `user.created`.
    pub action: String,
    pub person: Option<UserId>,
    pub team: Option<TeamId>,
    /// The change itself, serialized (before and after values); secrets are never in it.
    pub detail: serde_json::Value,
}

/// Which entries of the organisation's audit log to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// `Actor::label()` exactly: `person:<id>`, `cli`, `connection:<id>`, ...
    pub actor: Option<String>,
    pub person: Option<UserId>,
    /// `user.`, `team.`, `connection.`, or a whole action.
    pub action_prefix: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this one (the last of the previous page).
    pub before: Option<Uuid>,
    pub limit: u32,
}

/// An e-mail waiting in the outbox. It holds no link: the single-use link is minted when the
/// e-mail is sent, so nothing stored (and no page listing the outbox) can give it away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutgoingEmail {
    /// `person` is None only in e-mails queued before links were minted at sending; the
    /// recipient's address then finds the person.
    Invitation {
        to: Email,
        name: String,
        #[serde(default)]
        person: Option<UserId>,
    },
    PasswordReset {
        to: Email,
        name: String,
        #[serde(default)]
        person: Option<UserId>,
    },
    /// To an owner or admin: the deactivation guard held a connection's run. Holds no link
    /// that signs anyone in; it points at the run's page.
    RunHeld {
        to: Email,
        name: String,
        person: UserId,
        connection: String,
        run: RunId,
        would_deactivate: usize,
        provisioned: usize,
        /// Where the decision is made; absent in e-mails queued before Okta held runs (Entra).
        #[serde(default)]
        connection_kind: Option<roster_core::ConnectionKind>,
    },
    /// To an owner or admin: a SCIM client's deactivations went beyond the guard and wait on
    /// the SCIM page. Holds no link that signs anyone in.
    DeactivationsWaiting { to: Email, name: String, person: UserId, connection: String },
    /// To an owner or admin: a webhook endpoint failed for days and was disabled. Holds no
    /// link that signs anyone in.
    WebhookDisabled { to: Email, name: String, person: UserId, url: String },
    /// To an owner or admin: a connection started failing, recovered, or has a certificate
    /// about to lapse. Holds no link that signs anyone in; it points at the connection's page.
    ConnectionHealth {
        to: Email,
        name: String,
        person: UserId,
        connection: String,
        connection_id: ConnectionId,
        connection_kind: ConnectionKind,
        notice: ConnectionNotice,
    },
}

/// What a `ConnectionHealth` e-mail tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum ConnectionNotice {
    /// The newest run failed after a healthy one; `error` says why and what to fix.
    Failing { error: String },
    /// A run went through again after failures.
    Recovered,
    /// The identity provider's signing certificate lapses on `on`, `days` from when this was
    /// sent (0 or less: it has).
    CertificateExpiring { on: DateTime<Utc>, days: i64 },
}

impl OutgoingEmail {
    pub fn to(&self) -> &Email {
        match self {
            OutgoingEmail::Invitation { to, .. }
            | OutgoingEmail::PasswordReset { to, .. }
            | OutgoingEmail::RunHeld { to, .. }
            | OutgoingEmail::DeactivationsWaiting { to, .. }
            | OutgoingEmail::WebhookDisabled { to, .. }
            | OutgoingEmail::ConnectionHealth { to, .. } => to,
        }
    }

    pub fn person(&self) -> Option<UserId> {
        match self {
            OutgoingEmail::Invitation { person, .. } | OutgoingEmail::PasswordReset { person, .. } => *person,
            OutgoingEmail::RunHeld { person, .. }
            | OutgoingEmail::DeactivationsWaiting { person, .. }
            | OutgoingEmail::WebhookDisabled { person, .. }
            | OutgoingEmail::ConnectionHealth { person, .. } => Some(*person),
        }
    }

    /// What the single-use link in this e-mail is for; None for a notice, which has none.
    pub fn purpose(&self) -> Option<TokenPurpose> {
        match self {
            OutgoingEmail::Invitation { .. } => Some(TokenPurpose::Invitation),
            OutgoingEmail::PasswordReset { .. } => Some(TokenPurpose::PasswordReset),
            OutgoingEmail::RunHeld { .. }
            | OutgoingEmail::DeactivationsWaiting { .. }
            | OutgoingEmail::ConnectionHealth { .. }
            | OutgoingEmail::WebhookDisabled { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEmail {
    pub id: Uuid,
    pub org: OrgId,
    pub email: OutgoingEmail,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// An entry of the outbound event feed; `seq` increases within an organisation. `data` is a JSON
/// value, or (for the API's feed, which passes it through) the JSON text as it is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundEvent<D = serde_json::Value> {
    pub seq: i64,
    pub org: OrgId,
    pub id: Uuid,
    pub kind: String,
    pub at: DateTime<Utc>,
    /// The run (a sync, an import, an admin action's plan) it came from, if any.
    pub run: Option<Uuid>,
    /// Who made the change, as the audit log names them (`person:<id>`, `connection:<id>`, `cli`, ...).
    pub actor: Option<String>,
    pub data: D,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub person: UserId,
    pub status: Status,
    pub role: Role,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    Invitation,
    PasswordReset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Invitation => "invitation",
            TokenPurpose::PasswordReset => "password_reset",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub org: OrgId,
    pub person: UserId,
    pub purpose: TokenPurpose,
    /// `roster_core::secret::token_digest` of the mailed secret.
    pub digest: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Digest of the cookie value; the value itself is never stored.
    pub digest: String,
    pub org: OrgId,
    pub person: UserId,
    /// The session's CSRF token, embedded in every form.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub org: OrgId,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub digest: String,
    /// The first characters of the key, shown so admins can tell keys apart.
    pub prefix: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub org: OrgId,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    /// Read people and teams.
    Read,
    /// Read the events feed and manage webhook endpoints.
    Events,
    /// Create, change, deactivate and erase people and teams.
    Write,
}

impl ApiScope {
    pub const ALL: [ApiScope; 3] = [ApiScope::Read, ApiScope::Write, ApiScope::Events];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Read => "read",
            ApiScope::Events => "events",
            ApiScope::Write => "write",
        }
    }

    pub fn parse(raw: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }

    /// How scopes are stored: comma-separated.
    pub fn join(scopes: &[ApiScope]) -> String {
        scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    }

    /// Stored scopes; an unknown one is left out (it grants nothing).
    pub fn split(stored: &str) -> Vec<ApiScope> {
        stored.split(',').filter_map(ApiScope::parse).collect()
    }
}
