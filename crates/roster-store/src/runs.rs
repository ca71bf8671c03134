//! Provisioning runs (one row per sync of a connection, with its live progress and final
//! report) and the profile photos a sync brings in.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::{ConnectionId, OrgId, RunId, RunReport, UserId};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    /// Nothing was applied; `error` says why.
    Failed,
    /// Planned but not applied, waiting for an admin (the deactivation guard's state).
    Held,
    /// A held run an admin allowed: a new run re-planned and applied it.
    Allowed,
    /// A held run an admin rejected: nothing of it was ever applied.
    Rejected,
    /// A preview: planned and reported, never meant to apply.
    Previewed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Held => "held",
            RunStatus::Allowed => "allowed",
            RunStatus::Rejected => "rejected",
            RunStatus::Previewed => "previewed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::Held | RunStatus::Allowed | RunStatus::Rejected | RunStatus::Previewed)
    }

    /// A finished run that says whether its connection is held: not a failure (which says
    /// nothing about the plan) and not a preview (which never applies).
    pub fn decides_hold(self) -> bool {
        self.is_finished() && !matches!(self, RunStatus::Failed | RunStatus::Previewed)
    }

    /// A run the guard held and nobody allowed: its connection stays held until a run passes.
    pub fn keeps_connection_held(self) -> bool {
        matches!(self, RunStatus::Held | RunStatus::Rejected)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(RunStatus::Queued),
            "running" => Ok(RunStatus::Running),
            "succeeded" => Ok(RunStatus::Succeeded),
            "failed" => Ok(RunStatus::Failed),
            "held" => Ok(RunStatus::Held),
            "allowed" => Ok(RunStatus::Allowed),
            "rejected" => Ok(RunStatus::Rejected),
            "previewed" => Ok(RunStatus::Previewed),
            other => Err(format!("unknown run status '{other}'")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncRun {
    pub id: RunId,
    pub org: OrgId,
    pub connection: ConnectionId,
    /// What started it: `manual`, `schedule`, `cli`.
    pub trigger: String,
    pub status: RunStatus,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Phase and counts while running, for pages that poll.
    pub progress: Value,
    pub report: Option<RunReport>,
    pub error: Option<String>,
    pub graph_requests: u64,
}

impl SyncRun {
    pub fn queued(id: RunId, org: OrgId, connection: ConnectionId, trigger: &str, now: DateTime<Utc>) -> Self {
        Self {
            id,
            org,
            connection,
            trigger: trigger.to_owned(),
            status: RunStatus::Queued,
            queued_at: now,
            started_at: None,
            finished_at: None,
            progress: serde_json::json!({ "phase": "queued" }),
            report: None,
            error: None,
            graph_requests: 0,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd<'a> {
    pub status: RunStatus,
    pub report: Option<&'a RunReport>,
    pub error: Option<&'a str>,
    pub graph_requests: u64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    pub etag: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub updated_at: DateTime<Utc>,
}

/// How long a running sync counts as alive without a sign of life from its process; the
/// process renews it every minute.
pub const RUN_ALIVE_SECONDS: i64 = 300;

/// What a run whose process died says.
pub const RUN_ABANDONED: &str = "the process stopped before the run finished; start it again";

/// What a run decided about someone without changing them, for the provisioning log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionOutcome {
    /// The record was not applied; the detail says why.
    Skipped,
    /// A deactivation the guard held back.
    Held,
}

impl DecisionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionOutcome::Skipped => "skipped",
            DecisionOutcome::Held => "held",
        }
    }
}

impl std::str::FromStr for DecisionOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skipped" => Ok(DecisionOutcome::Skipped),
            "held" => Ok(DecisionOutcome::Held),
            other => Err(format!("unknown provisioning outcome '{other}'")),
        }
    }
}

/// One row of the provisioning log that the audit log does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: uuid::Uuid,
    pub org: OrgId,
    pub connection: Option<ConnectionId>,
    pub run: Option<RunId>,
    pub at: DateTime<Utc>,
    pub person: Option<UserId>,
    /// Lower-cased: the e-mail address (or the record, when it named none).
    pub subject: String,
    pub outcome: DecisionOutcome,
    pub detail: String,
}

/// How long the provisioning log keeps a decision.
pub const DECISIONS_KEPT_DAYS: i64 = 30;

#[async_trait]
pub trait RunStore {
    /// Keep decisions for the provisioning log (in batches; the order is not kept).
    async fn log_decisions(&self, decisions: &[Decision]) -> StoreResult<()>;
    /// Newest first: decisions about `person`, or about `subject` (lower-cased), since `since`.
    async fn decisions(&self, org: OrgId, person: Option<UserId>, subject: &str, since: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Decision>>;
    /// Forget decisions made before `before`; returns how many.
    async fn purge_decisions(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    async fn create_run(&self, run: &SyncRun) -> StoreResult<()>;
    /// Queued → running, alive for [`RUN_ALIVE_SECONDS`]. False when the run is not queued
    /// (another worker has it).
    async fn start_run(&self, org: OrgId, id: RunId, now: DateTime<Utc>) -> StoreResult<bool>;
    /// The process running the run is still there: it stays alive until `until`.
    async fn keep_run_alive(&self, org: OrgId, id: RunId, until: DateTime<Utc>) -> StoreResult<()>;
    /// Mark failed every running run whose process stopped proving it is alive before `now`
    /// ("the process stopped"), so that a killed sync does not show as running forever and
    /// can be started again. Returns how many.
    async fn fail_abandoned_runs(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    async fn set_run_progress(&self, org: OrgId, id: RunId, progress: &Value) -> StoreResult<()>;
    async fn finish_run(&self, org: OrgId, id: RunId, end: &RunEnd<'_>) -> StoreResult<()>;
    /// An admin's decision on a held run (`Allowed` or `Rejected`), audited as theirs. False
    /// when the run is not held (decided already, or never held): nothing changes then.
    async fn decide_held_run(&self, org: OrgId, id: RunId, decision: RunStatus, actor: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    async fn sync_run(&self, org: OrgId, id: RunId) -> StoreResult<Option<SyncRun>>;
    /// Newest first.
    async fn sync_runs(&self, org: OrgId, connection: ConnectionId, limit: u32) -> StoreResult<Vec<SyncRun>>;

    /// The etag of every stored avatar of the organisation, by person.
    async fn avatar_etags(&self, org: OrgId) -> StoreResult<HashMap<UserId, String>>;
    async fn avatar(&self, org: OrgId, person: UserId) -> StoreResult<Option<Avatar>>;
    /// Store or replace a person's avatar, audited as `user.avatar_changed` by `actor`.
    async fn put_avatar(&self, org: OrgId, person: UserId, avatar: &Avatar, actor: &str) -> StoreResult<()>;
    /// Remove a person's avatar (audited as `user.avatar_removed`); false when there was none.
    async fn remove_avatar(&self, org: OrgId, person: UserId, actor: &str, now: DateTime<Utc>) -> StoreResult<bool>;
}
