//! Storage for webhook endpoints: where an organisation's events are posted, with the sealed
//! signing secret (and the previous one during a rotation), a cursor into the events feed, the
//! retry state, and a log of every delivery attempt.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::{Actor, OrgId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub org: OrgId,
    pub url: String,
    /// The event types it wants; empty for all.
    pub types: Vec<String>,
    pub sealed_secret: Vec<u8>,
    /// The secret before the last rotation, still signed with until `previous_until`.
    pub sealed_previous: Option<Vec<u8>>,
    pub previous_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    /// The last event delivered (or not wanted): delivery resumes after it.
    pub cursor_seq: i64,
    /// Failed attempts since the last success.
    pub attempts: i32,
    pub failing_since: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
}

/// One attempt to deliver one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub org: OrgId,
    pub endpoint: Uuid,
    pub event: Uuid,
    pub event_type: String,
    pub at: DateTime<Utc>,
    /// The HTTP status answered; None when there was no answer.
    pub status: Option<i32>,
    pub duration_ms: i32,
    /// The start of the answer's body.
    pub response: Option<String>,
    /// Why there was no answer (a timeout, a refused connection, a refused address).
    pub error: Option<String>,
}

/// After a failed attempt: when to try again, and whether to give up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRetry {
    pub next_attempt_at: DateTime<Utc>,
    pub failing_since: DateTime<Utc>,
    /// Set when the endpoint has failed too long: it is disabled with this reason.
    pub disable: Option<String>,
}

#[async_trait]
pub trait WebhookStore {
    /// A new endpoint, starting after the organisation's newest event. Audited.
    async fn create_webhook(&self, endpoint: &WebhookEndpoint, actor: &Actor) -> StoreResult<()>;
    async fn webhooks(&self, org: OrgId) -> StoreResult<Vec<WebhookEndpoint>>;
    async fn webhook(&self, org: OrgId, id: Uuid) -> StoreResult<Option<WebhookEndpoint>>;
    /// Delete an endpoint and its delivery log. Audited. False when there was none.
    async fn delete_webhook(&self, org: OrgId, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> StoreResult<bool>;
    /// A new secret; the old one stays valid (signed with too) until `previous_until`. Audited.
    async fn rotate_webhook_secret(
        &self,
        org: OrgId,
        id: Uuid,
        sealed: &[u8],
        previous_until: DateTime<Utc>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deliver again from just after `seq` (0: everything kept), and enable a disabled
    /// endpoint. Audited.
    async fn rewind_webhook(&self, org: OrgId, id: Uuid, seq: i64, actor: &Actor, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Lease enabled endpoints that are due; nobody else delivers for them until `lease_until`.
    async fn claim_webhooks(&self, limit: u32, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Delivered through `seq` from `from` (the cursor when the turn began): move the cursor and
    /// clear the failures, unless an admin moved the cursor meanwhile (a redelivery wins), and
    /// end the lease.
    async fn webhook_advanced(&self, id: Uuid, from: i64, seq: i64, next_attempt_at: DateTime<Utc>) -> StoreResult<()>;
    /// A failed attempt: retry later, or disable; ends the lease.
    async fn webhook_failed(&self, id: Uuid, retry: &WebhookRetry) -> StoreResult<()>;
    /// Log delivery attempts (one statement; a turn's attempts at a time).
    async fn record_deliveries(&self, deliveries: &[WebhookDelivery]) -> StoreResult<()>;
    /// The endpoint's newest attempts first.
    async fn webhook_deliveries(&self, org: OrgId, endpoint: Uuid, limit: u32) -> StoreResult<Vec<WebhookDelivery>>;
}
