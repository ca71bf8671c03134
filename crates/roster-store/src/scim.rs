//! Storage for the SCIM 2.0 server: bearer tokens, the resources exactly as the client wrote
//! them, group memberships, and a log of requests.
//!
//! A SCIM write and the plan it implies are stored in one transaction ([`ScimStore::scim_write`]),
//! so the directory and the SCIM resource never disagree. Concurrent writers of one resource are
//! serialised by its `version`: a write names the version it read, and loses (changing nothing)
//! when another write committed first; the caller reads again and retries.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::{ConnectionId, OrgId, Plan, TeamId, UserId};
use roster_scim::{Filter, Schema, Sort, SortOrder};
use uuid::Uuid;

pub use crate::common::scim_filter::{check_scim_filter, check_scim_sort, MAX_SCIM_FILTER_DEPTH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimResourceType {
    User,
    Group,
}

impl ScimResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimResourceType::User => "User",
            ScimResourceType::Group => "Group",
        }
    }

    pub fn schema(self) -> &'static Schema {
        match self {
            ScimResourceType::User => Schema::user(),
            ScimResourceType::Group => Schema::group(),
        }
    }

    pub(crate) fn parse(raw: &str) -> Option<Self> {
        match raw {
            "User" => Some(ScimResourceType::User),
            "Group" => Some(ScimResourceType::Group),
            _ => None,
        }
    }
}

/// A bearer token a SCIM client authenticates with. The secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimToken {
    pub id: Uuid,
    pub org: OrgId,
    pub connection: ConnectionId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewScimToken {
    pub id: Uuid,
    pub org: OrgId,
    pub connection: ConnectionId,
    pub name: String,
    /// `roster_core::secret::token_digest` of the secret.
    pub digest: String,
    pub created_at: DateTime<Utc>,
    /// Who created it, for the audit log.
    pub created_by: roster_core::Actor,
}

/// One SCIM resource. `document` holds the attributes the client wrote (coerced to canonical
/// names, without `id`, `meta` and the write-only `password`); `id` and `meta` come from the
/// columns when the resource is rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimResource {
    pub org: OrgId,
    pub connection: ConnectionId,
    pub resource_type: ScimResourceType,
    /// Assigned by the server (a UUIDv7), stable and never reused.
    pub id: Uuid,
    pub external_id: Option<String>,
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub document: serde_json::Value,
    /// Starts at 1 and grows by one on each write; the ETag is made from it.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The person a User provisions.
    pub person: Option<UserId>,
    /// The team a Group stands for.
    pub team: Option<TeamId>,
}

/// A resource to store and what the writer read before.
#[derive(Debug, Clone)]
pub struct ScimWrite {
    pub resource: ScimResource,
    /// `None` creates the resource; `Some(v)` replaces it only if it is still at version `v`.
    pub expected_version: Option<i64>,
    /// A Group's member ids (User ids); `None` leaves the memberships alone.
    pub members: Option<Vec<Uuid>>,
    /// The client deactivated the User's person beyond the connection's guard: the plan leaves
    /// the person active and the deactivation waits for an admin (`pending_deactivations`).
    /// A User written active again clears a waiting one.
    pub hold_deactivation: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScimGuardCounts {
    pub deactivated_recently: u64,
    pub pending: u64,
}

/// A deactivation a SCIM client asked for beyond its connection's guard, waiting for an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDeactivation {
    pub person: UserId,
    pub connection: ConnectionId,
    pub asked_at: DateTime<Utc>,
}

/// A resource to remove at the version the writer read, and the writes that go with it.
#[derive(Debug, Clone)]
pub struct ScimDelete<'a> {
    pub org: OrgId,
    pub kind: ScimResourceType,
    pub id: Uuid,
    pub expected_version: i64,
    /// Stored in the same transaction (the Groups a deleted User leaves).
    pub also: &'a [ScimWrite],
    /// A deleted User's person whose deactivation the guard holds for an admin, and the
    /// connection that asked.
    pub hold_deactivation: Option<(UserId, ConnectionId)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimWriteOutcome {
    Written,
    /// Another write committed first (or the resource is gone); nothing was changed.
    Stale,
}

/// One page of resources matching a filter.
#[derive(Debug, Clone)]
pub struct ScimQuery<'f> {
    pub filter: Option<&'f Filter>,
    pub sort: Option<&'f Sort>,
    /// Zero-based.
    pub offset: usize,
    /// Zero counts without reading any resource.
    pub count: usize,
}

impl ScimQuery<'_> {
    pub(crate) fn descending(&self) -> bool {
        self.sort.is_some_and(|s| s.order == SortOrder::Descending)
    }
}

#[derive(Debug, Clone)]
pub struct ScimPage {
    /// Every match, not only this page's.
    pub total: usize,
    pub resources: Vec<ScimResource>,
}

/// One request a SCIM client made. No body is ever kept; `error` is the SCIM error detail
/// the client was sent, which never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimRequestLog {
    pub id: Uuid,
    pub org: OrgId,
    pub token: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration_micros: i64,
    pub error: Option<String>,
}

/// The message of a `Conflict` for a taken `userName` (compared case-insensitively).
pub const SCIM_USER_NAME_TAKEN: &str = "userName is already taken by another User of this organisation";
/// The message of a `Conflict` for a taken Group `displayName`.
pub const SCIM_GROUP_NAME_TAKEN: &str = "displayName is already taken by another Group of this organisation";

#[async_trait]
pub trait ScimStore {
    async fn create_scim_token(&self, token: &NewScimToken) -> StoreResult<ScimToken>;
    /// A live token by its digest; records its last use (at most once a minute).
    async fn scim_token(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<ScimToken>>;
    /// The organisation's tokens, newest first, revoked ones included.
    async fn scim_tokens(&self, org: OrgId) -> StoreResult<Vec<ScimToken>>;
    /// False when the organisation has no such live token.
    async fn revoke_scim_token(&self, org: OrgId, id: Uuid, actor: &roster_core::Actor, now: DateTime<Utc>) -> StoreResult<bool>;

    async fn scim_resource(&self, org: OrgId, kind: ScimResourceType, id: Uuid) -> StoreResult<Option<ScimResource>>;
    /// Resources of one type by id; unknown ids are left out.
    async fn scim_resources(&self, org: OrgId, kind: ScimResourceType, ids: &[Uuid]) -> StoreResult<Vec<ScimResource>>;
    /// The User whose `userName` equals `user_name` in any case.
    async fn scim_user_by_name(&self, org: OrgId, user_name: &str) -> StoreResult<Option<ScimResource>>;
    /// The Group whose `displayName` equals `name` in any case.
    async fn scim_group_by_name(&self, org: OrgId, name: &str) -> StoreResult<Option<ScimResource>>;
    /// Filtered, sorted, paged; the order is stable (ties broken by id). The filter and sort
    /// must have passed [`check_scim_filter`] / [`check_scim_sort`].
    async fn scim_list(&self, org: OrgId, kind: ScimResourceType, query: &ScimQuery<'_>) -> StoreResult<ScimPage>;
    /// (group id, group displayName) of each Group `member` belongs to.
    async fn scim_groups_of(&self, org: OrgId, member: Uuid) -> StoreResult<Vec<(Uuid, String)>>;
    /// A Group's member ids.
    async fn scim_members(&self, org: OrgId, group: Uuid) -> StoreResult<Vec<Uuid>>;

    /// Store the resource and apply the plan in one transaction. `Conflict` with
    /// [`SCIM_USER_NAME_TAKEN`] / [`SCIM_GROUP_NAME_TAKEN`] for a taken name; `Conflict` from
    /// the plan when it no longer fits. Either way nothing is changed.
    async fn scim_write(&self, write: &ScimWrite, plan: &Plan, now: DateTime<Utc>) -> StoreResult<ScimWriteOutcome>;
    /// For the SCIM guard: how many people `connection` deactivated since `since` (from the
    /// audit log) and how many of its deactivations wait for an admin.
    async fn scim_guard_counts(&self, org: OrgId, connection: ConnectionId, since: DateTime<Utc>) -> StoreResult<ScimGuardCounts>;
    /// How many people `connection` provisions who are not deactivated.
    async fn provisioned_count(&self, org: OrgId, connection: ConnectionId) -> StoreResult<u64>;
    /// The deactivations waiting for an admin, oldest first.
    async fn pending_deactivations(&self, org: OrgId) -> StoreResult<Vec<PendingDeactivation>>;
    /// Forget waiting deactivations (applied or discarded by an admin); audited as `actor`'s.
    async fn clear_pending_deactivations(&self, org: OrgId, people: &[UserId], applied: bool, actor: &str, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Remove the resource (and its memberships, as group or member) at `expected_version`,
    /// store the `also` writes (the Groups a deleted User leaves) and apply the plan, in one
    /// transaction.
    async fn scim_delete(&self, delete: &ScimDelete<'_>, plan: &Plan, now: DateTime<Utc>) -> StoreResult<ScimWriteOutcome>;

    /// Records a batch of requests in one transaction (one commit for many rows).
    async fn log_scim_requests(&self, entries: &[ScimRequestLog]) -> StoreResult<()>;
    /// Newest first.
    async fn scim_requests(&self, org: OrgId, limit: u32) -> StoreResult<Vec<ScimRequestLog>>;
}
