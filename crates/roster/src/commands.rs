//! The command-line actions. Each opens the store the same way and calls the same actions the
//! pages use, so anything an admin clicks can be scripted.

use crate::keys;
use crate::settings::Settings;
use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use roster_app::clock::SystemClock;
use roster_app::config::{Config, EntraApp, SmtpConfig, SmtpSecurity};
use roster_app::{admin, mail, App};
use roster_core::query::{PersonFilter, PersonQuery};
use roster_core::reconcile::Invitations;
use roster_core::{Actor, Email, Org, Role, Status, TeamId};
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
    supervisor.spawn("daily schedule", roster_app::jobs::scheduler::schedule_forever(app.clone(), supervisor.signals()));
    supervisor.spawn("purge", roster_app::jobs::purge::purge_forever(app.clone(), supervisor.signals()));
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

async fn org_by_slug(state: &App, slug: &str) -> anyhow::Result<Org> {
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
        ApiKeyCommand::Create { org, name } => {
            let org = org_by_slug(&state, &org).await?;
            let created = admin::create_api_key(&state, org.id, &name, None).await?;
            eprintln!("Created API key '{}' ({}). It is shown only now:", created.info.name, created.info.id);
            println!("{}", created.raw);
        }
        ApiKeyCommand::List { org } => {
            let org = org_by_slug(&state, &org).await?;
            for key in state.store.api_keys(org.id).await? {
                let revoked = if key.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}…\t{}", key.id, key.name, key.prefix, revoked);
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
pub enum UserCommand {
    /// List people, sorted by name.
    List {
        #[arg(long)]
        org: String,
        /// invited, active or deactivated.
        #[arg(long)]
        status: Option<String>,
        /// Name or email prefix.
        #[arg(long)]
        search: Option<String>,
        /// How many to print (the default 100); `--all` prints every match.
        #[arg(long, default_value_t = 100, conflicts_with = "all")]
        limit: u64,
        /// Skip this many matches first.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Every match, read page by page.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
        /// Comma-separated values for a spreadsheet; cells that a spreadsheet would run as a
        /// formula (`=`, `+`, `-`, `@`) are written as text.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Send (or resend) a person's invitation e-mail.
    Invite {
        #[arg(long)]
        org: String,
        email: String,
    },
    /// Print a fresh invitation link for a person who has not accepted yet, to hand over by
    /// hand (no mail server, or a lost e-mail). Their earlier links stop working; the audit
    /// log records that the command line handed one over.
    InviteLink {
        #[arg(long)]
        org: String,
        email: String,
    },
    /// Deactivate a person: signed out everywhere, their open links void; nothing is deleted.
    /// The organisation's only active owner cannot be deactivated.
    Deactivate {
        #[arg(long)]
        org: String,
        email: String,
    },
    /// Reactivate a person (active if they ever signed in, else invited).
    Reactivate {
        #[arg(long)]
        org: String,
        email: String,
    },
    /// Change a person's role: owner, admin, manager or learner. The only active owner stays one.
    Role {
        #[arg(long)]
        org: String,
        email: String,
        role: Role,
    },
}

pub async fn user(settings: &Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let state = app(settings).await?;
    match cmd {
        UserCommand::List { org, status, search, limit, offset, all, json, csv } => {
            let org = org_by_slug(&state, &org).await?;
            let mut filters = Vec::new();
            if let Some(status) = status {
                filters.push(PersonFilter::Status(status.parse::<Status>()?));
            }
            if let Some(search) = search {
                filters.push(PersonFilter::TextPrefix(search));
            }
            // The store answers at most a page at a time: read pages until the limit or the end.
            let filter = PersonFilter::all(filters);
            let wanted = if all { u64::MAX } else { limit };
            let (mut people, mut total) = (Vec::new(), 0);
            while (people.len() as u64) < wanted {
                let room = (wanted - people.len() as u64).min(u64::from(roster_core::query::MAX_PAGE_SIZE)) as u32;
                let page = state.store.search_people(org.id, &PersonQuery::new(filter.clone(), offset + people.len() as u64, room)).await?;
                total = page.total.unwrap_or(total);
                let last = page.people.len() < room as usize;
                people.extend(page.people);
                if last {
                    break;
                }
            }
            if json {
                let people: Vec<_> = people.iter().cloned().map(roster_web::api::users::UserDto::from).collect();
                println!("{}", serde_json::to_string_pretty(&people)?);
            } else if csv {
                write_people_csv(&people, std::io::stdout().lock())?;
            } else {
                for p in &people {
                    println!("{}\t{}\t{}\t{}\t{}", p.id, p.email, p.display_name(), p.role, p.status);
                }
            }
            // Said on every format, so a script never takes part of the directory for all of it.
            if offset + (people.len() as u64) < total {
                eprintln!("{} of {total} people (from {}; --all prints every one)", people.len(), offset + 1);
            } else {
                eprintln!("{} of {total} people", people.len());
            }
        }
        UserCommand::Deactivate { ref org, ref email }
        | UserCommand::Reactivate { ref org, ref email }
        | UserCommand::Role { ref org, ref email, .. } => {
            let org = org_by_slug(&state, org).await?;
            let email = Email::parse(email)?;
            let person =
                state.store.person_by_email(org.id, &email).await?.ok_or_else(|| anyhow!("nobody in {} has the address {email}", org.slug))?;
            let acting = admin::people::Acting { actor: Actor::Cli, role: None };
            let now = match cmd {
                UserCommand::Deactivate { .. } => admin::people::deactivate(&state, org.id, &acting, person.id).await?,
                UserCommand::Reactivate { .. } => admin::people::reactivate(&state, org.id, &acting, person.id).await?,
                UserCommand::Role { role, .. } => admin::people::set_role(&state, org.id, &acting, person.id, role).await?,
                _ => person,
            };
            println!("{}\t{}\t{}", now.email, now.role, now.status);
        }
        UserCommand::Invite { org, email } => {
            let org = org_by_slug(&state, &org).await?;
            let email = Email::parse(&email)?;
            let person =
                state.store.person_by_email(org.id, &email).await?.ok_or_else(|| anyhow!("nobody in {} has the address {email}", org.slug))?;
            admin::invite(&state, org.id, Actor::Cli, person.id).await?;
            println!("Invitation for {email} queued.");
        }
        UserCommand::InviteLink { org, email } => {
            let org = org_by_slug(&state, &org).await?;
            let email = Email::parse(&email)?;
            let person =
                state.store.person_by_email(org.id, &email).await?.ok_or_else(|| anyhow!("nobody in {} has the address {email}", org.slug))?;
            if person.status != Status::Invited || person.activated {
                bail!("{email} is not waiting for an invitation");
            }
            let raw = mail::mint_link(&state, org.id, person.id, roster_store::TokenPurpose::Invitation, Some(&Actor::Cli)).await?;
            println!("{}", mail::link_url(&state.config, org.slug.as_str(), roster_store::TokenPurpose::Invitation, &raw));
        }
    }
    Ok(())
}

/// People as CSV, every cell made safe for spreadsheets.
fn write_people_csv(people: &[roster_core::Person], mut out: impl std::io::Write) -> anyhow::Result<()> {
    use roster_core::csv_export::{person_row, SafeCsv, PEOPLE_COLUMNS};
    let mut file = SafeCsv::new(&PEOPLE_COLUMNS)?;
    for p in people {
        file.row(&person_row(p))?;
    }
    out.write_all(&file.finish()?)?;
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
