//! Entra actions shared by the pages and the command line. Secrets are sealed here, with the
//! organisation and the secret's name as associated data, and opened only to build a client.

use crate::admin::OpsError;
use crate::jobs::{self, entra_sync::EntraSync};
use crate::provision::entra::sync::{parse_daily_at, parse_rules, Authorization, EntraSettings, CLIENT_SECRET, TENANT_ID};
use crate::provision::{Batch, ProvisionError, Provisioner, Reading};
use crate::App;
use roster_core::guard::{provisioned_by, Guard, GuardLimits};
use roster_core::ownership::Ownership;
use roster_core::reconcile::{Invitations, Policy, Scope};
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, OrgId, RunId};
use roster_entra::{CheckStatus, GraphClient, GraphConfig};
use roster_store::{Enqueued, SyncRun};
use uuid::Uuid;

/// What an admin (or `roster connect entra`) sends. Blank secrets keep the stored ones.
#[derive(Debug, Clone, Default)]
pub struct EntraSetup {
    pub authorization: Authorization,
    pub tenant_id: String,
    pub group_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub invite: bool,
    pub manage_managers: bool,
    pub photos: bool,
    /// `HH:MM` UTC; blank for the default.
    pub daily_at: String,
    /// One `source → target` per line.
    pub mappings: String,
    pub login_base: Option<String>,
    pub graph_base: Option<String>,
    /// The deactivation guard's limits as typed: hold a run above this many people and above
    /// this share (per cent) of the people it provisions. Both blank keep what the connection
    /// has (or the defaults).
    pub guard_max_people: String,
    pub guard_max_percent: String,
    /// The admin confirmed pointing an existing connection at another tenant or group.
    pub confirm_repoint: bool,
}

/// The organisation's Entra connection, if it has one (one tenant per organisation).
pub async fn entra_connection(state: &App, org: OrgId) -> Result<Option<Connection>, OpsError> {
    Ok(state.store.connections(org).await?.into_iter().find(|c| c.kind == ConnectionKind::Entra))
}

fn required(value: &str, what: &str) -> Result<String, OpsError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(OpsError::Invalid(format!("{what} is required")));
    }
    if value.len() > 256 {
        return Err(OpsError::Invalid(format!("{what} is too long")));
    }
    Ok(value.to_owned())
}

fn base_url(raw: Option<&str>, what: &str) -> Result<Option<String>, OpsError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    let parsed = url::Url::parse(raw).map_err(|e| OpsError::Invalid(format!("{what} is not a URL: {e}")))?;
    let mut text = parsed.to_string();
    if !text.ends_with('/') {
        text.push('/');
    }
    Ok(Some(text))
}

/// Why pointing `connection` at another tenant or group needs the admin's confirmation: the
/// people it provisions now would be deactivated by its next run unless they are found at the
/// new target. None when nothing moves, or nobody is provisioned yet.
async fn repoint_warning(
    state: &App,
    connection: &Connection,
    before: Option<&EntraSettings>,
    after: &EntraSettings,
    tenant: &str,
) -> Result<Option<String>, OpsError> {
    let group_moves = before.is_some_and(|b| b.group_id != after.group_id);
    let stored_tenant = connection.sealed.get(TENANT_ID).and_then(|sealed| state.master_key.open(connection.org, TENANT_ID, sealed).ok());
    let tenant_moves = !tenant.trim().is_empty() && stored_tenant.as_deref() != Some(tenant.trim().as_bytes());
    if !group_moves && !tenant_moves {
        return Ok(None);
    }
    let provisioned = provisioned_by(&state.store.snapshot(connection.org).await?, Some(connection.id));
    if provisioned == 0 {
        return Ok(None);
    }
    let target = match (tenant_moves, group_moves) {
        (true, true) => "another tenant and group",
        (true, false) => "another tenant",
        _ => "another group",
    };
    Ok(Some(format!(
        "This points the connection at {target}. The {provisioned} people it provisions now would be deactivated by its next run \
         unless they are in the new one; a run that would deactivate more than {} is held for your decision first. \
         Nothing was saved.",
        after.guard
    )))
}

/// Create the organisation's Entra connection (disabled, as every new connection is) or
/// update it. A blank tenant id or client secret on update keeps the stored one.
pub async fn save_setup(state: &App, org: OrgId, actor: &Actor, setup: &EntraSetup) -> Result<Connection, OpsError> {
    let existing = entra_connection(state, org).await?;
    let own_app = setup.authorization == Authorization::OwnApp;
    if !own_app && state.config.entra_app.is_none() {
        return Err(OpsError::Invalid(
            "This Roster has no app of its own for admin consent: connect with your own app registration (client ID and secret).".into(),
        ));
    }
    let client_id = if own_app { required(&setup.client_id, "The application (client) ID")? } else { String::new() };
    let mut settings = EntraSettings::new(&required(&setup.group_id, "The security group's object ID")?, &client_id);
    settings.authorization = setup.authorization;
    // A consent stays valid for the same tenant and the same way of signing in.
    // Unreadable previous settings prove no consent: the admin consents again.
    let previous = existing.as_ref().and_then(|c| EntraSettings::from_connection(c).ok());
    // The group's name stays known while the group does.
    settings.group_name = previous.as_ref().filter(|p| p.group_id == settings.group_id).and_then(|p| p.group_name.clone());
    // And the tenant's while the tenant is kept (a tenant ID typed again is checked at the next test).
    settings.tenant_name = previous.as_ref().filter(|_| setup.tenant_id.trim().is_empty()).and_then(|p| p.tenant_name.clone());
    settings.guard = match (setup.guard_max_people.trim(), setup.guard_max_percent.trim()) {
        ("", "") => previous.as_ref().map(|p| p.guard).unwrap_or_default(),
        (people, percent) => GuardLimits::parse(people, percent).map_err(|e| OpsError::Invalid(format!("The deactivation guard: {e}")))?,
    };
    if setup.tenant_id.trim().is_empty() && !own_app {
        settings.consent = previous.as_ref().filter(|p| p.authorization == Authorization::AdminConsent).and_then(|p| p.consent.clone());
    }
    settings.invite = setup.invite;
    settings.manage_managers = setup.manage_managers;
    settings.photos = setup.photos;
    if !setup.daily_at.trim().is_empty() {
        parse_daily_at(&setup.daily_at).ok_or_else(|| OpsError::Invalid("The daily sync time must be HH:MM (24-hour, UTC)".into()))?;
        settings.daily_at = setup.daily_at.trim().to_owned();
    }
    settings.mappings = parse_rules(&setup.mappings).map_err(OpsError::Invalid)?;
    settings.login_base = base_url(setup.login_base.as_deref(), "The login address")?;
    settings.graph_base = base_url(setup.graph_base.as_deref(), "The Graph address")?;

    let now = state.clock.now();
    let mut sealed = existing.as_ref().map(|c| c.sealed.clone()).unwrap_or_default();
    for (name, value, what) in
        [(TENANT_ID, &setup.tenant_id, "The directory (tenant) ID"), (CLIENT_SECRET, &setup.client_secret, "The client secret")]
    {
        let value = value.trim();
        if name == CLIENT_SECRET && !own_app {
            continue;
        }
        if !value.is_empty() {
            sealed.insert(name.to_owned(), state.master_key.seal(org, name, value.as_bytes()));
        } else if !sealed.contains_key(name) {
            return Err(OpsError::Invalid(format!("{what} is required")));
        }
    }
    match existing {
        Some(mut connection) => {
            if !setup.confirm_repoint {
                if let Some(warning) = repoint_warning(state, &connection, previous.as_ref(), &settings, &setup.tenant_id).await? {
                    return Err(OpsError::Unconfirmed(warning));
                }
            }
            let before = connection.clone();
            connection.settings = settings.to_json();
            connection.sealed = sealed;
            connection.updated_at = now;
            state.store.update_connection(&connection, actor, now).await?;
            restart_live(state, &before, &connection).await?;
            Ok(connection)
        }
        None => {
            let connection = Connection {
                id: ConnectionId::from_uuid(Uuid::now_v7()),
                org,
                kind: ConnectionKind::Entra,
                name: "Microsoft Entra ID".into(),
                enabled: false,
                settings: settings.to_json(),
                sealed,
                created_at: now,
                updated_at: now,
            };
            state.store.create_connection(&connection, actor).await?;
            Ok(connection)
        }
    }
}

/// New settings start live updates over, as Entra's own provisioning clears its watermark on
/// a change of mapping or scope: the subscriptions at the previous target are deleted and made
/// again, and the delta links dropped, so the next full sync reads everything with the new
/// settings and records where rounds start.
async fn restart_live(state: &App, before: &Connection, after: &Connection) -> Result<(), OpsError> {
    if let Err(error) = crate::provision::entra::live::subscriptions::delete_all(state, before).await {
        tracing::warn!(%error, connection = %before.id, "could not delete the previous Graph subscriptions; they lapse by themselves");
    }
    state.store.clear_entra_links(after.org, after.id).await?;
    if after.enabled {
        jobs::enqueue(state, after.org, &crate::jobs::entra_live::EntraSubscriptions { connection: after.id }, state.clock.now()).await?;
    }
    Ok(())
}

pub async fn set_enabled(state: &App, connection: &Connection, actor: &Actor, enabled: bool) -> Result<Connection, OpsError> {
    let mut updated = connection.clone();
    updated.enabled = enabled;
    let now = state.clock.now();
    updated.updated_at = now;
    state.store.update_connection(&updated, actor, now).await?;
    if updated.kind == ConnectionKind::Entra {
        // Subscriptions follow the switch: made when enabled, deleted when disabled.
        jobs::enqueue(state, updated.org, &crate::jobs::entra_live::EntraSubscriptions { connection: updated.id }, now).await?;
    }
    Ok(updated)
}

/// The Graph client's settings, with the secrets opened: the customer's own app, or Roster's
/// app in the tenant that consented. Never logged: `GraphConfig`'s Debug redacts the secret.
pub fn graph_config(state: &App, connection: &Connection) -> Result<GraphConfig, OpsError> {
    let settings = EntraSettings::from_connection(connection).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let open = |name: &str| -> Result<String, OpsError> {
        let sealed = connection.sealed.get(name).ok_or_else(|| OpsError::Invalid(format!("the connection has no {name}; set it up again")))?;
        let bytes = state.master_key.open(connection.org, name, sealed).map_err(|e| OpsError::Invalid(e.to_string()))?;
        String::from_utf8(bytes).map_err(|_| OpsError::Invalid(format!("the stored {name} is not text; set it up again")))
    };
    let tenant = open(TENANT_ID)?;
    let config = match settings.authorization {
        Authorization::OwnApp => GraphConfig::new(settings.login_base(), settings.graph_base(), &tenant, &settings.client_id, &open(CLIENT_SECRET)?),
        Authorization::AdminConsent => {
            let app = state.config.entra_app.as_ref().ok_or_else(|| {
                OpsError::Invalid("This Roster no longer has its own Microsoft app configured: connect with your own app registration.".into())
            })?;
            let consent = settings
                .consent
                .as_ref()
                .ok_or_else(|| OpsError::Invalid("No tenant admin has granted consent to Roster's app yet: press \"Grant admin consent\".".into()))?;
            GraphConfig::new(settings.login_base(), settings.graph_base(), &consent.tenant, &app.client_id, &app.client_secret)
        }
    };
    config.map_err(|e| OpsError::Invalid(e.to_string()))
}

/// One line of "Test connection".
#[derive(Debug, Clone)]
pub struct PermissionLine {
    pub permission: String,
    pub needed_for: String,
    pub ok: bool,
    pub detail: String,
}

/// What the connection points at, for the page: the tenant and the group, with the group's name
/// when a test has read it.
pub struct Target {
    pub tenant_id: Option<String>,
    pub tenant_name: Option<String>,
    pub group_id: String,
    pub group_name: Option<String>,
}

pub fn target(state: &App, connection: &Connection) -> Option<Target> {
    let settings = EntraSettings::from_connection(connection).ok()?;
    // An unreadable sealed value shows as unknown; a sync reports why.
    let tenant_id = connection.sealed.get(TENANT_ID).and_then(|sealed| state.master_key.open(connection.org, TENANT_ID, sealed).ok());
    Some(Target {
        tenant_id: tenant_id.and_then(|t| String::from_utf8(t).ok()),
        tenant_name: settings.tenant_name,
        group_id: settings.group_id,
        group_name: settings.group_name,
    })
}

/// Sign in and probe each permission, and read the group's name (kept for the page). `Err`
/// carries the sign-in failure, worded for the admin.
pub async fn test_connection(state: &App, connection: &Connection, actor: &Actor) -> Result<Vec<PermissionLine>, OpsError> {
    let config = graph_config(state, connection)?;
    let mut settings = EntraSettings::from_connection(connection).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let client = GraphClient::new(config).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let report = client.check_permissions(Some(&settings.group_id)).await.map_err(|e| OpsError::Invalid(e.to_string()))?;
    // The names are a courtesy: without the permission to read the group the probes above say
    // why, and the tenant's name needs a permission Roster does not require.
    let group_name = client.group_name(&settings.group_id).await.unwrap_or(settings.group_name.clone());
    let tenant_name = client.tenant_name().await.ok().flatten().or(settings.tenant_name.clone());
    if group_name != settings.group_name || tenant_name != settings.tenant_name {
        settings.group_name = group_name;
        settings.tenant_name = tenant_name;
        let mut named = connection.clone();
        named.settings = settings.to_json();
        state.store.update_connection(&named, actor, state.clock.now()).await?;
    }
    Ok(report
        .checks
        .into_iter()
        .map(|c| {
            let (ok, detail) = match c.status {
                CheckStatus::Ok => (true, "granted".to_owned()),
                CheckStatus::Missing => (false, "missing: add it under API permissions, then grant admin consent".to_owned()),
                CheckStatus::Failed(why) => (false, why),
            };
            PermissionLine { permission: c.permission.to_owned(), needed_for: c.needed_for.to_owned(), ok, detail }
        })
        .collect())
}

/// Queue a full sync of the connection and return the run the pages follow. While one is
/// queued or running, asking again returns that run instead of queueing a second.
pub async fn enqueue_sync(state: &App, connection: &Connection, trigger: &str) -> Result<RunId, OpsError> {
    enqueue_sync_allowing(state, connection, trigger, None).await.map(|(run, _)| run)
}

/// What becomes of the people a deleted connection provisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeopleAfterDelete {
    /// Kept as they are, unlinked: managed by hand from then on.
    Keep,
    /// Deactivated first, through the deactivation guard, then unlinked.
    Deactivate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    pub unlinked: u64,
    pub deactivated: usize,
}

/// Delete a provisioning connection (Entra or SCIM). Deactivating its people goes through the
/// guard like any run: when it would hold, nothing is deleted and the admin is told why.
pub async fn delete_connection(state: &App, connection: &Connection, actor: &Actor, people: PeopleAfterDelete) -> Result<Deleted, OpsError> {
    if !connection.kind.provisions() {
        return Err(OpsError::Invalid(format!("{} connections are not deleted here", connection.kind.label())));
    }
    let mut deactivated = 0;
    if people == PeopleAfterDelete::Deactivate {
        let policy = Policy {
            connection: Some(connection.id),
            scope: Scope::Full,
            invitations: Invitations::Hold,
            manage_managers: false,
            ownership: Ownership::everything(),
        };
        let guard = Guard::Limits(GuardLimits::of_settings(&connection.settings));
        let batch = Batch { org: connection.org, actor: actor.clone(), records: Vec::new(), policy, reading: Reading::Whole, guard };
        match Provisioner::new(state).run(batch, |_| true).await {
            Ok(plan) => deactivated = plan.report.deactivated,
            Err(held @ ProvisionError::Held(_)) => {
                return Err(OpsError::Unconfirmed(format!(
                    "Deleting it and deactivating its people would be {}. Nothing was deleted: keep the people instead, or raise the \
                     connection's deactivation limits first.",
                    held.to_string().trim_start_matches("held by the deactivation guard: ")
                )))
            }
            Err(ProvisionError::Store(error)) => return Err(error.into()),
            Err(ProvisionError::Refused(_)) => return Err(OpsError::Invalid("the deactivations were refused".into())),
        }
    }
    if connection.kind == ConnectionKind::Entra {
        // Graph stops notifying; one it cannot delete now lapses by itself.
        if let Err(error) = crate::provision::entra::live::subscriptions::delete_all(state, connection).await {
            tracing::warn!(%error, connection = %connection.id, "could not delete the connection's Graph subscriptions");
        }
    }
    let unlinked = state.store.delete_connection(connection.org, connection.id, actor, state.clock.now()).await?;
    Ok(Deleted { unlinked, deactivated })
}

/// Whether any sync of the connection has planned for real (applied, held or decided): until
/// then, enabling it shows a preview first.
pub async fn ever_synced(state: &App, connection: &Connection) -> Result<bool, OpsError> {
    Ok(state.store.sync_runs(connection.org, connection.id, 50).await?.iter().any(|r| r.status.decides_hold()))
}

/// Queue a preview: a run that reads Entra and plans, then reports what a sync would change and
/// applies nothing. It works on a disabled connection, so an admin sees it before enabling.
pub async fn enqueue_preview(state: &App, connection: &Connection) -> Result<RunId, OpsError> {
    enqueue(state, connection, EntraSync { connection: connection.id, run: None, allowed_up_to: None, preview: true }, "preview")
        .await
        .map(|(run, _)| run)
}

/// Queue a sync, or find the one already queued (then the bool is false: the queued one runs
/// as it was asked). `allowed_up_to` carries an admin's allowance of a held run.
pub async fn enqueue_sync_allowing(
    state: &App,
    connection: &Connection,
    trigger: &str,
    allowed_up_to: Option<usize>,
) -> Result<(RunId, bool), OpsError> {
    if !connection.enabled {
        return Err(OpsError::Invalid("Enable the connection before syncing".into()));
    }
    enqueue(state, connection, EntraSync { connection: connection.id, run: None, allowed_up_to, preview: false }, trigger).await
}

/// Queue `job` with a run row of its own, or find the run of the one already queued (then the
/// bool is false).
async fn enqueue(state: &App, connection: &Connection, mut job: EntraSync, trigger: &str) -> Result<(RunId, bool), OpsError> {
    let now = state.clock.now();
    let run = SyncRun::queued(RunId::from_uuid(Uuid::now_v7()), connection.org, connection.id, trigger, now);
    job.run = Some(run.id);
    match jobs::enqueue(state, connection.org, &job, now).await? {
        Enqueued::New(_) => {
            // A worker that claims the job before this row exists creates it itself.
            if let Err(error) = state.store.create_run(&run).await {
                if state.store.sync_run(connection.org, run.id).await?.is_none() {
                    return Err(error.into());
                }
            }
            Ok((run.id, true))
        }
        Enqueued::Existing(existing) => {
            let queued = state.store.job(existing).await?.and_then(|j| jobs::payload_of::<EntraSync>(&j).ok()).and_then(|sync| sync.run);
            queued.map(|run| (run, false)).ok_or(OpsError::NotFound)
        }
    }
}
