//! Webhooks: an organisation's endpoints, each following the events feed with its own cursor.
//! An event is posted, signed as Standard Webhooks defines, until the endpoint answers 2xx;
//! only then does its cursor move, so nothing is lost on a failure, a crash or a restart, and
//! each endpoint receives the events in commit order (at least once: the `webhook-id` header
//! is the event's id, for receivers to drop repeats).

pub mod address;
pub mod deliver;
pub mod signing;

use crate::admin::OpsError;
use crate::App;
use chrono::Duration;
use roster_core::{Actor, OrgId};
use roster_store::WebhookEndpoint;
use uuid::Uuid;

/// An endpoint failing this long is disabled and its organisation's owners and admins told.
pub const GIVE_UP_AFTER_DAYS: i64 = 3;
/// How long the secret before a rotation is still signed with.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;
/// What seals a secret: the column it belongs to.
const SEAL_COLUMN: &str = "webhook_endpoints.secret";

/// A new endpoint and its signing secret, shown once.
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

fn parse_types(types: &[String]) -> Result<Vec<String>, OpsError> {
    roster_core::feed::parse_types(types.iter().map(String::as_str))
        .ok_or_else(|| OpsError::Invalid("Event types are names like user.created, separated by commas.".into()))
}

/// Add an endpoint for these event types (all when empty). It receives events from now on.
pub async fn add(state: &App, org: OrgId, actor: &Actor, url: &str, types: &[String]) -> Result<CreatedWebhook, OpsError> {
    let url =
        address::check(url, state.config.webhook_allow_private).await.map_err(|e| OpsError::Invalid(format!("The webhook URL is refused: {e}.")))?;
    let types = parse_types(types)?;
    let secret = signing::new_secret();
    let now = state.clock.now();
    let endpoint = WebhookEndpoint {
        id: Uuid::now_v7(),
        org,
        url: url.to_string(),
        types,
        sealed_secret: state.master_key.seal(org, SEAL_COLUMN, secret.as_bytes()),
        sealed_previous: None,
        previous_until: None,
        created_at: now,
        disabled_at: None,
        disabled_reason: None,
        cursor_seq: 0,
        attempts: 0,
        failing_since: None,
        next_attempt_at: now,
    };
    state.store.create_webhook(&endpoint, actor).await?;
    let endpoint = state.store.webhook(org, endpoint.id).await?.ok_or(OpsError::NotFound)?;
    Ok(CreatedWebhook { endpoint, secret })
}

/// A new secret, shown once; the old one is still signed with for a day, so receivers can
/// switch without missing a delivery.
pub async fn rotate_secret(state: &App, org: OrgId, actor: &Actor, id: Uuid) -> Result<String, OpsError> {
    let secret = signing::new_secret();
    let sealed = state.master_key.seal(org, SEAL_COLUMN, secret.as_bytes());
    let now = state.clock.now();
    if !state.store.rotate_webhook_secret(org, id, &sealed, now + Duration::hours(ROTATION_OVERLAP_HOURS), actor, now).await? {
        return Err(OpsError::NotFound);
    }
    Ok(secret)
}

/// Deliver again everything after `cursor` (everything kept when None); a disabled endpoint is
/// enabled again.
pub async fn redeliver(state: &App, org: OrgId, actor: &Actor, id: Uuid, cursor: Option<&str>) -> Result<(), OpsError> {
    let seq = match cursor {
        Some(c) => roster_core::feed::seq_of(c).ok_or_else(|| OpsError::Invalid(format!("'{c}' is not an events-feed cursor.")))?,
        None => 0,
    };
    if !state.store.rewind_webhook(org, id, seq, actor, state.clock.now()).await? {
        return Err(OpsError::NotFound);
    }
    Ok(())
}

pub async fn delete(state: &App, org: OrgId, actor: &Actor, id: Uuid) -> Result<(), OpsError> {
    if !state.store.delete_webhook(org, id, actor, state.clock.now()).await? {
        return Err(OpsError::NotFound);
    }
    Ok(())
}

/// The secrets to sign with now: the current one, and the previous one during its overlap.
fn secrets(state: &App, endpoint: &WebhookEndpoint) -> Result<Vec<String>, OpsError> {
    let open = |sealed: &[u8]| -> Result<String, OpsError> {
        let bytes = state
            .master_key
            .open(endpoint.org, SEAL_COLUMN, sealed)
            .map_err(|_| OpsError::Invalid("a webhook secret cannot be opened with this master key".into()))?;
        String::from_utf8(bytes).map_err(|_| OpsError::Invalid("a webhook secret is damaged".into()))
    };
    let mut secrets = vec![open(&endpoint.sealed_secret)?];
    if let (Some(previous), Some(until)) = (&endpoint.sealed_previous, endpoint.previous_until) {
        if until > state.clock.now() {
            secrets.push(open(previous)?);
        }
    }
    Ok(secrets)
}

/// Send a `webhook.test` message now, outside the feed (it moves no cursor), and log it.
/// Returns the status the endpoint answered, or why it did not.
pub async fn send_test(state: &App, org: OrgId, id: Uuid) -> Result<Result<u16, String>, OpsError> {
    let endpoint = state.store.webhook(org, id).await?.ok_or(OpsError::NotFound)?;
    let client = deliver::client().map_err(|e| OpsError::Invalid(e.to_string()))?;
    let now = state.clock.now();
    let message = Uuid::now_v7();
    let body = serde_json::json!({ "type": "webhook.test", "timestamp": now, "data": { "endpoint": endpoint.id } });
    let started = std::time::Instant::now();
    let outcome = deliver::send(state, &client, &endpoint, &message.to_string(), &body, now).await;
    let delivery = roster_store::WebhookDelivery {
        id: Uuid::now_v7(),
        org,
        endpoint: endpoint.id,
        event: message,
        event_type: "webhook.test".into(),
        at: now,
        status: outcome.as_ref().ok().map(|(status, _)| i32::from(*status)),
        duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
        response: outcome.as_ref().ok().map(|(_, body)| body.clone()),
        error: outcome.as_ref().err().cloned(),
    };
    state.store.record_deliveries(&[delivery]).await?;
    Ok(outcome.map(|(status, _)| status))
}
