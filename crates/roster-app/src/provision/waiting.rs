//! Deactivations a SCIM client asked for beyond its connection's deactivation guard (see
//! `scim::plan_user`): the client was answered as usual and the people stay active until an
//! owner or admin applies or discards them.

use super::Provisioner;
use crate::App;
use roster_core::{Actor, Change, OrgId, Plan, UserId};
use roster_store::StoreError;

/// A deactivation a SCIM client asked for beyond its guard, as the admin deciding sees it.
pub struct WaitingDeactivation {
    pub person: UserId,
    pub name: String,
    pub email: String,
    pub asked_at: chrono::DateTime<chrono::Utc>,
}

/// The deactivations waiting for an admin, with who they are.
pub async fn waiting_deactivations(app: &App, org: OrgId) -> Result<Vec<WaitingDeactivation>, StoreError> {
    let mut waiting = Vec::new();
    for pending in app.store.pending_deactivations(org).await? {
        // A person removed since is nothing to decide on.
        if let Some(person) = app.store.person(org, pending.person).await? {
            waiting.push(WaitingDeactivation {
                person: person.id,
                name: person.profile.display_name(),
                email: person.email.to_string(),
                asked_at: pending.asked_at,
            });
        }
    }
    Ok(waiting)
}

/// Apply (`true`) or discard every waiting deactivation. Applying deactivates, in one plan, those
/// still active, as the admin's change; discarding leaves them active. Returns how many.
pub async fn decide_waiting_deactivations(app: &App, org: OrgId, actor: &Actor, apply: bool) -> Result<usize, StoreError> {
    let waiting = app.store.pending_deactivations(org).await?;
    let people: Vec<UserId> = waiting.iter().map(|w| w.person).collect();
    if apply {
        let mut plan = Plan::new(org, actor.clone());
        for id in &people {
            if let Some(person) = app.store.person(org, *id).await?.filter(|p| p.status != roster_core::Status::Deactivated) {
                plan.changes.push(Change::SetStatus { id: person.id, before: person.status, after: roster_core::Status::Deactivated });
                plan.report.deactivated += 1;
            }
        }
        if !plan.is_empty() {
            Provisioner::new(app).apply(&plan).await?;
        }
    }
    let cleared = app.store.clear_pending_deactivations(org, &people, apply, &actor.label(), app.clock.now()).await?;
    Ok(usize::try_from(cleared).unwrap_or(usize::MAX))
}

/// Tell the owners and admins that a SCIM client's deactivations started waiting: once, when
/// the first one waits (later ones join the same list).
pub async fn notify_first_waiting(app: &App, org: OrgId, connection: &roster_core::Connection) -> Result<(), StoreError> {
    if app.store.pending_deactivations(org).await?.len() != 1 {
        return Ok(());
    }
    let now = app.clock.now();
    for person in super::guard::owners_and_admins(app, org).await? {
        let email = roster_store::OutgoingEmail::DeactivationsWaiting {
            to: person.email.clone(),
            name: person.profile.display_name(),
            person: person.id,
            connection: connection.name.clone(),
        };
        app.store.enqueue_email(org, &email, now).await?;
    }
    Ok(())
}
