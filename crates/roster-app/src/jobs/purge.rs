//! Forgetting what guards nothing any more: expired sign-in requests and SAML assertion IDs,
//! old failure counts, provisioning decisions past 30 days, and events past the feed's retention. Any process may do it: the deletes are idempotent.

use crate::jobs::supervisor::Signals;
use crate::App;
use std::time::Duration;

/// How often a process purges.
const EVERY: Duration = Duration::from_secs(600);

/// One purge.
pub async fn purge_once(state: &App) {
    let now = state.clock.now();
    match state.store.purge_expired_sign_ins(now).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(removed = n, "purged expired sign-in state"),
        Err(error) => tracing::warn!(%error, "could not purge expired sign-in state"),
    }
    if let Err(error) = state.store.purge_throttle(now - chrono::Duration::days(1), now).await {
        tracing::warn!(%error, "could not purge old sign-in failure counts");
    }
    if let Err(error) = state.store.purge_decisions(now - chrono::Duration::days(roster_store::DECISIONS_KEPT_DAYS)).await {
        tracing::warn!(%error, "could not purge the provisioning log's old decisions");
    }
    if let Err(error) = state.store.purge_events(now - chrono::Duration::days(i64::from(state.config.event_retention_days))).await {
        tracing::warn!(%error, "could not purge events past the feed's retention");
    }
    if let Err(error) = state.store.purge_idempotency_keys(now - chrono::Duration::hours(roster_store::IDEMPOTENCY_KEPT_HOURS)).await {
        tracing::warn!(%error, "could not purge old idempotency keys");
    }
    if let Err(error) = state.store.purge_hook_events(now - chrono::Duration::days(roster_store::HOOK_EVENTS_KEPT_DAYS)).await {
        tracing::warn!(%error, "could not purge the Okta hook events seen");
    }
}

/// Purge now and every ten minutes until the process stops.
pub async fn purge_forever(state: App, signals: Signals) {
    loop {
        purge_once(&state).await;
        if !signals.pause(EVERY).await {
            return;
        }
    }
}
