//! What the benchmark programs share. Each program includes this directory with `#[path]`
//! rather than through a library target, so the crate stays a set of programs that nothing
//! else can depend on; a program that uses only part of it allows the rest to go unused.

pub mod backend;
pub mod child;
pub mod population;
pub mod stats;
pub mod web;

use std::time::Duration;

/// The organisation every benchmark creates and measures.
pub const ORG: &str = "bench";
pub const OWNER: &str = "owner@bench.example";

/// Seconds with millisecond precision, for the human summaries and the JSON lines alike.
pub fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Megabytes (10^6 bytes, the unit the aims are stated in) from the KiB that the kernel and
/// GNU time report, rounded to one decimal.
pub fn mb(kib: u64) -> f64 {
    (kib as f64 * 1024.0 / 1e5).round() / 10.0
}
