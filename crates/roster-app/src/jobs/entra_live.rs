//! Entra's live jobs: the delta round of a connection (asked for by a notification, or on the
//! schedule as a safety net), and the upkeep of its subscriptions.

use crate::jobs::{Job, JobFailure};
use crate::provision::entra::live::round::{delta_round, Round};
use crate::provision::entra::live::{lock_connection, subscriptions};
use crate::provision::entra::setup::{enqueue_sync, graph_config};
use crate::App;
use roster_core::{ConnectionId, RunId, Via};
use roster_entra::GraphClient;
use roster_store::{RunEnd, RunStatus, StoreError, SyncRun};
use serde::{Deserialize, Serialize};

/// Rounds after notifications that keep arriving while a round runs, before yielding.
const MAX_ROUNDS_PER_JOB: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraDelta {
    pub connection: ConnectionId,
    /// What asked for it; a notification noted meanwhile makes a round one of its own.
    pub via: Via,
}

#[async_trait::async_trait]
impl Job for EntraDelta {
    const KIND: &'static str = "entra.delta";

    /// A burst of notifications queues one round.
    fn dedup_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.connection))
    }

    async fn run(&self, app: &App, claimed: &roster_store::Job) -> Result<(), JobFailure> {
        rounds(app, self, claimed).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraSubscriptions {
    pub connection: ConnectionId,
}

#[async_trait::async_trait]
impl Job for EntraSubscriptions {
    const KIND: &'static str = "entra.subscriptions";

    fn dedup_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.connection))
    }

    async fn run(&self, app: &App, claimed: &roster_store::Job) -> Result<(), JobFailure> {
        let Some(connection) = app.store.connection(claimed.org, self.connection).await.map_err(store_failure)? else { return Ok(()) };
        match subscriptions::maintain(app, &connection).await {
            Ok(done) => {
                tracing::info!(connection = %connection.id, created = done.created, renewed = done.renewed, deleted = done.deleted, "Graph subscriptions kept");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(connection = %connection.id, %error, "could not keep the Graph subscriptions");
                Err(JobFailure { message: error.to_string(), transient: error.is_transient() })
            }
        }
    }
}

fn store_failure(error: StoreError) -> JobFailure {
    JobFailure::transient(error.to_string())
}

async fn rounds(app: &App, job: &EntraDelta, claimed: &roster_store::Job) -> Result<(), JobFailure> {
    let org = claimed.org;
    let Some(connection) = app.store.connection(org, job.connection).await.map_err(store_failure)? else { return Ok(()) };
    if !connection.enabled {
        return Ok(());
    }
    let recent = app.store.sync_runs(org, connection.id, crate::provision::guard::RECENT_RUNS).await.map_err(store_failure)?;
    if crate::provision::guard::holding(&recent).is_some() {
        // Held for an admin: rounds wait for their Allow or Reject, and the links stay put.
        return Ok(());
    }
    // Whoever holds the connection (a full sync) queues a round when it ends if a notification
    // came meanwhile, so there is nothing to wait for here.
    let Some(lock) = lock_connection(app, connection.id, std::time::Duration::ZERO).await.map_err(store_failure)? else { return Ok(()) };
    let result = rounds_locked(app, job, &connection).await;
    lock.release(app).await;
    result
}

async fn rounds_locked(app: &App, job: &EntraDelta, connection: &roster_core::Connection) -> Result<(), JobFailure> {
    let org = connection.org;
    let config = graph_config(app, connection).map_err(|e| JobFailure::permanent(e.to_string()))?;
    let client = GraphClient::new(config).map_err(|e| JobFailure::permanent(e.to_string()))?;
    for _ in 0..MAX_ROUNDS_PER_JOB {
        let seen = app.store.entra_live(org, connection.id).await.map_err(store_failure)?.notified_at;
        let via = if seen.is_some() { Via::Notification } else { job.via };
        let started = std::time::Instant::now();
        let round =
            delta_round(app, connection, &client, via).await.map_err(|e| JobFailure { message: e.to_string(), transient: e.is_transient() })?;
        match round {
            Round::Done(outcome) => {
                tracing::info!(connection = %connection.id, via = via.as_str(), users = outcome.users_touched, created = outcome.report.created,
                    updated = outcome.report.updated, deactivated = outcome.report.deactivated, reactivated = outcome.report.reactivated,
                    graph_requests = outcome.graph_requests, ms = started.elapsed().as_millis() as u64, "Entra delta round");
            }
            Round::Held(outcome) => {
                record_held(app, connection, via, &outcome.report, outcome.hold.as_deref()).await.map_err(store_failure)?;
                return Ok(());
            }
            Round::NeedsFullSync(why) => {
                tracing::info!(connection = %connection.id, reason = %why, "Entra delta rounds start over with a full sync");
                enqueue_sync(app, connection, "resync").await.map_err(|e| JobFailure::transient(e.to_string()))?;
                return Ok(());
            }
        }
        let Some(seen) = seen else { return Ok(()) };
        if !app.store.settle_entra_notification(org, connection.id, seen).await.map_err(store_failure)? {
            return Ok(());
        }
    }
    Ok(())
}

/// A held round is a run of its own: the connection's page shows it, and an admin's Allow
/// starts the full sync that applies it.
async fn record_held(
    app: &App,
    connection: &roster_core::Connection,
    via: Via,
    report: &roster_core::RunReport,
    why: Option<&str>,
) -> Result<(), StoreError> {
    let now = app.clock.now();
    let run = SyncRun::queued(RunId::from_uuid(uuid::Uuid::now_v7()), connection.org, connection.id, via.as_str(), now);
    app.store.create_run(&run).await?;
    app.store.start_run(connection.org, run.id, now).await?;
    let end = RunEnd { status: RunStatus::Held, report: Some(report), error: why, graph_requests: 0, at: now };
    app.store.finish_run(connection.org, run.id, &end).await?;
    let decisions = crate::provision::log::decisions(connection.org, Some(connection.id), Some(run.id), report, true, now);
    crate::provision::log::keep(app.store.as_ref(), &decisions).await;
    crate::provision::guard::notify_held(app, connection, run.id).await
}
