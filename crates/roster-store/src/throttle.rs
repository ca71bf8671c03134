//! Counting failures per key (an account, a client address, a reset address) across every
//! process that shares the database, so sign-in throttling holds with several servers.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

/// How failures against one key are counted and answered: within `window` of the first, and
/// after `n` of them the key waits `delay(n)` (None: no wait yet).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleRule {
    pub window: Duration,
    pub delay: fn(u32) -> Option<Duration>,
}

/// A key's standing after a failure was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleCount {
    /// Failures within the current window, this one included.
    pub failures: u32,
    pub blocked_until: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait ThrottleStore {
    /// The latest time until which any of `keys` must wait, if one must wait at `now`.
    async fn blocked_until(&self, keys: &[&str], now: DateTime<Utc>) -> StoreResult<Option<DateTime<Utc>>>;
    /// Count one failure (or request) against `key` under `rule`; atomic across processes.
    async fn count_failure(&self, key: &str, rule: &ThrottleRule, now: DateTime<Utc>) -> StoreResult<ThrottleCount>;
    /// Forget `key` (a successful sign-in, a new password).
    async fn clear_throttle(&self, key: &str) -> StoreResult<()>;
    /// Forget keys whose window began before `before` and that wait for nothing.
    async fn purge_throttle(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<u64>;
}
