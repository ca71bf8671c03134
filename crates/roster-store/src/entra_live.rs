//! Storage for Entra in real time: where each connection's delta rounds continue from, the
//! group memberships the rounds maintain, the notifications waiting for a round, and the
//! subscriptions held at Graph.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::{ConnectionId, OrgId};

/// A connection's delta state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntraLive {
    /// Both links, once a full sync recorded where it read from.
    pub links: Option<DeltaLinks>,
    pub links_saved_at: Option<DateTime<Utc>>,
    /// The newest notification no round has acted on yet.
    pub notified_at: Option<DateTime<Utc>>,
}

/// Where the next users and groups rounds start. They hold Graph's tokens: never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct DeltaLinks {
    pub users: String,
    pub groups: String,
}

impl std::fmt::Debug for DeltaLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeltaLinks([redacted])")
    }
}

/// A direct membership: `member` (a user or a group) is in `group`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Membership {
    pub group: String,
    pub member: String,
    pub member_is_group: bool,
}

/// What a round changes in the stored memberships, written with its links in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChanges {
    /// Forget every stored membership first (a full read brings them all).
    pub replace_all: bool,
    pub added: Vec<Membership>,
    /// (group, member) pairs that ended.
    pub removed: Vec<(String, String)>,
    /// Groups deleted in the tenant: their own memberships and their places in other groups.
    pub groups_removed: Vec<String>,
}

/// A subscription Roster holds at Graph for a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraSubscription {
    pub id: String,
    pub org: OrgId,
    pub connection: ConnectionId,
    pub resource: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait EntraLiveStore {
    /// The connection's delta state (the default when it has none).
    async fn entra_live(&self, org: OrgId, connection: ConnectionId) -> StoreResult<EntraLive>;
    /// A notification arrived: the next round must run, whatever rounds are under way.
    async fn note_entra_notification(&self, org: OrgId, connection: ConnectionId, at: DateTime<Utc>) -> StoreResult<()>;
    /// A round that started after the notification of `seen` ran: forget it, unless a newer
    /// one came meanwhile. Returns whether one is still waiting.
    async fn settle_entra_notification(&self, org: OrgId, connection: ConnectionId, seen: DateTime<Utc>) -> StoreResult<bool>;
    /// Store a round's links and membership changes together, after its changes were applied.
    async fn save_entra_round(
        &self,
        org: OrgId,
        connection: ConnectionId,
        links: &DeltaLinks,
        changes: &MembershipChanges,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Forget the links and memberships (an expired link; the connection re-pointed).
    async fn clear_entra_links(&self, org: OrgId, connection: ConnectionId) -> StoreResult<()>;
    /// The groups each of `members` is directly in.
    async fn entra_groups_of(&self, org: OrgId, connection: ConnectionId, members: &[String]) -> StoreResult<Vec<Membership>>;
    /// The direct members of each of `groups`.
    async fn entra_members_of(&self, org: OrgId, connection: ConnectionId, groups: &[String]) -> StoreResult<Vec<Membership>>;

    async fn entra_subscriptions(&self, org: OrgId, connection: ConnectionId) -> StoreResult<Vec<EntraSubscription>>;
    /// The subscription Graph gave this id, whichever connection holds it.
    async fn entra_subscription(&self, id: &str) -> StoreResult<Option<EntraSubscription>>;
    /// Insert or update (a renewal moves `expires_at`).
    async fn save_entra_subscription(&self, subscription: &EntraSubscription) -> StoreResult<()>;
    async fn delete_entra_subscription(&self, id: &str) -> StoreResult<()>;
    /// Subscriptions of every organisation expiring before `before`, soonest first.
    async fn entra_subscriptions_expiring(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<Vec<EntraSubscription>>;
}
