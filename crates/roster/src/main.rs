//! `roster`: the service and its command line. Every command finds the database the same way:
//! `--data-dir` / `ROSTER_DATA_DIR` for SQLite, or `ROSTER_DATABASE_URL` for PostgreSQL.

mod commands;
mod demo;
mod entra;
mod keys;
mod logging;
mod lookup;
mod okta;
mod scim;
mod settings;
mod sim_entra;
mod sso;
mod users;
mod webhooks;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "roster", version, about = "People directory and identity integration for a learning platform")]
struct Cli {
    /// A TOML file of settings (environment variables override it).
    #[arg(long, global = true, env = "ROSTER_CONFIG")]
    config: Option<PathBuf>,
    /// Where SQLite keeps its data (ignored when ROSTER_DATABASE_URL is set).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the pages, the API and the background work.
    Serve(ServeArgs),
    /// Try Roster: a seeded organisation `acme` on the embedded database, served locally.
    Demo(ServeArgs),
    /// Bring the database schema up to date.
    Migrate,
    /// Organisations.
    #[command(subcommand)]
    Org(commands::OrgCommand),
    /// API keys for the REST API.
    #[command(subcommand)]
    Apikey(commands::ApiKeyCommand),
    /// SCIM provisioning: the tokens Okta, Entra or another SCIM client use.
    #[command(subcommand)]
    Scim(scim::ScimCommand),
    /// People.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Webhook endpoints that receive the organisation's events.
    #[command(subcommand)]
    Webhook(webhooks::WebhookCommand),
    /// Teams.
    #[command(subcommand)]
    Team(commands::TeamCommand),
    /// Import people.
    #[command(subcommand)]
    Import(commands::ImportCommand),
    /// E-mails queued for an organisation.
    #[command(subcommand)]
    Outbox(commands::OutboxCommand),
    /// Connect an organisation to an identity provider.
    #[command(subcommand)]
    Connect(entra::ConnectCommand),
    /// Delete an organisation's connection to an identity provider.
    #[command(subcommand)]
    Disconnect(entra::DisconnectCommand),
    /// Sync an organisation from Microsoft Entra ID now, with progress, and print the report.
    Sync(entra::SyncArgs),
    /// Simulators for trying integrations without a cloud account.
    #[command(subcommand)]
    Sim(entra::SimCommand),
    /// Sign-in with OpenID Connect (Entra, Okta or any provider).
    #[command(subcommand)]
    Sso(sso::SsoCommand),
    /// Look people and groups up in Microsoft Entra ID, and provision one person now.
    #[command(subcommand)]
    Entra(lookup::EntraCommand),
    /// Print the REST API's OpenAPI document (JSON), e.g. to generate a client.
    Openapi,
    /// Okta's standard provisioning: pull now.
    #[command(subcommand)]
    Okta(okta::OktaCommand),
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<String>,
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("roster: cannot start: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("roster: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = settings::Settings::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        settings.data_dir = Some(dir);
    }
    logging::init(&settings.log, &settings.log_format)?;
    match cli.command {
        Command::Serve(args) => {
            if let Some(listen) = args.listen {
                settings.listen = listen;
            }
            commands::serve(&settings, None).await
        }
        Command::Demo(args) => {
            if let Some(listen) = args.listen {
                settings.listen = listen;
            }
            demo::run(settings).await
        }
        Command::Migrate => commands::migrate(&settings).await,
        Command::Okta(cmd) => okta::run(&settings, cmd).await,
        Command::Openapi => {
            println!("{}", roster_web::api::document());
            Ok(())
        }
        Command::Org(cmd) => commands::org(&settings, cmd).await,
        Command::Apikey(cmd) => commands::apikey(&settings, cmd).await,
        Command::Scim(cmd) => scim::run(&settings, cmd).await,
        Command::User(cmd) => users::user(&settings, cmd).await,
        Command::Webhook(cmd) => webhooks::webhook(&settings, cmd).await,
        Command::Team(cmd) => commands::team(&settings, cmd).await,
        Command::Import(cmd) => commands::import(&settings, cmd).await,
        Command::Outbox(cmd) => commands::outbox(&settings, cmd).await,
        Command::Connect(cmd) => entra::connect(&settings, cmd).await,
        Command::Disconnect(cmd) => entra::disconnect(&settings, cmd).await,
        Command::Sync(args) => entra::sync(&settings, args).await,
        Command::Sim(cmd) => entra::sim(cmd).await,
        Command::Sso(cmd) => sso::run(&settings, cmd).await,
        Command::Entra(cmd) => lookup::run(&settings, cmd).await,
    }
}
