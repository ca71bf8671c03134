//! Provisioning: the one way any source changes people, and the connections they come from.
//!
//! [`Provisioner`] takes what a source describes (`DesiredPerson`s and a `Policy` saying which
//! connection, scope, invitations and fields it owns) and plans it: read the snapshot (the
//! whole directory, or only the people the records can touch), reconcile, pass the deactivation
//! guard. `run` also applies the plan in one transaction and plans again when another writer
//! created the same team first. CSV import, SCIM Users and the demo seed go through it; the
//! Entra sync plans with the same reconciler and guard in its own memory-bounded pipeline
//! (`roster_sync`).

pub mod entra;
pub mod scim;

use crate::App;
use roster_core::guard::{deactivation_guard, GuardVerdict};
use roster_core::reconcile::{reconcile, DesiredPerson, PlanContext, Policy, Snapshot};
use roster_core::{Actor, OrgId, Plan, RandomIds};
use roster_store::{SnapshotKeys, StoreError};
use std::sync::Arc;

/// How much of the directory a batch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Everyone: what a file or a full sync needs.
    Whole,
    /// Only the people the records name (their e-mails, external ids and managers') and the
    /// teams: what one SCIM request needs, whatever the size of the organisation.
    Narrow,
}

/// What a source hands the provisioner.
#[derive(Debug, Clone)]
pub struct Batch {
    pub org: OrgId,
    pub actor: Actor,
    pub records: Vec<DesiredPerson>,
    pub policy: Policy,
    pub reading: Reading,
}

/// A planned batch, and the snapshot it was planned from (callers look people up in it).
pub struct Planned {
    pub plan: Plan,
    pub snapshot: Snapshot,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The deactivation guard held the plan back; nothing was applied.
    #[error("held by the deactivation guard: {0}")]
    Held(String),
    /// The caller's acceptance refused the plan (a CSV file with any bad row); nothing was
    /// applied. The plan's report says why.
    #[error("the records were refused")]
    Refused(Box<Plan>),
}

/// A lost race to create a team is planned again this many times.
const ATTEMPTS: usize = 3;

pub struct Provisioner<'a> {
    app: &'a App,
}

impl<'a> Provisioner<'a> {
    pub fn new(app: &'a App) -> Self {
        Provisioner { app }
    }

    /// Read, reconcile (on the blocking pool: a large file is heavy pure work) and pass the
    /// guard. Nothing is written.
    pub async fn plan(&self, batch: Arc<Batch>) -> Result<Planned, ProvisionError> {
        let store = &self.app.store;
        let snapshot = match batch.reading {
            Reading::Whole => store.snapshot(batch.org).await?,
            Reading::Narrow => store.snapshot_for(batch.org, &SnapshotKeys::of(&batch.records, batch.policy.connection)).await?,
        };
        let now = self.app.clock.now();
        let planned = tokio::task::spawn_blocking(move || {
            let mut ids = RandomIds;
            let mut ctx = PlanContext { now, ids: &mut ids };
            let plan = reconcile(batch.org, batch.actor.clone(), &snapshot, &batch.records, &batch.policy, &mut ctx);
            Planned { plan, snapshot }
        })
        .await
        .map_err(|_| StoreError::Invalid("planning stopped unexpectedly; try again".into()))?;
        match deactivation_guard(&planned.plan) {
            GuardVerdict::Proceed => Ok(planned),
            GuardVerdict::Hold(reason) => Err(ProvisionError::Held(reason)),
        }
    }

    /// Plan, let `accept` look at the plan (refusing it changes nothing), and apply it in one
    /// transaction. When another writer created one of the plan's teams first, plan again.
    pub async fn run(&self, batch: Batch, accept: impl Fn(&Plan) -> bool) -> Result<Plan, ProvisionError> {
        // Shared, not copied, with the blocking pool: a large file's records are the biggest
        // thing a run holds.
        let batch = Arc::new(batch);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Planned { plan, .. } = self.plan(batch.clone()).await?;
            if !accept(&plan) {
                return Err(ProvisionError::Refused(Box::new(plan)));
            }
            if plan.is_empty() {
                return Ok(plan);
            }
            match self.app.store.apply(&plan, self.app.clock.now()).await {
                Ok(_) => return Ok(plan),
                Err(race) if race.is_team_race() && attempt < ATTEMPTS => continue,
                Err(other) => return Err(other.into()),
            }
        }
    }
}
