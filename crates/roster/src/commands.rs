//! The command-line actions. Each opens the store the same way and calls the same actions the
//! pages use, so anything an admin clicks can be scripted.

use crate::keys;
use crate::settings::Settings;
use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use roster_app::clock::SystemClock;
use roster_app::config::{Config, EntraApp, SmtpConfig, SmtpSecurity};
use roster_app::{admin, mail, App};
use roster_core::reconcile::Invitations;
use roster_core::{Actor, Org, TeamId};
use roster_web::AppState;
use std::path::PathBuf;
use std::sync::Arc;

/// Open the store, migrate it, and build what the actions need.
/// The application every command acts through, on the database the settings name (migrated).
pub async fn app(settings: &Settings) -> anyhow::Result<App> {
    let location = settings.location();
    let store = roster_store::open(&location).await.with_context(|| format!("opening the database ({location:?})"))?;
    store.migrate().await.context("migrating the database")?;
    let public_url = settings.public_url()?;
    let mut config = Config::local(public_url);
    config.base_domain = settings.base_domain.clone().filter(|d| !d.is_empty());
    config.learning_url = settings.learning_url.clone().filter(|u| !u.trim().is_empty());
    anyhow::ensure!(settings.event_retention_days >= 1, "event_retention_days must be at least 1");
    config.event_retention_days = settings.event_retention_days;
    config.webhook_allow_private = settings.webhook_allow_private_addresses;
    let security: SmtpSecurity = settings.smtp_security.parse().map_err(|e: String| anyhow!(e))?;
    config.smtp = settings.smtp_host.clone().filter(|h| !h.is_empty()).map(|host| SmtpConfig {
        host,
        port: settings.smtp_port,
        username: settings.smtp_username.clone(),
        password: settings.smtp_password.clone(),
        from: settings.smtp_from.clone(),
        security,
    });
    config.entra_app = match (&settings.entra_app_client_id, &settings.entra_app_client_secret) {
        (Some(id), Some(secret)) if !id.trim().is_empty() && !secret.is_empty() => {
            Some(EntraApp { client_id: id.trim().to_owned(), client_secret: secret.clone() })
        }
        (Some(id), _) if !id.trim().is_empty() => bail!("entra_app_client_id is set without entra_app_client_secret"),
        _ => None,
    };
    Ok(App { store, config: Arc::new(config), clock: Arc::new(SystemClock), master_key: keys::load(settings)? })
}

/// The application with what the HTTP side adds, for `serve` and `demo`.
pub async fn state(settings: &Settings, with_metrics: bool) -> anyhow::Result<AppState> {
    let app = app(settings).await?;
    let metrics = if with_metrics {
        Some(metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().context("installing the metrics recorder")?)
    } else {
        None
    };
    Ok(AppState::new(app, metrics))
}

pub async fn serve(settings: &Settings, ready: Option<tokio::sync::oneshot::Sender<()>>) -> anyhow::Result<()> {
    let state = state(settings, true).await?;
    serve_state(settings, state, ready).await
}

pub async fn serve_state(settings: &Settings, state: AppState, ready: Option<tokio::sync::oneshot::Sender<()>>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.listen).await.with_context(|| format!("listening on {}", settings.listen))?;
    tracing::info!(listen = %settings.listen, backend = state.store.backend(), "serving");
    let supervisor = state.supervisor.clone();
    let app = &state.app;
    if let Some(smtp) = app.config.smtp.clone() {
        supervisor.spawn("e-mail delivery", mail::deliver_forever(app.clone(), smtp, supervisor.signals()));
    }
    supervisor.spawn("entra syncs", roster_app::jobs::run_forever::<roster_app::jobs::entra_sync::EntraSync>(app.clone(), supervisor.signals()));
    supervisor.spawn("okta pulls", roster_app::jobs::run_forever::<roster_app::jobs::okta_sync::OktaPull>(app.clone(), supervisor.signals()));
    supervisor.spawn(
        "okta hooks",
        roster_app::jobs::run_forever_every::<roster_app::jobs::okta_sync::OktaHookReread>(
            app.clone(),
            supervisor.signals(),
            std::time::Duration::from_millis(200),
        ),
    );
    // Two runners, so one organisation's long round never keeps another's notification waiting.
    for name in ["entra rounds", "entra rounds (second)"] {
        supervisor.spawn(
            name,
            roster_app::jobs::run_forever_every::<roster_app::jobs::entra_live::EntraDelta>(
                app.clone(),
                supervisor.signals(),
                std::time::Duration::from_millis(50),
            ),
        );
    }
    supervisor.spawn(
        "entra subscriptions",
        roster_app::jobs::run_forever::<roster_app::jobs::entra_live::EntraSubscriptions>(app.clone(), supervisor.signals()),
    );
    supervisor.spawn("daily schedule", roster_app::jobs::scheduler::schedule_forever(app.clone(), supervisor.signals()));
    supervisor.spawn("purge", roster_app::jobs::purge::purge_forever(app.clone(), supervisor.signals()));
    supervisor.spawn("webhooks", roster_app::webhooks::deliver::deliver_forever(app.clone(), supervisor.signals()));
    if let Some(ready) = ready {
        // The demo waits for this; it may have stopped waiting, which changes nothing here.
        let _ = ready.send(());
    }
    axum::serve(listener, roster_web::app(state)).with_graceful_shutdown(shutdown_signal()).await.context("serving")?;
    // Requests are done; now background work: no new claims, a grace period, then give back.
    supervisor.shutdown(std::time::Duration::from_secs(settings.shutdown_grace_seconds)).await;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C, or SIGTERM (what orchestrators send).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests, then background work");
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let location = settings.location();
    let store = roster_store::open(&location).await?;
    store.migrate().await?;
    println!("The {} database is up to date.", store.backend());
    Ok(())
}

pub async fn org_by_slug(state: &App, slug: &str) -> anyhow::Result<Org> {
    state.store.org_by_slug(slug).await?.ok_or_else(|| anyhow!("there is no organisation '{slug}' (see `roster org list`)"))
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organisation and its first owner; prints the owner's password once.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner: String,
    },
    /// List organisations.
    List,
}

pub async fn org(settings: &Settings, cmd: OrgCommand) -> anyhow::Result<()> {
    let state = app(settings).await?;
    match cmd {
        OrgCommand::Create { slug, name, owner } => {
            let created = admin::create_org(&state, &slug, &name, &owner).await?;
            println!("Created {} ({}).", created.org.name, created.org.slug);
            println!("  Sign in:   {}", state.config.org_url(created.org.slug.as_str(), "/login"));
            println!("  Email:     {}", created.owner.email);
            println!("  Password:  {}", created.owner_password);
        }
        OrgCommand::List => {
            for org in state.store.list_orgs().await? {
                println!("{}\t{}\t{}", org.slug, org.name, org.id);
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key; prints it once.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// What the key may do: read (people and teams), write (change them), events (the feed and
        /// webhooks); read and events by default.
        #[arg(long, value_delimiter = ',', default_value = "read,events")]
        scopes: Vec<String>,
    },
    /// List an organisation's API keys.
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke an API key by its id.
    Revoke {
        #[arg(long)]
        org: String,
        id: uuid::Uuid,
    },
}

pub async fn apikey(settings: &Settings, cmd: ApiKeyCommand) -> anyhow::Result<()> {
    let state = app(settings).await?;
    match cmd {
        ApiKeyCommand::Create { org, name, scopes } => {
            let org = org_by_slug(&state, &org).await?;
            let scopes = scopes
                .iter()
                .map(|s| roster_store::ApiScope::parse(s).ok_or_else(|| anyhow!("'{s}' is not a scope: use read, write, events")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let created = admin::create_scoped_api_key(&state, org.id, &name, None, &scopes).await?;
            eprintln!("Created API key '{}' ({}). It is shown only now:", created.info.name, created.info.id);
            println!("{}", created.raw);
        }
        ApiKeyCommand::List { org } => {
            let org = org_by_slug(&state, &org).await?;
            for key in state.store.api_keys(org.id).await? {
                let revoked = if key.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}…\t{}\t{}", key.id, key.name, key.prefix, roster_store::ApiScope::join(&key.scopes), revoked);
            }
        }
        ApiKeyCommand::Revoke { org, id } => {
            let org = org_by_slug(&state, &org).await?;
            if !state.store.revoke_api_key(org.id, id, &Actor::Cli, state.clock.now()).await? {
                bail!("{org} has no API key {id}", org = org.slug);
            }
            println!("Revoked.");
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum TeamCommand {
    /// List teams with their parents and member counts.
    List {
        #[arg(long)]
        org: String,
    },
    /// Create a team.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// The parent team's id.
        #[arg(long)]
        parent: Option<TeamId>,
    },
    /// Rename a team or move it under another parent (omit --parent for a top-level team).
    Update {
        #[arg(long)]
        org: String,
        id: TeamId,
        #[arg(long)]
        name: String,
        #[arg(long)]
        parent: Option<TeamId>,
    },
    /// Delete an empty team, or merge it into another with --into (its people, secondary
    /// members, child teams, managers and SCIM group move there).
    Delete {
        #[arg(long)]
        org: String,
        id: TeamId,
        #[arg(long)]
        into: Option<TeamId>,
    },
    /// Set a team's managers (their addresses; none clears them). The team's people report to
    /// them unless they have an override manager; so do the teams below without managers.
    Managers {
        #[arg(long)]
        org: String,
        id: TeamId,
        emails: Vec<String>,
    },
}

pub async fn team(settings: &Settings, cmd: TeamCommand) -> anyhow::Result<()> {
    let state = app(settings).await?;
    match cmd {
        TeamCommand::List { org } => {
            let org = org_by_slug(&state, &org).await?;
            for t in state.store.teams(org.id).await? {
                let parent = t.team.parent.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
                println!("{}\t{}\tparent {}\t{} primary\t{} secondary", t.team.id, t.team.name, parent, t.primary_members, t.secondary_members);
            }
        }
        TeamCommand::Create { org, name, parent } => {
            let org = org_by_slug(&state, &org).await?;
            let id = admin::create_team(&state, org.id, Actor::Cli, &name, parent).await?;
            println!("{id}");
        }
        TeamCommand::Update { org, id, name, parent } => {
            let org = org_by_slug(&state, &org).await?;
            admin::update_team(&state, org.id, Actor::Cli, id, &name, parent).await?;
            println!("Saved.");
        }
        TeamCommand::Delete { org, id, into } => {
            let org = org_by_slug(&state, &org).await?;
            let moved = admin::delete_team(&state, org.id, &Actor::Cli, id, into).await?;
            match into {
                Some(target) => println!("Merged into {target}: {moved} people moved."),
                None => println!("Deleted."),
            }
        }
        TeamCommand::Managers { org, id, emails } => {
            let org = org_by_slug(&state, &org).await?;
            admin::teams::set_managers(&state, org.id, &Actor::Cli, id, &emails).await?;
            println!("Saved: {} managers.", emails.len());
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Import people from a CSV file (see the Import page for the columns).
    Csv {
        #[arg(long)]
        org: String,
        file: PathBuf,
        /// Show what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Send invitations to the people it creates.
        #[arg(long)]
        invite: bool,
        /// Print the report and every change (applied, or with --dry-run planned) as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn import(settings: &Settings, cmd: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Csv { org, file, dry_run, invite, json } = cmd;
    let state = app(settings).await?;
    let org = org_by_slug(&state, &org).await?;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let invitations = if invite { Invitations::Immediately } else { Invitations::Hold };
    match admin::import_csv(&state, org.id, Actor::CsvImport { by: None }, bytes, invitations, dry_run).await {
        Ok(outcome) if json => {
            let body = serde_json::json!({ "applied": outcome.applied, "report": outcome.report, "changes": outcome.changes });
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        Ok(outcome) => {
            let r = &outcome.report;
            let verb = if outcome.applied { "Imported" } else { "Dry run, nothing changed" };
            println!(
                "{verb}: {} created, {} updated, {} deactivated, {} reactivated, {} unchanged, {} teams created, {} invited.",
                r.created, r.updated, r.deactivated, r.reactivated, r.unchanged, r.teams_created, r.invited
            );
            if !outcome.applied {
                let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
                for change in &outcome.changes {
                    *kinds.entry(change.action()).or_default() += 1;
                }
                for (action, count) in kinds {
                    println!("  {action}: {count}");
                }
            }
            Ok(())
        }
        Err(err) => {
            for issue in admin::import_issues(&err) {
                eprintln!("{}: {}", issue.record, issue.message);
            }
            bail!("{err}; nothing was imported")
        }
    }
}

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// Show who was sent which e-mail and when, newest first. Links are minted when an e-mail
    /// is sent and never stored, so none are shown (see `roster user invite-link`).
    List {
        #[arg(long)]
        org: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

pub async fn outbox(settings: &Settings, cmd: OutboxCommand) -> anyhow::Result<()> {
    let OutboxCommand::List { org, limit } = cmd;
    let state = app(settings).await?;
    let org = org_by_slug(&state, &org).await?;
    for queued in state.store.emails(org.id, limit).await? {
        println!("{}\t{}\t{}\t{}", queued.created_at, queued.email.to(), mail::describe(&queued), mail::subject(&queued.email, &org.name));
    }
    Ok(())
}
