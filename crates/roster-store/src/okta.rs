//! Storage for Okta event hooks: which deliveries and System Log events were seen (Okta sends
//! at least once, so each is acted on once), and the users waiting to be read again.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::{ConnectionId, OrgId};

/// How long seen event ids are kept: longer than Okta goes on retrying or repeating.
pub const HOOK_EVENTS_KEPT_DAYS: i64 = 7;

/// One System Log event of a hook delivery: its keys (the delivery's `eventId` and the event's
/// `uuid`) and the users it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    pub keys: Vec<String>,
    pub users: Vec<String>,
}

#[async_trait]
pub trait OktaHookStore {
    /// Queue the users of the events not seen before; returns how many users were queued.
    async fn record_hook_events(&self, org: OrgId, connection: ConnectionId, events: &[HookEvent], now: DateTime<Utc>) -> StoreResult<usize>;
    /// Up to `limit` queued users of the connection, oldest first, each with when it was queued
    /// (a user named again is queued again, later).
    async fn pending_hook_users(&self, org: OrgId, connection: ConnectionId, limit: u32) -> StoreResult<Vec<(String, DateTime<Utc>)>>;
    /// Take users off the queue once they were read again, unless named again since.
    async fn forget_hook_users(&self, org: OrgId, connection: ConnectionId, users: &[(String, DateTime<Utc>)]) -> StoreResult<()>;
    /// Forget event ids seen before `before`.
    async fn purge_hook_events(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
