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

/// How far a run has come and roughly how long it has left, from the progress it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub percent: u8,
    /// Known once enough of the run has passed to extrapolate from.
    pub left: Option<std::time::Duration>,
}

/// Where each phase starts, in hundredths of the run: listing the members is most of it.
fn phase_start(phase: &str) -> f64 {
    match phase {
        "connecting" => 0.0,
        "listing" => 0.05,
        "managers" => 0.75,
        "photo_check" => 0.80,
        "planning" => 0.85,
        "applying" => 0.90,
        "photos" => 0.93,
        "done" => 1.0,
        _ => 0.0,
    }
}

/// Estimates a running run's share done from its progress, the number of people the
/// previous run listed (`expected`), and the time since it started. The time left is
/// extrapolated from the pace so far, once the run is a twentieth done and two seconds old.
pub fn estimate(progress: &serde_json::Value, expected: Option<u64>, elapsed: std::time::Duration) -> Estimate {
    let number = |key: &str| progress.get(key).and_then(serde_json::Value::as_u64).unwrap_or_default();
    let phase = progress.get("phase").and_then(serde_json::Value::as_str).unwrap_or("connecting");
    let within = |done: u64, total: u64| if total == 0 { 0.0 } else { (done as f64 / total as f64).min(1.0) };
    let share = match phase {
        "listing" => phase_start("listing") + 0.70 * expected.map_or(0.0, |total| within(number("users_listed"), total)),
        "photos" => phase_start("photos") + 0.07 * within(number("photos_downloaded"), number("photos_to_download")),
        other => phase_start(other),
    };
    let share = share.clamp(0.0, 1.0);
    let left = ((0.05..1.0).contains(&share) && elapsed.as_secs() >= 2).then(|| elapsed.mul_f64((1.0 - share) / share));
    Estimate { percent: (share * 100.0).floor() as u8, left }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn listing_is_most_of_a_run_and_the_time_left_follows_the_pace() {
        let halfway = json!({ "phase": "listing", "users_listed": 500 });
        let estimate = estimate(&halfway, Some(1000), Duration::from_secs(40));
        assert_eq!(estimate.percent, 40);
        assert_eq!(estimate.left.map(|d| d.as_secs()), Some(60));
        // Without a previous run to compare with, listing counts from its start.
        assert_eq!(super::estimate(&halfway, None, Duration::from_secs(40)).percent, 5);
        assert_eq!(super::estimate(&json!({ "phase": "connecting" }), Some(10), Duration::from_secs(1)).left, None);
        assert_eq!(super::estimate(&json!({ "phase": "done" }), Some(10), Duration::from_secs(9)), Estimate { percent: 100, left: None });
        let photos = json!({ "phase": "photos", "photos_to_download": 10, "photos_downloaded": 10 });
        assert_eq!(super::estimate(&photos, Some(10), Duration::from_secs(9)).percent, 100);
    }
}
