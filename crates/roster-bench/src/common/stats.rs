//! Percentiles of latency samples, by the nearest-rank method: every figure reported is a time
//! that some request actually took, never an interpolation between two.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// The value at or below which `p` percent of the sorted samples fall.
fn rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let n = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[n.clamp(1, sorted.len()) - 1]
}

pub fn summarize(samples: &[f64]) -> Summary {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mean = if sorted.is_empty() { 0.0 } else { sorted.iter().sum::<f64>() / sorted.len() as f64 };
    Summary {
        count: sorted.len(),
        p50_ms: round(rank(&sorted, 50.0)),
        p90_ms: round(rank(&sorted, 90.0)),
        p99_ms: round(rank(&sorted, 99.0)),
        max_ms: round(sorted.last().copied().unwrap_or(0.0)),
        mean_ms: round(mean),
    }
}
