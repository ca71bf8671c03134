//! Performing queued syncs, and queueing the daily one. Any number of `roster serve`
//! processes run both: jobs are claimed so each runs once, and only the holder of the
//! scheduler lease queues daily syncs.

use super::actions::{enqueue_sync, graph_config, run_of};
use crate::state::AppState;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use roster_core::{ConnectionId, ConnectionKind, RunId};
use roster_store::{Job, RunEnd, RunStatus, StoreError, SyncRun};
use roster_sync::{run_recorded, EntraSettings, SyncOptions, JOB_KIND};
use uuid::Uuid;

/// How long a claimed sync is ours before another process may take it over; renewed while
/// the sync runs, so only a dead process loses it.
const JOB_LEASE_SECONDS: i64 = 300;
const LEASE_RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// A sync that failed for a passing reason (throttling, an outage) is tried this many times.
const MAX_ATTEMPTS: u32 = 3;
const SCHEDULER_LEASE: &str = "entra.scheduler";

struct Failure {
    message: String,
    /// Trying again later may help (as opposed to an admin fixing something).
    transient: bool,
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), transient: false }
    }
}

/// Claim and perform at most one due sync. Returns how many ran.
pub async fn run_due_jobs(state: &AppState) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let jobs = state.store.claim_jobs(JOB_KIND, 1, now, now + Duration::seconds(JOB_LEASE_SECONDS)).await?;
    let count = jobs.len();
    for job in jobs {
        run_job(state, job).await?;
    }
    Ok(count)
}

async fn run_job(state: &AppState, job: Job) -> Result<(), StoreError> {
    let keepalive = tokio::spawn({
        let state = state.clone();
        let id = job.id;
        async move {
            loop {
                tokio::time::sleep(LEASE_RENEW_EVERY).await;
                let until = state.clock.now() + Duration::seconds(JOB_LEASE_SECONDS);
                match state.store.extend_job_lease(id, until).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => tracing::warn!(%error, job = %id, "could not renew a sync's lease"),
                }
            }
        }
    });
    let result = perform(state, &job).await;
    keepalive.abort();
    let now = state.clock.now();
    match result {
        Ok(()) => state.store.finish_job(job.id, now).await,
        Err(failure) if failure.transient && job.attempts < MAX_ATTEMPTS => {
            let retry_at = now + Duration::minutes(5 * i64::from(job.attempts.max(1)));
            tracing::warn!(job = %job.id, error = %failure.message, %retry_at, "sync failed; will try again");
            state.store.fail_job(job.id, &failure.message, Some(retry_at), now).await
        }
        Err(failure) => {
            tracing::warn!(job = %job.id, error = %failure.message, "sync failed");
            state.store.fail_job(job.id, &failure.message, None, now).await
        }
    }
}

/// The run this attempt records into: the queued run of the job, or a fresh one when the job
/// is a retry (its first run is finished) or was interrupted (its run was left running).
async fn run_for(state: &AppState, job: &Job, connection: ConnectionId) -> Result<RunId, StoreError> {
    let now = state.clock.now();
    if let Some(id) = run_of(&job.payload) {
        match state.store.sync_run(job.org, id).await? {
            Some(run) if run.status == RunStatus::Queued => return Ok(id),
            None => {
                state.store.create_run(&SyncRun::queued(id, job.org, connection, "manual", now)).await?;
                return Ok(id);
            }
            Some(run) if run.status == RunStatus::Running => {
                let end = RunEnd {
                    status: RunStatus::Failed,
                    report: None,
                    error: Some("interrupted: the process running it stopped"),
                    graph_requests: 0,
                    at: now,
                };
                state.store.finish_run(job.org, id, &end).await?;
            }
            Some(_) => {}
        }
    }
    let fresh = SyncRun::queued(RunId::from_uuid(Uuid::now_v7()), job.org, connection, "retry", now);
    state.store.create_run(&fresh).await?;
    Ok(fresh.id)
}

async fn perform(state: &AppState, job: &Job) -> Result<(), Failure> {
    let store_failure = |e: StoreError| Failure { message: e.to_string(), transient: true };
    let connection_id: ConnectionId = job
        .payload
        .get("connection")
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Failure::permanent("the job names no connection"))?;
    let connection = state
        .store
        .connection(job.org, connection_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| Failure::permanent("the connection was removed"))?;
    let run = run_for(state, job, connection.id).await.map_err(store_failure)?;
    let refuse = |message: String| async move {
        let end = RunEnd { status: RunStatus::Failed, report: None, error: Some(&message), graph_requests: 0, at: state.clock.now() };
        let _ = state.store.finish_run(job.org, run, &end).await;
        Err(Failure::permanent(message))
    };
    if !connection.enabled {
        return refuse("the connection is disabled".into()).await;
    }
    let settings = match EntraSettings::from_connection(&connection) {
        Ok(settings) => settings,
        Err(error) => return refuse(error.to_string()).await,
    };
    let config = match graph_config(state, &connection) {
        Ok(config) => config,
        Err(error) => return refuse(error.to_string()).await,
    };
    let options = SyncOptions::from_settings(&settings, state.clock.now());
    match run_recorded(state.store.clone(), &connection, config, &options, run, None).await {
        Ok(outcome) => {
            tracing::info!(org = %job.org, connection = %connection.id, run = %run, created = outcome.report.created, updated = outcome.report.updated,
                deactivated = outcome.report.deactivated, graph_requests = outcome.graph_requests, "Entra sync finished");
            Ok(())
        }
        Err(error) => Err(Failure { message: error.to_string(), transient: error.is_transient() }),
    }
}

/// The latest time of day `at` that is not after `now`.
pub fn last_slot(now: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    let today = now.date_naive().and_time(at).and_utc();
    if today <= now {
        today
    } else {
        today - Duration::days(1)
    }
}

/// Queue the daily sync of every enabled connection whose time has come, if this process
/// holds the scheduler lease. The first sync of a connection is the admin's to start.
pub async fn schedule_due(state: &AppState, holder: &str) -> Result<usize, StoreError> {
    let now = state.clock.now();
    // Any process may do this: a run whose process died is failed once, whoever sees it.
    let abandoned = state.store.fail_abandoned_runs(now).await?;
    if abandoned > 0 {
        tracing::warn!(runs = abandoned, "marked failed the syncs whose process stopped");
    }
    if !state.store.try_lease(SCHEDULER_LEASE, holder, now, now + Duration::minutes(2)).await? {
        return Ok(0);
    }
    let mut queued = 0;
    for connection in state.store.enabled_connections(ConnectionKind::Entra).await? {
        let Ok(settings) = EntraSettings::from_connection(&connection) else { continue };
        let slot = last_slot(now, settings.daily_time());
        let latest = state.store.sync_runs(connection.org, connection.id, 1).await?;
        match latest.first() {
            None => continue,
            Some(run) if run.queued_at >= slot => continue,
            Some(_) => {}
        }
        match enqueue_sync(state, &connection, "schedule").await {
            Ok(_) => queued += 1,
            Err(error) => tracing::warn!(%error, connection = %connection.id, "could not queue the daily sync"),
        }
    }
    Ok(queued)
}

/// Perform queued syncs in the background for as long as the process runs.
pub fn spawn_worker(state: AppState) {
    tokio::spawn(async move {
        loop {
            match run_due_jobs(&state).await {
                Ok(0) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "the sync job runner failed a pass");
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
        }
    });
}

/// Queue daily syncs in the background; one process leads at a time.
pub fn spawn_scheduler(state: AppState) {
    let holder = format!("{}:{}", std::process::id(), Uuid::now_v7());
    tokio::spawn(async move {
        loop {
            if let Err(error) = schedule_due(&state, &holder).await {
                tracing::error!(%error, "the daily sync scheduler failed a pass");
            }
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        }
    });
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
