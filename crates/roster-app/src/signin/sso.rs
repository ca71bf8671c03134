//! Sign-in connections: what an OpenID Connect connection's settings say, and the cached
//! providers. The flows are `super::oidc` and `super::saml`; the protocol is `roster_oidc`.

use crate::secrets::seal::MasterKey;
use chrono::{DateTime, Utc};
use roster_core::{Connection, ConnectionId, ConnectionKind, OrgId};
use roster_oidc::Providers;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The sealed secret's column name (associated data of the seal).
pub const CLIENT_SECRET: &str = "client_secret";
/// The column name PKCE verifiers are sealed under.
pub const VERIFIER_COLUMN: &str = "sso_pkce_verifier";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OidcProvider {
    Entra,
    Okta,
    Generic,
}

/// Which claim of a Microsoft token names the person's e-mail address in Roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MatchClaim {
    /// The UPN as v2 tokens carry it.
    #[default]
    PreferredUsername,
    /// Only when the app registration adds it as an optional claim.
    Upn,
    Email,
}

impl MatchClaim {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "preferred_username" => Some(Self::PreferredUsername),
            "upn" => Some(Self::Upn),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

/// An OIDC connection's non-secret settings (`Connection::settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcSettings {
    pub provider: OidcProvider,
    pub discovery_url: String,
    pub client_id: String,
    /// Microsoft connections: the tenant whose tokens are accepted.
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub match_claim: MatchClaim,
}

impl OidcSettings {
    /// `None` for another kind, or for settings that no longer parse: sign-in then refuses the
    /// connection as unusable, which fails closed.
    pub fn of(connection: &Connection) -> Option<Self> {
        (connection.kind == ConnectionKind::Oidc).then(|| serde_json::from_value(connection.settings.clone()).ok()).flatten()
    }

    /// Settings for a Microsoft Entra tenant; `login_base` is Microsoft's login host (or the
    /// simulator's).
    pub fn entra(login_base: &str, tenant_id: &str, client_id: &str) -> Result<Self, String> {
        let tenant = tenant_id.trim();
        if tenant.is_empty() || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
            return Err("The tenant ID is the directory's GUID (or its primary domain), as Entra shows it on the app's overview.".into());
        }
        if matches!(tenant.to_ascii_lowercase().as_str(), "common" | "organizations" | "consumers") {
            return Err("Use your own tenant ID, not common, organizations or consumers: only your directory's people may sign in.".into());
        }
        Self::checked(OidcProvider::Entra, roster_oidc::entra_discovery_url(login_base, tenant), client_id, Some(tenant.to_owned()))
    }

    pub fn okta(domain: &str, server: &str, client_id: &str) -> Result<Self, String> {
        if domain.trim().is_empty() {
            return Err("Enter your Okta domain, e.g. acme.okta.com.".into());
        }
        Self::checked(OidcProvider::Okta, roster_oidc::okta_discovery_url(domain, server), client_id, None)
    }

    pub fn generic(discovery_url: &str, client_id: &str) -> Result<Self, String> {
        Self::checked(OidcProvider::Generic, discovery_url.trim().to_owned(), client_id, None)
    }

    fn checked(provider: OidcProvider, discovery_url: String, client_id: &str, tenant_id: Option<String>) -> Result<Self, String> {
        let url = url::Url::parse(&discovery_url).map_err(|_| "The discovery URL is not a URL.".to_owned())?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err("The discovery URL must be HTTPS.".into());
        }
        if client_id.trim().is_empty() {
            return Err("Enter the client ID (application ID) the provider gave the app.".into());
        }
        Ok(Self { provider, discovery_url, client_id: client_id.trim().to_owned(), tenant_id, match_claim: MatchClaim::default() })
    }
}

/// The connection's client secret, opened; `None` when it does not open (the master key
/// changed, or none was stored).
pub fn client_secret(key: &MasterKey, connection: &Connection) -> Option<String> {
    let sealed = connection.sealed.get(CLIENT_SECRET)?;
    key.open(connection.org, CLIENT_SECRET, sealed).ok().and_then(|v| String::from_utf8(v).ok())
}

/// A new OIDC connection, disabled until an admin enables it, its secret sealed.
pub fn new_connection(
    key: &MasterKey,
    org: OrgId,
    name: &str,
    settings: &OidcSettings,
    client_secret: &str,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<Connection, String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 60 {
        return Err("Give the connection a short name; the button says \"Sign in with <name>\".".into());
    }
    if client_secret.is_empty() {
        return Err("Enter the client secret.".into());
    }
    let settings = serde_json::to_value(settings).map_err(|e| e.to_string())?;
    let mut sealed = std::collections::BTreeMap::new();
    sealed.insert(CLIENT_SECRET.to_owned(), key.seal(org, CLIENT_SECRET, client_secret.as_bytes()));
    Ok(Connection {
        id: ConnectionId::from_uuid(uuid::Uuid::now_v7()),
        org,
        kind: ConnectionKind::Oidc,
        name: name.to_owned(),
        enabled,
        settings,
        sealed,
        created_at: now,
        updated_at: now,
    })
}

/// Discovery documents and key sets, cached for the life of the process (they are caches:
/// another process fetches its own).
pub fn providers() -> Result<&'static Providers, roster_oidc::SsoError> {
    static PROVIDERS: OnceLock<Providers> = OnceLock::new();
    if let Some(p) = PROVIDERS.get() {
        return Ok(p);
    }
    let client = roster_oidc::http_client()?;
    Ok(PROVIDERS.get_or_init(|| Providers::new(client)))
}
