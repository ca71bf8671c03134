//! The change-notification subscriptions of a connection: one on users and one on groups
//! (which also reports membership changes), each with the connection's secret clientState.
//! Graph lets them live under 29 days and forgets them silently when they lapse, so they are
//! renewed well before, created again when Graph lost them, and deleted when the connection is
//! disabled or deleted.

use crate::admin::OpsError;
use crate::provision::entra::setup::graph_config;
use crate::provision::entra::sync::SyncError;
use crate::secrets::password::random_token;
use crate::App;
use chrono::{DateTime, Duration, Utc};
use roster_core::{Actor, Connection};
use roster_entra::{GraphClient, NewSubscription, MAX_SUBSCRIPTION_MINUTES};
use roster_store::EntraSubscription;

/// The sealed secret Graph sends back in every notification's clientState.
pub const CLIENT_STATE: &str = "entra_client_state";

/// What a connection subscribes to.
pub const RESOURCES: [&str; 2] = ["users", "groups"];

/// Asked lifetime: an hour under Graph's maximum, so clocks that differ a little never make
/// Graph refuse it.
const LIFETIME_MINUTES: i64 = MAX_SUBSCRIPTION_MINUTES - 60;

/// Renewed once less than this is left: a failing renewal has two weeks of daily retries.
pub const RENEW_WITHIN_DAYS: i64 = 14;

/// Where Graph posts the connection's change notifications.
pub fn notification_url(app: &App, slug: &str, connection: &Connection) -> String {
    app.config.org_url(slug, &format!("/entra/notifications/{}", connection.id))
}

/// Where Graph posts lifecycle notifications (`reauthorizationRequired`).
pub fn lifecycle_url(app: &App, slug: &str, connection: &Connection) -> String {
    app.config.org_url(slug, &format!("/entra/lifecycle/{}", connection.id))
}

/// The connection's clientState, once it has one.
pub fn client_state(app: &App, connection: &Connection) -> Option<String> {
    let sealed = connection.sealed.get(CLIENT_STATE)?;
    let bytes = app.master_key.open(connection.org, CLIENT_STATE, sealed).ok()?;
    String::from_utf8(bytes).ok()
}

/// The clientState, made and sealed the first time it is needed.
async fn ensure_client_state(app: &App, connection: &Connection) -> Result<String, OpsError> {
    if let Some(secret) = client_state(app, connection) {
        return Ok(secret);
    }
    let secret = random_token();
    let mut updated = connection.clone();
    updated.sealed.insert(CLIENT_STATE.to_owned(), app.master_key.seal(connection.org, CLIENT_STATE, secret.as_bytes()));
    let now = app.clock.now();
    updated.updated_at = now;
    app.store.update_connection(&updated, &Actor::System, now).await?;
    Ok(secret)
}

fn client(app: &App, connection: &Connection) -> Result<GraphClient, SyncError> {
    let config = graph_config(app, connection).map_err(|e| SyncError::Settings(e.to_string()))?;
    Ok(GraphClient::new(config)?)
}

/// What a maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintained {
    pub created: usize,
    pub renewed: usize,
    pub deleted: usize,
}

/// Bring the connection's subscriptions in line: both held and far from expiry while it is
/// enabled, none while it is disabled.
pub async fn maintain(app: &App, connection: &Connection) -> Result<Maintained, SyncError> {
    let mut done = Maintained::default();
    let stored = app.store.entra_subscriptions(connection.org, connection.id).await?;
    if !connection.enabled {
        done.deleted = delete_all(app, connection).await?;
        return Ok(done);
    }
    let org = app.store.org_by_id(connection.org).await?.ok_or_else(|| SyncError::Settings("the organisation is gone".into()))?;
    let secret = ensure_client_state(app, connection).await.map_err(|e| SyncError::Settings(e.to_string()))?;
    let client = client(app, connection)?;
    let now = app.clock.now();
    let expires = now + Duration::minutes(LIFETIME_MINUTES);
    let (notify, lifecycle) = (notification_url(app, org.slug.as_str(), connection), lifecycle_url(app, org.slug.as_str(), connection));
    for resource in RESOURCES {
        let held = stored.iter().find(|s| s.resource == resource);
        if let Some(held) = held {
            if held.expires_at > now + Duration::days(RENEW_WITHIN_DAYS) {
                continue;
            }
            if let Some(renewed) = client.renew_subscription(&held.id, resource, expires).await? {
                app.store.save_entra_subscription(&EntraSubscription { expires_at: renewed.expires, ..held.clone() }).await?;
                done.renewed += 1;
                continue;
            }
            // Graph lost it (lapsed, or removed on its side): forget it and subscribe again.
            app.store.delete_entra_subscription(&held.id).await?;
        }
        let new = NewSubscription { resource, notification_url: &notify, lifecycle_url: &lifecycle, expires, client_state: &secret };
        let made = client.create_subscription(&new).await?;
        let row = EntraSubscription {
            id: made.id,
            org: connection.org,
            connection: connection.id,
            resource: resource.to_owned(),
            expires_at: made.expires,
            created_at: now,
        };
        app.store.save_entra_subscription(&row).await?;
        done.created += 1;
    }
    for other in stored.iter().filter(|s| !RESOURCES.contains(&s.resource.as_str())) {
        client.delete_subscription(&other.id).await?;
        app.store.delete_entra_subscription(&other.id).await?;
        done.deleted += 1;
    }
    Ok(done)
}

/// Delete the connection's subscriptions at Graph and here. One Graph cannot delete now is
/// forgotten anyway: it lapses by itself, and notifications for an unknown subscription are
/// refused.
pub async fn delete_all(app: &App, connection: &Connection) -> Result<usize, SyncError> {
    let stored = app.store.entra_subscriptions(connection.org, connection.id).await?;
    if stored.is_empty() {
        return Ok(0);
    }
    // Best effort, once each: the target may be gone (a re-pointed connection's old tenant).
    let client = graph_config(app, connection).ok().and_then(|mut config| {
        config.retry.max_attempts = 1;
        GraphClient::new(config).ok()
    });
    for subscription in &stored {
        if let Some(client) = &client {
            if let Err(error) = client.delete_subscription(&subscription.id).await {
                tracing::warn!(%error, connection = %connection.id, "could not delete a Graph subscription; it lapses by itself");
            }
        }
        app.store.delete_entra_subscription(&subscription.id).await?;
    }
    Ok(stored.len())
}

/// Graph asked for a subscription to be reauthorized: marked as expiring now, so the next
/// maintenance pass renews it (or subscribes again).
pub async fn due_now(app: &App, subscription: &EntraSubscription, now: DateTime<Utc>) -> Result<(), roster_store::StoreError> {
    app.store.save_entra_subscription(&EntraSubscription { expires_at: now, ..subscription.clone() }).await
}
