//! The deactivation guard: the one place that decides whether a planned run may deactivate as
//! many people as it would. Every source's plan passes it before anything is written; a held
//! plan applies nothing and waits for an admin, who sees who it would deactivate and why.
//!
//! A mistaken setting (a connection re-pointed at another tenant, an emptied group, a filter
//! that matches nobody) shows up as a plan that deactivates many of the people the source
//! provisions, which is exactly what this holds.

use crate::plan::{Change, Plan};
use crate::reconcile::{DesiredPerson, Snapshot};
use crate::{ConnectionId, Status, UserId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// Below this many deactivations a run is never held, whatever the share: a small source
/// losing a few people is ordinary.
pub const NEVER_FOR_FEWER_THAN: usize = 10;

/// How many deactivations one run of a source may make; above either limit it is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardLimits {
    /// Hold above this many people.
    pub max_people: usize,
    /// Hold above this share (per cent) of the people the source provisions.
    pub max_percent: u8,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits { max_people: 500, max_percent: 20 }
    }
}

/// Why limits an admin typed were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("the number of people must be a whole number of at least 1")]
    People,
    #[error("the share must be a whole number of per cent from 1 to 100")]
    Percent,
}

impl GuardLimits {
    /// Limits from what an admin typed (a page form, a CLI flag).
    pub fn parse(max_people: &str, max_percent: &str) -> Result<Self, LimitsError> {
        let max_people: usize = max_people.trim().parse().map_err(|_| LimitsError::People)?;
        let max_percent: u8 = max_percent.trim().trim_end_matches('%').trim().parse().map_err(|_| LimitsError::Percent)?;
        Self::new(max_people, max_percent)
    }

    pub fn new(max_people: usize, max_percent: u8) -> Result<Self, LimitsError> {
        if max_people == 0 {
            return Err(LimitsError::People);
        }
        if !(1..=100).contains(&max_percent) {
            return Err(LimitsError::Percent);
        }
        Ok(GuardLimits { max_people, max_percent })
    }

    /// The limits a connection's settings hold (`guard`), or the defaults.
    pub fn of_settings(settings: &serde_json::Value) -> Self {
        // Settings are written only through `write_to`; a value that no longer reads (edited
        // by hand in the database) falls back to the defaults, which only hold more often.
        settings
            .get("guard")
            .and_then(|g| serde_json::from_value::<GuardLimits>(g.clone()).ok())
            .and_then(|g| Self::new(g.max_people, g.max_percent).ok())
            .unwrap_or_default()
    }

    pub fn write_to(&self, settings: &mut serde_json::Value) {
        if let Some(map) = settings.as_object_mut() {
            map.insert("guard".into(), serde_json::json!({ "max_people": self.max_people, "max_percent": self.max_percent }));
        }
    }

    /// May a source that provisions `provisioned` people make `deactivations` at once?
    pub fn allows(&self, deactivations: usize, provisioned: usize) -> bool {
        self.allows_without_share(deactivations)
            .unwrap_or_else(|| deactivations.saturating_mul(100) <= provisioned.saturating_mul(usize::from(self.max_percent)))
    }

    /// The answer when the floor or the count limit decides alone; `None` when the share of
    /// the people provisioned decides (then a caller must count them).
    pub fn allows_without_share(&self, deactivations: usize) -> Option<bool> {
        if deactivations < NEVER_FOR_FEWER_THAN {
            Some(true)
        } else if deactivations > self.max_people {
            Some(false)
        } else {
            None
        }
    }
}

impl fmt::Display for GuardLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} people or {} % of the people it provisions", self.max_people, self.max_percent)
    }
}

/// What a run is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Guard {
    Limits(GuardLimits),
    /// An admin saw a held run that would deactivate `up_to` people and allowed it: the
    /// re-planned run applies unless it now deactivates more than that.
    Allowed {
        up_to: usize,
        limits: GuardLimits,
    },
    /// Every deactivation was written out by an admin (a row of a CSV file they import), so
    /// none is inferred from absence and there is nothing to hold.
    Explicit,
}

impl Guard {
    fn permits(&self, deactivations: usize, provisioned: usize) -> bool {
        match self {
            Guard::Limits(limits) => limits.allows(deactivations, provisioned),
            Guard::Allowed { up_to, limits } => deactivations <= *up_to || limits.allows(deactivations, provisioned),
            Guard::Explicit => true,
        }
    }

    pub fn limits(&self) -> GuardLimits {
        match self {
            Guard::Limits(limits) | Guard::Allowed { limits, .. } => *limits,
            Guard::Explicit => GuardLimits::default(),
        }
    }
}

/// Why a plan was held: what it would have done against what the limits allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub would_deactivate: usize,
    pub provisioned: usize,
    pub limits: GuardLimits,
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "held by the deactivation guard: this run would deactivate {} of the {} people this source provisions, more than the limit of {}",
            self.would_deactivate, self.provisioned, self.limits
        )
    }
}

/// What the guard decided about a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardVerdict {
    Proceed,
    /// Apply nothing; the run is held for an admin.
    Hold(Hold),
}

/// Decide on `plan` for a source that provisions `provisioned` active people today.
pub fn deactivation_guard(plan: &Plan, provisioned: usize, guard: &Guard) -> GuardVerdict {
    let would_deactivate = plan.deactivations();
    if guard.permits(would_deactivate, provisioned) {
        GuardVerdict::Proceed
    } else {
        GuardVerdict::Hold(Hold { would_deactivate, provisioned, limits: guard.limits() })
    }
}

/// How many people a source provisions: those it links who are not deactivated. A source
/// without a connection (a CSV file) answers for the whole organisation.
pub fn provisioned_by(snapshot: &Snapshot, connection: Option<ConnectionId>) -> usize {
    snapshot
        .people
        .iter()
        .filter(|p| p.status != Status::Deactivated)
        .filter(|p| connection.is_none() || p.source.as_ref().map(|l| l.connection) == connection)
        .count()
}

/// Why a held run would deactivate someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeactivationCause {
    /// The source still sends the person, marked disabled.
    DisabledInSource,
    /// The source no longer sends the person: they left the group or were deleted, or the
    /// connection now points somewhere else.
    NoLongerInSource,
}

impl DeactivationCause {
    pub fn describe(self) -> &'static str {
        match self {
            DeactivationCause::DisabledInSource => "disabled in the source",
            DeactivationCause::NoLongerInSource => "no longer in the source: left the group, deleted, or the connection points elsewhere",
        }
    }
}

/// One person a held run would deactivate, as the admin deciding sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WouldDeactivate {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub cause: DeactivationCause,
}

/// Everyone `plan` would deactivate, named from the snapshot it was planned from.
pub fn would_deactivate(plan: &Plan, snapshot: &Snapshot, records: &[DesiredPerson]) -> Vec<WouldDeactivate> {
    let targets: HashSet<UserId> =
        plan.changes.iter().filter_map(|c| matches!(c, Change::SetStatus { after: Status::Deactivated, .. }).then(|| c.person()).flatten()).collect();
    let sent_ids: HashSet<&str> = records.iter().filter_map(|r| r.external_id.as_deref()).collect();
    let sent_emails: HashSet<&str> = records.iter().map(|r| r.email.as_str()).collect();
    let mut people: Vec<WouldDeactivate> = snapshot
        .people
        .iter()
        .filter(|p| targets.contains(&p.id))
        .map(|p| {
            let sent = p.source.as_ref().is_some_and(|l| sent_ids.contains(l.external_id.as_str())) || sent_emails.contains(p.email.as_str());
            let cause = if sent { DeactivationCause::DisabledInSource } else { DeactivationCause::NoLongerInSource };
            WouldDeactivate { id: p.id, name: p.profile.display_name(), email: p.email.to_string(), cause }
        })
        .collect();
    people.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.email.cmp(&b.email)));
    people
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> GuardLimits {
        GuardLimits::default()
    }

    #[test]
    fn holds_above_the_share_or_the_count_but_never_below_ten() {
        let guard = Guard::Limits(limits());
        // 20 % of 100 is 20: 20 passes, 21 is held.
        assert!(guard.permits(20, 100));
        assert!(!guard.permits(21, 100));
        // Fewer than ten never hold, even all of a small source.
        assert!(guard.permits(9, 9));
        assert!(!guard.permits(10, 10));
        // 501 of 100,000 is 0.5 %, but over the count.
        assert!(guard.permits(500, 100_000));
        assert!(!guard.permits(501, 100_000));
        // Everyone of a re-pointed connection.
        assert!(!guard.permits(1917, 1917));
    }

    #[test]
    fn an_allowance_covers_what_the_admin_saw_and_no_more() {
        let guard = Guard::Allowed { up_to: 1917, limits: limits() };
        assert!(guard.permits(1917, 1917));
        assert!(!guard.permits(1918, 2000));
        assert!(guard.permits(5, 2000));
    }

    #[test]
    fn limits_are_checked_when_typed_and_fall_back_when_unreadable() {
        assert_eq!(GuardLimits::parse("50", "10 %"), Ok(GuardLimits { max_people: 50, max_percent: 10 }));
        assert_eq!(GuardLimits::parse("0", "10"), Err(LimitsError::People));
        assert_eq!(GuardLimits::parse("5", "101"), Err(LimitsError::Percent));
        assert_eq!(GuardLimits::parse("five", "10"), Err(LimitsError::People));
        let mut settings = serde_json::json!({ "group_id": "g" });
        GuardLimits { max_people: 7, max_percent: 3 }.write_to(&mut settings);
        assert_eq!(GuardLimits::of_settings(&settings), GuardLimits { max_people: 7, max_percent: 3 });
        assert_eq!(GuardLimits::of_settings(&serde_json::json!({ "guard": { "max_people": 0, "max_percent": 3 } })), limits());
        assert_eq!(GuardLimits::of_settings(&serde_json::json!({})), limits());
    }
}
