//! How a provisioning connection is doing, and what follows from it: a connection that keeps
//! failing is retried at growing intervals (down to once a day) instead of hammering its
//! source, and owners and admins are e-mailed when its state changes, not on every failure.

use crate::provision::guard::owners_and_admins;
use crate::App;
use chrono::{DateTime, Duration, Utc};
use roster_core::Connection;
use roster_store::{ConnectionNotice, OutgoingEmail, RunStatus, StoreError, SyncRun};

/// The first retry of a failing connection; each further failure doubles it.
const FIRST_RETRY_MINUTES: i64 = 15;
/// The longest wait between retries: a failing connection is still tried daily.
const LONGEST_RETRY_HOURS: i64 = 24;

/// How a provisioning connection is doing, from its newest finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Disabled by an admin: nothing runs.
    Disabled,
    /// Enabled, and no run has finished yet.
    NotRunYet,
    /// The newest run applied (or found nothing to do).
    Healthy,
    /// The newest run failed; this is why.
    Degraded(String),
    /// A run was held by the deactivation guard and waits for a decision.
    Held,
}

/// Runs that say how the connection is doing: finished, and not previews.
fn decisive(recent: &[SyncRun]) -> impl Iterator<Item = &SyncRun> {
    recent.iter().filter(|r| r.status.is_finished() && r.status != RunStatus::Previewed)
}

/// How `connection` is doing, from its recent runs (newest first).
pub fn health(connection: &Connection, recent: &[SyncRun]) -> Health {
    if !connection.enabled {
        return Health::Disabled;
    }
    match decisive(recent).next() {
        None => Health::NotRunYet,
        Some(run) if run.status == RunStatus::Failed => Health::Degraded(run.error.clone().unwrap_or_else(|| "the last run failed".into())),
        Some(run) if run.status.keeps_connection_held() => Health::Held,
        Some(_) => Health::Healthy,
    }
}

/// How long to wait after the newest of `failures` failures in a row before trying again.
pub fn retry_after(failures: u32) -> Duration {
    let doubled = FIRST_RETRY_MINUTES.saturating_mul(1_i64 << failures.saturating_sub(1).min(16));
    Duration::minutes(doubled).min(Duration::hours(LONGEST_RETRY_HOURS))
}

/// When a failing connection may be tried again: `None` when its newest run did not fail.
pub fn next_retry(recent: &[SyncRun]) -> Option<DateTime<Utc>> {
    let failed: Vec<&SyncRun> = decisive(recent).take_while(|r| r.status == RunStatus::Failed).collect();
    let newest = failed.first()?;
    let at = newest.finished_at.unwrap_or(newest.queued_at);
    Some(at + retry_after(u32::try_from(failed.len()).unwrap_or(u32::MAX)))
}

/// Whether the scheduler should queue a run now: once a day at its slot, and while failing,
/// when the back-off allows (never more often, never less than daily).
pub fn due(now: DateTime<Utc>, slot: DateTime<Utc>, recent: &[SyncRun]) -> bool {
    let Some(latest) = recent.first() else { return false };
    match next_retry(recent) {
        // A retry already queued or running is left to finish.
        Some(retry_at) => now >= retry_at && latest.status.is_finished(),
        None => latest.queued_at < slot,
    }
}

/// What changed between two healths that owners and admins should hear of. A hold has its
/// own e-mail; a failure that follows a failure is not news.
pub fn notice(before: &Health, after: &Health) -> Option<ConnectionNotice> {
    match (before, after) {
        (Health::Degraded(_), Health::Degraded(_)) => None,
        (_, Health::Degraded(error)) => Some(ConnectionNotice::Failing { error: error.clone() }),
        (Health::Degraded(_), Health::Healthy) => Some(ConnectionNotice::Recovered),
        _ => None,
    }
}

impl Health {
    /// The state's name in events: `disabled`, `not_run_yet`, `healthy`, `degraded`, `held`.
    pub fn name(&self) -> &'static str {
        match self {
            Health::Disabled => "disabled",
            Health::NotRunYet => "not_run_yet",
            Health::Healthy => "healthy",
            Health::Degraded(_) => "degraded",
            Health::Held => "held",
        }
    }
}

/// Announces (`connection.health_changed`) and e-mails the owners and admins when `connection`
/// went from `before` to what its runs say now.
pub async fn notify_change(app: &App, connection: &Connection, before: &Health) -> Result<(), StoreError> {
    let recent = app.store.sync_runs(connection.org, connection.id, crate::provision::guard::RECENT_RUNS).await?;
    let after = health(connection, &recent);
    if before.name() != after.name() {
        let error = match &after {
            Health::Degraded(error) => Some(error.clone()),
            _ => None,
        };
        let data = serde_json::json!({ "connection_id": connection.id, "name": connection.name, "before": before.name(), "after": after.name(), "error": error });
        let actor = roster_core::Actor::Connection { id: connection.id };
        app.store.publish_event(connection.org, &actor, "connection.health_changed", data, app.clock.now()).await?;
    }
    let Some(notice) = notice(before, &after) else { return Ok(()) };
    notify(app, connection, notice).await
}

/// Sends `notice` about `connection` to every active owner and admin.
pub async fn notify(app: &App, connection: &Connection, notice: ConnectionNotice) -> Result<(), StoreError> {
    let now = app.clock.now();
    for person in owners_and_admins(app, connection.org).await? {
        let email = OutgoingEmail::ConnectionHealth {
            to: person.email.clone(),
            name: person.profile.display_name(),
            person: person.id,
            connection: connection.name.clone(),
            connection_id: connection.id,
            connection_kind: connection.kind,
            notice: notice.clone(),
        };
        app.store.enqueue_email(connection.org, &email, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::{ConnectionId, OrgId, RunId};

    fn run(status: RunStatus, finished: DateTime<Utc>) -> SyncRun {
        let mut run = SyncRun::queued(
            RunId::from_uuid(uuid::Uuid::now_v7()),
            OrgId::from_uuid(uuid::Uuid::nil()),
            ConnectionId::from_uuid(uuid::Uuid::nil()),
            "schedule",
            finished,
        );
        run.status = status;
        run.finished_at = Some(finished);
        run
    }

    #[test]
    fn retries_back_off_from_a_quarter_hour_to_a_day() {
        let waits: Vec<i64> = (1..=9).map(|n| retry_after(n).num_minutes()).collect();
        assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1440, 1440]);
        assert_eq!(retry_after(u32::MAX), Duration::hours(24));
    }

    #[test]
    fn a_failing_connection_is_retried_when_its_back_off_ends_and_a_healthy_one_daily() {
        let now = Utc::now();
        let slot = now - Duration::hours(1);
        // Three failures in a row, the newest 50 minutes ago: the next try is after 60.
        let failing = vec![
            run(RunStatus::Failed, now - Duration::minutes(50)),
            run(RunStatus::Failed, now - Duration::hours(2)),
            run(RunStatus::Failed, now - Duration::hours(3)),
        ];
        assert!(!due(now, slot, &failing));
        assert!(due(now + Duration::minutes(11), slot, &failing));
        // Healthy since before today's slot: due; after it: not.
        assert!(due(now, slot, &[run(RunStatus::Succeeded, now - Duration::hours(3))]));
        assert!(!due(now, slot, &[run(RunStatus::Succeeded, now - Duration::minutes(10))]));
        // The first sync is the admin's to start, and one in flight is left alone.
        assert!(!due(now, slot, &[]));
        let mut retrying = run(RunStatus::Running, now);
        retrying.finished_at = None;
        assert!(!due(now + Duration::hours(2), slot, &[retrying, failing[0].clone()]));
    }

    #[test]
    fn only_changes_of_state_are_news() {
        let failing = Health::Degraded("secret expired".into());
        assert_eq!(notice(&Health::Healthy, &failing), Some(ConnectionNotice::Failing { error: "secret expired".into() }));
        assert_eq!(notice(&Health::NotRunYet, &failing), Some(ConnectionNotice::Failing { error: "secret expired".into() }));
        assert_eq!(notice(&failing, &Health::Degraded("other".into())), None);
        assert_eq!(notice(&failing, &Health::Healthy), Some(ConnectionNotice::Recovered));
        assert_eq!(notice(&Health::Healthy, &Health::Healthy), None);
        assert_eq!(notice(&Health::NotRunYet, &Health::Healthy), None);
        assert_eq!(notice(&Health::Healthy, &Health::Held), None, "a hold has its own e-mail");
    }
}
