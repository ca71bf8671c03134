//! Okta's jobs: the full pull of a connection (daily, "Sync users", a preview), recorded as a
//! run like Entra's; and the re-read of the users event hooks named, which drains the queue the
//! hooks fill (a user named again while this runs is read again by the next round).

use crate::jobs::{Job, JobFailure};
use crate::provision::guard::RECENT_RUNS;
use crate::provision::health::{health, notify_change};
use crate::provision::okta::settings::OktaSettings;
use crate::provision::okta::{setup, sync};
use crate::App;
use roster_core::guard::Guard;
use roster_core::{ConnectionId, RunId};
use roster_store::{RunEnd, RunStatus, StoreError, SyncRun};
use serde::{Deserialize, Serialize};

/// Users read again per round.
const REREAD_ROUND: u32 = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OktaPull {
    pub connection: ConnectionId,
    pub run: RunId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_up_to: Option<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
}

#[async_trait::async_trait]
impl Job for OktaPull {
    const KIND: &'static str = "okta.pull";

    fn dedup_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.connection))
    }

    async fn run(&self, app: &App, claimed: &roster_store::Job) -> Result<(), JobFailure> {
        pull(app, self, claimed).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OktaHookReread {
    pub connection: ConnectionId,
}

#[async_trait::async_trait]
impl Job for OktaHookReread {
    const KIND: &'static str = "okta.hook_reread";

    fn dedup_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.connection))
    }

    async fn run(&self, app: &App, claimed: &roster_store::Job) -> Result<(), JobFailure> {
        reread(app, self, claimed).await
    }
}

fn store_failure(error: StoreError) -> JobFailure {
    JobFailure::transient(error.to_string())
}

/// Queue a pull with a run row the pages and the command line follow; while one is queued or
/// running, its run is returned instead.
pub async fn enqueue_pull(app: &App, connection: &roster_core::Connection, trigger: &str, preview: bool) -> Result<RunId, crate::admin::OpsError> {
    if !connection.enabled && !preview {
        return Err(crate::admin::OpsError::Invalid("Enable the connection before syncing (a preview works before)".into()));
    }
    enqueue(app, connection, trigger, None, preview).await.map(|(run, _)| run)
}

/// Queue the pull that an admin's Allow of a held run starts: it applies unless it would now
/// deactivate more than `allowed_up_to`. The bool is false when a pull was queued already.
pub async fn enqueue_pull_allowing(
    app: &App,
    connection: &roster_core::Connection,
    trigger: &str,
    allowed_up_to: Option<usize>,
) -> Result<(RunId, bool), crate::admin::OpsError> {
    if !connection.enabled {
        return Err(crate::admin::OpsError::Invalid("Enable the connection before syncing".into()));
    }
    enqueue(app, connection, trigger, allowed_up_to, false).await
}

async fn enqueue(
    app: &App,
    connection: &roster_core::Connection,
    trigger: &str,
    allowed_up_to: Option<usize>,
    preview: bool,
) -> Result<(RunId, bool), crate::admin::OpsError> {
    let now = app.clock.now();
    let run = SyncRun::queued(RunId::from_uuid(uuid::Uuid::now_v7()), connection.org, connection.id, trigger, now);
    let job = OktaPull { connection: connection.id, run: run.id, allowed_up_to, preview };
    match crate::jobs::enqueue(app, connection.org, &job, now).await? {
        roster_store::Enqueued::New(_) => {
            app.store.create_run(&run).await?;
            Ok((run.id, true))
        }
        roster_store::Enqueued::Existing(existing) => {
            let queued = app.store.job(existing).await?.and_then(|j| crate::jobs::payload_of::<OktaPull>(&j).ok());
            queued.map(|j| (j.run, false)).ok_or(crate::admin::OpsError::NotFound)
        }
    }
}

async fn pull(app: &App, job: &OktaPull, claimed: &roster_store::Job) -> Result<(), JobFailure> {
    let org = claimed.org;
    let connection =
        app.store.connection(org, job.connection).await.map_err(store_failure)?.ok_or_else(|| JobFailure::permanent("the connection was removed"))?;
    if app.store.sync_run(org, job.run).await.map_err(store_failure)?.is_none() {
        let run = SyncRun::queued(job.run, org, connection.id, "schedule", app.clock.now());
        app.store.create_run(&run).await.map_err(store_failure)?;
    }
    let finish = |status: RunStatus, report: Option<roster_core::RunReport>, error: Option<String>, requests: u64| async move {
        let end = RunEnd { status, report: report.as_ref(), error: error.as_deref(), graph_requests: requests, at: app.clock.now() };
        app.store.finish_run(org, job.run, &end).await.map_err(store_failure)
    };
    if !connection.enabled && !job.preview {
        finish(RunStatus::Failed, None, Some("the connection is disabled".into()), 0).await?;
        return Err(JobFailure::permanent("the connection is disabled"));
    }
    let settings = match OktaSettings::from_connection(&connection) {
        Ok(settings) => settings,
        Err(error) => {
            finish(RunStatus::Failed, None, Some(error.clone()), 0).await?;
            return Err(JobFailure::permanent(error));
        }
    };
    let client = match setup::client(app, &connection) {
        Ok(client) => client,
        Err(error) => {
            finish(RunStatus::Failed, None, Some(error.to_string()), 0).await?;
            return Err(JobFailure::permanent(error.to_string()));
        }
    };
    let guard = match job.allowed_up_to {
        Some(up_to) => Guard::Allowed { up_to, limits: settings.guard },
        None => Guard::Limits(settings.guard),
    };
    let before = health(&connection, &app.store.sync_runs(org, connection.id, RECENT_RUNS).await.map_err(store_failure)?);
    app.store.start_run(org, job.run, app.clock.now()).await.map_err(store_failure)?;
    let result = sync::pull(app, &connection, &client, guard, job.preview).await;
    match &result {
        Ok(outcome) => {
            let status = match (job.preview, outcome.held.is_some()) {
                (true, _) => RunStatus::Previewed,
                (false, true) => RunStatus::Held,
                (false, false) => RunStatus::Succeeded,
            };
            finish(status, Some(outcome.report.clone()), outcome.held.clone(), outcome.requests).await?;
            if !job.preview {
                let decisions = crate::provision::log::decisions(
                    org,
                    Some(connection.id),
                    Some(job.run),
                    &outcome.report,
                    outcome.held.is_some(),
                    app.clock.now(),
                );
                crate::provision::log::keep(app.store.as_ref(), &decisions).await;
                if outcome.held.is_some() {
                    crate::provision::guard::notify_held(app, &connection, job.run).await.map_err(store_failure)?;
                }
            }
            tracing::info!(%org, connection = %connection.id, run = %job.run, users = outcome.users_read, requests = outcome.requests,
                created = outcome.report.created, updated = outcome.report.updated, deactivated = outcome.report.deactivated, "Okta pull finished");
        }
        Err(error) => finish(RunStatus::Failed, None, Some(error.to_string()), client.requests()).await?,
    }
    if !job.preview {
        if let Err(error) = notify_change(app, &connection, &before).await {
            tracing::warn!(%error, connection = %connection.id, "could not announce the connection's health");
        }
    }
    result.map(|_| ()).map_err(|error| JobFailure::permanent(error.to_string()))
}

async fn reread(app: &App, job: &OktaHookReread, claimed: &roster_store::Job) -> Result<(), JobFailure> {
    let org = claimed.org;
    let Some(connection) = app.store.connection(org, job.connection).await.map_err(store_failure)? else { return Ok(()) };
    if !connection.enabled {
        return Ok(());
    }
    let client = setup::client(app, &connection).map_err(|e| JobFailure::permanent(e.to_string()))?;
    loop {
        let pending = app.store.pending_hook_users(org, connection.id, REREAD_ROUND).await.map_err(store_failure)?;
        if pending.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = pending.iter().map(|(id, _)| id.clone()).collect();
        // A failure keeps them queued: the job is retried, and the daily pull repairs the rest.
        let outcome = sync::reread(app, &connection, &client, &ids).await.map_err(|e| JobFailure::transient(e.to_string()))?;
        app.store.forget_hook_users(org, connection.id, &pending).await.map_err(store_failure)?;
        tracing::info!(%org, connection = %connection.id, users = ids.len(), updated = outcome.report.updated, deactivated = outcome.report.deactivated,
            created = outcome.report.created, "Okta hook users read again");
    }
}
