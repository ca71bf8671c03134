//! The chart of a connection's recent runs (how long each took, how much it changed, how many
//! issues it met), drawn on the server as SVG: no script, nothing from outside the binary.

use roster_store::{RunStatus, SyncRun};

const WIDTH: u32 = 300;
const HEIGHT: u32 = 60;
/// Runs the chart has room for; the newest on the right.
const SLOTS: u32 = 20;
const BAR: u32 = WIDTH / SLOTS - 4;

/// One run's bar.
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    pub width: u32,
    /// The tooltip: when, and the value.
    pub title: String,
    pub failed: bool,
}

/// One measure across the recent runs.
pub struct Panel {
    pub title: &'static str,
    pub peak: String,
    pub bars: Vec<Bar>,
}

fn seconds(run: &SyncRun) -> u64 {
    match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => (end - start).num_seconds().max(0) as u64,
        _ => 0,
    }
}

fn changes(run: &SyncRun) -> u64 {
    run.report.as_ref().map_or(0, |r| (r.created + r.updated + r.deactivated + r.reactivated) as u64)
}

fn issues(run: &SyncRun) -> u64 {
    run.report.as_ref().map_or(0, |r| r.issues.len() as u64)
}

fn panel(title: &'static str, unit: &str, runs: &[&SyncRun], value: fn(&SyncRun) -> u64) -> Panel {
    let peak = runs.iter().map(|r| value(r)).max().unwrap_or(0);
    let offset = SLOTS - runs.len() as u32;
    let bars = runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let v = value(run);
            // A run with nothing to show still gets a sliver, so each run is visible.
            let height = (v * u64::from(HEIGHT - 2)).checked_div(peak).map_or(1, |h| h.max(1) as u32);
            Bar {
                x: (offset + i as u32) * (WIDTH / SLOTS) + 2,
                y: HEIGHT - height,
                height,
                width: BAR,
                title: format!("{} UTC ({}): {v} {unit}", run.queued_at.format("%Y-%m-%d %H:%M"), run.status),
                failed: run.status == RunStatus::Failed,
            }
        })
        .collect();
    Panel { title, peak: format!("{peak} {unit}"), bars }
}

/// The three panels for the finished runs among `recent` (newest first), oldest on the left;
/// empty when no run has finished.
pub fn panels(recent: &[SyncRun]) -> Vec<Panel> {
    let mut runs: Vec<&SyncRun> = recent.iter().filter(|r| r.status.is_finished() && r.status != RunStatus::Previewed).take(SLOTS as usize).collect();
    if runs.is_empty() {
        return Vec::new();
    }
    runs.reverse();
    vec![panel("Duration", "s", &runs, seconds), panel("Changes", "changes", &runs, changes), panel("Issues", "issues", &runs, issues)]
}
