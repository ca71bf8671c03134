//! The admin actions the pages, the API and the command line share: organisations, people's
//! invitations, teams, API keys, CSV import and SCIM tokens. Each builds a plan (through the
//! reconciler for sources, directly for admin edits) and hands it to the store, so every change
//! is applied, audited and announced the same way.

pub mod bulk;
pub mod people;
pub mod scim_tokens;
pub mod sso;
pub mod teams;

use crate::provision::{Batch, ProvisionError, Provisioner, Reading};
use crate::secrets::password::{generate_password, hash_password, random_token};
use crate::App;
use roster_core::csv_import::{self, CsvError};
use roster_core::guard::Guard;
use roster_core::plan::{Change, NewPerson, RecordIssue};
use roster_core::reconcile::{Invitations, Policy, Scope};
use roster_core::secret::token_digest;
use roster_core::team::creates_cycle;
use roster_core::{Actor, Email, Org, OrgId, OrgSlug, Person, Plan, Profile, Role, RunReport, Status, TeamId, TeamName, UserId};
use roster_store::{ApiKeyInfo, NewApiKey, StoreError};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// The action would have consequences the admin has not confirmed; this says which.
    #[error("{0}")]
    Unconfirmed(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OpsError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { message, .. } => OpsError::Conflict(message),
            StoreError::Invalid(message) => OpsError::Invalid(message),
            StoreError::NotFound(_) => OpsError::NotFound,
            other => OpsError::Store(other),
        }
    }
}

/// Apply an admin's plan (single changes they chose, not records to reconcile) through the
/// one provisioner; a plan with nothing in it writes nothing.
async fn apply(state: &App, plan: &Plan) -> Result<(), OpsError> {
    if !plan.is_empty() {
        Provisioner::new(state).apply(plan).await?;
    }
    Ok(())
}

pub struct NewOrg {
    pub org: Org,
    pub owner: Person,
    /// Shown once to whoever created the organisation.
    pub owner_password: String,
}

/// Create an organisation with its first owner, who can sign in with the returned password.
pub async fn create_org(state: &App, slug: &str, name: &str, owner_email: &str) -> Result<NewOrg, OpsError> {
    let slug = OrgSlug::parse(slug).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let email = Email::parse(owner_email).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || has_control(name) {
        return Err(OpsError::Invalid("an organisation name needs 1 to 200 characters, none of them control characters".into()));
    }
    let now = state.clock.now();
    let org = Org { id: OrgId::from_uuid(uuid::Uuid::now_v7()), slug, name: name.to_owned(), created_at: now };
    state.store.create_org(&org).await?;

    let id = UserId::from_uuid(uuid::Uuid::now_v7());
    // `split` always yields a first piece: the default is unreachable.
    let local = email.as_str().split('@').next().unwrap_or_default();
    let profile = Profile { first_name: capitalise(local), last_name: String::new(), ..Profile::default() };
    let mut plan = Plan::new(org.id, Actor::Cli);
    plan.changes.push(Change::CreatePerson {
        person: Box::new(NewPerson { id, email, profile, role: Role::Owner, status: Status::Invited, primary_team: None, source: None }),
    });
    apply(state, &plan).await?;
    let owner_password = generate_password();
    let hash = hash_password(&owner_password).map_err(|e| OpsError::Invalid(e.to_string()))?;
    state.store.set_password(org.id, id, &hash, now).await?;
    let owner = state.store.person(org.id, id).await?.ok_or(OpsError::NotFound)?;
    Ok(NewOrg { org, owner, owner_password })
}

/// A name holding a control character (NUL, escape, a line break...) is refused everywhere,
/// so both backends store the same names.
pub fn has_control(name: &str) -> bool {
    name.chars().any(char::is_control)
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Give an existing owner a new password (the demo prints it on every start).
pub async fn reset_password(state: &App, org: OrgId, person: UserId) -> Result<String, OpsError> {
    let password = generate_password();
    let hash = hash_password(&password).map_err(|e| OpsError::Invalid(e.to_string()))?;
    state.store.set_password(org, person, &hash, state.clock.now()).await?;
    Ok(password)
}

pub struct ImportOutcome {
    pub report: RunReport,
    pub applied: bool,
    /// Every change of the plan: what was applied, or for a dry run what would be.
    pub changes: Vec<roster_core::Change>,
}

/// Import a CSV file: every row checked, then one plan applied (or only shown, for a dry run).
/// Any row error, or any problem the reconciler finds, and nothing is applied. Parsing and
/// planning are pure and can be heavy (a large file), so they run on the blocking pool.
pub async fn import_csv(
    state: &App,
    org: OrgId,
    actor: Actor,
    bytes: impl Into<Vec<u8>>,
    invitations: Invitations,
    dry_run: bool,
) -> Result<ImportOutcome, OpsError> {
    let bytes = bytes.into();
    let mut rows = off_the_workers(move || csv_import::parse(&bytes).map_err(OpsError::from)).await?;
    // Taken, not copied: a large file's rows are the biggest thing an import holds.
    let records = std::mem::take(&mut rows.people);
    let policy = Policy { connection: None, scope: Scope::Partial, invitations, manage_managers: true, ownership: rows.ownership() };
    // Every deactivation in a file is a row the admin wrote, previewed by a dry run.
    let batch = Batch { org, actor, records, policy, reading: Reading::Whole, guard: Guard::Explicit };
    let provisioner = Provisioner::new(state);
    let planned = if dry_run {
        provisioner.plan(std::sync::Arc::new(batch)).await.map(|p| p.plan)
    } else {
        provisioner.run(batch, |plan| plan.report.issues.is_empty()).await
    };
    let plan = match planned {
        Ok(plan) if plan.report.issues.is_empty() => plan,
        Ok(plan) => return Err(OpsError::Csv(CsvError::Rows(plan.report.issues))),
        Err(ProvisionError::Refused(plan)) => return Err(OpsError::Csv(CsvError::Rows(plan.report.issues))),
        Err(held @ ProvisionError::Held(_)) => return Err(OpsError::Invalid(held.to_string())),
        Err(ProvisionError::Store(error)) => return Err(error.into()),
    };
    Ok(ImportOutcome { report: plan.report, applied: !dry_run, changes: plan.changes })
}

/// Run heavy pure work on the blocking pool, so the async workers keep serving everyone else.
async fn off_the_workers<T: Send + 'static>(work: impl FnOnce() -> Result<T, OpsError> + Send + 'static) -> Result<T, OpsError> {
    tokio::task::spawn_blocking(work).await.map_err(|_| OpsError::Invalid("the import stopped unexpectedly; try again".into()))?
}

/// Send (or resend) a person's invitation. Deactivated people and people who already set a
/// password are not invited.
pub async fn invite(state: &App, org: OrgId, actor: Actor, person: UserId) -> Result<(), OpsError> {
    let person = state.store.person(org, person).await?.ok_or(OpsError::NotFound)?;
    if person.status == Status::Deactivated {
        return Err(OpsError::Invalid(format!("{} is deactivated; reactivate them before inviting", person.email)));
    }
    if person.activated {
        return Err(OpsError::Invalid(format!("{} has already set a password", person.email)));
    }
    let mut plan = Plan::new(org, actor);
    plan.changes.push(Change::Invite { id: person.id, email: person.email.clone(), name: person.display_name() });
    apply(state, &plan).await
}

fn team_name(raw: &str) -> Result<TeamName, OpsError> {
    TeamName::parse(raw).map_err(|e| OpsError::Invalid(e.to_string()))
}

pub async fn create_team(state: &App, org: OrgId, actor: Actor, name: &str, parent: Option<TeamId>) -> Result<TeamId, OpsError> {
    let name = team_name(name)?;
    let teams = state.store.team_list(org).await?;
    if teams.iter().any(|t| t.name.key() == name.key()) {
        return Err(OpsError::Conflict(format!("a team named '{name}' exists already")));
    }
    if parent.is_some_and(|p| !teams.iter().any(|t| t.id == p)) {
        return Err(OpsError::Invalid("the parent team does not exist".into()));
    }
    let id = TeamId::from_uuid(uuid::Uuid::now_v7());
    let mut plan = Plan::new(org, actor);
    plan.changes.push(Change::CreateTeam { id, name });
    if parent.is_some() {
        plan.changes.push(Change::SetTeamParent { id, before: None, after: parent });
    }
    apply(state, &plan).await?;
    Ok(id)
}

/// Rename a team and set its parent; a parent that would make a loop is refused.
pub async fn update_team(state: &App, org: OrgId, actor: Actor, id: TeamId, name: &str, parent: Option<TeamId>) -> Result<(), OpsError> {
    let name = team_name(name)?;
    let teams = state.store.team_list(org).await?;
    let team = teams.iter().find(|t| t.id == id).ok_or(OpsError::NotFound)?.clone();
    if teams.iter().any(|t| t.id != id && t.name.key() == name.key()) {
        return Err(OpsError::Conflict(format!("a team named '{name}' exists already")));
    }
    if let Some(parent) = parent {
        if !teams.iter().any(|t| t.id == parent) {
            return Err(OpsError::Invalid("the parent team does not exist".into()));
        }
        let parents: HashMap<TeamId, TeamId> = teams.iter().filter_map(|t| t.parent.map(|p| (t.id, p))).collect();
        if creates_cycle(id, parent, |t| parents.get(&t).copied()) {
            return Err(OpsError::Invalid(format!("'{name}' cannot sit below one of its own sub-teams")));
        }
    }
    let mut plan = Plan::new(org, actor);
    if team.name != name {
        plan.changes.push(Change::RenameTeam { id, before: team.name.clone(), after: name });
    }
    if team.parent != parent {
        plan.changes.push(Change::SetTeamParent { id, before: team.parent, after: parent });
    }
    apply(state, &plan).await
}

pub struct CreatedKey {
    pub info: ApiKeyInfo,
    /// Shown once; only its digest is stored.
    pub raw: String,
}

/// Delete a team: an empty one as it is; with `into`, a merge that moves its people, its teams
/// and its SCIM group there first. Returns how many people moved.
pub async fn delete_team(state: &App, org: OrgId, actor: &Actor, team: TeamId, into: Option<TeamId>) -> Result<u64, OpsError> {
    Ok(state.store.delete_team(org, team, into, actor, state.clock.now()).await?)
}

/// A key with every scope.
pub async fn create_api_key(state: &App, org: OrgId, name: &str, by: Option<UserId>) -> Result<CreatedKey, OpsError> {
    create_scoped_api_key(state, org, name, by, &roster_store::ApiScope::ALL).await
}

/// A key that may do only what `scopes` allow.
pub async fn create_scoped_api_key(
    state: &App,
    org: OrgId,
    name: &str,
    by: Option<UserId>,
    scopes: &[roster_store::ApiScope],
) -> Result<CreatedKey, OpsError> {
    if scopes.is_empty() {
        return Err(OpsError::Invalid("an API key needs at least one scope (read, write, events)".into()));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || has_control(name) {
        return Err(OpsError::Invalid("an API key's name needs 1 to 100 characters, none of them control characters".into()));
    }
    let raw = format!("rk_{}", random_token());
    let key = NewApiKey {
        org,
        name: name.to_owned(),
        scopes: scopes.to_vec(),
        digest: token_digest(&raw),
        prefix: raw.chars().take(10).collect(),
        created_by: by,
        created_at: state.clock.now(),
    };
    let info = state.store.create_api_key(&key).await?;
    Ok(CreatedKey { info, raw })
}

/// The issues of a failed import, for display.
pub fn import_issues(err: &OpsError) -> Vec<RecordIssue> {
    match err {
        OpsError::Csv(CsvError::Rows(issues)) => issues.clone(),
        _ => Vec::new(),
    }
}
