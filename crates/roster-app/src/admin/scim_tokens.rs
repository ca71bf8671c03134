//! SCIM tokens, for the settings page and the command line. The first token of an
//! organisation creates its SCIM connection, which everything provisioned through SCIM is linked
//! to; several tokens may be live at once (one per identity provider, or during a rotation).

use crate::admin::OpsError;
use crate::secrets::password::random_token;
use crate::App;
use roster_core::secret::token_digest;
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, OrgId};
use roster_store::{NewScimToken, ScimToken};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A token just created: `raw` is shown once and never stored.
pub struct CreatedScimToken {
    pub token: ScimToken,
    pub raw: String,
}

/// The organisation's SCIM connection, created (enabled) when it has none.
pub async fn scim_connection(state: &App, org: OrgId, actor: &Actor) -> Result<Connection, OpsError> {
    let existing = state.store.connections(org).await?.into_iter().find(|c| c.kind == ConnectionKind::Scim);
    if let Some(connection) = existing {
        return Ok(connection);
    }
    let now = state.clock.now();
    let connection = Connection {
        id: ConnectionId::from_uuid(Uuid::now_v7()),
        org,
        kind: ConnectionKind::Scim,
        name: ConnectionKind::Scim.label().into(),
        enabled: true,
        settings: crate::provision::scim::ScimSettings::default().to_json(),
        sealed: BTreeMap::new(),
        created_at: now,
        updated_at: now,
    };
    state.store.create_connection(&connection, actor).await?;
    Ok(connection)
}

pub async fn create_token(state: &App, org: OrgId, name: &str, actor: &Actor) -> Result<CreatedScimToken, OpsError> {
    let name = name.trim();
    let name = if name.is_empty() { "SCIM token" } else { name };
    if name.chars().count() > 100 || crate::admin::has_control(name) {
        return Err(OpsError::Invalid("a token's name needs at most 100 characters, none of them control characters".into()));
    }
    let connection = scim_connection(state, org, actor).await?;
    let raw = format!("rsc_{}", random_token());
    let new = NewScimToken {
        id: Uuid::now_v7(),
        org,
        connection: connection.id,
        name: name.to_owned(),
        digest: token_digest(&raw),
        created_at: state.clock.now(),
        created_by: actor.clone(),
    };
    let token = state.store.create_scim_token(&new).await?;
    Ok(CreatedScimToken { token, raw })
}

/// The address SCIM clients are given: on the organisation's host when there is a base
/// domain, under `/o/{slug}` otherwise.
pub fn base_url(state: &App, slug: &str) -> String {
    state.config.org_url(slug, "/scim/v2")
}

/// The fewest and most requests a second an admin may allow each token.
pub const RATE_LIMITS: std::ops::RangeInclusive<f64> = 1.0..=10_000.0;

/// Set how many requests a second each SCIM token may make (`None`: the default).
pub async fn set_rate_limit(state: &App, org: OrgId, per_second: Option<f64>, actor: &Actor) -> Result<f64, OpsError> {
    if let Some(rate) = per_second {
        if !RATE_LIMITS.contains(&rate) {
            return Err(OpsError::Invalid(format!(
                "Give a rate between {} and {} requests a second (the default is {}).",
                RATE_LIMITS.start(),
                RATE_LIMITS.end(),
                crate::provision::scim::DEFAULT_RATE_PER_SECOND
            )));
        }
    }
    let mut connection = scim_connection(state, org, actor).await?;
    // Only this key changes: the settings hold other things too (the guard's limits).
    let Some(settings) = connection.settings.as_object_mut() else {
        return Err(OpsError::Invalid("The SCIM connection's settings are unreadable.".into()));
    };
    match per_second {
        Some(rate) => settings.insert("rate_limit_per_second".into(), serde_json::json!(rate)),
        None => settings.remove("rate_limit_per_second"),
    };
    state.store.update_connection(&connection, actor, state.clock.now()).await?;
    Ok(per_second.unwrap_or(crate::provision::scim::DEFAULT_RATE_PER_SECOND))
}

/// The organisation's SCIM connection, if it has one (without creating it).
pub async fn existing_connection(state: &App, org: OrgId) -> Result<Option<Connection>, OpsError> {
    Ok(state.store.connections(org).await?.into_iter().find(|c| c.kind == ConnectionKind::Scim))
}
