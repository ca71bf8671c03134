//! The Entra sync as a job. Any number of `roster serve` processes run it: a job is claimed so
//! it runs once, and a job whose process died is claimed again when its lease runs out (its
//! run, left running, is then marked interrupted and a fresh one records the retry).

use crate::jobs::entra_live::EntraDelta;
use crate::jobs::{Job, JobFailure};
use crate::provision::entra::live::lock_connection;
use crate::provision::entra::setup::graph_config;
use crate::provision::entra::sync::{run_recorded, EntraSettings, SyncOptions};
use crate::provision::guard::RECENT_RUNS;
use crate::provision::health::{health, notify_change};
use crate::App;
use roster_core::guard::Guard;
use roster_core::{ConnectionId, RunId, Via};
use roster_store::{RunEnd, RunStatus, StoreError, SyncRun};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Sync one Entra connection; `run` is the run the pages show while it is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraSync {
    pub connection: ConnectionId,
    #[serde(default)]
    pub run: Option<RunId>,
    /// Set when an admin allowed a held run that would deactivate this many people: the
    /// re-planned run applies unless it now deactivates more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_up_to: Option<usize>,
    /// Plan and report only: a preview, which applies nothing and may run before the
    /// connection is enabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
}

#[async_trait::async_trait]
impl Job for EntraSync {
    const KIND: &'static str = crate::provision::entra::sync::JOB_KIND;

    /// One sync of a connection queued at a time: pressing "Sync users" twice, or the
    /// scheduler firing during a manual sync, queues one.
    fn dedup_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.connection))
    }

    async fn run(&self, app: &App, claimed: &roster_store::Job) -> Result<(), JobFailure> {
        perform(app, self, claimed).await
    }
}

/// How long a sync waits for a delta round of its connection to end.
/// (A lock whose process died lapses within a minute.)
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(75);

/// Claim and perform at most one due sync. Returns how many ran.
pub async fn run_due_jobs(state: &App) -> Result<usize, StoreError> {
    super::run_due::<EntraSync>(state, &tokio_util::sync::CancellationToken::new()).await
}

/// The run this attempt records into: the queued run of the job, or a fresh one when the job
/// is a retry (its first run is finished) or was interrupted (its run was left running).
async fn run_for(state: &App, sync: &EntraSync, job: &roster_store::Job, connection: ConnectionId) -> Result<RunId, StoreError> {
    let now = state.clock.now();
    if let Some(id) = sync.run {
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

async fn runs_of(state: &App, connection: &roster_core::Connection) -> Result<Vec<SyncRun>, StoreError> {
    state.store.sync_runs(connection.org, connection.id, RECENT_RUNS).await
}

async fn perform(state: &App, sync: &EntraSync, job: &roster_store::Job) -> Result<(), JobFailure> {
    let store_failure = |e: StoreError| JobFailure::transient(e.to_string());
    let connection = state
        .store
        .connection(job.org, sync.connection)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| JobFailure::permanent("the connection was removed"))?;
    let run = run_for(state, sync, job, connection.id).await.map_err(store_failure)?;
    let refuse = |message: String| async move {
        let end = RunEnd { status: RunStatus::Failed, report: None, error: Some(&message), graph_requests: 0, at: state.clock.now() };
        // Unrecorded, the run would stay queued forever: a store error retries the job instead.
        state.store.finish_run(job.org, run, &end).await.map_err(store_failure)?;
        Err(JobFailure::permanent(message))
    };
    if !connection.enabled && !sync.preview {
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
    let mut options = SyncOptions::from_settings(&settings, state.clock.now());
    if let Some(up_to) = sync.allowed_up_to {
        options.guard = Guard::Allowed { up_to, limits: settings.guard };
    }
    if sync.preview {
        options.dry_run = true;
        options.photos = false;
    }
    options.live = connection.enabled && !sync.preview;
    options.via = match state.store.sync_run(job.org, run).await.map_err(store_failure)?.map(|r| r.trigger) {
        Some(trigger) if trigger == "manual" => Via::Manual,
        _ => Via::FullSync,
    };
    // One run per connection at a time: a delta round under way ends within moments.
    let lock = if sync.preview { None } else { Some(lock_connection(state, connection.id, LOCK_WAIT).await.map_err(store_failure)?) };
    if lock.as_ref().is_some_and(Option::is_none) {
        return Err(JobFailure::transient("another run of this connection is under way"));
    }
    let before = health(&connection, &runs_of(state, &connection).await.map_err(store_failure)?);
    let result = run_recorded(state.store.clone(), &connection, config, &options, run, None).await;
    if let Some(Some(lock)) = lock {
        lock.release(state).await;
        // Notifications that came while the sync ran get their round now.
        if state.store.entra_live(job.org, connection.id).await.map_err(store_failure)?.notified_at.is_some() {
            let round = EntraDelta { connection: connection.id, via: Via::Notification };
            crate::jobs::enqueue(state, job.org, &round, state.clock.now()).await.map_err(store_failure)?;
        }
    }
    if !sync.preview {
        // Owners and admins hear when the connection starts failing or recovers, not of every run.
        if let Err(error) = notify_change(state, &connection, &before).await {
            tracing::warn!(%error, connection = %connection.id, "could not e-mail about the connection's health");
        }
    }
    match result {
        Ok(outcome) => {
            if outcome.held.is_some() && !sync.preview {
                crate::provision::guard::notify_held(state, &connection, run).await.map_err(store_failure)?;
            }
            tracing::info!(org = %job.org, connection = %connection.id, run = %run, created = outcome.report.created, updated = outcome.report.updated,
                deactivated = outcome.report.deactivated, graph_requests = outcome.graph_requests, "Entra sync finished");
            Ok(())
        }
        Err(error) => Err(JobFailure { message: error.to_string(), transient: error.is_transient() }),
    }
}
