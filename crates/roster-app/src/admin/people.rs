//! A person's access as owners and admins change it: deactivate (signed out everywhere, their
//! open links void), reactivate, and change the role. The organisation always keeps an active
//! owner, and only an owner makes or unmakes owners.

use super::{apply, OpsError};
use crate::App;
use roster_core::plan::{Change, NewPerson};
use roster_core::query::{PersonFilter, PersonQuery};
use roster_core::{Actor, Email, OrgId, Person, Plan, Profile, Role, Status, TeamId, UserId};

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

/// What one request changes about a person; `None` leaves a part as it is. Every part is
/// checked before anything is written, and the whole is applied as one plan, so a refused part
/// changes nothing.
#[derive(Debug, Clone, Default)]
pub struct PersonChanges {
    pub email: Option<String>,
    pub profile: Option<ProfileEdit>,
    pub role: Option<Role>,
    /// `Some(false)` deactivates, `Some(true)` reactivates.
    pub active: Option<bool>,
    /// `Some(None)` clears the override manager.
    pub manager: Option<Option<UserId>>,
    pub primary_team: Option<Option<TeamId>>,
    pub secondary_teams: Option<Vec<TeamId>>,
}

/// Apply `changes` to someone with the pages' rules: provisioned fields stay with their
/// connection, only owners touch owners, the organisation keeps an active owner, a manager
/// chain never loops. Returns the person as they are now.
pub async fn update(state: &App, org: OrgId, acting: &Acting, id: UserId, changes: &PersonChanges) -> Result<Person, OpsError> {
    let target = person(state, org, id).await?;
    let mut plan = Plan::new(org, acting.actor.clone());
    if let Some(raw) = &changes.email {
        not_provisioned(state, org, &target, "e-mail address").await?;
        let email = Email::parse(raw.trim()).map_err(|_| OpsError::Invalid(format!("{} is not an e-mail address.", raw.trim())))?;
        if email != target.email {
            if state.store.person_by_email(org, &email).await?.is_some_and(|p| p.id != id) {
                return Err(OpsError::Conflict(format!("Someone here has the address {email} already.")));
            }
            plan.changes.push(Change::ChangeEmail { id, before: target.email.clone(), after: email });
        }
    }
    if let Some(edit) = &changes.profile {
        not_provisioned(state, org, &target, "profile").await?;
        let after = edited_profile(&target.profile, edit)?;
        if after != target.profile {
            plan.changes.push(Change::UpdateProfile { id, before: Box::new(target.profile.clone()), after: Box::new(after) });
        }
    }
    if let Some(role) = changes.role.filter(|r| *r != target.role) {
        owners_only(acting, &target, "change the role of")?;
        if role == Role::Owner && acting.role.is_some_and(|r| r != Role::Owner) {
            return Err(OpsError::Invalid("Only an owner can make someone an owner.".into()));
        }
        keep_an_owner(state, org, &target).await?;
        plan.changes.push(Change::SetRole { id, before: target.role, after: role });
    }
    if let Some(team) = changes.primary_team {
        not_provisioned(state, org, &target, "team").await?;
        if let Some(team) = team {
            state.store.team(org, team).await?.ok_or_else(|| OpsError::Invalid(format!("Team {team} does not exist.")))?;
        }
        if team != target.primary_team {
            plan.changes.push(Change::SetPrimaryTeam { id, before: target.primary_team, after: team });
        }
    }
    if let Some(teams) = &changes.secondary_teams {
        not_provisioned(state, org, &target, "teams").await?;
        let known: Vec<TeamId> = state.store.team_list(org).await?.into_iter().map(|t| t.id).collect();
        if let Some(unknown) = teams.iter().find(|t| !known.contains(t)) {
            return Err(OpsError::Invalid(format!("Team {unknown} does not exist.")));
        }
        let primary = changes.primary_team.unwrap_or(target.primary_team);
        let wanted: Vec<TeamId> = teams.iter().copied().filter(|t| Some(*t) != primary).collect();
        for team in wanted.iter().filter(|t| !target.secondary_teams.contains(t)) {
            plan.changes.push(Change::AddSecondaryTeam { id, team: *team });
        }
        for team in target.secondary_teams.iter().filter(|t| !wanted.contains(t)) {
            plan.changes.push(Change::RemoveSecondaryTeam { id, team: *team });
        }
    }
    if let Some(manager) = changes.manager {
        not_provisioned(state, org, &target, "manager").await?;
        if let Some(manager) = manager {
            no_loop(state, org, &target, manager).await?;
        }
        if manager != target.manager {
            plan.changes.push(Change::SetManager { id, before: target.manager, after: manager });
        }
    }
    if !plan.changes.is_empty() {
        plan.report.updated = 1;
    }
    match changes.active {
        Some(false) if target.status != Status::Deactivated => {
            owners_only(acting, &target, "deactivate")?;
            keep_an_owner(state, org, &target).await?;
            plan.changes.push(Change::SetStatus { id, before: target.status, after: Status::Deactivated });
            plan.report.deactivated = 1;
        }
        Some(true) if target.status == Status::Deactivated => {
            owners_only(acting, &target, "reactivate")?;
            let after = if target.activated { Status::Active } else { Status::Invited };
            plan.changes.push(Change::SetStatus { id, before: target.status, after });
            plan.report.reactivated = 1;
        }
        _ => {}
    }
    if plan.changes.is_empty() {
        return Ok(target);
    }
    apply(state, &plan).await?;
    person(state, org, id).await
}

/// Deactivate someone: they are signed out everywhere and their open links stop working;
/// nothing is deleted. Returns the person as they are now.
pub async fn deactivate(state: &App, org: OrgId, acting: &Acting, id: UserId) -> Result<Person, OpsError> {
    update(state, org, acting, id, &PersonChanges { active: Some(false), ..Default::default() }).await
}

/// Reactivate someone: active again if they had ever signed in, else invited.
pub async fn reactivate(state: &App, org: OrgId, acting: &Acting, id: UserId) -> Result<Person, OpsError> {
    update(state, org, acting, id, &PersonChanges { active: Some(true), ..Default::default() }).await
}

/// Change someone's role. Making or unmaking an owner is an owner's decision, and the last
/// active owner stays one.
pub async fn set_role(state: &App, org: OrgId, acting: &Acting, id: UserId, role: Role) -> Result<Person, OpsError> {
    update(state, org, acting, id, &PersonChanges { role: Some(role), ..Default::default() }).await
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

impl ProfileEdit {
    /// The form a profile is edited in, filled with what it holds now.
    pub fn of(profile: &Profile) -> ProfileEdit {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        ProfileEdit {
            first_name: profile.first_name.clone(),
            last_name: profile.last_name.clone(),
            job_title: text(&profile.job_title),
            department: text(&profile.department),
            location: text(&profile.location),
            language: text(&profile.language),
            hire_date: profile.hire_date.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

/// How long a profile field may be.
const LONGEST_FIELD: usize = 200;

fn optional(value: &str, what: &str) -> Result<Option<String>, OpsError> {
    let value = value.trim();
    if value.chars().count() > LONGEST_FIELD {
        return Err(OpsError::Invalid(format!("The {what} has more than {LONGEST_FIELD} characters.")));
    }
    if super::has_control(value) {
        return Err(OpsError::Invalid(format!("The {what} holds a control character.")));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// The profile an edit makes, checked; custom fields stay as they are.
fn edited_profile(current: &Profile, edit: &ProfileEdit) -> Result<Profile, OpsError> {
    let first_name = optional(&edit.first_name, "first name")?.ok_or_else(|| OpsError::Invalid("Give a first name.".into()))?;
    let last_name = optional(&edit.last_name, "last name")?.unwrap_or_default();
    let hire_date = match edit.hire_date.trim() {
        "" => None,
        text => Some(chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| OpsError::Invalid("The hire date must be YYYY-MM-DD.".into()))?),
    };
    Ok(Profile {
        first_name,
        last_name,
        job_title: optional(&edit.job_title, "job title")?,
        department: optional(&edit.department, "department")?,
        location: optional(&edit.location, "location")?,
        language: optional(&edit.language, "language")?,
        hire_date,
        custom_fields: current.custom_fields.clone(),
    })
}

/// Edit the profile of someone no connection provisions (a connection's next run would
/// overwrite what is typed here, so its people are changed at the source).
pub async fn update_profile(state: &App, org: OrgId, acting: &Acting, id: UserId, edit: &ProfileEdit) -> Result<Person, OpsError> {
    update(state, org, acting, id, &PersonChanges { profile: Some(edit.clone()), ..Default::default() }).await
}

/// Refuses a change to someone a connection provisions: its next run would undo it.
async fn not_provisioned(state: &App, org: OrgId, target: &Person, what: &str) -> Result<(), OpsError> {
    if let Some(link) = &target.source {
        let owner = state.store.connection(org, link.connection).await?.map_or_else(|| "a connection".to_owned(), |c| c.name);
        return Err(OpsError::Invalid(format!("{owner} provisions {}: change their {what} there, or its next run undoes the change.", target.email)));
    }
    Ok(())
}

/// Refuses a manager who reports to `target` already, directly or not: a chain never loops.
async fn no_loop(state: &App, org: OrgId, target: &Person, manager: UserId) -> Result<(), OpsError> {
    let found = manager_here(state, org, manager).await?;
    let mut cursor = Some(found.id);
    for _ in 0..10_000 {
        let Some(current) = cursor else { break };
        if current == target.id {
            return Err(OpsError::Invalid(format!("{} reports to {} already, directly or not: that would make a loop.", found.email, target.email)));
        }
        cursor = state.store.person(org, current).await?.and_then(|p| p.manager);
    }
    Ok(())
}

/// The person a manager id names; an unknown one is the request's mistake, not a missing page.
async fn manager_here(state: &App, org: OrgId, manager: UserId) -> Result<Person, OpsError> {
    person(state, org, manager).await.map_err(|e| match e {
        OpsError::NotFound => OpsError::Invalid(format!("Nobody here has the id {manager}.")),
        other => other,
    })
}

/// Set or clear someone's override manager (by e-mail address). A manager chain never loops.
pub async fn set_manager(state: &App, org: OrgId, acting: &Acting, id: UserId, manager: Option<&str>) -> Result<Person, OpsError> {
    let manager = match manager.map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(address) => {
            let email = Email::parse(address).map_err(|_| OpsError::Invalid(format!("{address} is not an e-mail address.")))?;
            let found =
                state.store.person_by_email(org, &email).await?.ok_or_else(|| OpsError::Invalid(format!("Nobody here has the address {email}.")))?;
            Some(found.id)
        }
    };
    update(state, org, acting, id, &PersonChanges { manager: Some(manager), ..Default::default() }).await
}

/// Set or clear someone's primary team.
pub async fn set_primary_team(state: &App, org: OrgId, acting: &Acting, id: UserId, team: Option<TeamId>) -> Result<Person, OpsError> {
    update(state, org, acting, id, &PersonChanges { primary_team: Some(team), ..Default::default() }).await
}

/// Set someone's secondary teams to exactly `teams` (their primary team is not among them).
pub async fn set_secondary_teams(state: &App, org: OrgId, acting: &Acting, id: UserId, teams: &[TeamId]) -> Result<Person, OpsError> {
    update(state, org, acting, id, &PersonChanges { secondary_teams: Some(teams.to_vec()), ..Default::default() }).await
}

/// Someone an admin adds by hand (the API's create): not provisioned by any connection.
#[derive(Debug, Clone)]
pub struct NewPersonForm {
    pub email: String,
    pub profile: ProfileEdit,
    pub role: Role,
    pub primary_team: Option<TeamId>,
    pub secondary_teams: Vec<TeamId>,
    pub manager: Option<UserId>,
    /// Send the invitation e-mail now.
    pub invite: bool,
}

/// Add someone by hand, invited (they have not set a password yet). Only an owner adds an
/// owner; an address already here is a conflict. Returns the person as created.
pub async fn create(state: &App, org: OrgId, acting: &Acting, form: &NewPersonForm) -> Result<Person, OpsError> {
    let email = Email::parse(form.email.trim()).map_err(|_| OpsError::Invalid(format!("{} is not an e-mail address.", form.email.trim())))?;
    if state.store.person_by_email(org, &email).await?.is_some() {
        return Err(OpsError::Conflict(format!("Someone here has the address {email} already.")));
    }
    if form.role == Role::Owner && acting.role.is_some_and(|r| r != Role::Owner) {
        return Err(OpsError::Invalid("Only an owner can make someone an owner.".into()));
    }
    let id = UserId::from_uuid(uuid::Uuid::now_v7());
    let profile = edited_profile(&Profile::default(), &form.profile)?;
    let known: Vec<TeamId> = state.store.team_list(org).await?.into_iter().map(|t| t.id).collect();
    if let Some(unknown) = form.primary_team.iter().chain(&form.secondary_teams).find(|t| !known.contains(t)) {
        return Err(OpsError::Invalid(format!("Team {unknown} does not exist.")));
    }
    if let Some(manager) = form.manager {
        // Someone new has nobody reporting to them yet: only the manager's existence is in question.
        manager_here(state, org, manager).await?;
    }
    let mut plan = Plan::new(org, acting.actor.clone());
    let name = format!("{} {}", profile.first_name, profile.last_name).trim().to_owned();
    plan.changes.push(Change::CreatePerson {
        person: Box::new(NewPerson {
            id,
            email: email.clone(),
            profile,
            role: form.role,
            status: Status::Invited,
            primary_team: form.primary_team,
            source: None,
        }),
    });
    for team in form.secondary_teams.iter().filter(|t| Some(**t) != form.primary_team) {
        plan.changes.push(Change::AddSecondaryTeam { id, team: *team });
    }
    if form.manager.is_some() {
        plan.changes.push(Change::SetManager { id, before: None, after: form.manager });
    }
    if form.invite {
        plan.changes.push(Change::Invite { id, email, name });
    }
    plan.report.created = 1;
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
