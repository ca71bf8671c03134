//! The daily schedule: every enabled connection syncs once a day at its own time. Any number
//! of `roster serve` processes run this loop; only the holder of the scheduler lease queues
//! syncs, and every process fails the runs whose process died.

use crate::jobs::entra_live::{EntraDelta, EntraSubscriptions};
use crate::jobs::okta_sync::enqueue_pull;
use crate::jobs::supervisor::Signals;
use crate::provision::entra::live::subscriptions::{RENEW_WITHIN_DAYS, RESOURCES};
use crate::provision::entra::setup::enqueue_sync;
use crate::provision::entra::sync::EntraSettings;
use crate::provision::guard::RECENT_RUNS;
use crate::provision::health;
use crate::provision::okta::settings::OktaSettings;
use crate::App;
use chrono::{DateTime, Duration, DurationRound, NaiveTime, Utc};
use roster_core::{ConnectionKind, Via};
use roster_store::StoreError;
use uuid::Uuid;

const SCHEDULER_LEASE: &str = "entra.scheduler";

/// The latest time of day `at` that is not after `now`.
pub fn last_slot(now: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    let today = now.date_naive().and_time(at).and_utc();
    if today <= now {
        today
    } else {
        today - Duration::days(1)
    }
}

/// Queue the daily sync of every enabled connection whose time has come, and the retry of
/// every failing one whose back-off has ended, if this process holds the scheduler lease. The
/// first sync of a connection is the admin's to start.
pub async fn schedule_due(state: &App, holder: &str) -> Result<usize, StoreError> {
    let now = state.clock.now();
    // Any process may do this: a run whose process died is failed once, whoever sees it.
    let abandoned = state.store.fail_abandoned_runs(now).await?;
    if abandoned > 0 {
        tracing::warn!(runs = abandoned, "marked failed the syncs whose process stopped");
    }
    if !state.store.try_lease(SCHEDULER_LEASE, holder, now, now + Duration::minutes(2)).await? {
        return Ok(0);
    }
    if let Err(error) = crate::admin::sso::warn_expiring_certificates(state).await {
        tracing::warn!(%error, "could not check the sign-in certificates");
    }
    let mut queued = 0;
    for connection in state.store.enabled_connections(ConnectionKind::Entra).await? {
        // Unreadable settings cannot say when to sync; the connection's page and a manual sync
        // report them, and the other organisations' schedules go on.
        let Ok(settings) = EntraSettings::from_connection(&connection) else { continue };
        let slot = last_slot(now, settings.daily_time());
        // Daily at the slot; a failing connection at growing intervals until it works again.
        let recent = state.store.sync_runs(connection.org, connection.id, RECENT_RUNS).await?;
        if !health::due(now, slot, &recent) {
            continue;
        }
        let trigger = if health::next_retry(&recent).is_some() { "retry" } else { "schedule" };
        match enqueue_sync(state, &connection, trigger).await {
            Ok(_) => queued += 1,
            Err(error) => tracing::warn!(%error, connection = %connection.id, "could not queue the daily sync"),
        }
    }
    for connection in state.store.enabled_connections(ConnectionKind::Entra).await? {
        if let Err(error) = keep_live(state, &connection, now).await {
            tracing::warn!(%error, connection = %connection.id, "could not queue the connection's live upkeep");
        }
    }
    for connection in state.store.enabled_connections(ConnectionKind::Okta).await? {
        let Ok(settings) = OktaSettings::from_connection(&connection) else { continue };
        let slot = last_slot(now, settings.daily_time());
        let recent = state.store.sync_runs(connection.org, connection.id, RECENT_RUNS).await?;
        if !health::due(now, slot, &recent) {
            continue;
        }
        let trigger = if health::next_retry(&recent).is_some() { "retry" } else { "schedule" };
        match enqueue_pull(state, &connection, trigger, false).await {
            Ok(_) => queued += 1,
            Err(error) => tracing::warn!(%error, connection = %connection.id, "could not queue the daily Okta pull"),
        }
    }
    Ok(queued)
}

/// A delta round when none ran for this long, in case Graph dropped a notification.
const ROUND_AT_LEAST_EVERY_MINUTES: i64 = 10;

/// Entra's live upkeep: a delta round when none ran lately, and the subscriptions' upkeep when
/// one is missing or due for renewal (queued for the next full hour, so a failing one is tried
/// hourly, not on every pass).
async fn keep_live(state: &App, connection: &roster_core::Connection, now: DateTime<Utc>) -> Result<(), StoreError> {
    let live = state.store.entra_live(connection.org, connection.id).await?;
    let quiet_too_long = live.links_saved_at.is_none_or(|at| now - at >= Duration::minutes(ROUND_AT_LEAST_EVERY_MINUTES));
    // A notification that came as the round before it was ending found that round's job still
    // running, so no new one was queued for it: this pass queues it.
    let notification_waiting = live.notified_at.is_some_and(|at| now - at >= Duration::seconds(5));
    if live.links.is_some() && (quiet_too_long || notification_waiting) {
        let via = if notification_waiting { Via::Notification } else { Via::DeltaRound };
        let round = EntraDelta { connection: connection.id, via };
        crate::jobs::enqueue(state, connection.org, &round, now).await?;
    }
    let held = state.store.entra_subscriptions(connection.org, connection.id).await?;
    let renew_by = now + Duration::days(RENEW_WITHIN_DAYS);
    let due = held.len() < RESOURCES.len() || held.iter().any(|s| s.expires_at <= renew_by);
    if due {
        let next_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now) + Duration::hours(1);
        let at = if held.iter().any(|s| s.expires_at <= now + Duration::hours(1)) { now } else { next_hour };
        crate::jobs::enqueue(state, connection.org, &EntraSubscriptions { connection: connection.id }, at).await?;
    }
    Ok(())
}

/// Queue daily syncs until the process stops; one process leads at a time.
pub async fn schedule_forever(state: App, signals: Signals) {
    let holder = format!("{}:{}", std::process::id(), Uuid::now_v7());
    loop {
        if let Err(error) = schedule_due(&state, &holder).await {
            tracing::error!(%error, "the daily sync scheduler failed a pass");
        }
        if !signals.pause(std::time::Duration::from_secs(30)).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_last_slot_is_today_once_its_time_has_passed() {
        let at = NaiveTime::from_hms_opt(3, 0, 0).unwrap_or(NaiveTime::MIN);
        let early = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().unwrap_or_default();
        let late = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap_or_default();
        assert_eq!(last_slot(early, at), Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).single().unwrap_or_default());
        assert_eq!(last_slot(late, at), Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 0).single().unwrap_or_default());
    }
}
