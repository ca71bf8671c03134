//! `roster connect okta` and `roster okta sync`: set up an organisation's Okta connection the
//! standard way (the Okta API pull plus event hooks) and pull it now. The API token comes from
//! a file or an environment variable, never from the command line, and is never printed.

use crate::commands;
use crate::settings::Settings;
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use roster_app::jobs::okta_sync::{enqueue_pull, OktaPull};
use roster_app::provision::entra as entra_setup;
use roster_app::provision::guard;
use roster_app::provision::okta::setup::{self as okta_setup, OktaSetup};
use roster_core::{Actor, OrgId, RunId};
use roster_store::RunStatus;
use std::path::PathBuf;

#[derive(Args)]
pub struct ConnectOkta {
    #[arg(long)]
    org: String,
    /// The Okta organisation's address, e.g. https://acme.okta.com.
    #[arg(long)]
    url: String,
    /// The id of the app in Okta (0oa...): only its assigned users are synced.
    #[arg(long)]
    app_id: String,
    /// A file holding the API token (SSWS); stored sealed.
    #[arg(long, conflicts_with = "token_env")]
    token_file: Option<PathBuf>,
    /// An environment variable holding the API token.
    #[arg(long)]
    token_env: Option<String>,
    /// Send invitations as people are created (otherwise an admin invites them later).
    #[arg(long)]
    invite: bool,
    /// Leave managers alone instead of setting them from Okta's managerId.
    #[arg(long)]
    no_managers: bool,
    /// The daily pull's time, HH:MM UTC (03:00 unless given).
    #[arg(long, default_value = "")]
    daily_at: String,
    /// Enable it now (a new connection is created disabled).
    #[arg(long)]
    enable: bool,
}

#[derive(Subcommand)]
pub enum OktaCommand {
    /// Pull everyone assigned to the app from Okta now and print the report.
    Sync(OktaSyncArgs),
}

#[derive(Args)]
pub struct OktaSyncArgs {
    #[arg(long)]
    org: String,
    /// Read Okta and plan, then stop: what a pull would change now, applying nothing.
    #[arg(long, conflicts_with_all = ["allow", "reject"])]
    dry_run: bool,
    /// Allow this held run: pull again and apply, unless it would now deactivate more people.
    #[arg(long, value_name = "RUN", conflicts_with = "reject")]
    allow: Option<uuid::Uuid>,
    /// Reject this held run: nothing of it is applied, and the connection stays held.
    #[arg(long, value_name = "RUN")]
    reject: Option<uuid::Uuid>,
}

fn read_token(args: &ConnectOkta) -> anyhow::Result<String> {
    let token = match (&args.token_file, &args.token_env) {
        (Some(file), None) => std::fs::read_to_string(file).with_context(|| format!("reading the API token from {}", file.display()))?,
        (None, Some(var)) => std::env::var(var).map_err(|_| anyhow!("the environment variable {var} is not set"))?,
        (None, None) => String::new(),
        _ => bail!("give the API token with --token-file FILE or --token-env VAR, not both"),
    };
    Ok(token.trim().to_owned())
}

async fn org_id(state: &roster_app::App, slug: &str) -> anyhow::Result<(OrgId, String)> {
    let org = state.store.org_by_slug(slug).await?.ok_or_else(|| anyhow!("there is no organisation '{slug}'"))?;
    Ok((org.id, org.slug.to_string()))
}

pub async fn connect(settings: &Settings, args: ConnectOkta) -> anyhow::Result<()> {
    let token = read_token(&args)?;
    let state = commands::app(settings).await?;
    let (org, slug) = org_id(&state, &args.org).await?;
    let setup = OktaSetup {
        base_url: args.url.clone(),
        app_id: args.app_id.clone(),
        api_token: token,
        invite: args.invite,
        manage_managers: !args.no_managers,
        daily_at: args.daily_at.clone(),
        ..OktaSetup::default()
    };
    let saved = okta_setup::save_setup(&state, org, &Actor::Cli, &setup).await?;
    let mut connection = saved.connection;
    if args.enable && !connection.enabled {
        connection = entra_setup::set_enabled(&state, &connection, &Actor::Cli, true).await?;
    }
    println!(
        "Okta connection of {slug} saved ({}).",
        if connection.enabled { "enabled" } else { "disabled: rerun with --enable when the preview looks right" }
    );
    println!("Event hook URL: {}", okta_setup::hook_url(&state, &slug, &connection));
    if let Some(secret) = saved.hook_secret {
        println!("Event hook secret (put it in the hook's Authorization header; shown only now):");
        println!("{secret}");
    }
    Ok(())
}

pub async fn run(settings: &Settings, cmd: OktaCommand) -> anyhow::Result<()> {
    let OktaCommand::Sync(args) = cmd;
    let state = commands::app(settings).await?;
    let (org, slug) = org_id(&state, &args.org).await?;
    let connection =
        okta_setup::okta_connection(&state, org).await?.ok_or_else(|| anyhow!("{slug} has no Okta connection (see `roster connect okta`)"))?;
    if let Some(run) = args.reject {
        guard::reject(&state, org, RunId::from_uuid(run), &Actor::Cli).await?;
        println!("Run {run} rejected: nothing of it was applied. The connection stays held until a pull comes in under its limits.");
        return Ok(());
    }
    let run = match args.allow {
        Some(held) => guard::allow(&state, org, RunId::from_uuid(held), &Actor::Cli).await?,
        None => enqueue_pull(&state, &connection, "cli", args.dry_run).await?,
    };
    // Run the queued pull here, now (a running server may take it first: then wait for it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    loop {
        roster_app::jobs::run_due::<OktaPull>(&state, &tokio_util::sync::CancellationToken::new()).await?;
        let current = state.store.sync_run(org, run).await?.ok_or_else(|| anyhow!("the run disappeared"))?;
        if current.status.is_finished() {
            if let Some(report) = &current.report {
                crate::entra::print_report(report, "see the connection's run page");
            }
            match current.status {
                RunStatus::Succeeded | RunStatus::Previewed => return Ok(()),
                RunStatus::Held => bail!(
                    "held by the deactivation guard: {}. Nothing was applied; decide with `roster okta sync --org {slug} --allow {run}` or `--reject {run}`",
                    current.error.unwrap_or_default()
                ),
                _ => bail!("the pull failed and changed nothing: {}", current.error.unwrap_or_default()),
            }
        }
        if std::time::Instant::now() > deadline {
            bail!("the pull did not finish within an hour");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[derive(Args)]
pub struct SimOkta {
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Share of the users assigned to the app, 0.0 to 1.0.
    #[arg(long, default_value_t = 0.75)]
    assigned: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value = "127.0.0.1:9200")]
    listen: String,
}

pub async fn sim(args: SimOkta) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = args.listen.parse().with_context(|| format!("'{}' is not an address", args.listen))?;
    let sim = roster_sim::okta::OktaSim::generate(roster_sim::okta::OktaSpec {
        users: args.users,
        assigned_share: args.assigned.clamp(0.0, 1.0),
        seed: args.seed,
    });
    // The simulator's own throwaway token: printing it is how a tester connects to it.
    println!("Simulated Okta organisation with {} users, {} assigned to the app.", args.users, sim.assigned_user_ids().len());
    println!("  Address:    http://{addr}");
    println!("  App id:     {}", sim.app_id());
    println!("  API token:  {}", sim.api_token());
    println!("  Change it:  POST http://{addr}/_sim/users/<id or login>/(assign|unassign|suspend|unsuspend|deactivate|reactivate|profile|manager)");
    println!("Press Ctrl+C to stop.");
    tokio::select! {
        served = roster_sim::okta::serve(sim, addr) => served.context("serving the simulator"),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// The demo's Okta organisation in Roster, connected the standard way to a simulated Okta.
pub const DEMO_SLUG: &str = "globex";
pub const DEMO_OWNER: &str = "owner@globex.example";
/// Users of the demo's simulated Okta, and its fixed seed (the same token and app every start).
const DEMO_USERS: usize = 120;
const DEMO_SEED: u64 = 7;

/// What the demo prints about its Okta side.
pub struct DemoOkta {
    pub running: roster_sim::okta::RunningOktaSim,
    pub password: String,
    pub hook_url: String,
    pub hook_secret: String,
}

/// The organisation `globex` (created on the first start), its owner's fresh password, and an
/// enabled Okta connection pointed at a simulator started now, pulled once.
pub async fn demo_connection(state: &roster_app::App, public_slug_url: impl Fn(&str) -> String) -> anyhow::Result<DemoOkta> {
    let sim = roster_sim::okta::OktaSim::generate(roster_sim::okta::OktaSpec { users: DEMO_USERS, assigned_share: 0.75, seed: DEMO_SEED });
    let running = roster_sim::okta::spawn_loopback(sim).await.context("starting the Okta simulator")?;
    let org = match state.store.org_by_slug(DEMO_SLUG).await? {
        Some(org) => org,
        None => roster_app::admin::create_org(state, DEMO_SLUG, "Globex (Okta)", DEMO_OWNER).await?.org,
    };
    let owner = state.store.person_by_email(org.id, &roster_core::Email::parse(DEMO_OWNER)?).await?.context("the demo owner is missing")?;
    let password = roster_app::admin::reset_password(state, org.id, owner.id).await?;
    let setup = OktaSetup {
        base_url: running.base_url.clone(),
        app_id: running.sim.app_id(),
        api_token: running.sim.api_token(),
        manage_managers: true,
        ..OktaSetup::default()
    };
    let saved = okta_setup::save_setup(state, org.id, &Actor::System, &setup).await?;
    let connection = entra_setup::set_enabled(state, &saved.connection, &Actor::System, true).await?;
    let hook_secret = okta_setup::hook_secret(state, &connection)?;
    okta_sign_in(state, org.id, &running).await?;
    let hook_url = public_slug_url(&format!("/okta/hooks/{}", connection.id));
    enqueue_pull(state, &connection, "demo", false).await?;
    roster_app::jobs::run_due::<OktaPull>(state, &tokio_util::sync::CancellationToken::new()).await?;
    Ok(DemoOkta { running, password, hook_url, hook_secret })
}

/// The name of the demo's Okta sign-in connection: the button says "Sign in with Okta".
const OKTA: &str = "Okta";

/// An enabled "Sign in with Okta" against the simulated organisation's authorization server, so
/// the people it provisions sign in with their Okta login.
async fn okta_sign_in(state: &roster_app::App, org: OrgId, running: &roster_sim::okta::RunningOktaSim) -> anyhow::Result<()> {
    let settings = roster_app::signin::sso::OidcSettings::okta(&running.base_url, "", &running.sim.oidc_client_id()).map_err(anyhow::Error::msg)?;
    crate::demo::demo_sign_in(state, org, OKTA, &settings, &running.sim.oidc_client_secret()).await
}
