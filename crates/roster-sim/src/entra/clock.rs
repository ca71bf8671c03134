//! The simulator's clock: the wall clock plus an offset tests can push forward.
//!
//! Delta tokens expire after 7 days, subscriptions after up to 29 days and notification retries
//! span 4 hours; no test can wait for any of that. Everything with such a lifetime reads this
//! clock, so `EntraSim::advance_clock` ages it all at once. Access tokens, the RU bucket and
//! HTTP timeouts stay on real time: they are short, and tests already drive them directly.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

#[derive(Debug, Clone, Copy, Default)]
pub struct SimClock {
    offset: TimeDelta,
}

impl SimClock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    /// Moves the clock forward (never backward: the real clock keeps running anyway).
    pub fn advance(&mut self, by: std::time::Duration) {
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        self.offset = self.offset.checked_add(&by).unwrap_or(self.offset);
    }
}

/// `2018-11-22T01:47:00.2455823Z`: Graph's seven-digit timestamps.
pub fn graph_time(at: DateTime<Utc>) -> String {
    format!("{}{:07}Z", at.format("%Y-%m-%dT%H:%M:%S."), at.timestamp_subsec_nanos() / 100)
}

/// `2025-06-20T11:00:00Z`, how a subscription's expiry comes back.
pub fn expiry_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// .NET ticks (100 ns since 0001-01-01), what Graph's `sequenceNumber` looks like.
pub fn ticks(at: DateTime<Utc>) -> i64 {
    const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;
    let nanos = at.timestamp_nanos_opt().unwrap_or(i64::MAX);
    UNIX_EPOCH_TICKS.saturating_add(nanos / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let mut clock = SimClock::default();
        let before = clock.now();
        clock.advance(std::time::Duration::from_secs(7 * 24 * 3600));
        assert!(clock.now() - before >= TimeDelta::days(7));
    }

    #[test]
    fn formats() {
        use chrono::Timelike;
        let at = DateTime::parse_from_rfc3339("2018-11-22T01:47:00.2455823Z").map(|d| d.with_timezone(&Utc)).expect("time");
        assert_eq!(graph_time(at), "2018-11-22T01:47:00.2455823Z");
        assert_eq!(expiry_time(at.with_nanosecond(0).expect("whole second")), "2018-11-22T01:47:00Z");
        assert_eq!(ticks(at), 636_784_480_202_455_823);
    }
}
