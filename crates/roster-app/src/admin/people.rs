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

/// What an admin types into a person's profile; empty optional fields clear them.
#[derive(Debug, Clone, Default)]
pub struct ProfileEdit {
    pub first_name: String,
    pub last_name: String,
    pub job_title: String,
    pub department: String,
    pub location: String,
    pub language: String,
    /// `YYYY-MM-DD`, or empty.
    pub hire_date: String,
}

/// How long a profile field may be.
const LONGEST_FIELD: usize = 200;

fn optional(value: &str, what: &str) -> Result<Option<String>, OpsError> {
    let value = value.trim();
    if value.chars().count() > LONGEST_FIELD {
        return Err(OpsError::Invalid(format!("The {what} has more than {LONGEST_FIELD} characters.")));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// Edit the profile of someone no connection provisions (a connection's next run would
/// overwrite what is typed here, so its people are changed at the source).
pub async fn update_profile(state: &App, org: OrgId, acting: &Acting, id: UserId, edit: &ProfileEdit) -> Result<Person, OpsError> {
    let target = person(state, org, id).await?;
    not_provisioned(state, org, &target, "profile").await?;
    let first_name = optional(&edit.first_name, "first name")?.ok_or_else(|| OpsError::Invalid("Give a first name.".into()))?;
    let last_name = optional(&edit.last_name, "last name")?.unwrap_or_default();
    let hire_date = match edit.hire_date.trim() {
        "" => None,
        text => Some(chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| OpsError::Invalid("The hire date must be YYYY-MM-DD.".into()))?),
    };
    let after = roster_core::Profile {
        first_name,
        last_name,
        job_title: optional(&edit.job_title, "job title")?,
        department: optional(&edit.department, "department")?,
        location: optional(&edit.location, "location")?,
        language: optional(&edit.language, "language")?,
        hire_date,
        custom_fields: target.profile.custom_fields.clone(),
    };
    if after == target.profile {
        return Ok(target);
    }
    let mut plan = Plan::new(org, acting.actor.clone());
    plan.changes.push(Change::UpdateProfile { id, before: Box::new(target.profile.clone()), after: Box::new(after) });
    plan.report.updated = 1;
    apply(state, &plan).await?;
    person(state, org, id).await
}

/// Refuses a change to someone a connection provisions: its next run would undo it.
async fn not_provisioned(state: &App, org: OrgId, target: &Person, what: &str) -> Result<(), OpsError> {
    if let Some(link) = &target.source {
        let owner = state.store.connection(org, link.connection).await?.map_or_else(|| "a connection".to_owned(), |c| c.name);
        return Err(OpsError::Invalid(format!("{owner} provisions {}: change their {what} there, or its next run undoes the change.", target.email)));
    }
    Ok(())
}

/// Set or clear someone's override manager (by e-mail address). A manager chain never loops.
pub async fn set_manager(state: &App, org: OrgId, acting: &Acting, id: UserId, manager: Option<&str>) -> Result<Person, OpsError> {
    let target = person(state, org, id).await?;
    not_provisioned(state, org, &target, "manager").await?;
    let after = match manager.map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(address) => {
            let email = roster_core::Email::parse(address).map_err(|_| OpsError::Invalid(format!("{address} is not an e-mail address.")))?;
            let found =
                state.store.person_by_email(org, &email).await?.ok_or_else(|| OpsError::Invalid(format!("Nobody here has the address {email}.")))?;
            // Up the new manager's chain: meeting this person would make a loop.
            let mut cursor = Some(found.id);
            for _ in 0..10_000 {
                let Some(current) = cursor else { break };
                if current == id {
                    return Err(OpsError::Invalid(format!(
                        "{} reports to {} already, directly or not: that would make a loop.",
                        found.email, target.email
                    )));
                }
                cursor = state.store.person(org, current).await?.and_then(|p| p.manager);
            }
            Some(found.id)
        }
    };
    if after == target.manager {
        return Ok(target);
    }
    let mut plan = Plan::new(org, acting.actor.clone());
    plan.changes.push(Change::SetManager { id, before: target.manager, after });
    plan.report.updated = 1;
    apply(state, &plan).await?;
    person(state, org, id).await
}

/// Set or clear someone's primary team.
pub async fn set_primary_team(state: &App, org: OrgId, acting: &Acting, id: UserId, team: Option<roster_core::TeamId>) -> Result<Person, OpsError> {
    let target = person(state, org, id).await?;
    not_provisioned(state, org, &target, "team").await?;
    if let Some(team) = team {
        state.store.team(org, team).await?.ok_or_else(|| OpsError::Invalid("That team does not exist.".into()))?;
    }
    if team == target.primary_team {
        return Ok(target);
    }
    let mut plan = Plan::new(org, acting.actor.clone());
    plan.changes.push(Change::SetPrimaryTeam { id, before: target.primary_team, after: team });
    plan.report.updated = 1;
    apply(state, &plan).await?;
    person(state, org, id).await
}

/// Set someone's secondary teams to exactly `teams` (their primary team is not among them).
pub async fn set_secondary_teams(state: &App, org: OrgId, acting: &Acting, id: UserId, teams: &[roster_core::TeamId]) -> Result<Person, OpsError> {
    let target = person(state, org, id).await?;
    not_provisioned(state, org, &target, "teams").await?;
    let known: Vec<roster_core::TeamId> = state.store.team_list(org).await?.into_iter().map(|t| t.id).collect();
    if let Some(unknown) = teams.iter().find(|t| !known.contains(t)) {
        return Err(OpsError::Invalid(format!("Team {unknown} does not exist.")));
    }
    let wanted: Vec<roster_core::TeamId> = teams.iter().copied().filter(|t| Some(*t) != target.primary_team).collect();
    let mut plan = Plan::new(org, acting.actor.clone());
    for team in wanted.iter().filter(|t| !target.secondary_teams.contains(t)) {
        plan.changes.push(Change::AddSecondaryTeam { id, team: *team });
    }
    for team in target.secondary_teams.iter().filter(|t| !wanted.contains(t)) {
        plan.changes.push(Change::RemoveSecondaryTeam { id, team: *team });
    }
    if plan.changes.is_empty() {
        return Ok(target);
    }
    plan.report.updated = 1;
    apply(state, &plan).await?;
    person(state, org, id).await
}

/// Unlink someone from the connection that provisions them, so the pages may change them (and
/// erase them). Returns false when no connection provisions them.
pub async fn unlink(state: &App, org: OrgId, acting: &Acting, id: UserId) -> Result<bool, OpsError> {
    let target = person(state, org, id).await?;
    owners_only(acting, &target, "unlink")?;
    Ok(state.store.unlink_person(org, id, &acting.actor, state.clock.now()).await?)
}

/// Erase someone on request (data protection): their personal data is replaced by a
/// placeholder everywhere Roster holds it. Nobody a connection provisions is erased (its next
/// run would bring them back), and the organisation keeps an active owner. Returns the
/// placeholder address they now have.
pub async fn erase(state: &App, org: OrgId, acting: &Acting, id: UserId) -> Result<roster_core::Email, OpsError> {
    let target = person(state, org, id).await?;
    owners_only(acting, &target, "erase")?;
    keep_an_owner(state, org, &target).await?;
    if let Some(link) = &target.source {
        let owner = state.store.connection(org, link.connection).await?.map_or_else(|| "a connection".to_owned(), |c| c.name);
        return Err(OpsError::Invalid(format!(
            "{owner} provisions {}: remove them at the source, or unlink them here, before erasing them.",
            target.email
        )));
    }
    Ok(state.store.erase_person(org, id, &acting.actor, state.clock.now()).await?)
}
