//! The deactivation guard as admins meet it: a connection held by a run, the e-mail that says
//! so, the admin's Allow or Reject, and the limits they set. The rule itself (when a plan is
//! held) is `roster_core::guard`; the `Provisioner` applies it to every plan.

use crate::admin::OpsError;
use crate::provision::entra::setup::enqueue_sync_allowing;
use crate::App;
use roster_core::guard::GuardLimits;
use roster_core::query::{PersonFilter, PersonQuery};
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, OrgId, Role, RunId, Status};
use roster_store::{OutgoingEmail, RunStatus, StoreError, SyncRun};

/// How many recent runs are looked through for the one that decides whether a connection is
/// held; runs still queued or running come first.
pub const RECENT_RUNS: u32 = 20;

/// The run that keeps a connection held, among its recent runs (newest first): its newest
/// finished run, when the guard held it and nobody allowed it since. None when the connection
/// is free to apply.
pub fn holding(recent: &[SyncRun]) -> Option<&SyncRun> {
    recent.iter().find(|r| r.status.decides_hold()).filter(|r| r.status.keeps_connection_held())
}

/// Tell the owners and admins that `run` held `connection`, unless the connection was held
/// already (they were told then): one e-mail per hold, not one per run.
pub async fn notify_held(app: &App, connection: &Connection, run: RunId) -> Result<(), StoreError> {
    let runs = app.store.sync_runs(connection.org, connection.id, RECENT_RUNS).await?;
    let Some(held) = runs.iter().find(|r| r.id == run) else { return Ok(()) };
    let held_before = runs
        .iter()
        .filter(|r| r.id != run && r.queued_at <= held.queued_at && r.status.decides_hold())
        .max_by_key(|r| (r.queued_at, r.id))
        .is_some_and(|r| r.status.keeps_connection_held());
    if held_before {
        return Ok(());
    }
    let Some(hold) = held.report.as_ref().and_then(|r| r.hold.clone()) else { return Ok(()) };
    let now = app.clock.now();
    for person in owners_and_admins(app, connection.org).await? {
        let email = OutgoingEmail::RunHeld {
            to: person.email.clone(),
            name: person.profile.display_name(),
            person: person.id,
            connection: connection.name.clone(),
            run,
            would_deactivate: hold.would_deactivate,
            provisioned: hold.provisioned,
            connection_kind: Some(connection.kind),
        };
        app.store.enqueue_email(connection.org, &email, now).await?;
    }
    Ok(())
}

/// Who hears about a hold: the organisation's active owners and admins.
pub async fn owners_and_admins(app: &App, org: OrgId) -> Result<Vec<roster_core::Person>, StoreError> {
    let admins = PersonFilter::And(vec![
        PersonFilter::Or(vec![PersonFilter::Role(Role::Owner), PersonFilter::Role(Role::Admin)]),
        PersonFilter::Not(Box::new(PersonFilter::Status(Status::Deactivated))),
    ]);
    Ok(app.store.search_people(org, &PersonQuery { with_total: false, ..PersonQuery::new(Some(admins), 0, 500) }).await?.people)
}

/// A held run and its connection, checked for a decision.
pub async fn held_run(app: &App, org: OrgId, run: RunId) -> Result<(SyncRun, Connection), OpsError> {
    let found = app.store.sync_run(org, run).await?.ok_or(OpsError::NotFound)?;
    if found.status != RunStatus::Held {
        return Err(OpsError::Invalid(format!("This run is {}, not held: there is nothing to decide.", found.status)));
    }
    let connection = app.store.connection(org, found.connection).await?.ok_or(OpsError::NotFound)?;
    Ok((found, connection))
}

/// How many people a held run would deactivate: what allowing it covers.
pub fn hold_size(run: &SyncRun) -> usize {
    run.report.as_ref().and_then(|r| r.hold.as_ref()).map_or(0, |h| h.would_deactivate)
}

/// Allow a held run: queue a run that plans again against the directory and the source as they
/// are now and applies, unless it would now deactivate more people than the admin saw. Returns
/// the new run.
pub async fn allow(app: &App, org: OrgId, run: RunId, actor: &Actor) -> Result<RunId, OpsError> {
    let (held, connection) = held_run(app, org, run).await?;
    let up_to = hold_size(&held);
    let (next, queued_now) = match connection.kind {
        ConnectionKind::Entra => enqueue_sync_allowing(app, &connection, "allowed", Some(up_to)).await?,
        ConnectionKind::Okta => crate::jobs::okta_sync::enqueue_pull_allowing(app, &connection, "allowed", Some(up_to)).await?,
        other => return Err(OpsError::Invalid(format!("{} connections do not hold runs", other.label()))),
    };
    if !queued_now {
        return Err(OpsError::Conflict("A sync of this connection is already queued. Allow the held run once it has finished.".into()));
    }
    // A second admin deciding at the same moment loses here; the allowed run was queued by the
    // first decision that reached the page and runs either way.
    app.store.decide_held_run(org, run, RunStatus::Allowed, &actor.label(), app.clock.now()).await?;
    Ok(next)
}

/// Reject a held run: nothing of it is ever applied, and the connection stays held until a run
/// comes in under its limits or an admin allows one.
pub async fn reject(app: &App, org: OrgId, run: RunId, actor: &Actor) -> Result<(), OpsError> {
    held_run(app, org, run).await?;
    if !app.store.decide_held_run(org, run, RunStatus::Rejected, &actor.label(), app.clock.now()).await? {
        return Err(OpsError::Invalid("This run was decided already.".into()));
    }
    Ok(())
}

/// Set how many people one run of a provisioning connection may deactivate.
pub async fn set_limits(app: &App, org: OrgId, connection: ConnectionId, limits: GuardLimits, actor: &Actor) -> Result<(), OpsError> {
    let mut found = app.store.connection(org, connection).await?.ok_or(OpsError::NotFound)?;
    if !found.kind.provisions() {
        return Err(OpsError::Invalid(format!("{} connections provision nobody, so they have no deactivation guard", found.kind.label())));
    }
    limits.write_to(&mut found.settings);
    app.store.update_connection(&found, actor, app.clock.now()).await?;
    Ok(())
}
