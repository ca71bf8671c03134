//! The identity throttling model: a resource-unit (RU) bucket per app+tenant per 10 s.

use std::time::{Duration, Instant};

/// How a 429 states when to come back. Graph sends all three in the wild.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryAfter {
    /// `Retry-After: 10`
    Integer(u64),
    /// `Retry-After: 2.128`
    Fractional(f64),
    /// No header: the client must back off on its own.
    Missing,
}

impl RetryAfter {
    pub fn header_value(self) -> Option<String> {
        match self {
            RetryAfter::Integer(s) => Some(s.to_string()),
            RetryAfter::Fractional(s) => Some(format!("{s:.3}")),
            RetryAfter::Missing => None,
        }
    }
}

/// How the bucket's 429s state Retry-After.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfterStyle {
    Integer,
    Fractional,
    Missing,
}

/// Tenant size classes of the identity limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSize {
    /// Fewer than 50 users: 3,500 RU per 10 s.
    Small,
    /// 50 to 500 users: 5,000 RU per 10 s.
    Medium,
    /// More than 500 users: 8,000 RU per 10 s.
    Large,
}

impl TenantSize {
    pub fn for_users(users: usize) -> Self {
        match users {
            0..=49 => TenantSize::Small,
            50..=500 => TenantSize::Medium,
            _ => TenantSize::Large,
        }
    }

    pub fn ru_per_window(self) -> u32 {
        match self {
            TenantSize::Small => 3_500,
            TenantSize::Medium => 5_000,
            TenantSize::Large => 8_000,
        }
    }
}

pub const WINDOW: Duration = Duration::from_secs(10);

/// What a read costs, per the documented table: list users 2, group members 3, transitive
/// members 5, anything else 1; `$select` −1, `$expand` +1, `$top` under 20 −1; never below 1.
/// A delta page costs like a list of users (2, so 1 with `$select`): the table names no delta
/// cost, and a page carries as much as a list page. Follow-up links carry only a token, so
/// they cost 2 whatever the first call selected.
pub fn request_cost(segments: &[&str], has_select: bool, has_expand: bool, top: Option<usize>) -> u32 {
    let base: i64 = match segments {
        ["users" | "groups", "delta"] | ["users"] => 2,
        ["groups", _, "members", ..] => 3,
        ["groups", _, "transitiveMembers", ..] => 5,
        _ => 1,
    };
    let mut cost = base;
    if has_select {
        cost -= 1;
    }
    if has_expand {
        cost += 1;
    }
    if top.is_some_and(|t| t < 20) {
        cost -= 1;
    }
    u32::try_from(cost.max(1)).unwrap_or(1)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Charge {
    Allowed {
        /// Share of the window's budget in use after this request (1.0 = all of it).
        usage: f64,
    },
    Throttled {
        /// When enough budget will have refilled for this request.
        retry_after: Duration,
        usage: f64,
    },
}

/// A continuously refilling bucket. Throttled requests are still charged ("usage keeps counting
/// while throttled"), so a client that hammers a 429 pushes its own recovery further away.
#[derive(Debug, Clone)]
pub struct RuBucket {
    capacity: f64,
    window: Duration,
    level: f64,
    last: Instant,
}

impl RuBucket {
    pub fn new(limit_per_window: u32, window: Duration, now: Instant) -> Self {
        let capacity = f64::from(limit_per_window.max(1));
        Self { capacity, window: window.max(Duration::from_millis(1)), level: capacity, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.level = (self.level + elapsed * self.capacity / self.window.as_secs_f64()).min(self.capacity);
    }

    pub fn charge(&mut self, cost: u32, now: Instant) -> Charge {
        self.refill(now);
        let cost = f64::from(cost);
        let allowed = self.level >= cost;
        // Floor at one window of debt so a stopped client always recovers within 20 s.
        self.level = (self.level - cost).max(-self.capacity);
        let usage = (self.capacity - self.level) / self.capacity;
        if allowed {
            Charge::Allowed { usage }
        } else {
            let missing = (cost - self.level).max(0.0);
            let secs = missing * self.window.as_secs_f64() / self.capacity;
            Charge::Throttled { retry_after: Duration::from_secs_f64(secs), usage }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_documented_table() {
        assert_eq!(request_cost(&["users"], false, false, None), 2);
        assert_eq!(request_cost(&["users"], true, false, None), 1);
        assert_eq!(request_cost(&["groups", "g", "members"], false, false, None), 3);
        assert_eq!(request_cost(&["groups", "g", "transitiveMembers"], true, false, Some(999)), 4);
        assert_eq!(request_cost(&["groups", "g", "transitiveMembers", "microsoft.graph.user"], false, true, Some(5)), 5);
        assert_eq!(request_cost(&["users", "u", "manager"], true, false, Some(1)), 1, "never below 1");
        assert_eq!(request_cost(&["users", "u"], false, true, None), 2);
        assert_eq!(request_cost(&["users", "delta"], true, false, None), 1);
        assert_eq!(request_cost(&["groups", "delta"], false, false, None), 2);
    }

    #[test]
    fn size_classes() {
        assert_eq!(TenantSize::for_users(49).ru_per_window(), 3_500);
        assert_eq!(TenantSize::for_users(50).ru_per_window(), 5_000);
        assert_eq!(TenantSize::for_users(500).ru_per_window(), 5_000);
        assert_eq!(TenantSize::for_users(501).ru_per_window(), 8_000);
    }

    #[test]
    fn bucket_throttles_then_refills_and_keeps_counting() {
        let t0 = Instant::now();
        let mut bucket = RuBucket::new(10, WINDOW, t0);
        for _ in 0..2 {
            assert!(matches!(bucket.charge(5, t0), Charge::Allowed { .. }));
        }
        let Charge::Throttled { retry_after, usage } = bucket.charge(5, t0) else { panic!("expected a 429") };
        assert!(usage > 1.0, "a throttled request still counts: {usage}");
        assert!(retry_after >= Duration::from_secs(5), "{retry_after:?}");
        // Half a window later the debt of 5 RU is paid but there is no budget yet.
        assert!(matches!(bucket.charge(5, t0 + Duration::from_secs(5)), Charge::Throttled { .. }));
        // A full idle window later there is room again.
        assert!(matches!(bucket.charge(5, t0 + Duration::from_secs(25)), Charge::Allowed { .. }));
    }

    #[test]
    fn usage_reports_share_in_use() {
        let t0 = Instant::now();
        let mut bucket = RuBucket::new(100, WINDOW, t0);
        let Charge::Allowed { usage } = bucket.charge(85, t0) else { panic!("should pass") };
        assert!((usage - 0.85).abs() < 1e-9);
    }
}
