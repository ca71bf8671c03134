//! `roster scim token create|list|revoke`: the bearer tokens SCIM clients (Okta, Entra) use.

use crate::commands::app;
use crate::settings::Settings;
use anyhow::{bail, Context};
use clap::Subcommand;
use roster_app::admin::scim_tokens;
use roster_app::App;
use roster_core::{Actor, Org};

#[derive(Subcommand)]
pub enum ScimCommand {
    /// SCIM bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// How many requests a second each SCIM token may make.
    RateLimit {
        #[arg(long)]
        org: String,
        /// Requests a second (bursts of twice that).
        #[arg(long, conflicts_with = "default", required_unless_present = "default")]
        per_second: Option<f64>,
        /// Back to the default.
        #[arg(long)]
        default: bool,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token (and the organisation's SCIM connection, the first time); prints it once.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List an organisation's tokens with their last use.
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a token by its id.
    Revoke {
        #[arg(long)]
        org: String,
        id: uuid::Uuid,
    },
}

async fn org(state: &App, slug: &str) -> anyhow::Result<Org> {
    state.store.org_by_slug(slug).await?.with_context(|| format!("no organisation has the slug '{slug}'"))
}

pub async fn run(settings: &Settings, cmd: ScimCommand) -> anyhow::Result<()> {
    let state = app(settings).await?;
    let cmd = match cmd {
        ScimCommand::Token(cmd) => cmd,
        ScimCommand::RateLimit { org: slug, per_second, .. } => {
            let org = org(&state, &slug).await?;
            let rate = scim_tokens::set_rate_limit(&state, org.id, per_second, &Actor::Cli).await?;
            println!("Each SCIM token of {} may make {rate} requests a second.", org.slug);
            return Ok(());
        }
    };
    match cmd {
        TokenCommand::Create { org: slug, name } => {
            let org = org(&state, &slug).await?;
            let created = scim_tokens::create_token(&state, org.id, &name, &Actor::Cli).await?;
            eprintln!(
                "Created SCIM token '{}' ({}) for {}. It is shown only now:",
                created.token.name,
                created.token.id,
                scim_tokens::base_url(&state, org.slug.as_str())
            );
            println!("{}", created.raw);
        }
        TokenCommand::List { org: slug } => {
            let org = org(&state, &slug).await?;
            for token in state.store.scim_tokens(org.id).await? {
                let revoked = if token.revoked_at.is_some() { "revoked" } else { "active" };
                let used = token.last_used_at.map_or_else(|| "never used".to_owned(), |t| format!("last used {}", t.format("%Y-%m-%d %H:%M")));
                println!("{}\t{}\t{}\t{}", token.id, token.name, revoked, used);
            }
        }
        TokenCommand::Revoke { org: slug, id } => {
            let org = org(&state, &slug).await?;
            if !state.store.revoke_scim_token(org.id, id, &Actor::Cli, state.clock.now()).await? {
                bail!("{} has no live SCIM token {id}", org.slug);
            }
            println!("Revoked.");
        }
    }
    Ok(())
}
