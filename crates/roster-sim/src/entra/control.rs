//! The `/_sim/` control API, for `roster sim entra <subcommand>`, demos and tests: change the
//! tenant while it runs, as an admin would in the Entra portal. No auth and no throttling, but
//! only loopback callers are answered. JSON in and out; errors are `{"error": "…"}` with 400 or
//! 404. Each route calls the `EntraSim` method a test would, so every change lands in the
//! change log and reaches delta queries and subscriptions.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::users::is_user_property;
use super::{EntraSim, SimError};

pub fn routes() -> Router<EntraSim> {
    Router::new()
        .route("/_sim/info", get(info))
        .route("/_sim/users", post(create_user))
        .route("/_sim/users/{user}", patch(edit_user))
        .route("/_sim/users/{user}/{action}", post(user_action))
        .route("/_sim/groups/{group}/members/{member}", put(add_member).delete(remove_member))
        .route("/_sim/groups/{group}/empty", post(empty_group))
        .route("/_sim/clock", post(clock))
        .route("/_sim/subscriptions", get(subscriptions))
        .route_layer(middleware::from_fn(loopback_only))
}

/// The control API changes the tenant without credentials, so it answers loopback callers only.
/// (When the router is driven without a socket, as in unit tests, there is no peer to check.)
async fn loopback_only(request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if peer.is_some_and(|ip| !ip.is_loopback()) {
        return error(StatusCode::FORBIDDEN, "the control API answers loopback callers only");
    }
    next.run(request).await
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// A refusal: its status and the `{"error": …}` message.
struct Fail(StatusCode, String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

impl From<SimError> for Fail {
    fn from(e: SimError) -> Fail {
        let status = match e {
            SimError::UnknownUser(_) | SimError::UnknownGroup(_) | SimError::UnknownObject(_) | SimError::UnknownSubscription(_) => {
                StatusCode::NOT_FOUND
            }
            SimError::NotAMember { .. } | SimError::NotDeleted(_) => StatusCode::BAD_REQUEST,
        };
        Fail(status, e.to_string())
    }
}

fn bad(message: impl Into<String>) -> Fail {
    Fail(StatusCode::BAD_REQUEST, message.into())
}

type Answer = Result<Response, Fail>;

/// The body as a JSON object (an empty body is an empty object).
fn object(body: &Bytes) -> Result<Map<String, Value>, Fail> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(bad("expected a JSON object")),
    }
}

/// Graph user properties only; `id` is the directory's to choose.
fn check_properties(props: &Map<String, Value>) -> Result<(), Fail> {
    match props.keys().find(|k| !is_user_property(k) || k.eq_ignore_ascii_case("id")) {
        Some(name) => Err(bad(format!("'{name}' is not a user property that can be set"))),
        None => Ok(()),
    }
}

fn user_id(sim: &EntraSim, key: &str) -> Result<String, Fail> {
    sim.find_user_id(key).ok_or_else(|| SimError::UnknownUser(key.into()).into())
}

fn group_id(sim: &EntraSim, key: &str) -> Result<String, Fail> {
    sim.find_group_id(key).ok_or_else(|| SimError::UnknownGroup(key.into()).into())
}

/// `GET /_sim/info`: what a client needs to connect, and how big the tenant is now.
async fn info(State(sim): State<EntraSim>) -> Json<Value> {
    let info = sim.info();
    let counts = sim.with(|s| {
        json!({
            "users": s.tenant.users.len(),
            "deletedUsers": s.tenant.deleted_users.len(),
            "groups": s.tenant.groups.len(),
            "subscriptions": s.subs.by_id.len(),
            "pendingNotifications": s.notify.queue.len() + s.notify.in_flight,
            "version": s.tenant.version,
            "now": s.clock.now().to_rfc3339(),
        })
    });
    Json(json!({
        "tenantId": info.tenant_id,
        "clientId": info.client_id,
        "domain": info.domain,
        "topGroupId": info.top_group_id,
        "nestedGroupIds": info.nested_group_ids,
        "outsideGroupId": info.outside_group_id,
        "counts": counts,
    }))
}

/// A free UPN for a new user: `given.surname@domain`, numbered when taken.
fn free_upn(sim: &EntraSim, given: &str, surname: &str) -> String {
    let clean = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
    let local = match (clean(given), clean(surname)) {
        (g, s) if !g.is_empty() && !s.is_empty() => format!("{g}.{s}"),
        (g, s) if g.is_empty() && s.is_empty() => "user".to_string(),
        (g, s) => format!("{g}{s}"),
    };
    let domain = sim.info().domain;
    (1..)
        .map(|n| if n == 1 { format!("{local}@{domain}") } else { format!("{local}{n}@{domain}") })
        .find(|upn| sim.find_user_id(upn).is_none())
        .unwrap_or_default()
}

/// `POST /_sim/users {Graph properties…, "group": id?}` → `{"id", "userPrincipalName", …}`.
/// displayName, userPrincipalName, mail, mailNickname and accountEnabled get defaults.
async fn create_user(State(sim): State<EntraSim>, body: Bytes) -> Answer {
    let mut props = object(&body)?;
    let group = match props.remove("group") {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) => Some(group_id(&sim, &g)?),
        Some(_) => return Err(bad("group must be a group id")),
    };
    check_properties(&props)?;
    let text = |props: &Map<String, Value>, k: &str| props.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let (given, surname) = (text(&props, "givenName"), text(&props, "surname"));
    let upn = match props.get("userPrincipalName").and_then(Value::as_str) {
        Some(upn) if sim.find_user_id(upn).is_some() => return Err(bad(format!("userPrincipalName {upn} is taken"))),
        Some(upn) => upn.to_string(),
        None => free_upn(&sim, &given, &surname),
    };
    let display = format!("{given} {surname}").trim().to_string();
    let defaults = [
        ("displayName", json!(if display.is_empty() { "New User".to_string() } else { display })),
        ("userPrincipalName", json!(upn)),
        ("mail", json!(upn)),
        ("mailNickname", json!(upn.split('@').next().unwrap_or_default())),
        ("accountEnabled", json!(true)),
    ];
    for (name, value) in defaults {
        props.entry(name).or_insert(value);
    }
    let id = sim.create_user(props);
    if let Some(g) = &group {
        sim.add_member(g, &id)?;
    }
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "userPrincipalName": upn, "group": group }))).into_response())
}

/// `PATCH /_sim/users/{id or UPN} {Graph properties…}`: one change; null clears a property.
async fn edit_user(State(sim): State<EntraSim>, Path(user): Path<String>, body: Bytes) -> Answer {
    let props = object(&body)?;
    check_properties(&props)?;
    if props.is_empty() {
        return Err(bad("no properties to set"));
    }
    let id = user_id(&sim, &user)?;
    let names: Vec<String> = props.keys().cloned().collect();
    sim.set_user_properties(&id, props)?;
    Ok(Json(json!({ "id": id, "changed": names })).into_response())
}

/// `POST /_sim/users/{id or UPN}/{disable|enable|delete|restore|purge|move|manager}`; `move`
/// takes `{"from": group, "to": group}`, `manager` takes `{"managerId": id or UPN or null}`.
async fn user_action(State(sim): State<EntraSim>, Path((user, action)): Path<(String, String)>, body: Bytes) -> Answer {
    let id = user_id(&sim, &user)?;
    let fields = object(&body)?;
    match action.as_str() {
        "disable" => sim.disable_user(&id)?,
        "enable" => sim.enable_user(&id)?,
        "delete" => sim.delete_user(&id)?,
        "restore" => sim.restore_user(&id)?,
        "purge" => sim.hard_delete_user(&id)?,
        "move" => {
            let field = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_string);
            let (Some(from), Some(to)) = (field("from"), field("to")) else {
                return Err(bad("expected {\"from\": group, \"to\": group}"));
            };
            sim.move_user(&id, &group_id(&sim, &from)?, &group_id(&sim, &to)?)?;
        }
        "manager" => match fields.get("managerId") {
            Some(Value::Null) => sim.set_manager(&id, None)?,
            Some(Value::String(m)) => sim.set_manager(&id, Some(&user_id(&sim, m)?))?,
            _ => return Err(bad("expected {\"managerId\": id or null}")),
        },
        other => return Err(Fail(StatusCode::NOT_FOUND, format!("unknown action {other}"))),
    }
    Ok(Json(json!({ "id": id, "action": action })).into_response())
}

/// A member by user id or UPN, or by group id or name.
fn member_id(sim: &EntraSim, key: &str) -> Result<String, Fail> {
    sim.find_user_id(key).or_else(|| sim.find_group_id(key)).ok_or_else(|| SimError::UnknownObject(key.into()).into())
}

fn is_member(sim: &EntraSim, group: &str, member: &str) -> bool {
    sim.with(|s| s.tenant.groups.get(group).is_some_and(|g| g.members.iter().any(|m| m == member)))
}

/// `PUT /_sim/groups/{group}/members/{id or UPN}`.
async fn add_member(State(sim): State<EntraSim>, Path((group, member)): Path<(String, String)>) -> Answer {
    let (group, member) = (group_id(&sim, &group)?, member_id(&sim, &member)?);
    let added = !is_member(&sim, &group, &member);
    sim.add_member(&group, &member)?;
    Ok(Json(json!({ "group": group, "member": member, "added": added })).into_response())
}

/// `DELETE /_sim/groups/{group}/members/{id or UPN}`: 404 when it is not a direct member.
async fn remove_member(State(sim): State<EntraSim>, Path((group, member)): Path<(String, String)>) -> Answer {
    let (group, member) = (group_id(&sim, &group)?, member_id(&sim, &member)?);
    if !is_member(&sim, &group, &member) {
        return Err(Fail(StatusCode::NOT_FOUND, SimError::NotAMember { group, member }.to_string()));
    }
    sim.remove_member(&group, &member)?;
    Ok(Json(json!({ "group": group, "member": member, "removed": true })).into_response())
}

/// `POST /_sim/groups/{group}/empty`: removes every direct member, one change each.
async fn empty_group(State(sim): State<EntraSim>, Path(group): Path<String>) -> Answer {
    let group = group_id(&sim, &group)?;
    let removed = sim.empty_group(&group)?;
    Ok(Json(json!({ "group": group, "removed": removed })).into_response())
}

/// `POST /_sim/clock {"advance_seconds": n}` → `{"now": …}` on the simulator's clock.
async fn clock(State(sim): State<EntraSim>, body: Bytes) -> Answer {
    let seconds = object(&body)?.get("advance_seconds").and_then(Value::as_f64).filter(|n| n.is_finite() && *n >= 0.0);
    let Some(seconds) = seconds else {
        return Err(bad("expected {\"advance_seconds\": a number of seconds, 0 or more}"));
    };
    sim.advance_clock(std::time::Duration::try_from_secs_f64(seconds).unwrap_or(std::time::Duration::MAX));
    Ok(Json(json!({ "now": sim.now().to_rfc3339() })).into_response())
}

/// `GET /_sim/subscriptions`: the live subscriptions and what is waiting to be delivered.
async fn subscriptions(State(sim): State<EntraSim>) -> Json<Value> {
    let list: Vec<Value> = sim
        .subscriptions()
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id,
                "resource": s.resource,
                "changeType": s.change_type,
                "notificationUrl": s.notification_url,
                "lifecycleNotificationUrl": s.lifecycle_notification_url,
                "expirationDateTime": s.expiration.to_rfc3339(),
                "clientState": s.client_state,
            })
        })
        .collect();
    Json(json!({ "value": list, "pendingNotifications": sim.pending_notifications(), "droppedNotifications": sim.dropped_notifications() }))
}
