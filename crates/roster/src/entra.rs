//! `roster connect entra`, `roster sync` and `roster sim entra`: set up an organisation's
//! Microsoft Entra ID connection, sync it now with a progress bar, and run the simulator so
//! all of it can be tried without a tenant. Client secrets come from a file or an environment
//! variable, never from the command line, and are never printed.

use crate::commands;
use crate::settings::Settings;
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use roster_app::admin::OpsError;
use roster_app::provision::entra::sync::{full_sync, run_recorded, EntraSettings, NoProgress, ProgressSink, SyncOptions, SyncProgress};
use roster_app::provision::entra::{self as entra_setup, EntraSetup};
use roster_app::provision::guard;
use roster_core::guard::Guard;
use roster_core::Connection;
use roster_core::{Actor, RunId, RunReport};
use roster_entra::GraphConfig;
use roster_sim::{EntraSim, TenantSpec};
use roster_store::{RunStatus, SyncRun};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum ConnectCommand {
    /// Connect an organisation to its Microsoft Entra ID tenant (created disabled unless --enable).
    Entra(ConnectEntra),
    /// Connect an organisation to Okta the standard way: the Okta API pull and event hooks
    /// (created disabled unless --enable). Prints the hook's URL and secret.
    Okta(crate::okta::ConnectOkta),
}

#[derive(Args)]
pub struct ConnectEntra {
    #[arg(long)]
    org: String,
    /// Directory (tenant) ID; stored sealed.
    #[arg(long)]
    tenant: String,
    /// Object ID of the security group to sync (nested groups included).
    #[arg(long)]
    group: String,
    /// Application (client) ID of the app registration.
    #[arg(long, required_unless_present = "admin_consent")]
    client_id: Option<String>,
    /// Use Roster's own app: a tenant admin then grants consent in Settings → Integrations
    /// (no client ID or secret).
    #[arg(long, conflicts_with_all = ["client_id", "client_secret_file", "client_secret_env"])]
    admin_consent: bool,
    /// A file holding the client secret's Value.
    #[arg(long, conflicts_with = "client_secret_env")]
    client_secret_file: Option<PathBuf>,
    /// The name of an environment variable holding the client secret's Value.
    #[arg(long)]
    client_secret_env: Option<String>,
    /// Login endpoint base (national clouds, the simulator).
    #[arg(long)]
    login_base: Option<String>,
    /// Microsoft Graph base, e.g. https://graph.microsoft.com/v1.0/
    #[arg(long)]
    graph_base: Option<String>,
    /// Send invitations as people are created (default: hold them for an admin).
    #[arg(long)]
    invite: bool,
    /// Do not assign managers from Entra's Manager / Direct Reports.
    #[arg(long)]
    no_managers: bool,
    /// Sync profile photos.
    #[arg(long)]
    photos: bool,
    /// Daily sync time, HH:MM UTC (default 03:00).
    #[arg(long)]
    daily_at: Option<String>,
    /// A custom mapping SOURCE=TARGET, e.g. employeeId=custom.employee_id (repeatable).
    #[arg(long = "map", value_name = "SOURCE=TARGET")]
    maps: Vec<String>,
    /// Hold a run that would deactivate more than this many people (default 500).
    #[arg(long, value_name = "N", requires = "guard_max_percent")]
    guard_max_people: Option<String>,
    /// Hold a run that would deactivate more than this share, in per cent, of the people the
    /// connection provisions (default 20).
    #[arg(long, value_name = "PERCENT", requires = "guard_max_people")]
    guard_max_percent: Option<String>,
    /// Go ahead when this points an existing connection at another tenant or group (the
    /// people it provisions now would be deactivated unless they are found there).
    #[arg(long)]
    confirm_repoint: bool,
    /// Enable the connection now.
    #[arg(long)]
    enable: bool,
}

#[derive(Subcommand)]
pub enum DisconnectCommand {
    /// Delete the organisation's Microsoft Entra ID connection, its settings and its runs.
    Entra(DisconnectEntra),
    /// Delete the organisation's SCIM connection: its tokens stop working.
    Scim(DisconnectEntra),
    /// Delete the organisation's Okta (standard) connection: its hooks stop being accepted.
    Okta(DisconnectEntra),
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("people").required(true).multiple(false)))]
pub struct DisconnectEntra {
    #[arg(long)]
    org: String,
    /// Keep the people it provisions as they are, managed by hand from then on.
    #[arg(long, group = "people")]
    keep_people: bool,
    /// Deactivate the people it provisions first (refused, deleting nothing, when that is more
    /// than the connection's deactivation guard allows).
    #[arg(long, group = "people")]
    deactivate_people: bool,
}

pub async fn disconnect(settings: &Settings, cmd: DisconnectCommand) -> anyhow::Result<()> {
    let state = commands::app(settings).await?;
    let (args, kind) = match cmd {
        DisconnectCommand::Entra(args) => (args, roster_core::ConnectionKind::Entra),
        DisconnectCommand::Scim(args) => (args, roster_core::ConnectionKind::Scim),
        DisconnectCommand::Okta(args) => (args, roster_core::ConnectionKind::Okta),
    };
    let org = state.store.org_by_slug(&args.org).await?.ok_or_else(|| anyhow!("there is no organisation '{}'", args.org))?;
    let connection = state
        .store
        .connections(org.id)
        .await?
        .into_iter()
        .find(|c| c.kind == kind)
        .ok_or_else(|| anyhow!("{} has no {} connection", org.slug, kind.label()))?;
    let people = if args.deactivate_people { entra_setup::PeopleAfterDelete::Deactivate } else { entra_setup::PeopleAfterDelete::Keep };
    let deleted = entra_setup::delete_connection(&state, &connection, &Actor::Cli, people).await?;
    println!("Deleted the {} connection of {}: {} people unlinked, {} deactivated.", kind.label(), org.slug, deleted.unlinked, deleted.deactivated);
    Ok(())
}

fn read_secret(args: &ConnectEntra) -> anyhow::Result<String> {
    let secret = match (&args.client_secret_file, &args.client_secret_env) {
        (Some(file), None) => std::fs::read_to_string(file).with_context(|| format!("reading the client secret from {}", file.display()))?,
        (None, Some(var)) => std::env::var(var).map_err(|_| anyhow!("the environment variable {var} is not set"))?,
        _ => bail!("give the client secret with --client-secret-file FILE or --client-secret-env VAR"),
    };
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        bail!("the client secret is empty");
    }
    Ok(secret)
}

pub async fn connect(settings: &Settings, cmd: ConnectCommand) -> anyhow::Result<()> {
    let args = match cmd {
        ConnectCommand::Entra(args) => args,
        ConnectCommand::Okta(args) => return crate::okta::connect(settings, args).await,
    };
    let secret = if args.admin_consent { String::new() } else { read_secret(&args)? };
    let state = commands::app(settings).await?;
    let org = state.store.org_by_slug(&args.org).await?.ok_or_else(|| anyhow!("there is no organisation '{}'", args.org))?;
    let setup = EntraSetup {
        authorization: if args.admin_consent {
            roster_app::provision::entra::sync::Authorization::AdminConsent
        } else {
            roster_app::provision::entra::sync::Authorization::OwnApp
        },
        tenant_id: args.tenant.clone(),
        group_id: args.group.clone(),
        client_id: args.client_id.clone().unwrap_or_default(),
        client_secret: secret,
        invite: args.invite,
        manage_managers: !args.no_managers,
        photos: args.photos,
        daily_at: args.daily_at.clone().unwrap_or_default(),
        mappings: args.maps.join("\n"),
        login_base: args.login_base.clone(),
        graph_base: args.graph_base.clone(),
        guard_max_people: args.guard_max_people.clone().unwrap_or_default(),
        guard_max_percent: args.guard_max_percent.clone().unwrap_or_default(),
        confirm_repoint: args.confirm_repoint,
    };
    let mut connection = match entra_setup::save_setup(&state, org.id, &Actor::Cli, &setup).await {
        Err(OpsError::Unconfirmed(warning)) => bail!("{warning} Run again with --confirm-repoint to go ahead."),
        other => other?,
    };
    if args.enable && !connection.enabled {
        connection = entra_setup::set_enabled(&state, &connection, &Actor::Cli, true).await?;
    }
    println!(
        "Microsoft Entra ID connection {} for {} is {}.",
        connection.id,
        org.slug,
        if connection.enabled { "enabled" } else { "disabled (enable it in Settings → Integrations, or rerun with --enable)" }
    );
    if args.admin_consent {
        println!("A tenant admin grants consent to Roster's app in Settings → Integrations → Microsoft Entra ID (Grant admin consent).");
    }
    Ok(())
}

#[derive(Args)]
pub struct SyncArgs {
    #[arg(long)]
    org: String,
    /// Allow this held run (its id, from the run page or an earlier `roster sync`): plan again
    /// and apply, unless it would now deactivate more people than when it was held.
    #[arg(long, value_name = "RUN", conflicts_with = "reject")]
    allow: Option<uuid::Uuid>,
    /// Reject this held run: nothing of it is applied, and the connection stays held.
    #[arg(long, value_name = "RUN")]
    reject: Option<uuid::Uuid>,
    /// Read Entra and plan, then stop: print what a sync would change now, applying nothing.
    #[arg(long, conflicts_with_all = ["allow", "reject"])]
    dry_run: bool,
    /// With --dry-run: print the plan as JSON (its report and every change).
    #[arg(long, requires = "dry_run")]
    json: bool,
}

/// Draws the run's progress as a spinner with the phase and counts.
struct Bar(ProgressBar);

#[async_trait::async_trait]
impl ProgressSink for Bar {
    async fn report(&self, p: &SyncProgress) {
        let photos = if p.photos_to_download > 0 { format!(", photos {}/{}", p.photos_downloaded, p.photos_to_download) } else { String::new() };
        self.0.set_message(format!("{}: {} users, {} Graph requests{photos}", p.label, p.users_listed, p.graph_requests));
    }
}

pub async fn sync(settings: &Settings, args: SyncArgs) -> anyhow::Result<()> {
    let state = commands::app(settings).await?;
    let org = state.store.org_by_slug(&args.org).await?.ok_or_else(|| anyhow!("there is no organisation '{}'", args.org))?;
    let connection = entra_setup::entra_connection(&state, org.id)
        .await?
        .ok_or_else(|| anyhow!("{} has no Microsoft Entra ID connection (see `roster connect entra`)", org.slug))?;
    if !connection.enabled {
        bail!("the Microsoft Entra ID connection of {} is disabled; enable it first", org.slug);
    }
    if let Some(run) = args.reject {
        guard::reject(&state, org.id, RunId::from_uuid(run), &Actor::Cli).await?;
        println!("Run {run} rejected: nothing of it was applied. The connection stays held until a run comes in under its limits.");
        return Ok(());
    }
    let config = entra_setup::graph_config(&state, &connection)?;
    let settings = EntraSettings::from_connection(&connection)?;
    let mut options = SyncOptions::from_settings(&settings, state.clock.now());
    if let Some(held) = args.allow {
        let (held, _) = guard::held_run(&state, org.id, RunId::from_uuid(held)).await?;
        options.guard = Guard::Allowed { up_to: guard::hold_size(&held), limits: settings.guard };
    }
    if args.dry_run {
        return preview(&state, &connection, config, &settings, options, args.json).await;
    }
    // One run of a connection at a time: a delta round under way ends within moments.
    let Some(lock) = roster_app::provision::entra::live::lock_connection(&state, connection.id, std::time::Duration::from_secs(75)).await? else {
        bail!("another run of this connection is under way; try again when it has finished");
    };
    options.live = true;
    options.via = roster_core::Via::Manual;
    // An earlier `roster sync` that was killed left its run "running": say it stopped.
    state.store.fail_abandoned_runs(state.clock.now()).await?;
    let run = SyncRun::queued(RunId::from_uuid(uuid::Uuid::now_v7()), org.id, connection.id, "cli", state.clock.now());
    state.store.create_run(&run).await?;

    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let started = Instant::now();
    let sink = Bar(bar.clone());
    let result = run_recorded(state.store.clone(), &connection, config, &options, run.id, Some(&sink)).await;
    lock.release(&state).await;
    bar.finish_and_clear();
    let outcome = result.context("the sync failed and changed nothing")?;
    let elapsed = started.elapsed().as_secs_f64();
    print_report(&outcome.report, "see the run page, or download them all as CSV there");
    if let Some(reason) = &outcome.held {
        guard::notify_held(&state, &connection, run.id).await?;
        print_would_deactivate(&outcome.report);
        bail!(
            "{reason}. Nothing was applied (run {}). Allow it with `roster sync --org {} --allow {}`, or reject it with --reject.",
            run.id,
            org.slug,
            run.id
        );
    }
    if let Some(held) = args.allow {
        state.store.decide_held_run(org.id, RunId::from_uuid(held), RunStatus::Allowed, &Actor::Cli.label(), state.clock.now()).await?;
    }
    println!("Photos: {} stored, {} removed.", outcome.photos_stored, outcome.photos_removed);
    for issue in &outcome.late_issues {
        println!("  note: {issue}");
    }
    let rate = if elapsed > 0.0 { outcome.users_listed as f64 / elapsed } else { 0.0 };
    println!(
        "{} users listed in {elapsed:.1} s ({rate:.0} users/s), {} Graph requests ({} retried, {} throttled). Run {}.",
        outcome.users_listed, outcome.graph_requests, outcome.stats.retries, outcome.stats.throttled, run.id
    );
    Ok(())
}

/// `roster sync --dry-run`: the plan a sync would apply now, as text or JSON. Nothing is
/// written, not even a run row.
async fn preview(
    state: &roster_app::App,
    connection: &Connection,
    config: GraphConfig,
    settings: &EntraSettings,
    mut options: SyncOptions,
    json: bool,
) -> anyhow::Result<()> {
    options.dry_run = true;
    options.photos = false;
    let outcome =
        full_sync(state.store.as_ref(), connection, config, &settings.mapping(), &options, &NoProgress).await.context("the preview failed")?;
    if json {
        let body = serde_json::json!({ "held": outcome.held, "report": outcome.report, "changes": outcome.preview.map(|p| p.changes) });
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    println!("Preview: nothing was applied.");
    print_report(&outcome.report, "all of them with --json");
    if let Some(plan) = &outcome.preview {
        println!("Changes it would make, by kind:");
        let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for change in &plan.changes {
            *kinds.entry(change.action()).or_default() += 1;
        }
        for (action, count) in kinds {
            println!("  {action}: {count}");
        }
    }
    if let Some(reason) = &outcome.held {
        println!("A sync now would be {reason}.");
        print_would_deactivate(&outcome.report);
    }
    Ok(())
}

fn print_would_deactivate(report: &RunReport) {
    println!("It would deactivate:");
    for person in report.would_deactivate.iter().take(50) {
        println!("  {} <{}>: {}", person.name, person.email, person.cause.describe());
    }
    if report.would_deactivate.len() > 50 {
        println!("  ... and {} more (see the run page)", report.would_deactivate.len() - 50);
    }
}

/// The report's counts and its first issues; `rest` says where the others are.
pub fn print_report(report: &RunReport, rest: &str) {
    println!(
        "Created {}, updated {}, deactivated {}, reactivated {}, unchanged {}, skipped {} (disabled, never created), invited {}, teams created {}.",
        report.created,
        report.updated,
        report.deactivated,
        report.reactivated,
        report.unchanged,
        report.skipped,
        report.invited,
        report.teams_created
    );
    if !report.issues.is_empty() {
        println!("{} issue(s):", report.issues.len());
        for group in roster_core::plan::group_issues(&report.issues) {
            let named = |cause: &str| report.cause_names.get(cause).map_or_else(|| cause.to_owned(), |name| format!("{name} ({cause})"));
            let top: Vec<String> = group.causes.iter().take(3).map(|(cause, n)| format!("{} for {n}", named(cause))).collect();
            match top.is_empty() {
                true => println!("  {}: {}", group.kind.label(), group.count),
                false => println!("  {}: {} from {} cause(s), most often {}", group.kind.label(), group.count, group.causes.len(), top.join("; ")),
            }
        }
        println!("The first of them:");
        for issue in report.issues.iter().take(10) {
            println!("  {}: {}", issue.record, issue.message);
        }
        if report.issues.len() > 10 {
            println!("  ... and {} more ({rest})", report.issues.len() - 10);
        }
    }
}

#[derive(Subcommand)]
pub enum SimCommand {
    /// Serve a simulated Microsoft Entra tenant (login endpoint and Graph) for trying sync.
    Entra(SimEntra),
    /// Serve a simulated Okta organisation (the management API, event hooks, and a control API
    /// under /_sim/ to change it while it runs).
    Okta(crate::okta::SimOkta),
}

/// Serves a simulator, or with a subcommand changes one that is running.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimEntra {
    /// Change a running simulator through its control API (add, edit, disable, delete users ...).
    #[command(subcommand)]
    command: Option<crate::sim_entra::SimEntraCommand>,
    #[arg(long, default_value_t = 2000)]
    users: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of users with a profile photo, 0.0 to 1.0.
    #[arg(long, default_value_t = 0.5)]
    photos: f64,
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: String,
    /// Throttle as Graph does: resource units per app and tenant per 10 s for the tenant's size
    /// (8,000 above 500 users), with 429 and an integer Retry-After.
    #[arg(long)]
    throttle: bool,
}

pub async fn sim(cmd: SimCommand) -> anyhow::Result<()> {
    let args = match cmd {
        SimCommand::Entra(args) => args,
        SimCommand::Okta(args) => return crate::okta::sim(args).await,
    };
    if let Some(command) = args.command {
        return crate::sim_entra::run(command).await;
    }
    let addr: std::net::SocketAddr = args.listen.parse().with_context(|| format!("'{}' is not an address", args.listen))?;
    let sim =
        EntraSim::generate(TenantSpec { users: args.users, seed: args.seed, photo_ratio: args.photos.clamp(0.0, 1.0), ..TenantSpec::default() });
    if args.throttle {
        sim.faults().enable_throttling(roster_sim::RetryAfterStyle::Integer);
    }
    let info = sim.info();
    let base = format!("http://{addr}");
    // The simulator's own throwaway secret: printing it is how a tester connects to it.
    println!(
        "Simulated Microsoft Entra tenant with {} users in the group{}.",
        args.users,
        if args.throttle { ", throttled as Graph does" } else { "" }
    );
    println!("  Tenant ID:   {}", info.tenant_id);
    println!("  Client ID:   {}", info.client_id);
    println!("  Secret:      {}", info.client_secret);
    println!("  Group ID:    {}", info.top_group_id);
    println!("  Login base:  {base}/");
    println!("  Graph base:  {base}/v1.0/");
    println!("  Control API: {base}/_sim/ (roster sim entra add-user|edit-user|delete-user|... --sim {base})");
    println!("Press Ctrl+C to stop.");
    tokio::select! {
        served = roster_sim::serve(sim, addr) => served.context("serving the simulator"),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Users in the demo's simulated tenant, and its fixed seed (so its ids and secret are the
/// same on every start and the stored connection keeps working).
const DEMO_USERS: usize = 2000;
const DEMO_SEED: u64 = 2026;

/// `roster demo`: a simulated tenant on loopback and the organisation's Entra connection
/// pointing at it, disabled, so a newcomer can enable it and press "Sync users". The
/// simulator lives as long as the returned handle. Its port changes on every start, so an
/// existing connection gets the new addresses (and keeps its enabled flag).
pub async fn demo_connection(state: &roster_app::App, org: &roster_core::Org) -> anyhow::Result<roster_sim::RunningSim> {
    let sim = EntraSim::generate(TenantSpec { users: DEMO_USERS, seed: DEMO_SEED, photo_ratio: 0.3, ..TenantSpec::default() });
    // The demo tenant's admin also granted the optional permission that names the tenant.
    sim.faults().grant_permission("Organization.Read.All");
    let info = sim.info();
    let running = roster_sim::spawn_loopback(sim).await.context("starting the Entra simulator")?;
    let existing = entra_setup::entra_connection(state, org.id).await?;
    // The demo's own connection: unreadable settings are replaced by the demo's defaults.
    let settings = existing.as_ref().and_then(|c| EntraSettings::from_connection(c).ok());
    let setup = EntraSetup {
        authorization: roster_app::provision::entra::sync::Authorization::OwnApp,
        tenant_id: info.tenant_id.clone(),
        group_id: info.top_group_id.clone(),
        client_id: info.client_id.clone(),
        client_secret: info.client_secret.clone(),
        invite: settings.as_ref().is_some_and(|s| s.invite),
        manage_managers: settings.as_ref().is_none_or(|s| s.manage_managers),
        photos: settings.as_ref().is_none_or(|s| s.photos),
        daily_at: settings.as_ref().map(|s| s.daily_at.clone()).unwrap_or_default(),
        mappings: settings
            .as_ref()
            .map(|s| roster_app::provision::entra::sync::format_rules(&s.mappings))
            .unwrap_or_else(|| "employeeId → custom.employee_id".into()),
        login_base: Some(format!("{}/", running.base_url)),
        graph_base: Some(format!("{}/v1.0/", running.base_url)),
        // Blank: the connection keeps the limits an admin set.
        guard_max_people: String::new(),
        guard_max_percent: String::new(),
        // The demo points its own connection at the simulator it has just started.
        confirm_repoint: true,
    };
    // Saving starts live updates over (this simulator knows nothing of the last start's
    // subscriptions or delta links); a full sync records where the delta rounds start.
    let connection = entra_setup::save_setup(state, org.id, &Actor::System, &setup).await?;
    if connection.enabled {
        entra_setup::enqueue_sync(state, &connection, "schedule").await?;
    }
    Ok(running)
}
