//! Okta's rate limits (§5) and the faults a test can inject.
//!
//! Each endpoint bucket counts requests in a fixed window that starts with its first request
//! (windows are unaligned, about 60 s), and every answer states the bucket's
//! `X-Rate-Limit-Limit`, `-Remaining` and `-Reset` (epoch seconds). Queued faults fire on the
//! next API requests and are then used up, so a test states exactly what a client rides out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::errors::{rate_limited, server_error, OktaResponse};
use super::{lock, OrgState};

pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// How far ahead a concurrency 429 "suggests" coming back; Okta's value is only a hint.
const CONCURRENCY_RESET: Duration = Duration::from_secs(1);

/// The rate-limit buckets: `/api/v1/apps*` and `/api/v1/users*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Apps,
    Users,
    Other,
}

impl Bucket {
    pub fn for_path(path: &str) -> Bucket {
        if path.starts_with("/api/v1/apps") {
            Bucket::Apps
        } else if path.starts_with("/api/v1/users") {
            Bucket::Users
        } else {
            Bucket::Other
        }
    }

    /// Per minute. The reference gives no numbers; these are the usual org defaults for the
    /// apps bucket and for single-user reads.
    fn default_limit(self) -> u32 {
        match self {
            Bucket::Apps | Bucket::Other => 100,
            Bucket::Users => 600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds.
    pub reset: u64,
}

impl RateHeaders {
    pub fn pairs(self) -> [(&'static str, String); 3] {
        [
            ("X-Rate-Limit-Limit", self.limit.to_string()),
            ("X-Rate-Limit-Remaining", self.remaining.to_string()),
            ("X-Rate-Limit-Reset", self.reset.to_string()),
        ]
    }
}

fn epoch_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// `Reset` for a moment `after` from now: whole epoch seconds, rounded up.
fn reset_after(after: Duration) -> u64 {
    (epoch_now() + after.as_secs_f64()).ceil() as u64
}

#[derive(Debug, Clone)]
struct Window {
    used: u32,
    reset: u64,
    /// When the window really ends: at `reset`, so a client waiting until Reset is let in.
    ends: Instant,
}

#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    /// A test's limit and window for every bucket, replacing the defaults.
    custom: Option<(u32, Duration)>,
    windows: HashMap<Bucket, Window>,
}

impl RateLimits {
    /// Counts one request; returns its headers and whether it is within the limit.
    pub fn charge(&mut self, bucket: Bucket) -> (RateHeaders, bool) {
        let (limit, length) = self.custom.unwrap_or((bucket.default_limit(), DEFAULT_WINDOW));
        let now = Instant::now();
        let window = self.windows.entry(bucket).or_insert_with(|| new_window(now, length));
        if now >= window.ends {
            *window = new_window(now, length);
        }
        let allowed = window.used < limit;
        if allowed {
            window.used += 1;
        }
        (RateHeaders { limit, remaining: limit.saturating_sub(window.used), reset: window.reset }, allowed)
    }
}

fn new_window(now: Instant, length: Duration) -> Window {
    let start = epoch_now();
    let reset = (start + length.as_secs_f64()).ceil() as u64;
    let ends = now + Duration::from_secs_f64((reset as f64 - start).max(0.0));
    Window { used: 0, reset, ends }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// An Okta error object with this status (500, 503, ...).
    Status(u16),
    /// 429 `E0000047`, Remaining 0, Reset this far ahead.
    RateLimited(Duration),
    /// A concurrency 429: Limit 0, Remaining 0 and a suggested Reset.
    Concurrency,
}

#[derive(Debug, Clone, Default)]
pub struct FaultState {
    pub next: VecDeque<Fault>,
    /// Every API request is a 429 until then.
    pub storm_until: Option<Instant>,
}

impl FaultState {
    /// The injected answer for this request, if any; `bucket` is the request's own headers.
    pub fn take(&mut self, bucket: RateHeaders) -> Option<OktaResponse> {
        let now = Instant::now();
        if let Some(until) = self.storm_until {
            if now < until {
                return Some(throttled(RateHeaders { remaining: 0, reset: reset_after(until - now), ..bucket }));
            }
            self.storm_until = None;
        }
        let fault = self.next.pop_front()?;
        Some(match fault {
            Fault::Status(429) => throttled(RateHeaders { remaining: 0, ..bucket }),
            Fault::Status(status) => server_error(status),
            Fault::RateLimited(after) => throttled(RateHeaders { remaining: 0, reset: reset_after(after), ..bucket }),
            Fault::Concurrency => throttled(RateHeaders { limit: 0, remaining: 0, reset: reset_after(CONCURRENCY_RESET) }),
        })
    }
}

pub fn throttled(headers: RateHeaders) -> OktaResponse {
    OktaResponse { rate: Some(headers), ..rate_limited() }
}

/// The fault-injection handle returned by `OktaSim::faults()`.
#[derive(Clone)]
pub struct OktaFaults {
    pub(crate) state: Arc<Mutex<OrgState>>,
}

impl OktaFaults {
    fn with<R>(&self, f: impl FnOnce(&mut OrgState) -> R) -> R {
        let mut state = lock(&self.state);
        f(&mut state)
    }

    /// Every bucket allows `limit` requests per `window` (e.g. 5 per 1 s); windows restart now.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        self.with(|s| s.limits = RateLimits { custom: Some((limit, window.max(Duration::from_millis(1)))), windows: HashMap::new() });
    }

    /// Back to the default limits and 60 s windows.
    pub fn reset_rate_limits(&self) {
        self.with(|s| s.limits = RateLimits::default());
    }

    /// The next `n` API requests fail with `status` and its Okta error object. A 429 keeps the
    /// bucket's own Reset; use [`OktaFaults::rate_limit_next`] to choose one.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.with(|s| s.faults.next.extend(std::iter::repeat_n(Fault::Status(status), n)));
    }

    /// The next `n` API requests get 429 `E0000047` with Remaining 0 and Reset `reset_in` ahead.
    pub fn rate_limit_next(&self, n: usize, reset_in: Duration) {
        self.with(|s| s.faults.next.extend(std::iter::repeat_n(Fault::RateLimited(reset_in), n)));
    }

    /// The next `n` API requests get a concurrency 429: Limit 0, Remaining 0, a suggested Reset.
    pub fn concurrency_limit_next(&self, n: usize) {
        self.with(|s| s.faults.next.extend(std::iter::repeat_n(Fault::Concurrency, n)));
    }

    /// A 429 storm: every API request for `duration` gets 429 with Reset at the storm's end, so
    /// a client that retries before Reset only meets more 429s.
    pub fn storm(&self, duration: Duration) {
        self.with(|s| s.faults.storm_until = Some(Instant::now() + duration));
    }

    /// Drops queued faults and any storm (rate limits stay).
    pub fn clear(&self) {
        self.with(|s| s.faults = FaultState::default());
    }
}
