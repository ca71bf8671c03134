//! Faults a test can inject. Each queued fault fires on the next matching Graph request and is
//! then used up, so a test states exactly how many failures the client has to ride out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::throttle::{RetryAfter, RetryAfterStyle, WINDOW};
use super::{lock, SimState};

#[derive(Debug, Clone, Default)]
pub struct FaultState {
    /// Statuses (with an optional Retry-After) for the next Graph requests, in order.
    pub next: VecDeque<(u16, RetryAfter)>,
    /// Statuses for the next requests that carry a `$skiptoken` (pages after the first).
    pub next_page: VecDeque<u16>,
    /// Statuses for the next token-endpoint requests.
    pub token_endpoint: VecDeque<u16>,
    /// Serve an empty page (that still carries a nextLink) before every non-empty one after the first.
    pub empty_pages: bool,
    /// Expire every token after this many more Graph requests.
    pub expire_tokens_after: Option<usize>,
    pub throttling: ThrottleConfig,
    /// The next delta calls answered 410 Gone with a `Location` to start over from.
    pub delta_gone: usize,
    /// The next delta calls answered 400 `resyncRequired`.
    pub resync_required: usize,
    /// The next incremental delta rounds leave out the newest change (replication lag).
    pub delta_lag: usize,
    /// The next deltaLinks replay their round's changes in the following round.
    pub delta_replay: usize,
    /// Send every notification twice, in separate POSTs.
    pub duplicate_notifications: bool,
    /// Shuffle the notifications within a POST and send a burst's POSTs newest first.
    pub reorder_notifications: bool,
    /// Hold every delivery (changes keep queueing) until switched off.
    pub pause_notifications: bool,
}

/// The RU bucket of the reference, off by default so functional tests are not throttled.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    pub enabled: bool,
    /// Replaces the S/M/L limit (RU per 10 s), to reach throttling with few requests in tests.
    pub limit_override: Option<u32>,
    pub retry_after: RetryAfterStyle,
    /// The budget's window: 10 s in Graph; shorter in tests so refills take milliseconds.
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self { enabled: false, limit_override: None, retry_after: RetryAfterStyle::Fractional, window: WINDOW }
    }
}

/// The fault-injection handle returned by `EntraSim::faults()`.
#[derive(Clone)]
pub struct Faults {
    pub(crate) state: Arc<Mutex<SimState>>,
}

impl Faults {
    fn with<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        let mut state = lock(&self.state);
        f(&mut state)
    }

    /// The next `n` Graph requests get 429 `TooManyRequests` with this Retry-After.
    pub fn throttle_next(&self, n: usize, retry_after: RetryAfter) {
        self.with(|s| s.faults.next.extend(std::iter::repeat_n((429, retry_after), n)));
    }

    /// The next `n` Graph requests get 503 `serviceNotAvailable` without Retry-After.
    pub fn service_unavailable(&self, n: usize) {
        self.with(|s| s.faults.next.extend(std::iter::repeat_n((503, RetryAfter::Missing), n)));
    }

    /// The next `n` Graph requests get 503 with the given Retry-After.
    pub fn service_unavailable_retry_after(&self, n: usize, retry_after: RetryAfter) {
        self.with(|s| s.faults.next.extend(std::iter::repeat_n((503, retry_after), n)));
    }

    /// The next `n` Graph requests get 504.
    pub fn gateway_timeout(&self, n: usize) {
        self.with(|s| s.faults.next.extend(std::iter::repeat_n((504, RetryAfter::Missing), n)));
    }

    /// The next `n` Graph requests fail with `status` (500, 502, 400 ...).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.with(|s| s.faults.next.extend(std::iter::repeat_n((status, RetryAfter::Missing), n)));
    }

    /// The next request for a follow-up page (one carrying a `$skiptoken`) fails once with `status`.
    pub fn fail_next_page(&self, status: u16) {
        self.with(|s| s.faults.next_page.push_back(status));
    }

    /// The next `n` token requests get `status` (500, 503 ...).
    pub fn token_endpoint_fails(&self, n: usize, status: u16) {
        self.with(|s| s.faults.token_endpoint.extend(std::iter::repeat_n(status, n)));
    }

    /// Every access token issued so far is expired from now on (401 `InvalidAuthenticationToken`).
    pub fn expire_tokens_now(&self) {
        self.with(|s| {
            // Kept rather than dropped, so the 401 says "expired" and not "malformed".
            let past = std::time::Instant::now().checked_sub(std::time::Duration::from_secs(1));
            for token in s.tokens.values_mut() {
                token.expires_at = past.unwrap_or(token.expires_at);
            }
        });
    }

    /// Every token expires after `n` more Graph requests (a token running out mid-listing).
    pub fn expire_tokens_after(&self, n: usize) {
        self.with(|s| s.faults.expire_tokens_after = Some(n));
    }

    /// Withdraws an application permission. Takes effect at once, as if the token were new.
    pub fn revoke_permission(&self, name: &str) {
        self.with(|s| {
            s.tenant.app.granted.remove(name);
        });
    }

    pub fn grant_permission(&self, name: &str) {
        self.with(|s| {
            s.tenant.app.granted.insert(name.to_string());
        });
    }

    /// The client secret is past its end date (AADSTS7000222).
    pub fn expire_secret(&self) {
        self.with(|s| s.tenant.app.secret_expired = true);
    }

    /// Interleave empty pages that still carry a nextLink.
    pub fn empty_pages(&self, on: bool) {
        self.with(|s| s.faults.empty_pages = on);
    }

    /// The next `n` delta calls get 410 Gone with a `Location` header pointing at the initial
    /// delta URL (same `$select`): the client must start a full round over.
    pub fn delta_gone(&self, n: usize) {
        self.with(|s| s.faults.delta_gone += n);
    }

    /// The next `n` delta calls get 400 `resyncRequired`.
    pub fn resync_required(&self, n: usize) {
        self.with(|s| s.faults.resync_required += n);
    }

    /// The next `n` incremental delta rounds miss their newest change, which then arrives one
    /// round late (Graph's replication delay).
    pub fn delta_lag(&self, n: usize) {
        self.with(|s| s.faults.delta_lag += n);
    }

    /// The next `n` deltaLinks lead to a round that replays the changes just served.
    pub fn delta_replay(&self, n: usize) {
        self.with(|s| s.faults.delta_replay += n);
    }

    /// Delivers every change notification twice, in separate POSTs.
    pub fn duplicate_notifications(&self, on: bool) {
        self.with(|s| s.faults.duplicate_notifications = on);
    }

    /// Shuffles the notifications of each POST and sends a burst's POSTs newest first.
    pub fn reorder_notifications(&self, on: bool) {
        self.with(|s| s.faults.reorder_notifications = on);
    }

    /// Holds notification deliveries (they keep queueing) until called with `false`: a way
    /// to build up a burst.
    pub fn pause_notifications(&self, on: bool) {
        self.with(|s| s.faults.pause_notifications = on);
    }

    /// Switches the RU bucket on with the S/M/L limit of the tenant's size.
    pub fn enable_throttling(&self, retry_after: RetryAfterStyle) {
        self.with(|s| {
            s.faults.throttling = ThrottleConfig { enabled: true, limit_override: None, retry_after, window: WINDOW };
            s.buckets.clear();
        });
    }

    /// Switches the RU bucket on with a custom limit per 10 s.
    pub fn enable_throttling_with_limit(&self, ru_per_10s: u32, retry_after: RetryAfterStyle) {
        self.enable_throttling_custom(ru_per_10s, WINDOW, retry_after);
    }

    /// A custom limit per custom window: `(40, 50 ms)` gives real 429 storms that clear in
    /// milliseconds, so tests can honour Retry-After without slowing down.
    pub fn enable_throttling_custom(&self, limit: u32, window: Duration, retry_after: RetryAfterStyle) {
        self.with(|s| {
            s.faults.throttling = ThrottleConfig { enabled: true, limit_override: Some(limit), retry_after, window };
            s.buckets.clear();
        });
    }

    pub fn disable_throttling(&self) {
        self.with(|s| s.faults.throttling.enabled = false);
    }

    /// Drops every queued fault (throttling settings stay).
    pub fn clear(&self) {
        self.with(|s| {
            s.faults.next.clear();
            s.faults.next_page.clear();
            s.faults.token_endpoint.clear();
            s.faults.empty_pages = false;
            s.faults.expire_tokens_after = None;
            s.faults.delta_gone = 0;
            s.faults.resync_required = 0;
            s.faults.delta_lag = 0;
            s.faults.delta_replay = 0;
            s.faults.duplicate_notifications = false;
            s.faults.reorder_notifications = false;
            s.faults.pause_notifications = false;
        });
    }
}
