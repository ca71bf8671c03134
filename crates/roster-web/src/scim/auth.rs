//! Bearer tokens and the per-token rate limit.
//!
//! The rate limit is an in-process limiter (GCRA, from `governor`) per SCIM token: with
//! several `roster serve` processes each enforces it on its own, so the effective limit is that
//! many times higher. Identity providers send one request at a time or a few in parallel; the
//! limit is a guard against a runaway client, not an accounting of usage.

use super::log::RequestNote;
use super::{ScimFailure, ScimResult};
use crate::routing::OrgCtx;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use roster_app::provision::scim::ScimSettings;
use roster_core::secret::token_digest;
use roster_core::Connection;
use roster_scim::ScimError;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// A request authenticated by one of the organisation's live SCIM tokens.
pub struct ScimClient {
    pub ctx: OrgCtx,
    pub connection: Connection,
    /// The connection's settings, read once here.
    pub settings: ScimSettings,
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
        let settings = ScimSettings::from_connection(&connection).map_err(|e| ScimFailure::from(ScimError::internal(e.to_string())))?;
        let rate = settings.rate_per_second();
        if let Err(wait) = LIMITS.take(token.id, rate) {
            return Err(ScimFailure {
                error: ScimError::too_many_requests(format!("this token may make {rate} requests a second; retry after {wait} s")),
                retry_after_seconds: Some(wait),
            });
        }
        let base_url = state.config.org_url(ctx.org.slug.as_str(), "/scim/v2");
        Ok(ScimClient { ctx, connection, settings, token: token.id, base_url })
    }
}

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A token's limiter, and the rate it was made for.
type RatedLimiter<C> = (f64, Arc<Limiter<C>>);

/// One limiter per token, made again when its connection's rate changes.
struct TokenLimits<C: Clock> {
    clock: C,
    limiters: Mutex<HashMap<Uuid, RatedLimiter<C>>>,
}

static LIMITS: LazyLock<TokenLimits<DefaultClock>> = LazyLock::new(|| TokenLimits::new(DefaultClock::default()));

impl<C: Clock + Clone> TokenLimits<C> {
    fn new(clock: C) -> Self {
        TokenLimits { clock, limiters: Mutex::new(HashMap::new()) }
    }

    /// Take one request from the token's allowance (`rate` a second, bursts of twice that),
    /// or say how many whole seconds to wait (Okta reads whole seconds only).
    fn take(&self, token: Uuid, rate: f64) -> Result<(), u64> {
        let limiter = {
            // A poisoned lock only means another request panicked mid-update; the map is usable.
            let mut limiters = self.limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = limiters.entry(token).or_insert_with(|| (rate, Arc::new(self.limiter(rate))));
            if entry.0 != rate {
                *entry = (rate, Arc::new(self.limiter(rate)));
            }
            entry.1.clone()
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now()).as_secs_f64().ceil();
            // At least a second: a wait of zero would invite an immediate retry.
            if wait.is_finite() && wait >= 1.0 {
                wait as u64
            } else {
                1
            }
        })
    }

    fn limiter(&self, rate: f64) -> Limiter<C> {
        let burst = NonZeroU32::new((rate * 2.0).clamp(1.0, f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        // A positive, finite rate (`ScimSettings::rate_per_second`) always gives a valid period.
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst);
        RateLimiter::direct_with_clock(quota, self.clock.clone())
    }
}

pub(super) fn require<T>(value: Option<T>, what: &str) -> ScimResult<T> {
    value.ok_or_else(|| ScimError::not_found(format!("{what} not found")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_a_burst_then_whole_seconds_to_wait() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limits = TokenLimits::new(clock.clone());
        let token = Uuid::now_v7();
        assert!(limits.take(token, 1.0).is_ok());
        assert!(limits.take(token, 1.0).is_ok());
        assert_eq!(limits.take(token, 1.0), Err(1));
        clock.advance(Duration::from_millis(1100));
        assert!(limits.take(token, 1.0).is_ok());
        // At 0.1 a second, an empty allowance refills one request in 10 whole seconds.
        let slow = Uuid::now_v7();
        assert!(limits.take(slow, 0.1).is_ok());
        assert_eq!(limits.take(slow, 0.1), Err(10));
        // Tokens are apart.
        assert!(limits.take(Uuid::now_v7(), 1.0).is_ok());
    }
}
