//! `roster sso`: OpenID Connect sign-in connections from the command line. Client secrets are
//! read from an environment variable or a file, never from the command line (which other users
//! of the machine can see).

use crate::commands::state;
use crate::settings::Settings;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use roster_core::{Actor, ConnectionId, ConnectionKind};
use roster_core::Org;
use roster_web::sso::{new_connection, MatchClaim, OidcSettings};
use roster_web::AppState;

async fn org_by_slug(state: &AppState, slug: &str) -> anyhow::Result<Org> {
    state.store.org_by_slug(slug).await?.with_context(|| format!("no organisation {slug}"))
}

#[derive(Subcommand)]
pub enum SsoCommand {
    /// Add an OpenID Connect connection (disabled until `roster sso enable`, unless --enable).
    #[command(subcommand)]
    Add(AddCommand),
    /// The organisation's sign-in connections and the redirect URI to give the provider.
    List {
        #[arg(long)]
        org: String,
    },
    /// Show the connection's button on the login page.
    Enable {
        #[arg(long)]
        org: String,
        id: ConnectionId,
    },
    /// Hide the button; sign-ins in flight are refused.
    Disable {
        #[arg(long)]
        org: String,
        id: ConnectionId,
    },
}

#[derive(Subcommand)]
pub enum AddCommand {
    /// Any provider, by its discovery URL.
    Oidc {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long)]
        discovery_url: String,
    },
    /// Microsoft Entra ID, by tenant ID.
    Entra {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long)]
        tenant_id: String,
        /// Which claim names the person's e-mail in Roster: preferred_username (the UPN), upn or email.
        #[arg(long, default_value = "preferred_username")]
        match_claim: String,
        /// Microsoft's login host; another only for a simulator.
        #[arg(long, default_value = roster_sso::ENTRA_LOGIN)]
        login_base: String,
    },
    /// Okta, by domain and authorization server.
    Okta {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long)]
        domain: String,
        /// A custom authorization server id (e.g. `default`); empty for the org server.
        #[arg(long, default_value = "")]
        authorization_server: String,
    },
}

#[derive(Args)]
pub struct CommonArgs {
    #[arg(long)]
    org: String,
    /// The button says "Sign in with <name>".
    #[arg(long)]
    name: String,
    #[arg(long)]
    client_id: String,
    /// The environment variable holding the client secret.
    #[arg(long, conflicts_with = "client_secret_file")]
    client_secret_env: Option<String>,
    /// A file holding the client secret.
    #[arg(long)]
    client_secret_file: Option<std::path::PathBuf>,
    #[arg(long)]
    enable: bool,
}

fn client_secret(common: &CommonArgs) -> anyhow::Result<String> {
    let secret = match (&common.client_secret_env, &common.client_secret_file) {
        (Some(var), _) => std::env::var(var).with_context(|| format!("the environment variable {var} is not set"))?,
        (None, Some(path)) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        (None, None) => bail!("give the client secret with --client-secret-env VAR or --client-secret-file FILE"),
    };
    Ok(secret.trim().to_owned())
}

pub async fn run(settings: &Settings, cmd: SsoCommand) -> anyhow::Result<()> {
    let state = state(settings, false).await?;
    let enable = matches!(cmd, SsoCommand::Enable { .. });
    match cmd {
        SsoCommand::Add(add) => {
            let (common, oidc) = match &add {
                AddCommand::Oidc { common, discovery_url } => (common, OidcSettings::generic(discovery_url, &common.client_id)),
                AddCommand::Okta { common, domain, authorization_server } => (common, OidcSettings::okta(domain, authorization_server, &common.client_id)),
                AddCommand::Entra { common, tenant_id, match_claim, login_base } => {
                    let claim = MatchClaim::parse(match_claim).context("--match-claim is preferred_username, upn or email")?;
                    (common, OidcSettings::entra(login_base, tenant_id, &common.client_id).map(|s| OidcSettings { match_claim: claim, ..s }))
                }
            };
            let oidc = oidc.map_err(anyhow::Error::msg)?;
            let org = org_by_slug(&state, &common.org).await?;
            let secret = client_secret(common)?;
            let connection = new_connection(&state.master_key, org.id, &common.name, &oidc, &secret, common.enable, state.clock.now()).map_err(anyhow::Error::msg)?;
            state.store.create_connection(&connection, &Actor::Cli).await?;
            println!("{}", connection.id);
            eprintln!("Added '{}' ({}).", connection.name, if connection.enabled { "enabled" } else { "disabled: `roster sso enable` shows its button" });
        }
        SsoCommand::List { org } => {
            let org = org_by_slug(&state, &org).await?;
            let redirect = state.config.org_url(org.slug.as_str(), "/sso/callback");
            eprintln!("Redirect URI for the provider: {redirect}");
            for c in state.store.connections(org.id).await?.into_iter().filter(|c| c.kind == ConnectionKind::Oidc) {
                let s = OidcSettings::of(&c);
                let discovery = s.as_ref().map(|s| s.discovery_url.as_str()).unwrap_or("?");
                println!("{}\t{}\t{}\t{discovery}", c.id, c.name, if c.enabled { "enabled" } else { "disabled" });
            }
        }
        SsoCommand::Enable { org, id } | SsoCommand::Disable { org, id } => {
            let org = org_by_slug(&state, &org).await?;
            let mut c = state.store.connection(org.id, id).await?.filter(|c| c.kind == ConnectionKind::Oidc).with_context(|| format!("{} has no sign-in connection {id}", org.slug))?;
            c.enabled = enable;
            state.store.update_connection(&c, &Actor::Cli, state.clock.now()).await?;
            println!("{} is {}.", c.name, if c.enabled { "enabled" } else { "disabled" });
        }
    }
    Ok(())
}
