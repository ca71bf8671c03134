//! Background work, all owned by one [`supervisor::Supervisor`].
//!
//! A [`Job`] is a kind of work with a typed payload (what is stored) and a `run` that may be
//! repeated without harm: after a crash, a retry, or another process taking over. [`run_due`]
//! claims due jobs of one kind (fairly across organisations, see `JobStore::claim_jobs`), keeps
//! their lease while they run, retries passing failures and gives a job back when the process
//! stops. Kinds: [`entra_sync::EntraSync`]. Loops: the daily [`scheduler`], e-mail delivery
//! (`crate::mail::deliver_forever`) and the [`purge`]s.

pub mod entra_live;
pub mod entra_sync;
pub mod okta_sync;
pub mod purge;
pub mod scheduler;
pub mod supervisor;

use crate::App;
use chrono::{DateTime, Duration, Utc};
use roster_core::OrgId;
use roster_store::{Enqueued, NewJob, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use supervisor::Signals;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a claimed job is ours before another process may take it over; renewed while it
/// runs, so only a dead process loses it.
const LEASE_SECONDS: i64 = 300;
const LEASE_RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// A job that failed for a passing reason (throttling, an outage) is tried this many times.
const MAX_ATTEMPTS: u32 = 3;

/// Why a run failed, and whether trying again later may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub message: String,
    pub transient: bool,
}

impl JobFailure {
    /// Only an admin changing something will help.
    pub fn permanent(message: impl Into<String>) -> Self {
        JobFailure { message: message.into(), transient: false }
    }

    /// Trying again later may help (a store or network outage).
    pub fn transient(message: impl Into<String>) -> Self {
        JobFailure { message: message.into(), transient: true }
    }
}

/// A kind of background work.
#[async_trait::async_trait]
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stored kind; jobs are claimed per kind.
    const KIND: &'static str;

    /// At most one job with this key is pending or running at a time.
    fn dedup_key(&self) -> Option<String>;

    /// Do the work. It may have run before, in part or whole; `claimed` is the stored job (its
    /// organisation, its attempts).
    async fn run(&self, app: &App, claimed: &roster_store::Job) -> Result<(), JobFailure>;
}

/// Queue `job` for `org` at `run_at`; an equal job already pending or running is returned
/// instead (`Enqueued::Existing`).
pub async fn enqueue<J: Job>(app: &App, org: OrgId, job: &J, run_at: DateTime<Utc>) -> Result<Enqueued, StoreError> {
    let payload = serde_json::to_value(job).map_err(|e| StoreError::Invalid(format!("a {} job cannot be stored: {e}", J::KIND)))?;
    let new = NewJob { id: Uuid::now_v7(), org, kind: J::KIND.into(), payload, dedup_key: job.dedup_key(), run_at, created_at: app.clock.now() };
    app.store.enqueue_job(&new).await
}

/// The typed payload of a stored job of kind `J`.
pub fn payload_of<J: Job>(job: &roster_store::Job) -> Result<J, JobFailure> {
    serde_json::from_value(job.payload.clone()).map_err(|e| JobFailure::permanent(format!("the {} job's payload is unreadable: {e}", J::KIND)))
}

/// Claim and run at most one due job of kind `J`; when `released` fires first, give it back
/// (its lease released at once, so another process takes it over). Returns how many ran.
pub async fn run_due<J: Job>(app: &App, released: &CancellationToken) -> Result<usize, StoreError> {
    let now = app.clock.now();
    let jobs = app.store.claim_jobs(J::KIND, 1, now, now + Duration::seconds(LEASE_SECONDS)).await?;
    let count = jobs.len();
    for job in jobs {
        let id = job.id;
        tokio::select! {
            done = run_claimed::<J>(app, job) => done?,
            _ = released.cancelled() => {
                tracing::warn!(kind = J::KIND, job = %id, "the process is stopping: giving the job back for another process");
                app.store.extend_job_lease(id, app.clock.now() - Duration::seconds(1)).await?;
            }
        }
    }
    Ok(count)
}

/// Run jobs of kind `J` until the process stops: one in hand is finished within the grace
/// period, or given back.
pub async fn run_forever<J: Job>(app: App, signals: Signals) {
    run_forever_every::<J>(app, signals, std::time::Duration::from_secs(1)).await;
}

/// `run_forever`, looking for work every `idle` when there is none: shorter for jobs someone
/// waits for (a hook's change to reach the directory).
pub async fn run_forever_every<J: Job>(app: App, signals: Signals, idle: std::time::Duration) {
    while !signals.is_stopping() {
        let pause = match run_due::<J>(&app, &signals.released).await {
            Ok(0) => idle,
            Ok(_) => std::time::Duration::ZERO,
            Err(error) => {
                tracing::error!(kind = J::KIND, %error, "the job runner failed a pass");
                std::time::Duration::from_secs(5)
            }
        };
        if !signals.pause(pause).await {
            return;
        }
    }
}

async fn run_claimed<J: Job>(app: &App, job: roster_store::Job) -> Result<(), StoreError> {
    let keepalive = tokio::spawn({
        let app = app.clone();
        let id = job.id;
        async move {
            loop {
                tokio::time::sleep(LEASE_RENEW_EVERY).await;
                let until = app.clock.now() + Duration::seconds(LEASE_SECONDS);
                match app.store.extend_job_lease(id, until).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => tracing::warn!(%error, job = %id, "could not renew a job's lease"),
                }
            }
        }
    });
    let result = match payload_of::<J>(&job) {
        Ok(payload) => payload.run(app, &job).await,
        Err(failure) => Err(failure),
    };
    keepalive.abort();
    let now = app.clock.now();
    match result {
        Ok(()) => app.store.finish_job(job.id, now).await,
        Err(failure) if failure.transient && job.attempts < MAX_ATTEMPTS => {
            let retry_at = now + Duration::minutes(5 * i64::from(job.attempts.max(1)));
            tracing::warn!(kind = J::KIND, job = %job.id, error = %failure.message, %retry_at, "job failed; will try again");
            app.store.fail_job(job.id, &failure.message, Some(retry_at), now).await
        }
        Err(failure) => {
            tracing::warn!(kind = J::KIND, job = %job.id, error = %failure.message, "job failed");
            app.store.fail_job(job.id, &failure.message, None, now).await
        }
    }
}
