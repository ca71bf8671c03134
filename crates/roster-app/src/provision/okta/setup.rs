//! Okta standard connections, as the command line (and the pages) set them up: the address,
//! the app, the sealed API token, and the event hook secret Roster makes and shows once.

use super::client::OktaClient;
use super::settings::{OktaSettings, API_TOKEN, HOOK_SECRET};
use crate::admin::OpsError;
use crate::provision::entra::sync::{parse_daily_at, parse_rules};
use crate::secrets::password::random_token;
use crate::App;
use roster_core::guard::GuardLimits;
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, OrgId};
use std::collections::BTreeMap;

/// What an admin sends. A blank token keeps the stored one.
#[derive(Debug, Clone, Default)]
pub struct OktaSetup {
    pub base_url: String,
    pub app_id: String,
    pub api_token: String,
    pub invite: bool,
    pub manage_managers: bool,
    /// `HH:MM` UTC; blank for 03:00.
    pub daily_at: String,
    /// One `source → target` per line (Okta profile names).
    pub mappings: String,
    pub guard_max_people: String,
    pub guard_max_percent: String,
}

/// A saved connection, with the hook secret when it was just made (shown once).
pub struct SavedOkta {
    pub connection: Connection,
    pub hook_secret: Option<String>,
}

/// The organisation's Okta connection, if it has one.
pub async fn okta_connection(app: &App, org: OrgId) -> Result<Option<Connection>, OpsError> {
    Ok(app.store.connections(org).await?.into_iter().find(|c| c.kind == ConnectionKind::Okta))
}

/// Okta's address: https, or http to this machine (a simulator).
fn base_url(raw: &str) -> Result<String, OpsError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| OpsError::Invalid(format!("'{}' is not an address like https://acme.okta.com", raw.trim())))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(OpsError::Invalid("Okta's address must start with https://".into()));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn app_id(raw: &str) -> Result<String, OpsError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(OpsError::Invalid("The app id is the part of the app's address in the Okta admin console like 0oa1b2c3d4".into()));
    }
    Ok(id.to_owned())
}

/// Create the connection (disabled, with a new hook secret) or update it.
pub async fn save_setup(app: &App, org: OrgId, actor: &Actor, setup: &OktaSetup) -> Result<SavedOkta, OpsError> {
    let existing = okta_connection(app, org).await?;
    let mut settings = OktaSettings {
        base_url: base_url(&setup.base_url)?,
        app_id: app_id(&setup.app_id)?,
        invite: setup.invite,
        manage_managers: setup.manage_managers,
        guard: existing.as_ref().map(|c| GuardLimits::of_settings(&c.settings)).unwrap_or_default(),
        daily_at: match setup.daily_at.trim() {
            "" => crate::provision::entra::sync::DEFAULT_DAILY_AT.to_owned(),
            raw => {
                parse_daily_at(raw).map(|t| t.format("%H:%M").to_string()).ok_or_else(|| OpsError::Invalid("The daily time is HH:MM (UTC)".into()))?
            }
        },
        rules: parse_rules(&setup.mappings).map_err(OpsError::Invalid)?,
    };
    if !setup.guard_max_people.trim().is_empty() || !setup.guard_max_percent.trim().is_empty() {
        settings.guard = GuardLimits::parse(&setup.guard_max_people, &setup.guard_max_percent).map_err(|e| OpsError::Invalid(e.to_string()))?;
    }
    let now = app.clock.now();
    let token = setup.api_token.trim();
    match existing {
        Some(mut connection) => {
            connection.settings = settings.to_json();
            if !token.is_empty() {
                connection.sealed.insert(API_TOKEN.into(), app.master_key.seal(org, API_TOKEN, token.as_bytes()));
            }
            connection.updated_at = now;
            app.store.update_connection(&connection, actor, now).await?;
            Ok(SavedOkta { connection, hook_secret: None })
        }
        None => {
            if token.is_empty() {
                return Err(OpsError::Invalid("An API token is required: create one in Okta under Security → API → Tokens".into()));
            }
            let hook_secret = random_token();
            let mut sealed = BTreeMap::new();
            sealed.insert(API_TOKEN.to_owned(), app.master_key.seal(org, API_TOKEN, token.as_bytes()));
            sealed.insert(HOOK_SECRET.to_owned(), app.master_key.seal(org, HOOK_SECRET, hook_secret.as_bytes()));
            let connection = Connection {
                id: ConnectionId::from_uuid(uuid::Uuid::now_v7()),
                org,
                kind: ConnectionKind::Okta,
                name: "Okta".into(),
                enabled: false,
                settings: settings.to_json(),
                sealed,
                created_at: now,
                updated_at: now,
            };
            app.store.create_connection(&connection, actor).await?;
            Ok(SavedOkta { connection, hook_secret: Some(hook_secret) })
        }
    }
}

fn open(app: &App, connection: &Connection, name: &str) -> Result<String, OpsError> {
    let sealed = connection.sealed.get(name).ok_or_else(|| OpsError::Invalid(format!("the connection has no {name}; set it up again")))?;
    let bytes = app.master_key.open(connection.org, name, sealed).map_err(|e| OpsError::Invalid(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| OpsError::Invalid(format!("the stored {name} is not text; set it up again")))
}

/// A client for the connection's Okta organisation, with the token opened.
pub fn client(app: &App, connection: &Connection) -> Result<OktaClient, OpsError> {
    let settings = OktaSettings::from_connection(connection).map_err(OpsError::Invalid)?;
    OktaClient::new(&settings.base_url, &open(app, connection, API_TOKEN)?).map_err(|e| OpsError::Invalid(e.to_string()))
}

/// The secret Okta sends in `Authorization` with each hook.
pub fn hook_secret(app: &App, connection: &Connection) -> Result<String, OpsError> {
    open(app, connection, HOOK_SECRET)
}

/// Where Okta posts its event hooks for this connection.
pub fn hook_url(app: &App, slug: &str, connection: &Connection) -> String {
    app.config.org_url(slug, &format!("/okta/hooks/{}", connection.id))
}
