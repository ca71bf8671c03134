//! Change-notification subscriptions: created with a secret clientState (Graph first checks
//! that the notification URL echoes a validation token), renewed before they lapse, reauthorized
//! when Graph asks, deleted when the connection stops.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::calls::MEMBER_PERMISSION;
use crate::client::{GraphClient, Purpose, Reply};
use crate::GraphError;

/// The longest lifetime Graph grants a subscription on users or groups (41,760 minutes).
pub const MAX_SUBSCRIPTION_MINUTES: i64 = 41_760;

/// What to subscribe to.
#[derive(Debug, Clone)]
pub struct NewSubscription<'a> {
    /// `users`, `groups`, `groups/{id}` …
    pub resource: &'a str,
    pub notification_url: &'a str,
    pub lifecycle_url: &'a str,
    pub expires: DateTime<Utc>,
    /// Sent back with every notification; never logged.
    pub client_state: &'a str,
}

/// A subscription as Graph holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub resource: String,
    pub expires: DateTime<Utc>,
}

fn purpose(resource: &str) -> Purpose {
    let permission = if resource.starts_with("users") { "User.Read.All" } else { MEMBER_PERMISSION };
    Purpose { permission, action: "subscribe to change notifications", group_id: None, what: "subscription" }
}

fn read(reply: &Reply, resource: &str) -> Result<Subscription, GraphError> {
    let body = reply.json()?;
    let id = body.get("id").and_then(Value::as_str).ok_or_else(|| GraphError::InvalidResponse("a subscription without an id".into()))?;
    let expires = body
        .get("expirationDateTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| GraphError::InvalidResponse("a subscription without a readable expirationDateTime".into()))?;
    let resource = body.get("resource").and_then(Value::as_str).unwrap_or(resource).to_owned();
    Ok(Subscription { id: id.to_owned(), resource, expires: expires.with_timezone(&Utc) })
}

fn graph_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl GraphClient {
    /// Create a subscription. Graph validates both URLs before it answers, so Roster must be
    /// reachable at them while this runs.
    pub async fn create_subscription(&self, new: &NewSubscription<'_>) -> Result<Subscription, GraphError> {
        let url = self.graph_url(&["subscriptions"], &[])?;
        let body = json!({
            "changeType": "updated,deleted",
            "notificationUrl": new.notification_url,
            "lifecycleNotificationUrl": new.lifecycle_url,
            "resource": new.resource,
            "expirationDateTime": graph_time(new.expires),
            "clientState": new.client_state,
        });
        let reply = self.send(Method::POST, url, &[], Some(&body)).await?;
        if !reply.ok() {
            return Err(purpose(new.resource).error(&reply));
        }
        read(&reply, new.resource)
    }

    /// Push a subscription's expiry out; `None` when Graph no longer has it (expired or lost).
    pub async fn renew_subscription(&self, id: &str, resource: &str, expires: DateTime<Utc>) -> Result<Option<Subscription>, GraphError> {
        let url = self.graph_url(&["subscriptions", id], &[])?;
        let reply = self.send(Method::PATCH, url, &[], Some(&json!({ "expirationDateTime": graph_time(expires) }))).await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => read(&reply, resource).map(Some),
            _ => Err(purpose(resource).error(&reply)),
        }
    }

    /// Answer a `reauthorizationRequired` lifecycle notification; false when Graph no longer
    /// has the subscription.
    pub async fn reauthorize_subscription(&self, id: &str, resource: &str) -> Result<bool, GraphError> {
        let url = self.graph_url(&["subscriptions", id, "reauthorize"], &[])?;
        let reply = self.send(Method::POST, url, &[], Some(&json!({}))).await?;
        match reply.status {
            404 => Ok(false),
            _ if reply.ok() => Ok(true),
            _ => Err(purpose(resource).error(&reply)),
        }
    }

    /// Delete a subscription; one Graph no longer has is deleted already.
    pub async fn delete_subscription(&self, id: &str) -> Result<(), GraphError> {
        let url = self.graph_url(&["subscriptions", id], &[])?;
        let reply = self.send(Method::DELETE, url, &[], None).await?;
        match reply.status {
            404 => Ok(()),
            _ if reply.ok() => Ok(()),
            _ => Err(purpose("subscriptions").error(&reply)),
        }
    }
}
