//! Sign-in throttling: failures are counted per account and per client address in the store
//! (so every process sees them), and answered with growing waits, then a temporary lock that
//! ends by itself or with a new password. Never a permanent lock: that would let anyone lock
//! an owner out. Reset e-mails are limited per address and hour.

use chrono::Duration;
use roster_core::{Email, OrgId};
use roster_store::ThrottleRule;
use std::net::IpAddr;

/// Wrong passwords on one account after which each try must wait.
pub const ACCOUNT_FREE_FAILURES: u32 = 5;
/// Failures on one account within the window that lock it for [`ACCOUNT_LOCK_MINUTES`].
pub const ACCOUNT_LOCK_FAILURES: u32 = 20;
pub const ACCOUNT_LOCK_MINUTES: i64 = 15;
/// Failures from one address before it must wait: high, since an office shares one address.
pub const ADDRESS_FREE_FAILURES: u32 = 100;
/// Reset e-mails to one address per hour.
pub const RESETS_PER_HOUR: u32 = 3;

/// 1 s after the 5th failure, doubling to a minute, then the lock.
fn account_delay(failures: u32) -> Option<Duration> {
    if failures >= ACCOUNT_LOCK_FAILURES {
        Some(Duration::minutes(ACCOUNT_LOCK_MINUTES))
    } else if failures >= ACCOUNT_FREE_FAILURES {
        Some(Duration::seconds(doubling(failures - ACCOUNT_FREE_FAILURES).min(60)))
    } else {
        None
    }
}

fn address_delay(failures: u32) -> Option<Duration> {
    (failures > ADDRESS_FREE_FAILURES).then(|| Duration::seconds(doubling(failures - ADDRESS_FREE_FAILURES - 1).min(15 * 60)))
}

fn reset_delay(requests: u32) -> Option<Duration> {
    (requests >= RESETS_PER_HOUR).then(|| Duration::hours(1))
}

/// 2^n seconds, without overflow.
fn doubling(n: u32) -> i64 {
    1_i64 << n.min(30)
}

pub fn account_rule() -> ThrottleRule {
    ThrottleRule { window: Duration::minutes(15), delay: account_delay }
}

pub fn address_rule() -> ThrottleRule {
    ThrottleRule { window: Duration::minutes(15), delay: address_delay }
}

pub fn reset_rule() -> ThrottleRule {
    ThrottleRule { window: Duration::hours(1), delay: reset_delay }
}

/// The key of an account's failures. Any address typed is a key, known or not, so throttling
/// tells nobody which accounts exist.
pub fn account_key(org: OrgId, email: &Email) -> String {
    format!("sign-in:{org}:{email}")
}

pub fn address_key(address: IpAddr) -> String {
    format!("client:{address}")
}

pub fn reset_key(org: OrgId, email: &Email) -> String {
    format!("reset:{org}:{email}")
}

/// How long to tell someone to wait, in words.
pub fn wait_in_words(seconds: i64) -> String {
    match seconds {
        ..=1 => "a second".into(),
        2..=59 => format!("{seconds} seconds"),
        60..=119 => "a minute".into(),
        _ => format!("{} minutes", (seconds + 59) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_then_lock_and_never_become_permanent() {
        assert_eq!(account_delay(4), None);
        assert_eq!(account_delay(5), Some(Duration::seconds(1)));
        assert_eq!(account_delay(6), Some(Duration::seconds(2)));
        assert_eq!(account_delay(19), Some(Duration::seconds(60)));
        assert_eq!(account_delay(20), Some(Duration::minutes(15)));
        assert_eq!(account_delay(10_000), Some(Duration::minutes(15)));
        assert_eq!(address_delay(100), None);
        assert_eq!(address_delay(u32::MAX), Some(Duration::minutes(15)));
        assert_eq!(reset_delay(2), None);
        assert_eq!(reset_delay(3), Some(Duration::hours(1)));
    }

    #[test]
    fn waits_read_naturally() {
        assert_eq!(wait_in_words(1), "a second");
        assert_eq!(wait_in_words(30), "30 seconds");
        assert_eq!(wait_in_words(900), "15 minutes");
    }
}
