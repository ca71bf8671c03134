//! Okta's standard provisioning through the one `Provisioner`: the full pull (every user
//! assigned to the app; anyone the connection linked before who is no longer assigned is
//! deactivated, through the guard), and the re-read of the users an event hook names (a hook
//! is a trigger, not data: what Okta says now is what is applied).

use super::client::{OktaClient, OktaError, OktaUser};
use super::settings::OktaSettings;
use crate::provision::{log, Batch, ProvisionError, Provisioner, Reading};
use crate::App;
use roster_core::guard::Guard;
use roster_core::mapping::Mapping;
use roster_core::plan::{IssueKind, RecordIssue};
use roster_core::reconcile::{DesiredPerson, ManagerField, ManagerRef, Policy, Scope};
use roster_core::{Actor, Connection, Email, RunReport};

/// What a pull or a re-read did.
#[derive(Debug, Clone, Default)]
pub struct OktaOutcome {
    pub report: RunReport,
    /// Set when the deactivation guard held the plan: nothing was applied.
    pub held: Option<String>,
    pub users_read: usize,
    pub requests: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OktaSyncError {
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Okta(#[from] OktaError),
    #[error(transparent)]
    Store(#[from] roster_store::StoreError),
}

/// Okta users as desired people: the mapped profile, access by status, the manager by Okta id
/// (or by the manager's login). Users the mapping cannot read are reported, not guessed.
pub fn desired(users: &[OktaUser], mapping: &Mapping, manage_managers: bool) -> (Vec<DesiredPerson>, Vec<RecordIssue>) {
    let mut people = Vec::with_capacity(users.len());
    let mut issues = Vec::new();
    for user in users {
        let record = user.record();
        let name = record.get("login").and_then(|v| v.as_str()).map_or_else(|| user.id.clone(), |login| format!("{login} ({})", user.id));
        match mapping.apply(&record) {
            Ok((email, profile)) => {
                let manager = if !manage_managers {
                    ManagerField::Untouched
                } else if let Some(id) = record.get("managerId").and_then(|v| v.as_str()).filter(|v| !v.trim().is_empty()) {
                    ManagerField::Set(ManagerRef::ExternalId(id.trim().to_owned()))
                } else if let Some(login) = record.get("manager").and_then(|v| v.as_str()).and_then(|v| Email::parse(v).ok()) {
                    ManagerField::Set(ManagerRef::Email(login))
                } else {
                    ManagerField::Clear
                };
                people.push(DesiredPerson {
                    record: name,
                    external_id: Some(user.id.clone()),
                    email,
                    profile,
                    active: user.has_access(),
                    role: None,
                    manager,
                });
            }
            Err(error) => issues.push(RecordIssue::new(name, IssueKind::Invalid, error.to_string())),
        }
    }
    (people, issues)
}

fn policy(connection: &Connection, settings: &OktaSettings, scope: Scope) -> Policy {
    Policy {
        connection: Some(connection.id),
        scope,
        invitations: settings.invitations(),
        manage_managers: settings.manage_managers,
        ownership: roster_core::ownership::Ownership::of_mapping(&settings.mapping()),
    }
}

/// Plan and (unless `dry_run`) apply; a held plan applies nothing and says why.
async fn provision(app: &App, batch: Batch, dry_run: bool) -> Result<(RunReport, Option<String>), OktaSyncError> {
    let provisioner = Provisioner::new(app);
    let planned = if dry_run { provisioner.plan(std::sync::Arc::new(batch)).await.map(|p| p.plan) } else { provisioner.run(batch, |_| true).await };
    match planned {
        Ok(plan) => Ok((plan.report, None)),
        Err(ProvisionError::Held(plan)) => {
            let why = plan.report.hold.as_ref().map_or_else(|| "held by the deactivation guard".to_owned(), ToString::to_string);
            Ok((plan.report, Some(why)))
        }
        Err(ProvisionError::Refused(plan)) => Ok((plan.report, None)),
        Err(ProvisionError::Store(error)) => Err(error.into()),
    }
}

/// The full pull: everyone assigned to the app. When some users cannot be read, nobody is
/// deactivated for being missing this time (one of them may be the missing one); the report
/// says so and the next pull settles it.
pub async fn pull(app: &App, connection: &Connection, client: &OktaClient, guard: Guard, dry_run: bool) -> Result<OktaOutcome, OktaSyncError> {
    let settings = OktaSettings::from_connection(connection).map_err(OktaSyncError::Settings)?;
    let users = client.app_users(&settings.app_id).await?;
    let (records, mut issues) = desired(&users, &settings.mapping(), settings.manage_managers);
    let scope = if issues.is_empty() { Scope::Full } else { Scope::Partial };
    if !issues.is_empty() {
        issues.push(RecordIssue::new(
            "this run",
            IssueKind::Invalid,
            "some assigned users could not be read, so nobody was deactivated for leaving the app in this run",
        ));
    }
    let batch = Batch {
        org: connection.org,
        actor: Actor::Connection { id: connection.id },
        records,
        policy: policy(connection, &settings, scope),
        reading: Reading::Whole,
        guard,
    };
    let (mut report, held) = provision(app, batch, dry_run).await?;
    report.issues.extend(issues);
    Ok(OktaOutcome { report, held, users_read: users.len(), requests: client.requests() })
}

/// Re-read the users a hook named and apply what Okta says now. A user no longer assigned to
/// the app is deactivated if the connection provisions them, and otherwise ignored (and the
/// ignoring logged): the hook was about someone this app does not own.
pub async fn reread(app: &App, connection: &Connection, client: &OktaClient, user_ids: &[String]) -> Result<OktaOutcome, OktaSyncError> {
    let settings = OktaSettings::from_connection(connection).map_err(OktaSyncError::Settings)?;
    let mut users = Vec::new();
    let mut ignored = Vec::new();
    for id in user_ids {
        let Some(mut user) = client.user(id).await? else {
            ignored.push(RecordIssue::new(
                id.clone(),
                IssueKind::Invalid,
                "an event hook named a user Okta no longer has; the daily pull settles it",
            ));
            continue;
        };
        if !client.is_assigned(&settings.app_id, id).await? {
            let keys = roster_store::SnapshotKeys { emails: Vec::new(), external_ids: Some((connection.id, vec![id.clone()])) };
            let snapshot = app.store.snapshot_for(connection.org, &keys).await?;
            let linked = snapshot.people.iter().any(|p| p.source.as_ref().is_some_and(|s| s.connection == connection.id && s.external_id == *id));
            if !linked {
                ignored.push(RecordIssue::new(
                    user.profile.get("login").and_then(|v| v.as_str()).unwrap_or(id).to_owned(),
                    IssueKind::Invalid,
                    "an event hook named a user who is not assigned to the app; ignored",
                ));
                continue;
            }
            // Unassigned: they leave, whatever their status in Okta.
            user.status = "DEPROVISIONED".into();
        }
        users.push(user);
    }
    let (records, issues) = desired(&users, &settings.mapping(), settings.manage_managers);
    let batch = Batch {
        org: connection.org,
        actor: Actor::Connection { id: connection.id },
        records,
        policy: policy(connection, &settings, Scope::Partial),
        reading: Reading::Narrow,
        guard: Guard::Limits(settings.guard),
    };
    let (mut report, held) = provision(app, batch, false).await?;
    report.issues.extend(issues);
    report.issues.extend(ignored);
    let decisions = log::decisions(connection.org, Some(connection.id), None, &report, held.is_some(), app.clock.now());
    log::keep(app.store.as_ref(), &decisions).await;
    Ok(OktaOutcome { report, held, users_read: users.len(), requests: client.requests() })
}
