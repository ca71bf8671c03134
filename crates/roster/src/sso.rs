//! `roster sso`: sign-in connections (OpenID Connect and SAML 2.0) from the command line. Client secrets are
//! read from an environment variable or a file, never from the command line (which other users
//! of the machine can see).

use crate::commands::app;
use crate::settings::Settings;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use roster_app::signin::saml::{self, SamlSettings};
use roster_app::signin::sso::{new_connection, MatchClaim, OidcSettings};
use roster_app::App;
use roster_core::Org;
use roster_core::{Actor, ConnectionId, ConnectionKind};

async fn org_by_slug(state: &App, slug: &str) -> anyhow::Result<Org> {
    state.store.org_by_slug(slug).await?.with_context(|| format!("no organisation {slug}"))
}

#[derive(Subcommand)]
pub enum SsoCommand {
    /// Add a sign-in connection (disabled until `roster sso enable`, unless --enable).
    #[command(subcommand)]
    Add(AddCommand),
    /// The organisation's sign-in connections and the values to give the provider.
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
        #[arg(long, default_value = roster_oidc::ENTRA_LOGIN)]
        login_base: String,
    },
    /// SAML 2.0 (Okta's SAML app, or any identity provider), by its metadata.
    Saml(SamlArgs),
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
pub struct SamlArgs {
    #[arg(long)]
    org: String,
    /// The button says "Sign in with <name>".
    #[arg(long)]
    name: String,
    /// The identity provider's metadata URL (fetched now; its certificate is pinned).
    #[arg(long, conflicts_with = "metadata_file", required_unless_present = "metadata_file")]
    metadata_url: Option<String>,
    /// A file holding the identity provider's metadata XML.
    #[arg(long)]
    metadata_file: Option<std::path::PathBuf>,
    /// Accept unsolicited (IdP-initiated) sign-ins from the provider's dashboard.
    #[arg(long)]
    allow_idp_initiated: bool,
    #[arg(long)]
    enable: bool,
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

fn is_sign_in(kind: ConnectionKind) -> bool {
    matches!(kind, ConnectionKind::Oidc | ConnectionKind::Saml)
}

fn client_secret(common: &CommonArgs) -> anyhow::Result<String> {
    let secret = match (&common.client_secret_env, &common.client_secret_file) {
        (Some(var), _) => std::env::var(var).with_context(|| format!("the environment variable {var} is not set"))?,
        (None, Some(path)) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        (None, None) => bail!("give the client secret with --client-secret-env VAR or --client-secret-file FILE"),
    };
    Ok(secret.trim().to_owned())
}

async fn add_saml(state: &App, args: &SamlArgs) -> anyhow::Result<()> {
    let org = org_by_slug(state, &args.org).await?;
    let xml = match (&args.metadata_url, &args.metadata_file) {
        (Some(url), _) => saml::fetch_metadata(url).await.map_err(anyhow::Error::msg)?,
        (None, Some(path)) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        (None, None) => bail!("give the metadata with --metadata-url URL or --metadata-file FILE"),
    };
    let settings = SamlSettings::from_metadata(&xml, args.metadata_url.clone(), args.allow_idp_initiated).map_err(anyhow::Error::msg)?;
    let connection = saml::new_connection(org.id, &args.name, &settings, args.enable, state.clock.now()).map_err(anyhow::Error::msg)?;
    state.store.create_connection(&connection, &Actor::Cli).await?;
    println!("{}", connection.id);
    eprintln!(
        "Added '{}' for {} ({}).",
        connection.name,
        settings.idp_entity_id,
        if connection.enabled { "enabled" } else { "disabled: `roster sso enable` shows its button" }
    );
    Ok(())
}

pub async fn run(settings: &Settings, cmd: SsoCommand) -> anyhow::Result<()> {
    let state = app(settings).await?;
    let enable = matches!(cmd, SsoCommand::Enable { .. });
    match cmd {
        SsoCommand::Add(add) => {
            let (common, oidc) = match &add {
                AddCommand::Saml(args) => return add_saml(&state, args).await,
                AddCommand::Oidc { common, discovery_url } => (common, OidcSettings::generic(discovery_url, &common.client_id)),
                AddCommand::Okta { common, domain, authorization_server } => {
                    (common, OidcSettings::okta(domain, authorization_server, &common.client_id))
                }
                AddCommand::Entra { common, tenant_id, match_claim, login_base } => {
                    let claim = MatchClaim::parse(match_claim).context("--match-claim is preferred_username, upn or email")?;
                    (common, OidcSettings::entra(login_base, tenant_id, &common.client_id).map(|s| OidcSettings { match_claim: claim, ..s }))
                }
            };
            let oidc = oidc.map_err(anyhow::Error::msg)?;
            let org = org_by_slug(&state, &common.org).await?;
            let secret = client_secret(common)?;
            let connection = new_connection(&state.master_key, org.id, &common.name, &oidc, &secret, common.enable, state.clock.now())
                .map_err(anyhow::Error::msg)?;
            state.store.create_connection(&connection, &Actor::Cli).await?;
            println!("{}", connection.id);
            eprintln!(
                "Added '{}' ({}).",
                connection.name,
                if connection.enabled { "enabled" } else { "disabled: `roster sso enable` shows its button" }
            );
        }
        SsoCommand::List { org } => {
            let org = org_by_slug(&state, &org).await?;
            let redirect = state.config.org_url(org.slug.as_str(), "/sso/callback");
            eprintln!("OpenID Connect redirect URI: {redirect}");
            eprintln!("SAML ACS URL: {}", state.config.org_url(org.slug.as_str(), "/saml/acs"));
            eprintln!("SAML entity ID and SP metadata: {}", state.config.org_url(org.slug.as_str(), "/saml/metadata"));
            for c in state.store.connections(org.id).await?.into_iter().filter(|c| is_sign_in(c.kind)) {
                let source = match c.kind {
                    ConnectionKind::Saml => SamlSettings::of(&c).map(|s| s.idp_entity_id),
                    _ => OidcSettings::of(&c).map(|s| s.discovery_url),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.id,
                    c.kind,
                    c.name,
                    if c.enabled { "enabled" } else { "disabled" },
                    source.as_deref().unwrap_or("?")
                );
            }
        }
        SsoCommand::Enable { org, id } | SsoCommand::Disable { org, id } => {
            let org = org_by_slug(&state, &org).await?;
            let mut c = state
                .store
                .connection(org.id, id)
                .await?
                .filter(|c| is_sign_in(c.kind))
                .with_context(|| format!("{} has no sign-in connection {id}", org.slug))?;
            c.enabled = enable;
            state.store.update_connection(&c, &Actor::Cli, state.clock.now()).await?;
            println!("{} is {}.", c.name, if c.enabled { "enabled" } else { "disabled" });
        }
    }
    Ok(())
}
