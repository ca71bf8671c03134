//! Roster's storage: capability traits, and one implementation of each on SQLite (the embedded
//! default) and on PostgreSQL (production, many processes). Every call names the organisation
//! first; nothing here decides anything, it stores what the domain decided.

#[macro_use]
mod common;
mod entra_live;
mod error;
mod idempotency;
mod integrations;
mod jobs;
mod model;
mod okta;
pub mod postgres;
mod runs;
mod scim;
pub mod sqlite;
mod sso;
mod throttle;
mod webhooks;

pub use entra_live::*;
pub use error::*;
pub use idempotency::*;
pub use integrations::*;
pub use jobs::*;
pub use model::*;
pub use okta::*;
pub use runs::*;
pub use scim::*;
pub use sso::*;
pub use throttle::*;
pub use webhooks::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::query::PersonQuery;
use roster_core::reconcile::{DesiredPerson, ManagerField, ManagerRef, Snapshot};
use roster_core::{ConnectionId, Email, Org, OrgId, Person, Plan, RunId, Team, TeamId, UserId};
use std::sync::Arc;

#[async_trait]
pub trait OrgStore {
    /// `Conflict` when the slug is taken.
    async fn create_org(&self, org: &Org) -> StoreResult<()>;
    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<Org>>;
    async fn org_by_id(&self, id: OrgId) -> StoreResult<Option<Org>>;
    async fn list_orgs(&self) -> StoreResult<Vec<Org>>;
}

/// The people a narrow snapshot holds: those with one of `emails`, and those linked to the
/// connection by one of its external ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotKeys {
    pub emails: Vec<Email>,
    pub external_ids: Option<(ConnectionId, Vec<String>)>,
}

impl SnapshotKeys {
    /// Every key the reconciler may look up for `desired` under a policy with `connection`:
    /// each record's e-mail and external id, and its manager's. Without a connection nobody is
    /// matched by external id, so none are read.
    pub fn of(desired: &[DesiredPerson], connection: Option<ConnectionId>) -> Self {
        let mut emails = Vec::new();
        let mut external_ids = Vec::new();
        for wanted in desired {
            emails.push(wanted.email.clone());
            external_ids.extend(wanted.external_id.iter().cloned());
            match &wanted.manager {
                ManagerField::Set(ManagerRef::Email(email)) => emails.push(email.clone()),
                ManagerField::Set(ManagerRef::ExternalId(id)) => external_ids.push(id.clone()),
                ManagerField::Untouched | ManagerField::Clear => {}
            }
        }
        emails.sort();
        emails.dedup();
        external_ids.sort();
        external_ids.dedup();
        SnapshotKeys { emails, external_ids: connection.map(|c| (c, external_ids)) }
    }
}

#[async_trait]
pub trait PeopleStore {
    /// Everyone in the organisation and all its teams: what the reconciler starts from.
    async fn snapshot(&self, org: OrgId) -> StoreResult<Snapshot>;
    /// All the teams, and only the people matching `keys`: what a `Scope::Partial` plan of a
    /// few records needs, read by index whatever the size of the organisation. The reconciler
    /// plans the same from it as from the whole snapshot when `keys` hold every e-mail and
    /// external id the records name (their own and their managers').
    async fn snapshot_for(&self, org: OrgId, keys: &SnapshotKeys) -> StoreResult<Snapshot>;
    async fn person(&self, org: OrgId, id: UserId) -> StoreResult<Option<Person>>;
    async fn person_by_email(&self, org: OrgId, email: &Email) -> StoreResult<Option<Person>>;
    /// One page of people matching the filter, sorted by name then id.
    async fn search_people(&self, org: OrgId, query: &PersonQuery) -> StoreResult<PersonPage>;
    async fn count_people(&self, org: OrgId) -> StoreResult<PeopleCounts>;
    /// Everyone the query matches (its offset and limit ignored), in its order, in chunks read
    /// by one statement as the consumer takes them: memory does not grow with the count.
    fn stream_people(&self, org: OrgId, query: &PersonQuery) -> PersonStream;
}

/// Chunks of people, as `PeopleStore::stream_people` reads them; an error ends it.
pub type PersonStream = futures::stream::BoxStream<'static, StoreResult<Vec<Person>>>;

#[async_trait]
pub trait TeamStore {
    /// All teams with their member counts, sorted by name.
    async fn teams(&self, org: OrgId) -> StoreResult<Vec<TeamSummary>>;
    async fn team(&self, org: OrgId, id: TeamId) -> StoreResult<Option<Team>>;
    /// All teams sorted by name, without counting members: for pickers and name lookups.
    async fn team_list(&self, org: OrgId) -> StoreResult<Vec<Team>>;
    /// Delete a team. With `into`, its people (primary and secondary), its child teams and
    /// the SCIM group mapped to it move there first (a merge); without, it must be empty.
    /// Audited, in one transaction. Returns how many people moved.
    async fn delete_team(&self, org: OrgId, team: TeamId, into: Option<TeamId>, actor: &roster_core::Actor, now: DateTime<Utc>) -> StoreResult<u64>;
}

#[async_trait]
pub trait PlanStore {
    /// Apply every change of the plan, its audit rows and its outbox rows in one transaction:
    /// all or nothing. Fails with `Conflict` (changing nothing) when the plan no longer fits,
    /// e.g. an e-mail was taken meanwhile; the caller plans again.
    async fn apply(&self, plan: &Plan, now: DateTime<Utc>) -> StoreResult<RunId>;
}

#[async_trait]
pub trait AuditStore {
    /// Newest first.
    async fn audit_for_person(&self, org: OrgId, person: UserId, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// Newest first.
    async fn recent_audit(&self, org: OrgId, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// The newest audit row's sequence number (0 for none): it moves whenever anything about
    /// the organisation's people changes, so figures derived from them can be kept until it does.
    async fn audit_version(&self, org: OrgId) -> StoreResult<i64>;
    /// The entries `query` selects, newest first (by id, which is time-ordered).
    async fn audit_log(&self, org: OrgId, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
}

#[async_trait]
pub trait OutboxStore {
    /// Queue an e-mail outside a plan (a password reset).
    async fn enqueue_email(&self, org: OrgId, email: &OutgoingEmail, now: DateTime<Utc>) -> StoreResult<()>;
    /// The organisation's e-mails, newest first: the outbox page of the embedded default.
    async fn emails(&self, org: OrgId, limit: u32) -> StoreResult<Vec<OutboxEmail>>;
    /// Lease up to `limit` unsent e-mails of any organisation whose next attempt is due, so
    /// that no other process sends them until `lease_until`.
    async fn claim_emails(&self, limit: u32, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> StoreResult<Vec<OutboxEmail>>;
    async fn mark_email_sent(&self, id: uuid::Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    /// Record a failed attempt; the e-mail is tried again at `retry_at`.
    async fn mark_email_failed(&self, id: uuid::Uuid, error: &str, retry_at: DateTime<Utc>) -> StoreResult<()>;
    /// Outbound events (`user.created`, ...) after `after_seq`, oldest first: the replayable feed.
    async fn events(&self, org: OrgId, after_seq: i64, limit: u32) -> StoreResult<Vec<OutboundEvent>>;
    /// The feed: events after `after_seq` of the given kinds (every kind when empty), oldest first.
    async fn event_feed(&self, org: OrgId, after_seq: i64, kinds: &[String], limit: u32) -> StoreResult<Vec<OutboundEvent>>;
    /// `event_feed` with each event's data as the JSON text it is stored as: the API passes it
    /// through instead of reading it into values and writing it out again.
    async fn event_feed_raw(
        &self,
        org: OrgId,
        after_seq: i64,
        kinds: &[String],
        limit: u32,
    ) -> StoreResult<Vec<OutboundEvent<Box<serde_json::value::RawValue>>>>;
    /// Forget events older than `before` (the feed's retention window). Returns how many.
    async fn purge_events(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// One event that no plan makes (a connection's health changed), in the organisation's order.
    async fn publish_event(&self, org: OrgId, actor: &roster_core::Actor, kind: &str, data: serde_json::Value, now: DateTime<Utc>)
        -> StoreResult<()>;
}

#[async_trait]
pub trait AuthStore {
    /// The person with this e-mail and their password hash, if they have set one.
    async fn credentials(&self, org: OrgId, email: &Email) -> StoreResult<Option<Credentials>>;
    /// Set a password hash; marks the person activated (and active, if invited), ends every
    /// session of theirs and voids every open link they were sent. Audited.
    async fn set_password(&self, org: OrgId, person: UserId, hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// A first sign-in by single sign-on (`via`: the connection's name): an invited person
    /// becomes active and their invitation links stop working. False when they were not
    /// invited (nothing changes then). Audited as `user.activated`.
    async fn activate_on_sign_in(&self, org: OrgId, person: UserId, via: &str, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Store a new single-use link's digest and void the person's other open links of the
    /// same purpose, so only the newest works. `handed_over_by` records in the audit log that
    /// someone was given the link by hand (it was not e-mailed).
    async fn issue_token(&self, token: &NewToken, now: DateTime<Utc>, handed_over_by: Option<&roster_core::Actor>) -> StoreResult<()>;
    /// The person a valid, unused, unexpired token belongs to, without using it up.
    async fn peek_token(&self, org: OrgId, purpose: TokenPurpose, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<UserId>>;
    /// Use a token up: only one caller ever gets `Some`.
    async fn consume_token(&self, org: OrgId, purpose: TokenPurpose, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<UserId>>;

    /// Whether provisioning connections may link, re-address and deactivate this owner or
    /// admin (they may not by default). Audited as `user.provisioning_allowed` by `actor`.
    /// False when the person is not in the organisation.
    async fn set_provisioning_allowed(
        &self,
        org: OrgId,
        person: UserId,
        allowed: bool,
        actor: &roster_core::Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// A live session by the digest of its cookie value.
    async fn session(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<SessionRecord>>;
    async fn delete_session(&self, digest: &str) -> StoreResult<()>;
    /// Sign a person out everywhere (deactivation, password change).
    async fn delete_sessions_of(&self, org: OrgId, person: UserId) -> StoreResult<()>;

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<ApiKeyInfo>;
    /// A live key by its digest; records its last use.
    async fn api_key(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<ApiKeyInfo>>;
    async fn api_keys(&self, org: OrgId) -> StoreResult<Vec<ApiKeyInfo>>;
    async fn revoke_api_key(&self, org: OrgId, id: uuid::Uuid, actor: &roster_core::Actor, now: DateTime<Utc>) -> StoreResult<bool>;
}

/// Everything Roster stores, behind one handle.
#[async_trait]
pub trait TeamManagerStore {
    /// Every (team, manager) pair of the organisation.
    async fn team_managers(&self, org: OrgId) -> StoreResult<Vec<(TeamId, UserId)>>;
    /// Make `managers` exactly the team's managers. Audited as `team.managers_changed` with
    /// the addresses before and after, with an event of the same kind.
    async fn set_team_managers(
        &self,
        org: OrgId,
        team: TeamId,
        managers: &[UserId],
        actor: &roster_core::Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait ErasureStore {
    /// Erase a person on request: every personal value is replaced by a placeholder (the
    /// returned address), their sessions, links, memberships and avatar are deleted, what the
    /// audit log recorded about them keeps its kind and time but not its values, and their
    /// address is replaced wherever else it was written. Audited as `user.erased` without the
    /// erased values, with a `user.erased` event. Refused while a connection provisions them.
    async fn erase_person(&self, org: OrgId, person: UserId, actor: &roster_core::Actor, now: DateTime<Utc>) -> StoreResult<Email>;
    /// Unlink one person from the connection that provisions them: they become managed by
    /// hand (a later run may link them again if the source still holds them). Audited as
    /// `user.unlinked`. False when nothing provisioned them.
    async fn unlink_person(&self, org: OrgId, person: UserId, actor: &roster_core::Actor, now: DateTime<Utc>) -> StoreResult<bool>;
}

#[async_trait]
pub trait Store:
    OrgStore
    + PeopleStore
    + TeamStore
    + PlanStore
    + AuditStore
    + OutboxStore
    + AuthStore
    + ConnectionStore
    + ScimStore
    + JobStore
    + RunStore
    + SsoStore
    + ThrottleStore
    + ErasureStore
    + TeamManagerStore
    + WebhookStore
    + IdempotencyStore
    + OktaHookStore
    + EntraLiveStore
    + Send
    + Sync
{
    /// Bring the schema up to date (forward-only migrations).
    async fn migrate(&self) -> StoreResult<()>;
    /// Is the database reachable? For `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// `sqlite` or `postgres`, for logs and metrics.
    fn backend(&self) -> &'static str;
}

/// Where the database is: a data directory for SQLite, or a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    DataDir(std::path::PathBuf),
    Postgres(String),
}

/// Open (and create, for SQLite) the store at `location`. Does not migrate.
pub async fn open(location: &Location) -> StoreResult<Arc<dyn Store>> {
    match location {
        Location::DataDir(dir) => Ok(Arc::new(sqlite::SqliteStore::open(dir).await?)),
        Location::Postgres(url) => Ok(Arc::new(postgres::PgStore::connect(url).await?)),
    }
}

/// Throwaway databases for tests (feature `testing`).
#[cfg(feature = "testing")]
pub mod testing;
