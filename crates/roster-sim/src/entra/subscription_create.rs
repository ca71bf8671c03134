//! `POST /subscriptions`: the request is checked under the state lock, then both URLs get
//! Graph's validation request with the lock released (a client's endpoint may take up to 10 s,
//! and may itself call Graph meanwhile), then the subscription is stored and returned as 201.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;

use super::errors::{forbidden, graph_error, not_found, GraphResponse};
use super::graph::{self, has_any, Call};
use super::subscriptions::{check_expiry, invalid_request, Subscription, Watched, MAX_CLIENT_STATE, MAX_PER_APP};
use super::{lock, EntraSim, SimState};

/// A checked request, waiting for its endpoints to pass validation.
struct Draft {
    watched: Watched,
    resource: String,
    change_type: String,
    notification_url: String,
    lifecycle_url: Option<String>,
    expires: DateTime<Utc>,
    client_state: Option<String>,
}

fn validation_failed() -> GraphResponse {
    graph_error(
        400,
        "ValidationError",
        "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
    )
}

fn timed_out() -> GraphResponse {
    invalid_request("Subscription validation request timed out.")
}

fn quota_exceeded() -> GraphResponse {
    graph_error(403, "Forbidden", &format!("The number of subscriptions of this application in the tenant exceeds the limit of {MAX_PER_APP}."))
}

/// Graph sends only to https. This simulator also takes plain http to a loopback address,
/// because it only ever runs on loopback and its receivers (tests, a local Roster) have no TLS.
fn check_url(raw: &str, field: &str) -> Result<String, GraphResponse> {
    let url = Url::parse(raw).map_err(|_| invalid_request(&format!("The {field} '{raw}' is not a valid absolute URL.")))?;
    match url.scheme() {
        "https" => Ok(raw.to_string()),
        "http" if matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(raw.to_string()),
        _ => Err(invalid_request(&format!("The {field} must use https."))),
    }
}

fn check_change_type(raw: &str, resource: &str) -> Result<String, GraphResponse> {
    let parts: Vec<String> = raw.split(',').map(|p| p.trim().to_ascii_lowercase()).filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err(invalid_request("changeType must name at least one change type."));
    }
    for part in &parts {
        match part.as_str() {
            "updated" | "deleted" => {}
            // Directory objects report creation as `updated`; asking for `created` is refused.
            "created" => return Err(invalid_request(&format!("Change type 'created' is not supported for resource '{resource}'."))),
            other => return Err(invalid_request(&format!("'{other}' is not a valid change type."))),
        }
    }
    Ok(parts.join(","))
}

fn check(s: &mut SimState, call: &Call) -> Result<Draft, GraphResponse> {
    let body = call.body.as_ref().and_then(Value::as_object).ok_or_else(|| invalid_request("The request body must be a JSON object."))?;
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    let required = |name: &str| field(name).ok_or_else(|| invalid_request(&format!("{name} is a required property.")));
    let resource = required("resource")?.to_string();
    let watched = Watched::parse(&resource).ok_or_else(|| invalid_request(&format!("Resource '{resource}' is not supported.")))?;
    if !has_any(s, watched.permissions()) {
        return Err(forbidden());
    }
    let exists = match &watched {
        Watched::Users | Watched::Groups => true,
        Watched::User(id) => s.tenant.users.contains_key(id),
        Watched::Group(id) | Watched::GroupMembers(id) => s.tenant.groups.contains_key(id),
    };
    if !exists {
        return Err(not_found(resource.trim_matches('/')));
    }
    let change_type = check_change_type(required("changeType")?, &resource)?;
    let notification_url = check_url(required("notificationUrl")?, "notificationUrl")?;
    let lifecycle_url = field("lifecycleNotificationUrl").map(|u| check_url(u, "lifecycleNotificationUrl")).transpose()?;
    let client_state = field("clientState").map(str::to_string);
    if client_state.as_ref().is_some_and(|c| c.chars().count() > MAX_CLIENT_STATE) {
        return Err(invalid_request(&format!("clientState must be at most {MAX_CLIENT_STATE} characters long.")));
    }
    let now = s.clock.now();
    let expires = check_expiry(body.get("expirationDateTime"), now)?;
    s.subs.prune(now);
    if s.subs.by_id.len() >= MAX_PER_APP {
        return Err(quota_exceeded());
    }
    Ok(Draft { watched, resource, change_type, notification_url, lifecycle_url, expires, client_state })
}

/// An opaque token with characters that need encoding (spaces, `:`, `+`, `/`), as Graph's do.
fn validation_token() -> String {
    let request_id = uuid::Uuid::new_v4();
    let nonce = STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    format!("Validation: Testing client application reachability for subscription Request-Id: {request_id} +{nonce}")
}

/// `POST {url}?validationToken=…` (`text/plain`); the endpoint must answer 200, `text/plain`
/// and exactly the decoded token within the timeout.
async fn validate(http: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), GraphResponse> {
    let token = validation_token();
    let mut target = Url::parse(url).map_err(|_| validation_failed())?;
    // Form encoding, as Graph's: spaces become `+`, a `+` becomes `%2B`.
    target.query_pairs_mut().append_pair("validationToken", &token);
    let sent = http.post(target).header(CONTENT_TYPE, "text/plain; charset=utf-8").body("").timeout(timeout).send().await;
    let resp = match sent {
        Ok(resp) => resp,
        Err(e) if e.is_timeout() => return Err(timed_out()),
        Err(_) => return Err(validation_failed()),
    };
    let ok = resp.status().as_u16() == 200;
    let text_plain =
        resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/plain"));
    let body = match resp.text().await {
        Ok(body) => body,
        Err(e) if e.is_timeout() => return Err(timed_out()),
        Err(_) => return Err(validation_failed()),
    };
    if ok && text_plain && body == token {
        Ok(())
    } else {
        Err(validation_failed())
    }
}

/// The app's service principal in the tenant: what `creatorId` names for app-only calls.
fn creator_id(s: &SimState) -> String {
    let digest = Sha256::new()
        .chain_update(b"service-principal")
        .chain_update(s.tenant.id.as_bytes())
        .chain_update(s.tenant.app.client_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn insert(s: &mut SimState, draft: Draft, call: &Call) -> GraphResponse {
    let now = s.clock.now();
    s.subs.prune(now);
    // Another creation may have passed validation meanwhile.
    if s.subs.by_id.len() >= MAX_PER_APP {
        return quota_exceeded();
    }
    let id = uuid::Builder::from_random_bytes(s.rng.gen()).into_uuid().to_string();
    let sub = Subscription {
        id: id.clone(),
        watched: draft.watched,
        resource: draft.resource,
        change_type: draft.change_type,
        notification_url: draft.notification_url,
        lifecycle_url: draft.lifecycle_url,
        expires: draft.expires,
        client_state: draft.client_state,
        application_id: s.tenant.app.client_id.clone(),
        creator_id: creator_id(s),
        since_version: s.tenant.version,
    };
    let mut body = sub.to_json();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("@odata.context".into(), json!(format!("{}/$metadata#subscriptions/$entity", call.base)));
    }
    s.subs.by_id.insert(id, sub);
    GraphResponse::json(201, body)
}

/// `POST /v1.0/subscriptions`, authenticated, faulted and throttled like any Graph call.
pub async fn create(sim: &EntraSim, call: &Call) -> GraphResponse {
    let (draft, headers, timeout) = {
        let mut s = lock(&sim.state);
        let headers = match graph::admit_direct(&mut s, call) {
            Ok(headers) => headers,
            Err(denied) => return denied,
        };
        match check(&mut s, call) {
            Ok(draft) => (draft, headers, s.notify.config.validation_timeout),
            Err(mut e) => {
                graph::record(&mut s, call, e.status);
                e.headers.extend(headers);
                return e;
            }
        }
    };
    let mut result = validate(&sim.http, &draft.notification_url, timeout).await;
    if let (Ok(()), Some(lifecycle)) = (&result, &draft.lifecycle_url) {
        result = validate(&sim.http, lifecycle, timeout).await;
    }
    let mut s = lock(&sim.state);
    let mut response = match result {
        Ok(()) => insert(&mut s, draft, call),
        Err(e) => e,
    };
    graph::record(&mut s, call, response.status);
    response.headers.extend(headers);
    response
}
