//! Team managers, and the effective manager they give the people of a team.

use super::OpsError;
use crate::App;
use roster_core::managers::{ManagerSource, TeamManagers};
use roster_core::{Actor, Email, OrgId, Person, Status, TeamId, UserId};

/// Make the people with these addresses exactly the team's managers (an empty list clears
/// them). Deactivated people cannot manage.
pub async fn set_managers(state: &App, org: OrgId, actor: &Actor, team: TeamId, addresses: &[String]) -> Result<(), OpsError> {
    state.store.team(org, team).await?.ok_or(OpsError::NotFound)?;
    let mut managers = Vec::new();
    for address in addresses.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        let email = Email::parse(address).map_err(|_| OpsError::Invalid(format!("{address} is not an e-mail address.")))?;
        let person =
            state.store.person_by_email(org, &email).await?.ok_or_else(|| OpsError::Invalid(format!("Nobody here has the address {email}.")))?;
        managers.push(person.id);
    }
    set_manager_ids(state, org, actor, team, &managers).await
}

/// Make these people exactly the team's managers (by id).
pub async fn set_manager_ids(state: &App, org: OrgId, actor: &Actor, team: TeamId, ids: &[UserId]) -> Result<(), OpsError> {
    state.store.team(org, team).await?.ok_or(OpsError::NotFound)?;
    let mut managers = Vec::new();
    for id in ids {
        let person = state.store.person(org, *id).await?.ok_or_else(|| OpsError::Invalid(format!("Nobody here has the id {id}.")))?;
        if person.status == Status::Deactivated {
            return Err(OpsError::Invalid(format!("{} is deactivated: reactivate them before making them a manager.", person.email)));
        }
        if !managers.contains(id) {
            managers.push(*id);
        }
    }
    Ok(state.store.set_team_managers(org, team, &managers, actor, state.clock.now()).await?)
}

/// Every team's managers, deactivated people left out: what resolves effective managers.
pub async fn resolver(state: &App, org: OrgId) -> Result<TeamManagers, OpsError> {
    let teams = state.store.team_list(org).await?;
    let pairs = state.store.team_managers(org).await?;
    let mut active = Vec::with_capacity(pairs.len());
    for (team, manager) in pairs {
        if state.store.person(org, manager).await?.is_some_and(|p| p.status != Status::Deactivated) {
            active.push((team, manager));
        }
    }
    Ok(TeamManagers::new(&teams, active))
}

/// A person's effective manager and where it comes from.
pub async fn effective_manager(state: &App, org: OrgId, person: &Person) -> Result<Option<(Person, ManagerSource)>, OpsError> {
    let Some((id, source)) = resolver(state, org).await?.effective(person) else { return Ok(None) };
    Ok(state.store.person(org, id).await?.map(|manager| (manager, source)))
}

/// Where an effective manager comes from, in words, naming the team.
pub async fn describe_source(state: &App, org: OrgId, source: ManagerSource) -> Result<String, OpsError> {
    let team_name =
        |team: TeamId| async move { state.store.team(org, team).await.map(|t| t.map_or_else(|| team.to_string(), |t| t.name.to_string())) };
    Ok(match source {
        ManagerSource::Override => "their own manager".to_owned(),
        ManagerSource::PrimaryTeam(team) => format!("a manager of their team {}", team_name(team).await?),
        ManagerSource::ParentTeam(team) => format!("a manager of {}, above their team", team_name(team).await?),
    })
}
