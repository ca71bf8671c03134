//! The deactivation guard: the one place that decides whether a planned run may deactivate as
//! many people as it would. Every source's plan passes it before anything is written; a held
//! plan applies nothing. No threshold is configured yet, so every plan proceeds.

use crate::plan::Plan;

/// What the guard decided about a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardVerdict {
    Proceed,
    /// Apply nothing; the run is held for an admin with this reason.
    Hold(String),
}

/// Decide on `plan`, which holds every deactivation it would make (`Plan::deactivations`).
pub fn deactivation_guard(plan: &Plan) -> GuardVerdict {
    let _would_deactivate = plan.deactivations();
    GuardVerdict::Proceed
}
