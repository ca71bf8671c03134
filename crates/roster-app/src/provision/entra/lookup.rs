//! What an admin asks of an Entra connection beyond syncing: find the security group by name,
//! "why isn't this person here?" answered in words from what Entra and Roster's own records
//! say, and provisioning one person now, step by step.

use crate::admin::OpsError;
use crate::provision::entra::setup::graph_config;
use crate::provision::entra::sync::{extra_properties, one_record, EntraSettings};
use crate::provision::guard::RECENT_RUNS;
use crate::provision::{Batch, ProvisionError, Provisioner, Reading};
use crate::App;
use roster_core::guard::{Guard, GuardLimits};
use roster_core::ownership::Ownership;
use roster_core::reconcile::{Invitations, Policy, Scope};
use roster_core::{Actor, Connection, Email, Person, Status};
use roster_entra::{GraphClient, GraphUser, GroupRef};
use roster_store::{RunStatus, SyncRun};

fn client(state: &App, connection: &Connection) -> Result<GraphClient, OpsError> {
    GraphClient::new(graph_config(state, connection)?).map_err(|e| OpsError::Invalid(e.to_string()))
}

fn settings(connection: &Connection) -> Result<EntraSettings, OpsError> {
    EntraSettings::from_connection(connection).map_err(|e| OpsError::Invalid(e.to_string()))
}

fn graph_failed(error: roster_entra::GraphError) -> OpsError {
    OpsError::Invalid(error.to_string())
}

/// Security groups whose name has words starting with `term`, for the setup page's picker.
pub async fn search_groups(state: &App, connection: &Connection, term: &str) -> Result<Vec<GroupRef>, OpsError> {
    if term.trim().chars().count() < 2 {
        return Err(OpsError::Invalid("Type at least two letters of the group's name.".into()));
    }
    client(state, connection)?.search_groups(term).await.map_err(graph_failed)
}

/// One finding of "why isn't this person here?", in the admin's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether this finding explains a missing or deactivated person (the answer), or is
    /// background.
    pub decisive: bool,
    pub text: String,
}

impl Finding {
    fn answer(text: impl Into<String>) -> Self {
        Self { decisive: true, text: text.into() }
    }

    fn note(text: impl Into<String>) -> Self {
        Self { decisive: false, text: text.into() }
    }
}

/// What Roster found about someone an admin looked up.
pub struct Explanation {
    pub query: String,
    /// The person in Roster, when there is one.
    pub person: Option<Person>,
    /// The user in Entra, when there is one.
    pub user: Option<GraphUser>,
    pub findings: Vec<Finding>,
}

/// The Roster person a lookup names: by the address typed, else by the user's mail or UPN.
async fn roster_person(state: &App, connection: &Connection, query: &str, user: Option<&GraphUser>) -> Result<Option<Person>, OpsError> {
    let mut candidates = vec![query.to_owned()];
    if let Some(user) = user {
        candidates.extend(user.mail.iter().chain(user.user_principal_name.iter()).cloned());
    }
    let mut by_address = None;
    for candidate in candidates {
        let Ok(email) = Email::parse(&candidate) else { continue };
        if let Some(person) = state.store.person_by_email(connection.org, &email).await? {
            // The one linked to this user wins over a namesake.
            let linked = user.is_some_and(|u| person.source.as_ref().is_some_and(|s| s.external_id == u.id));
            if linked {
                return Ok(Some(person));
            }
            by_address.get_or_insert(person);
        }
    }
    Ok(by_address)
}

/// "Why isn't this person here?": asks Entra about `query` (a user principal name or object
/// id) and reads Roster's own records and recent runs, then says what it found.
pub async fn explain(state: &App, connection: &Connection, query: &str) -> Result<Explanation, OpsError> {
    let query = query.trim();
    if query.is_empty() {
        return Err(OpsError::Invalid("Type the person's user principal name (or Entra object ID).".into()));
    }
    let settings = settings(connection)?;
    let graph = client(state, connection)?;
    let mapping = settings.mapping();
    let user = graph.user(query, &extra_properties(&mapping)).await.map_err(graph_failed)?;
    let person = roster_person(state, connection, query, user.as_ref()).await?;
    let group = settings.group_name.clone().unwrap_or_else(|| settings.group_id.clone());
    let mut findings = Vec::new();

    match &person {
        None => findings.push(Finding::note(format!("Roster has nobody with the address {query}."))),
        Some(p) => {
            let linked = p.source.as_ref().is_some_and(|s| s.connection == connection.id);
            let how = if linked { "provisioned by this connection" } else { "not provisioned by this connection" };
            findings.push(Finding::note(format!("Roster has {} ({}), {}, {how}.", p.display_name(), p.email.as_str(), status_word(p.status))));
        }
    }
    let Some(user) = &user else {
        findings.push(Finding::answer(format!(
            "Entra has no user {query}. Look them up by their user principal name (which can differ from their e-mail address) or object ID."
        )));
        return Ok(Explanation { query: query.to_owned(), person, user: None, findings });
    };
    let name = user.display_name.clone().or_else(|| user.user_principal_name.clone()).unwrap_or_else(|| user.id.clone());
    findings.push(Finding::note(format!("Entra has {name} (object ID {}).", user.id)));

    let groups = graph.user_groups(&user.id).await.map_err(graph_failed)?;
    let in_scope = groups.iter().any(|g| g.id == settings.group_id);
    if in_scope {
        let nested: Vec<&str> = groups.iter().filter(|g| g.id != settings.group_id).map(|g| g.display_name.as_str()).collect();
        let through = if nested.is_empty() { String::new() } else { format!(" (they are also in {})", nested.join(", ")) };
        findings.push(Finding::note(format!("They are in the sync group {group}{through}.")));
    } else {
        let others: Vec<&str> = groups.iter().map(|g| g.display_name.as_str()).collect();
        let elsewhere = if others.is_empty() { "They are in no group at all.".to_owned() } else { format!("They are in {}.", others.join(", ")) };
        findings.push(Finding::answer(format!(
            "They are not in the sync group {group}, directly or through a nested group: add them to it in Entra. {elsewhere}"
        )));
    }
    if user.account_enabled == Some(false) {
        findings.push(Finding::answer("Their account is disabled in Entra (accountEnabled is false), so Roster keeps them deactivated."));
    }
    if let Err(error) = one_record(user.clone(), &mapping, None) {
        findings.push(Finding::answer(format!("Roster cannot read them: {error}.")));
    }
    let recent = state.store.sync_runs(connection.org, connection.id, RECENT_RUNS).await?;
    findings.extend(from_runs(&recent, user, person.as_ref()));
    if person.as_ref().is_some_and(|p| p.is_protected_from_connections()) {
        findings.push(Finding::answer(
            "They are an owner or admin protected from connections: no connection changes them unless an owner allows it on their page.",
        ));
    }
    if !findings.iter().any(|f| f.decisive) {
        findings.push(Finding::note("Nothing stops them from being provisioned: the next sync brings them in line, or provision them now."));
    }
    Ok(Explanation { query: query.to_owned(), person, user: Some(user.clone()), findings })
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Deactivated => "deactivated",
        Status::Invited => "invited",
        _ => "active",
    }
}

/// What recent runs said of the user: a hold that names them, an issue that skipped them.
fn from_runs(recent: &[SyncRun], user: &GraphUser, person: Option<&Person>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let held = recent.iter().find(|r| r.status == RunStatus::Held || r.status == RunStatus::Rejected);
    if let (Some(run), Some(person)) = (held, person) {
        let named = run.report.as_ref().is_some_and(|r| r.would_deactivate.iter().any(|w| w.id == person.id));
        if named {
            findings.push(Finding::answer(format!(
                "The run of {} would deactivate them, and was {} by the deactivation guard.",
                run.queued_at.format("%Y-%m-%d %H:%M"),
                if run.status == RunStatus::Held { "held" } else { "held, then rejected" }
            )));
        }
    }
    let latest = recent.iter().find(|r| r.status.is_finished() && r.status != RunStatus::Previewed);
    if let Some(issue) = latest.and_then(|r| r.report.as_ref()).and_then(|r| r.issues.iter().find(|i| i.record.contains(&user.id))) {
        findings.push(Finding::answer(format!("The latest run skipped them: {}", issue.message)));
    }
    if let Some(run) = latest.filter(|r| r.status == RunStatus::Failed) {
        findings.push(Finding::answer(format!("The latest run failed and changed nobody: {}", run.error.clone().unwrap_or_default())));
    }
    findings
}

/// One step of provisioning a person on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub what: String,
    pub ok: bool,
}

/// What provisioning one person on demand did.
pub struct OnDemand {
    pub steps: Vec<Step>,
}

/// Syncs one user now: reads them from Entra, checks they are in the sync group, maps them as a
/// sync would and applies what the one provisioner plans for them, guarded like any run. A
/// user outside the group is left alone (the next full sync decides), so a mistyped name can
/// deactivate nobody.
pub async fn provision_one(state: &App, connection: &Connection, query: &str, actor: &Actor) -> Result<OnDemand, OpsError> {
    if !connection.enabled {
        return Err(OpsError::Invalid("The connection is disabled: enable it first.".into()));
    }
    // One run per connection: what this reads from Entra is applied before any other run reads.
    let wait = std::time::Duration::from_secs(10);
    let Some(lock) = crate::provision::entra::live::lock_connection(state, connection.id, wait).await? else {
        return Err(OpsError::Conflict("A sync of this connection is running: try again when it has finished.".into()));
    };
    let result = provision_locked(state, connection, query, actor).await;
    lock.release(state).await;
    result
}

async fn provision_locked(state: &App, connection: &Connection, query: &str, actor: &Actor) -> Result<OnDemand, OpsError> {
    let settings = settings(connection)?;
    let graph = client(state, connection)?;
    let mapping = settings.mapping();
    let mut steps = Vec::new();
    let step = |steps: &mut Vec<Step>, ok: bool, what: String| steps.push(Step { what, ok });
    let Some(user) = graph.user(query.trim(), &extra_properties(&mapping)).await.map_err(graph_failed)? else {
        step(&mut steps, false, format!("Entra has no user {}.", query.trim()));
        return Ok(OnDemand { steps });
    };
    let upn = user.user_principal_name.clone().unwrap_or_else(|| user.id.clone());
    step(&mut steps, true, format!("Read {upn} from Entra (object ID {}).", user.id));
    let groups = graph.user_groups(&user.id).await.map_err(graph_failed)?;
    if !groups.iter().any(|g| g.id == settings.group_id) {
        let group = settings.group_name.clone().unwrap_or_else(|| settings.group_id.clone());
        step(&mut steps, false, format!("{upn} is not in the sync group {group}: nothing was changed."));
        return Ok(OnDemand { steps });
    }
    step(&mut steps, true, "They are in the sync group.".into());
    let manager = if settings.manage_managers { graph.manager_id(&user.id).await.map_err(graph_failed)? } else { None };
    let record = match one_record(user, &mapping, manager) {
        Ok(record) => record,
        Err(error) => {
            step(&mut steps, false, format!("Roster cannot read them: {error}."));
            return Ok(OnDemand { steps });
        }
    };
    step(&mut steps, true, format!("Mapped to {} ({}).", record.profile.display_name(), record.email.as_str()));
    let policy = Policy {
        connection: Some(connection.id),
        scope: Scope::Partial,
        invitations: if settings.invite { Invitations::Immediately } else { Invitations::Hold },
        manage_managers: settings.manage_managers,
        ownership: Ownership::of_mapping(&mapping),
    };
    let guard = Guard::Limits(GuardLimits::of_settings(&connection.settings));
    let batch = Batch { org: connection.org, actor: actor.clone(), records: vec![record], policy, reading: Reading::Narrow, guard };
    match Provisioner::new(state).run(batch, |_| true).await {
        Ok(plan) => {
            for change in plan.changes.iter().filter(|c| c.person().is_some()) {
                step(&mut steps, true, format!("Applied: {}.", change.action()));
            }
            for issue in &plan.report.issues {
                step(&mut steps, false, format!("Skipped: {}", issue.message));
            }
            if plan.changes.is_empty() && plan.report.issues.is_empty() {
                step(&mut steps, true, "Roster already matched Entra: nothing to change.".into());
            }
            Ok(OnDemand { steps })
        }
        Err(ProvisionError::Held(plan)) => {
            step(&mut steps, false, format!("Held by the deactivation guard: {}", plan.report.hold.map(|h| h.to_string()).unwrap_or_default()));
            Ok(OnDemand { steps })
        }
        Err(ProvisionError::Store(error)) => Err(error.into()),
        Err(ProvisionError::Refused(_)) => Err(OpsError::Invalid("the change was refused".into())),
    }
}
