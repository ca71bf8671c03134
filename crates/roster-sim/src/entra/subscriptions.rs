//! Change-notification subscriptions: their state, the Graph endpoints that read, renew and
//! delete them (`/subscriptions`, `/subscriptions/{id}`, `/subscriptions/{id}/reauthorize`),
//! and the test controls. Creation, which calls the client's endpoints, is in
//! `subscription_create.rs`.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use super::clock::expiry_time;
use super::errors::{graph_error, GraphResponse};
use super::graph::{Call, GROUP_MEMBER_READ, USER_READ};
use super::tenant::{Change, ChangeKind, ObjectKind};
use super::{EntraSim, SimError, SimState};

/// Users and groups subscriptions live at most 41,760 minutes (just under 29 days).
pub const MAX_LIFETIME: TimeDelta = TimeDelta::minutes(41_760);
/// Subscriptions per app per tenant.
pub const MAX_PER_APP: usize = 100;
pub const MAX_CLIENT_STATE: usize = 128;

/// What a subscription watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    Users,
    User(String),
    Groups,
    Group(String),
    GroupMembers(String),
}

impl Watched {
    /// `users`, `users/{id}`, `groups`, `groups/{id}` or `groups/{id}/members` (leading `/` and
    /// any case accepted, as Graph does).
    pub fn parse(raw: &str) -> Option<Watched> {
        let parts: Vec<&str> = raw.trim().trim_matches('/').split('/').collect();
        let lower: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
        let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
        match lower.as_slice() {
            ["users"] => Some(Watched::Users),
            ["users", _] => Some(Watched::User(parts[1].to_string())),
            ["groups"] => Some(Watched::Groups),
            ["groups", _] => Some(Watched::Group(parts[1].to_string())),
            ["groups", _, "members"] => Some(Watched::GroupMembers(parts[1].to_string())),
            _ => None,
        }
    }

    pub fn permissions(&self) -> &'static [&'static str] {
        match self {
            Watched::Users | Watched::User(_) => USER_READ,
            _ => GROUP_MEMBER_READ,
        }
    }

    /// Whether a change is reported to this subscription. Photos never are.
    pub fn covers(&self, change: &Change) -> bool {
        if change.what == ChangeKind::PhotoChanged {
            return false;
        }
        let membership = matches!(change.what, ChangeKind::MemberAdded { .. } | ChangeKind::MemberRemoved { .. });
        match (self, change.kind) {
            (Watched::Users, ObjectKind::User) | (Watched::Groups, ObjectKind::Group) => true,
            (Watched::User(id), ObjectKind::User) | (Watched::Group(id), ObjectKind::Group) => id.eq_ignore_ascii_case(&change.object_id),
            (Watched::GroupMembers(id), ObjectKind::Group) => membership && id.eq_ignore_ascii_case(&change.object_id),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub watched: Watched,
    /// The resource as the client wrote it.
    pub resource: String,
    /// `updated,deleted` as the client wrote it.
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_url: Option<String>,
    pub expires: DateTime<Utc>,
    pub client_state: Option<String>,
    pub application_id: String,
    pub creator_id: String,
    /// Changes after this version of the change log are notified.
    pub since_version: u64,
}

impl Subscription {
    pub fn wants(&self, change_type: &str) -> bool {
        self.change_type.split(',').any(|c| c.trim().eq_ignore_ascii_case(change_type))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": expiry_time(self.expires),
            "creatorId": self.creator_id,
            "includeResourceData": false,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
        })
    }
}

/// A subscription as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    pub id: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub expiration: DateTime<Utc>,
    pub client_state: Option<String>,
}

#[derive(Debug, Default)]
pub struct Subscriptions {
    pub by_id: BTreeMap<String, Subscription>,
}

impl Subscriptions {
    /// Forgets expired subscriptions: Graph drops them without a word.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.by_id.retain(|_, sub| sub.expires > now);
    }
}

fn not_found() -> GraphResponse {
    graph_error(404, "ResourceNotFound", "The object was not found.")
}

pub fn invalid_request(message: &str) -> GraphResponse {
    graph_error(400, "InvalidRequest", message)
}

/// Parses an `expirationDateTime` and checks it against the lifetime rules.
pub fn check_expiry(raw: Option<&Value>, now: DateTime<Utc>) -> Result<DateTime<Utc>, GraphResponse> {
    let Some(raw) = raw.and_then(Value::as_str) else {
        return Err(invalid_request("expirationDateTime is a required property."));
    };
    let at = DateTime::parse_from_rfc3339(raw)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| invalid_request(&format!("The value '{raw}' of expirationDateTime is not a valid DateTimeOffset.")))?;
    if at <= now {
        return Err(invalid_request("Subscription expiration must be in the future."));
    }
    if at > now + MAX_LIFETIME {
        return Err(invalid_request(&format!("Subscription expiration can only be {} minutes in the future.", MAX_LIFETIME.num_minutes())));
    }
    Ok(at)
}

/// `/subscriptions...` except creation (which needs the validation round trips).
pub fn route(s: &mut SimState, call: &Call) -> GraphResponse {
    let now = s.clock.now();
    s.subs.prune(now);
    let segs = &call.segments;
    let action = segs.get(2).map(|a| a.to_ascii_lowercase());
    match (call.method.as_str(), segs.len(), action.as_deref()) {
        ("GET", 1, None) => {
            let value: Vec<Value> = s.subs.by_id.values().map(Subscription::to_json).collect();
            GraphResponse::json(200, json!({ "@odata.context": format!("{}/$metadata#subscriptions", call.base), "value": value }))
        }
        ("POST", 1, None) => invalid_request("Subscriptions cannot be created inside a $batch request."),
        ("GET", 2, None) => match s.subs.by_id.get(&segs[1]) {
            Some(sub) => GraphResponse::json(200, entity(sub, call)),
            None => not_found(),
        },
        ("PATCH", 2, None) => renew(s, call, &segs[1], now),
        ("DELETE", 2, None) => match s.subs.by_id.remove(&segs[1]) {
            Some(_) => GraphResponse::no_content(),
            None => not_found(),
        },
        ("POST", 3, Some("reauthorize")) => match s.subs.by_id.get(&segs[1]) {
            Some(_) => GraphResponse::no_content(),
            None => not_found(),
        },
        _ => graph_error(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."),
    }
}

fn entity(sub: &Subscription, call: &Call) -> Value {
    let mut body = sub.to_json();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("@odata.context".into(), json!(format!("{}/$metadata#subscriptions/$entity", call.base)));
    }
    body
}

/// `PATCH /subscriptions/{id}` with a new `expirationDateTime`, under the same lifetime rules.
fn renew(s: &mut SimState, call: &Call, id: &str, now: DateTime<Utc>) -> GraphResponse {
    if !s.subs.by_id.contains_key(id) {
        return not_found();
    }
    let Some(body) = call.body.as_ref().and_then(Value::as_object) else {
        return invalid_request("The request body must be a JSON object.");
    };
    if let Some(other) = body.keys().find(|k| !k.eq_ignore_ascii_case("expirationDateTime")) {
        return invalid_request(&format!("Property '{other}' cannot be updated; only expirationDateTime can."));
    }
    let at = match check_expiry(body.get("expirationDateTime"), now) {
        Ok(at) => at,
        Err(e) => return e,
    };
    match s.subs.by_id.get_mut(id) {
        Some(sub) => {
            sub.expires = at;
            GraphResponse::json(200, entity(sub, call))
        }
        None => not_found(),
    }
}

impl EntraSim {
    /// The live subscriptions (expired ones are gone), oldest id first.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.with(|s| {
            let now = s.clock.now();
            s.subs.prune(now);
            s.subs
                .by_id
                .values()
                .map(|sub| SubscriptionInfo {
                    id: sub.id.clone(),
                    resource: sub.resource.clone(),
                    change_type: sub.change_type.clone(),
                    notification_url: sub.notification_url.clone(),
                    lifecycle_notification_url: sub.lifecycle_url.clone(),
                    expiration: sub.expires,
                    client_state: sub.client_state.clone(),
                })
                .collect()
        })
    }

    /// Graph forgets a subscription: 404 from now on and nothing more delivered for it.
    pub fn lose_subscription(&self, id: &str) -> Result<(), SimError> {
        self.with(|s| s.subs.by_id.remove(id).map(|_| ()).ok_or_else(|| SimError::UnknownSubscription(id.into())))
    }

    /// Graph forgets every subscription; returns how many there were.
    pub fn lose_all_subscriptions(&self) -> usize {
        self.with(|s| std::mem::take(&mut s.subs.by_id).len())
    }
}

/// Whether this call creates a subscription (handled outside the state lock).
pub fn is_create(call: &Call) -> bool {
    call.method == "POST" && call.segments.len() == 1 && call.segments[0].eq_ignore_ascii_case("subscriptions")
}
