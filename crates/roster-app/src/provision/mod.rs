//! Provisioning: the one way any source changes people, and the connections they come from.
//!
//! [`Provisioner`] takes what a source describes (`DesiredPerson`s and a `Policy` saying which
//! connection, scope, invitations and fields it owns) and plans it: read the snapshot (the
//! whole directory, or only the people the records can touch), reconcile, pass the deactivation
//! guard (`roster_core::guard`). `run` also applies the plan in one transaction and plans again
//! when another writer created the same team first. CSV import, SCIM Users, the Entra sync
//! (`entra::sync`, which reads its snapshot itself to stay within its memory budget and then
//! calls [`Provisioner::judge`] and [`Provisioner::apply`]) and the demo seed all go through it.

pub mod entra;
pub mod guard;
pub mod health;
pub mod log;
pub mod okta;
pub mod scim;
pub mod waiting;

use crate::App;
use chrono::{DateTime, Utc};
use roster_core::guard::{deactivation_guard, provisioned_by, would_deactivate, Guard, GuardVerdict};
use roster_core::reconcile::{reconcile, DesiredPerson, PlanContext, Policy, Snapshot};
use roster_core::{Actor, OrgId, Plan, RandomIds, RunId};
use roster_store::{SnapshotKeys, Store, StoreError};
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
    /// What the plan's deactivations are checked against.
    pub guard: Guard,
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
    /// The deactivation guard held the plan back; nothing was applied. The plan's report says
    /// why (`hold`) and who it would have deactivated.
    #[error("{}", .0.report.hold.as_ref().map_or_else(|| "held by the deactivation guard".to_owned(), ToString::to_string))]
    Held(Box<Plan>),
    /// The caller's acceptance refused the plan (a CSV file with any bad row); nothing was
    /// applied. The plan's report says why.
    #[error("the records were refused")]
    Refused(Box<Plan>),
}

/// A lost race to create a team is planned again this many times.
const ATTEMPTS: usize = 3;

pub struct Provisioner<'a> {
    store: &'a dyn Store,
    now: DateTime<Utc>,
}

impl<'a> Provisioner<'a> {
    pub fn new(app: &'a App) -> Self {
        Provisioner { store: app.store.as_ref(), now: app.clock.now() }
    }

    /// A provisioner over a store alone, for a run that keeps its own clock (a sync).
    pub fn on(store: &'a dyn Store, now: DateTime<Utc>) -> Self {
        Provisioner { store, now }
    }

    /// Read, reconcile (on the blocking pool: a large file is heavy pure work) and pass the
    /// guard. Nothing is written.
    pub async fn plan(&self, batch: Arc<Batch>) -> Result<Planned, ProvisionError> {
        let snapshot = match batch.reading {
            Reading::Whole => self.store.snapshot(batch.org).await?,
            Reading::Narrow => self.store.snapshot_for(batch.org, &SnapshotKeys::of(&batch.records, batch.policy.connection)).await?,
        };
        let now = self.now;
        tokio::task::spawn_blocking(move || {
            let plan = Self::judge(&batch, &snapshot, now)?;
            Ok(Planned { plan, snapshot })
        })
        .await
        .map_err(|_| StoreError::Invalid("planning stopped unexpectedly; try again".into()))?
    }

    /// Reconcile `batch` against a snapshot the caller read, and pass the guard: a held plan
    /// comes back as `Held`, its report naming who it would deactivate.
    pub fn judge(batch: &Batch, snapshot: &Snapshot, now: DateTime<Utc>) -> Result<Plan, ProvisionError> {
        let mut ids = RandomIds;
        let mut ctx = PlanContext { now, ids: &mut ids };
        let mut plan = reconcile(batch.org, batch.actor.clone(), snapshot, &batch.records, &batch.policy, &mut ctx);
        match deactivation_guard(&plan, provisioned_by(snapshot, batch.policy.connection), &batch.guard) {
            GuardVerdict::Proceed => Ok(plan),
            GuardVerdict::Hold(hold) => {
                plan.report.would_deactivate = would_deactivate(&plan, snapshot, &batch.records);
                plan.report.hold = Some(hold);
                Err(ProvisionError::Held(Box::new(plan)))
            }
        }
    }

    /// A connection's decisions that changed nobody go to the provisioning log (a file an
    /// admin imports reports its own skipped rows).
    async fn keep_decisions(&self, batch: &Batch, plan: &Plan, held: bool) {
        if let Some(connection) = batch.policy.connection {
            log::keep(self.store, &log::decisions(batch.org, Some(connection), None, &plan.report, held, self.now)).await;
        }
    }

    /// Write a plan that passed the guard, in one transaction.
    pub async fn apply(&self, plan: &Plan) -> Result<RunId, StoreError> {
        self.store.apply(plan, self.now).await
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
            let plan = match self.plan(batch.clone()).await {
                Ok(Planned { plan, .. }) => plan,
                Err(ProvisionError::Held(plan)) => {
                    self.keep_decisions(&batch, &plan, true).await;
                    return Err(ProvisionError::Held(plan));
                }
                Err(other) => return Err(other),
            };
            if !accept(&plan) {
                return Err(ProvisionError::Refused(Box::new(plan)));
            }
            if plan.is_empty() {
                self.keep_decisions(&batch, &plan, false).await;
                return Ok(plan);
            }
            match self.apply(&plan).await {
                Ok(_) => {
                    self.keep_decisions(&batch, &plan, false).await;
                    return Ok(plan);
                }
                Err(race) if race.is_team_race() && attempt < ATTEMPTS => continue,
                Err(other) => return Err(other.into()),
            }
        }
    }
}
