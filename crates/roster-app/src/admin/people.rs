//! A person's access as owners and admins change it: deactivate (signed out everywhere, their
//! open links void), reactivate, and change the role. The organisation always keeps an active
//! owner, and only an owner makes or unmakes owners.

use super::{apply, OpsError};
use crate::App;
use roster_core::plan::Change;
use roster_core::query::{PersonFilter, PersonQuery};
use roster_core::{Actor, OrgId, Person, Plan, Role, Status, UserId};

/// Who is acting: their role decides what they may change.
pub struct Acting {
    pub actor: Actor,
    /// `None` for the command line, which acts with the operator's full authority.
    pub role: Option<Role>,
}

async fn person(state: &App, org: OrgId, id: UserId) -> Result<Person, OpsError> {
    state.store.person(org, id).await?.ok_or(OpsError::NotFound)
}

/// How many active (not deactivated) owners the organisation has.
async fn active_owners(state: &App, org: OrgId) -> Result<u64, OpsError> {
    let owners = PersonFilter::And(vec![PersonFilter::Role(Role::Owner), PersonFilter::Not(Box::new(PersonFilter::Status(Status::Deactivated)))]);
    let found = state.store.search_people(org, &PersonQuery::new(Some(owners), 0, 2)).await?;
    Ok(found.total.unwrap_or(found.people.len() as u64))
}

/// The last active owner keeps both the role and the access: nobody could manage the
/// organisation otherwise.
async fn keep_an_owner(state: &App, org: OrgId, person: &Person) -> Result<(), OpsError> {
    if person.role == Role::Owner && person.status != Status::Deactivated && active_owners(state, org).await? <= 1 {
        return Err(OpsError::Invalid(format!("{} is the organisation's only active owner: make someone else an owner first.", person.email)));
    }
    Ok(())
}

fn owners_only(acting: &Acting, target: &Person, doing: &str) -> Result<(), OpsError> {
    if target.role == Role::Owner && acting.role.is_some_and(|r| r != Role::Owner) {
        return Err(OpsError::Invalid(format!("Only an owner can {doing} an owner.")));
    }
    Ok(())
}

/// Deactivate someone: they are signed out everywhere and their open links stop working;
/// nothing is deleted. Returns the person as they are now.
pub async fn deactivate(state: &App, org: OrgId, acting: &Acting, id: UserId) -> Result<Person, OpsError> {
    let target = person(state, org, id).await?;
    if target.status == Status::Deactivated {
        return Ok(target);
    }
    owners_only(acting, &target, "deactivate")?;
    keep_an_owner(state, org, &target).await?;
    let mut plan = Plan::new(org, acting.actor.clone());
    plan.changes.push(Change::SetStatus { id, before: target.status, after: Status::Deactivated });
    plan.report.deactivated = 1;
    apply(state, &plan).await?;
    person(state, org, id).await
}

/// Reactivate someone: active again if they had ever signed in, else invited.
pub async fn reactivate(state: &App, org: OrgId, acting: &Acting, id: UserId) -> Result<Person, OpsError> {
    let target = person(state, org, id).await?;
    if target.status != Status::Deactivated {
        return Ok(target);
    }
    owners_only(acting, &target, "reactivate")?;
    let after = if target.activated { Status::Active } else { Status::Invited };
    let mut plan = Plan::new(org, acting.actor.clone());
    plan.changes.push(Change::SetStatus { id, before: target.status, after });
    plan.report.reactivated = 1;
    apply(state, &plan).await?;
    person(state, org, id).await
}

/// Change someone's role. Making or unmaking an owner is an owner's decision, and the last
/// active owner stays one.
pub async fn set_role(state: &App, org: OrgId, acting: &Acting, id: UserId, role: Role) -> Result<Person, OpsError> {
    let target = person(state, org, id).await?;
    if target.role == role {
        return Ok(target);
    }
    owners_only(acting, &target, "change the role of")?;
    if role == Role::Owner && acting.role.is_some_and(|r| r != Role::Owner) {
        return Err(OpsError::Invalid("Only an owner can make someone an owner.".into()));
    }
    keep_an_owner(state, org, &target).await?;
    let mut plan = Plan::new(org, acting.actor.clone());
    plan.changes.push(Change::SetRole { id, before: target.role, after: role });
    plan.report.updated = 1;
    apply(state, &plan).await?;
    person(state, org, id).await
}
