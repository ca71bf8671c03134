//! Live progress of a run: written to the run's row so the pages can poll it, or drawn as a
//! progress bar by the command line.

use async_trait::async_trait;
use roster_core::{OrgId, RunId};
use roster_store::Store;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Connecting,
    Listing,
    Managers,
    PhotoCheck,
    Planning,
    Applying,
    Photos,
    Done,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Connecting => "Signing in to Microsoft Entra ID",
            Phase::Listing => "Listing the group's members",
            Phase::Managers => "Reading managers",
            Phase::PhotoCheck => "Checking profile photos",
            Phase::Planning => "Comparing with the directory",
            Phase::Applying => "Applying changes",
            Phase::Photos => "Downloading changed photos",
            Phase::Done => "Done",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncProgress {
    pub phase: Phase,
    pub label: &'static str,
    pub users_listed: usize,
    pub managers_read: usize,
    pub photos_checked: usize,
    /// Photos to download this run, and how many are done.
    pub photos_to_download: usize,
    pub photos_downloaded: usize,
    pub changes_planned: usize,
    pub graph_requests: u64,
}

impl SyncProgress {
    pub fn new() -> Self {
        Self {
            phase: Phase::Connecting,
            label: Phase::Connecting.label(),
            users_listed: 0,
            managers_read: 0,
            photos_checked: 0,
            photos_to_download: 0,
            photos_downloaded: 0,
            changes_planned: 0,
            graph_requests: 0,
        }
    }

    pub fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.label = phase.label();
    }
}

impl Default for SyncProgress {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
pub trait ProgressSink: Send + Sync {
    async fn report(&self, progress: &SyncProgress);
}

/// Progress nobody watches.
pub struct NoProgress;

#[async_trait]
impl ProgressSink for NoProgress {
    async fn report(&self, _progress: &SyncProgress) {}
}

/// Progress written to a run's row.
pub struct StoreProgress {
    pub store: Arc<dyn Store>,
    pub org: OrgId,
    pub run: RunId,
}

#[async_trait]
impl ProgressSink for StoreProgress {
    async fn report(&self, progress: &SyncProgress) {
        // Numbers and fixed words only: serialising cannot fail, the default is unreachable.
        let value = serde_json::to_value(progress).unwrap_or(serde_json::Value::Null);
        // Progress is a courtesy to whoever watches; a failed write must not fail the run.
        if let Err(error) = self.store.set_run_progress(self.org, self.run, &value).await {
            tracing::warn!(%error, run = %self.run, "could not record sync progress");
        }
    }
}
