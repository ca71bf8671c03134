//! `roster sso`: sign-in connections (OpenID Connect and SAML 2.0) from the command line. Client secrets are
//! read from an environment variable or a file, never from the command line (which other users
//! of the machine can see).

use crate::commands::app;
use crate::settings::Settings;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use roster_app::admin::sso::{self as actions, is_sign_in, NewSigning, OidcEdit, SamlEdit};
use roster_app::signin::saml::{self, SamlSettings};
use roster_app::signin::sso::{MatchClaim, OidcSettings};
use roster_app::App;
use roster_core::Org;
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind};

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
    /// Check a connection with its provider now (discovery, client secret, certificates).
    Check {
        #[arg(long)]
        org: String,
        id: ConnectionId,
    },
    /// Give an OpenID connection a new client secret; saved only if the provider takes it.
    RotateSecret {
        #[arg(long)]
        org: String,
        id: ConnectionId,
        /// The environment variable holding the new client secret.
        #[arg(long, conflicts_with = "client_secret_file")]
        client_secret_env: Option<String>,
        /// A file holding the new client secret.
        #[arg(long)]
        client_secret_file: Option<std::path::PathBuf>,
    },
    /// Give a SAML connection new signing material: a certificate, or its metadata again.
    Signing {
        #[arg(long)]
        org: String,
        id: ConnectionId,
        /// A PEM file with the identity provider's new certificate (added beside those still valid).
        #[arg(long, conflicts_with_all = ["metadata_url", "metadata_file"])]
        certificate_file: Option<std::path::PathBuf>,
        /// Fetch the metadata from this URL (it replaces the pinned certificates).
        #[arg(long, conflicts_with = "metadata_file")]
        metadata_url: Option<String>,
        /// A file holding the new metadata XML.
        #[arg(long)]
        metadata_file: Option<std::path::PathBuf>,
    },
    /// Delete a sign-in connection: its button and its links go; nobody's account changes.
    Delete {
        #[arg(long)]
        org: String,
        id: ConnectionId,
        /// Required: deleting cannot be undone.
        #[arg(long)]
        confirm: bool,
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

async fn sign_in_connection(state: &App, org: &str, id: ConnectionId) -> anyhow::Result<Connection> {
    let org = org_by_slug(state, org).await?;
    state.store.connection(org.id, id).await?.filter(|c| is_sign_in(c.kind)).with_context(|| format!("{} has no sign-in connection {id}", org.slug))
}

/// What a check with the provider found, for the operator.
fn print_notes(notes: &[String]) {
    for note in notes {
        eprintln!("  {note}");
    }
}

fn client_secret(common: &CommonArgs) -> anyhow::Result<String> {
    read_secret(&common.client_secret_env, &common.client_secret_file)
}

fn read_secret(env: &Option<String>, file: &Option<std::path::PathBuf>) -> anyhow::Result<String> {
    let secret = match (env, file) {
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
    let (connection, notes) = actions::add_saml(state, org.id, &args.name, &settings, args.enable, &Actor::Cli).await?;
    print_notes(&notes);
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
            let (connection, notes) = actions::add_oidc(&state, org.id, &common.name, &oidc, &secret, common.enable, &Actor::Cli).await?;
            print_notes(&notes);
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
        SsoCommand::Check { org, id } => {
            let c = sign_in_connection(&state, &org, id).await?;
            print_notes(&actions::check(&state, &c).await?);
            println!("{} checks out.", c.name);
        }
        SsoCommand::RotateSecret { org, id, client_secret_env, client_secret_file } => {
            let c = sign_in_connection(&state, &org, id).await?;
            let settings = OidcSettings::of(&c).context("only OpenID connections have a client secret")?;
            let secret = read_secret(&client_secret_env, &client_secret_file)?;
            let edit = OidcEdit { name: c.name.clone(), client_id: settings.client_id, client_secret: Some(secret), match_claim: None };
            print_notes(&actions::edit_oidc(&state, &c, edit, &Actor::Cli).await?);
            println!("{} has its new secret.", c.name);
        }
        SsoCommand::Signing { org, id, certificate_file, metadata_url, metadata_file } => {
            let c = sign_in_connection(&state, &org, id).await?;
            let settings = SamlSettings::of(&c).context("only SAML connections have signing certificates")?;
            let read = |path: &std::path::PathBuf| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
            let signing = match (certificate_file, metadata_url, metadata_file) {
                (Some(path), _, _) => NewSigning::Certificate(read(&path)?),
                (_, Some(url), _) => NewSigning::MetadataUrl(url),
                (_, _, Some(path)) => NewSigning::MetadataXml(read(&path)?),
                _ => bail!("give --certificate-file, --metadata-url or --metadata-file"),
            };
            let edit = SamlEdit { name: c.name.clone(), allow_idp_initiated: settings.allow_idp_initiated, signing };
            print_notes(&actions::edit_saml(&state, &c, edit, &Actor::Cli).await?);
            println!("{} has its new signing material.", c.name);
        }
        SsoCommand::Delete { org, id, confirm } => {
            let c = sign_in_connection(&state, &org, id).await?;
            if !confirm {
                bail!("deleting '{}' cannot be undone: run again with --confirm", c.name);
            }
            actions::delete(&state, &c, &Actor::Cli).await?;
            println!("Deleted {}.", c.name);
        }
        SsoCommand::Enable { org, id } | SsoCommand::Disable { org, id } => {
            let mut c = sign_in_connection(&state, &org, id).await?;
            c.enabled = enable;
            state.store.update_connection(&c, &Actor::Cli, state.clock.now()).await?;
            println!("{} is {}.", c.name, if c.enabled { "enabled" } else { "disabled" });
        }
    }
    Ok(())
}
