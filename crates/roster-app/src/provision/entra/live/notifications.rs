//! Graph's change and lifecycle notifications. Each is checked (the subscription is this
//! connection's, the clientState its secret, compared in constant time), noted, and answered
//! at once: Graph marks an endpoint that takes seconds as slow and then drops notifications.
//! The work happens in a delta round a moment later; duplicates and reordering only ask for a
//! round that is asked for already.

use super::subscriptions::{client_state, due_now};
use crate::jobs::entra_live::{EntraDelta, EntraSubscriptions};
use crate::secrets::same_secret;
use crate::App;
use roster_core::{Connection, ConnectionId, ConnectionKind, OrgId, Via};
use roster_store::EntraSubscription;
use serde::Deserialize;
use std::collections::HashMap;

/// Notifications arriving this close together share one round.
pub const DEBOUNCE_MS: i64 = 150;

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("no such notification endpoint")]
    NotFound,
    #[error("no notification in the body belongs to this connection's subscriptions")]
    Refused,
    #[error("the body is not a Graph notification: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] roster_store::StoreError),
}

#[derive(Deserialize)]
struct Payload {
    value: Vec<Notification>,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "subscriptionId")]
    subscription_id: String,
    #[serde(rename = "clientState", default)]
    client_state: Option<String>,
    #[serde(rename = "lifecycleEvent", default)]
    lifecycle_event: Option<String>,
}

async fn entra_connection(app: &App, org: OrgId, id: ConnectionId) -> Result<Connection, NotificationError> {
    match app.store.connection(org, id).await? {
        Some(connection) if connection.kind == ConnectionKind::Entra => Ok(connection),
        _ => Err(NotificationError::NotFound),
    }
}

/// The notifications of `body` that are genuinely this connection's, with their subscription.
async fn genuine(app: &App, connection: &Connection, body: &[u8]) -> Result<Vec<(Notification, EntraSubscription)>, NotificationError> {
    let payload: Payload = serde_json::from_slice(body).map_err(|e| NotificationError::Unreadable(e.to_string()))?;
    let Some(secret) = client_state(app, connection) else { return Err(NotificationError::Refused) };
    let mut known: HashMap<String, Option<EntraSubscription>> = HashMap::new();
    let mut out = Vec::new();
    for notification in payload.value {
        if !same_secret(notification.client_state.as_deref().unwrap_or_default(), &secret) {
            continue;
        }
        if !known.contains_key(&notification.subscription_id) {
            let found = app.store.entra_subscription(&notification.subscription_id).await?;
            known.insert(notification.subscription_id.clone(), found);
        }
        let subscription = known.get(&notification.subscription_id).cloned().flatten();
        if let Some(subscription) = subscription.filter(|s| s.org == connection.org && s.connection == connection.id) {
            out.push((notification, subscription));
        }
    }
    if out.is_empty() {
        return Err(NotificationError::Refused);
    }
    Ok(out)
}

/// The validation Graph makes when subscribing: only an existing endpoint echoes the token.
pub async fn verify(app: &App, org: OrgId, id: ConnectionId) -> Result<(), NotificationError> {
    entra_connection(app, org, id).await.map(|_| ())
}

/// Change notifications: note them and ask for a round. Returns how many were genuine.
pub async fn receive(app: &App, org: OrgId, id: ConnectionId, body: &[u8]) -> Result<usize, NotificationError> {
    let connection = entra_connection(app, org, id).await?;
    let genuine = genuine(app, &connection, body).await?;
    let now = app.clock.now();
    app.store.note_entra_notification(org, id, now).await?;
    if connection.enabled {
        let round = EntraDelta { connection: id, via: Via::Notification };
        crate::jobs::enqueue(app, org, &round, now + chrono::Duration::milliseconds(DEBOUNCE_MS)).await?;
    }
    Ok(genuine.len())
}

/// Lifecycle notifications: a subscription that needs reauthorizing is renewed by the next
/// maintenance pass, queued now.
pub async fn lifecycle(app: &App, org: OrgId, id: ConnectionId, body: &[u8]) -> Result<usize, NotificationError> {
    let connection = entra_connection(app, org, id).await?;
    let genuine = genuine(app, &connection, body).await?;
    let now = app.clock.now();
    for (notification, subscription) in &genuine {
        tracing::info!(connection = %id, event = notification.lifecycle_event.as_deref().unwrap_or("unknown"), "Graph lifecycle notification");
        due_now(app, subscription, now).await?;
    }
    crate::jobs::enqueue(app, org, &EntraSubscriptions { connection: id }, now).await?;
    Ok(genuine.len())
}
