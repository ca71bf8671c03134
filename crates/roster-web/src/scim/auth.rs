//! Bearer tokens and the per-token rate limit.
//!
//! The rate limit is an in-process token bucket per SCIM token: with several `roster serve`
//! processes each enforces it on its own, so the effective limit is that many times higher.
//! Identity providers send one request at a time or a few in parallel; the limit is a guard
//! against a runaway client, not an accounting of usage.

use super::log::RequestNote;
use super::{ScimFailure, ScimResult};
use crate::routing::OrgCtx;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use roster_core::secret::token_digest;
use roster_core::Connection;
use roster_scim::ScimError;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;
use uuid::Uuid;

/// Requests per second a token may make when its connection does not say
/// (`settings.rate_limit_per_second`); bursts of twice as many are allowed.
pub const DEFAULT_RATE_PER_SECOND: f64 = 200.0;

/// A request authenticated by one of the organisation's live SCIM tokens.
pub struct ScimClient {
    pub ctx: OrgCtx,
    pub connection: Connection,
    pub token: Uuid,
    /// The absolute base URL of this organisation's SCIM endpoints, for `Location` and `meta`.
    pub base_url: String,
}

impl FromRequestParts<AppState> for ScimClient {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = parts.extensions.get::<OrgCtx>().cloned().ok_or_else(|| ScimFailure::from(ScimError::not_found("no such organisation")))?;
        // A header that is not visible ASCII cannot hold a token: treat it as absent (401).
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let raw = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ScimFailure::from(ScimError::unauthorized("send a SCIM token as 'Authorization: Bearer <token>'")))?;
        let token = state.store.scim_token(&token_digest(raw), state.clock.now()).await?;
        // A token of another organisation is treated exactly like an unknown one.
        let token = token
            .filter(|t| t.org == ctx.org.id)
            .ok_or_else(|| ScimFailure::from(ScimError::unauthorized("the SCIM token is unknown or revoked")))?;
        if let Some(note) = parts.extensions.get::<RequestNote>() {
            note.set_token(token.id);
        }
        let connection = state.store.connection(ctx.org.id, token.connection).await?;
        let connection = connection
            .filter(|c| c.enabled)
            .ok_or_else(|| ScimFailure::from(ScimError::forbidden("SCIM provisioning is turned off for this organisation")))?;
        let rate = connection.settings.get("rate_limit_per_second").and_then(|v| v.as_f64()).filter(|r| *r > 0.0).unwrap_or(DEFAULT_RATE_PER_SECOND);
        if let Err(wait) = take(token.id, rate, Instant::now()) {
            return Err(ScimFailure {
                error: ScimError::too_many_requests(format!("this token may make {rate} requests a second; retry after {wait} s")),
                retry_after_seconds: Some(wait),
            });
        }
        let base_url = state.config.org_url(ctx.org.slug.as_str(), "/scim/v2");
        Ok(ScimClient { ctx, connection, token: token.id, base_url })
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

static BUCKETS: LazyLock<Mutex<HashMap<Uuid, Bucket>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Take one request from the token's bucket, or say how many whole seconds to wait.
fn take(token: Uuid, rate: f64, now: Instant) -> Result<(), u64> {
    let burst = (rate * 2.0).max(1.0);
    // A poisoned lock only means another request panicked mid-update; the counts are still usable.
    let mut buckets = BUCKETS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let bucket = buckets.entry(token).or_insert(Bucket { tokens: burst, at: now });
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
    bucket.at = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        Ok(())
    } else {
        let seconds = ((1.0 - bucket.tokens) / rate).ceil();
        Err(if seconds.is_finite() && seconds >= 1.0 { seconds as u64 } else { 1 })
    }
}

pub(super) fn require<T>(value: Option<T>, what: &str) -> ScimResult<T> {
    value.ok_or_else(|| ScimError::not_found(format!("{what} not found")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_a_burst_then_asks_for_whole_seconds() {
        let token = Uuid::now_v7();
        let start = Instant::now();
        assert!(take(token, 1.0, start).is_ok());
        assert!(take(token, 1.0, start).is_ok());
        assert_eq!(take(token, 1.0, start), Err(1));
        assert!(take(token, 1.0, start + Duration::from_millis(1100)).is_ok());
        // 0.1 of a request is left; the missing 0.9 at 0.1 a second takes 9 whole seconds.
        assert_eq!(take(token, 0.1, start + Duration::from_millis(1100)), Err(9));
    }
}
