//! Performing queued Entra syncs. Any number of `roster serve` processes run this: jobs are
//! claimed so each runs once, and a job whose process died is claimed again when its lease
//! runs out.

use crate::jobs::supervisor::Signals;
use crate::provision::entra::setup::{graph_config, run_of};
use crate::App;
use chrono::Duration;
use roster_core::{ConnectionId, RunId};
use roster_store::{Job, RunEnd, RunStatus, StoreError, SyncRun};
use roster_sync::{run_recorded, EntraSettings, SyncOptions, JOB_KIND};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a claimed sync is ours before another process may take it over; renewed while
/// the sync runs, so only a dead process loses it.
const JOB_LEASE_SECONDS: i64 = 300;
const LEASE_RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// A sync that failed for a passing reason (throttling, an outage) is tried this many times.
const MAX_ATTEMPTS: u32 = 3;

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
pub async fn run_due_jobs(state: &App) -> Result<usize, StoreError> {
    run_due_jobs_until(state, &CancellationToken::new()).await
}

/// The same, giving a sync in hand back (its lease released at once, so another process
/// takes it over) when `released` fires: nothing of it was applied, since a sync applies its
/// plan in one transaction at the end.
async fn run_due_jobs_until(state: &App, released: &CancellationToken) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let jobs = state.store.claim_jobs(JOB_KIND, 1, now, now + Duration::seconds(JOB_LEASE_SECONDS)).await?;
    let count = jobs.len();
    for job in jobs {
        let id = job.id;
        tokio::select! {
            done = run_job(state, job) => done?,
            _ = released.cancelled() => {
                tracing::warn!(job = %id, "the process is stopping: giving the sync back for another process");
                state.store.extend_job_lease(id, state.clock.now() - Duration::seconds(1)).await?;
            }
        }
    }
    Ok(count)
}

/// Perform queued syncs until the process stops: a sync in hand is finished within the grace
/// period, or given back.
pub async fn run_forever(state: App, signals: Signals) {
    while !signals.is_stopping() {
        let pause = match run_due_jobs_until(&state, &signals.released).await {
            Ok(0) => std::time::Duration::from_secs(1),
            Ok(_) => std::time::Duration::ZERO,
            Err(error) => {
                tracing::error!(%error, "the sync job runner failed a pass");
                std::time::Duration::from_secs(5)
            }
        };
        if !signals.pause(pause).await {
            return;
        }
    }
}

async fn run_job(state: &App, job: Job) -> Result<(), StoreError> {
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
async fn run_for(state: &App, job: &Job, connection: ConnectionId) -> Result<RunId, StoreError> {
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

async fn perform(state: &App, job: &Job) -> Result<(), Failure> {
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
        // Unrecorded, the run would stay queued forever: a store error retries the job instead.
        state.store.finish_run(job.org, run, &end).await.map_err(store_failure)?;
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
