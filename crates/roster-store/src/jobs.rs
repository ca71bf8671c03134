//! Background jobs and leadership leases. Jobs are typed by `kind` (e.g. `entra.full_sync`),
//! carry a JSON payload, and are idempotent by `dedup_key`: while one job with a key is pending
//! or running, enqueueing another with the same key returns the first. Any number of workers,
//! in any number of processes, claim due jobs; each is handed to one worker at a time.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::OrgId;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for `run_at`.
    Pending,
    /// Claimed by a worker until `claimed_until`.
    Running,
    Succeeded,
    /// Failed for good (retries, if any, are new `Pending` rounds of the same row).
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(JobStatus::Pending),
            "running" => Ok(JobStatus::Running),
            "succeeded" => Ok(JobStatus::Succeeded),
            "failed" => Ok(JobStatus::Failed),
            other => Err(format!("unknown job status '{other}'")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: Uuid,
    pub org: OrgId,
    pub kind: String,
    pub payload: Value,
    /// At most one pending-or-running job per key.
    pub dedup_key: Option<String>,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub org: OrgId,
    pub kind: String,
    pub payload: Value,
    pub dedup_key: Option<String>,
    pub run_at: DateTime<Utc>,
    pub claimed_until: Option<DateTime<Utc>>,
    /// Claims so far, this one included.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub status: JobStatus,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What `enqueue_job` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    New(Uuid),
    /// A pending or running job with the same dedup key already existed; this is its id.
    Existing(Uuid),
}

impl Enqueued {
    pub fn id(self) -> Uuid {
        match self {
            Enqueued::New(id) | Enqueued::Existing(id) => id,
        }
    }
}

#[async_trait]
pub trait JobStore {
    async fn enqueue_job(&self, job: &NewJob) -> StoreResult<Enqueued>;
    /// Hand out up to `limit` jobs of `kind` that are due (pending with `run_at <= now`, or
    /// running with a lease that ran out), marking them running until `lease_until`. A job is
    /// never handed to two claimers whose leases overlap.
    async fn claim_jobs(&self, kind: &str, limit: u32, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> StoreResult<Vec<Job>>;
    /// Keep a long job's claim; false when the job is no longer running (it was reclaimed).
    async fn extend_job_lease(&self, id: Uuid, lease_until: DateTime<Utc>) -> StoreResult<bool>;
    async fn finish_job(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    /// Record a failed attempt: with `retry_at` the job is pending again from then, without
    /// it the job has failed for good.
    async fn fail_job(&self, id: Uuid, error: &str, retry_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> StoreResult<()>;
    async fn job(&self, id: Uuid) -> StoreResult<Option<Job>>;
    /// Take or renew the lease `name` for `holder` until `until`. True when `holder` holds it
    /// now: it was free, expired at `now`, or already `holder`'s.
    async fn try_lease(&self, name: &str, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<bool>;
}
