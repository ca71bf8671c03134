//! Okta event hooks: the one-time verification, the secret checked in constant time, the
//! events kept (each delivery and event acted on once) and answered at once; the users they
//! name are read again from Okta by a job, a moment later.

use super::setup::hook_secret;
use crate::jobs::okta_sync::OktaHookReread;
use crate::secrets::same_secret;
use crate::App;
use roster_core::{ConnectionId, ConnectionKind, OrgId};
use roster_store::HookEvent;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("no such event hook")]
    NotFound,
    #[error("the Authorization header does not carry this hook's secret")]
    Unauthorized,
    #[error("the body is not an Okta event hook: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] roster_store::StoreError),
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default, rename = "eventId")]
    event_id: Option<String>,
    data: DeliveryData,
}

#[derive(Deserialize)]
struct DeliveryData {
    #[serde(default)]
    events: Vec<LogEvent>,
}

#[derive(Deserialize)]
struct LogEvent {
    uuid: String,
    #[serde(rename = "eventType")]
    event_type: String,
    #[serde(default)]
    target: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Event types that say something about who has access (the reference's eligible list).
fn relevant(event_type: &str) -> bool {
    ["user.lifecycle.", "user.account.update_profile", "application.user_membership.", "group.user_membership."]
        .iter()
        .any(|p| event_type.starts_with(p))
}

/// The events of a delivery, with the users each names.
pub fn events_of(body: &[u8]) -> Result<Vec<HookEvent>, HookError> {
    let delivery: Delivery = serde_json::from_slice(body).map_err(|e| HookError::Unreadable(e.to_string()))?;
    Ok(delivery
        .data
        .events
        .into_iter()
        .filter(|e| relevant(&e.event_type))
        .map(|e| {
            let mut keys = vec![format!("event:{}", e.uuid)];
            // A repeated delivery repeats its eventId and its events' uuids: all seen, nothing queued.
            keys.extend(delivery.event_id.iter().map(|id| format!("delivery:{id}")));
            let users = e.target.into_iter().filter(|t| t.kind == "User").map(|t| t.id).collect();
            HookEvent { keys, users }
        })
        .collect())
}

async fn hook_connection(app: &App, org: OrgId, id: ConnectionId) -> Result<roster_core::Connection, HookError> {
    match app.store.connection(org, id).await? {
        Some(connection) if connection.kind == ConnectionKind::Okta => Ok(connection),
        _ => Err(HookError::NotFound),
    }
}

/// The verification Okta makes once, when the hook is added: echo the challenge. It reveals
/// nothing, but only for a hook that exists.
pub async fn verify(app: &App, org: OrgId, id: ConnectionId) -> Result<(), HookError> {
    hook_connection(app, org, id).await.map(|_| ())
}

/// Keep a delivery's events and queue the users they name for a re-read. Returns how many users
/// were queued (0 for a repeated delivery).
pub async fn receive(app: &App, org: OrgId, id: ConnectionId, authorization: Option<&str>, body: &[u8]) -> Result<usize, HookError> {
    let connection = hook_connection(app, org, id).await?;
    let secret = hook_secret(app, &connection).map_err(|_| HookError::Unauthorized)?;
    // Okta sends the configured value as it is; some setups prefix a scheme.
    let sent = authorization.unwrap_or_default().trim();
    if !same_secret(sent, &secret) && !same_secret(sent.rsplit(' ').next().unwrap_or_default(), &secret) {
        return Err(HookError::Unauthorized);
    }
    let events = events_of(body)?;
    let queued = app.store.record_hook_events(org, id, &events, app.clock.now()).await?;
    if connection.enabled {
        crate::jobs::enqueue(app, org, &OktaHookReread { connection: id }, app.clock.now()).await?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_names_the_users_of_its_relevant_events() {
        let body = br#"{"eventType":"com.okta.event_hook","eventId":"d1","data":{"events":[
            {"uuid":"u1","eventType":"user.lifecycle.deactivate","target":[{"id":"00u1","type":"User"}]},
            {"uuid":"u2","eventType":"application.user_membership.add","target":[{"id":"00u2","type":"User"},{"id":"0oa1","type":"AppInstance"}]},
            {"uuid":"u3","eventType":"user.session.start","target":[{"id":"00u3","type":"User"}]}]}}"#;
        let events = events_of(body).unwrap();
        assert_eq!(events.len(), 2, "a sign-in is not a provisioning event");
        assert_eq!(events[0].users, ["00u1"]);
        assert_eq!(events[1].users, ["00u2"], "the app is not a user");
        assert_eq!(events[0].keys, ["event:u1", "delivery:d1"]);
        assert!(events_of(b"{}").is_err());
    }
}
