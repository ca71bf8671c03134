//! Storage for `Idempotency-Key`: the first answer to a write request, kept a day so a retried
//! request gets it again instead of repeating the write.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::OrgId;

/// How long a first answer is kept for retries.
pub const IDEMPOTENCY_KEPT_HOURS: i64 = 24;

/// The answer to a request, as it is sent again to a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    pub status: u16,
    /// The headers that describe the answer (content type, location, ETag).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new (or its first request died unanswered): this request goes ahead, then
    /// keeps its answer or releases the key.
    Claimed,
    /// Another request with this key is being handled right now.
    InFlight,
    /// The key was answered: the first request's fingerprint and its answer.
    Answered { fingerprint: String, answer: KeptAnswer },
}

#[async_trait]
pub trait IdempotencyStore {
    /// Claim `key` of `client` (an API key's id) for a request with `fingerprint`. A claim made
    /// before `abandoned_before` and never answered is taken over.
    async fn claim_idempotency_key(
        &self,
        org: OrgId,
        client: &str,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        abandoned_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim>;
    /// Keep the answer of a claimed key.
    async fn keep_idempotent_answer(&self, org: OrgId, client: &str, key: &str, answer: &KeptAnswer) -> StoreResult<()>;
    /// Forget a claimed key whose request failed in a way a retry may fix.
    async fn release_idempotency_key(&self, org: OrgId, client: &str, key: &str) -> StoreResult<()>;
    /// Forget keys claimed before `before`.
    async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
