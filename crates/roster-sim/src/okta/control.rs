//! The `/_sim/` control API for tests and the CLI: no auth, not rate limited, not logged. Each
//! route calls the same `OktaSim` method a test would.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{OktaSim, OktaSimError};

pub fn routes() -> Router<OktaSim> {
    Router::new()
        .route("/_sim/org", get(org_info))
        .route("/_sim/users", post(create_user))
        .route("/_sim/users/{id}/{action}", post(user_action))
        .route("/_sim/event-hooks", post(register_hook))
        .route("/_sim/event-hooks/deliver", post(deliver))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn sim_error(e: &OktaSimError) -> Response {
    let status = match e {
        OktaSimError::UnknownUser(_) | OktaSimError::NotAssigned(_) => StatusCode::NOT_FOUND,
        OktaSimError::InvalidTransition { .. } | OktaSimError::Deprovisioned(_) => StatusCode::CONFLICT,
        OktaSimError::HookVerification(_) => StatusCode::BAD_REQUEST,
    };
    error(status, e.to_string())
}

/// What a CLI needs to point a client at the org.
async fn org_info(State(sim): State<OktaSim>) -> Json<Value> {
    Json(json!({
        "apiToken": sim.api_token(),
        "appId": sim.app_id(),
        "assignedUsers": sim.assigned_user_ids().len(),
        "oidcClientId": sim.oidc_client_id(),
        "oidcClientSecret": sim.oidc_client_secret(),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewUser {
    login: String,
    first_name: String,
    last_name: String,
}

/// `POST /_sim/users {login, firstName, lastName}` -> 201 with the user as the API shows it.
async fn create_user(State(sim): State<OktaSim>, Json(body): Json<NewUser>) -> Response {
    let id = sim.create_user(&body.login, &body.first_name, &body.last_name);
    (StatusCode::CREATED, Json(sim.user(&id).unwrap_or(Value::Null))).into_response()
}

/// The body as a JSON object, or the 400 to answer.
fn json_object(body: &Bytes, expected: &str) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(Box::new(error(StatusCode::BAD_REQUEST, format!("expected {expected}")))),
    }
}

/// `POST /_sim/users/{id}/{assign|unassign|suspend|unsuspend|deactivate|reactivate}`,
/// `.../profile {field: value, ...}` and `.../manager {"managerId": id | null}`.
async fn user_action(State(sim): State<OktaSim>, Path((id, action)): Path<(String, String)>, body: Bytes) -> Response {
    // The API takes an id or a login; so does the control API.
    let Some(user_id) = sim.user(&id).and_then(|u| u["id"].as_str().map(str::to_string)) else {
        return sim_error(&OktaSimError::UnknownUser(id));
    };
    let result = match action.as_str() {
        "assign" => sim.assign(&user_id),
        "unassign" => sim.unassign(&user_id),
        "suspend" => sim.suspend(&user_id),
        "unsuspend" => sim.unsuspend(&user_id),
        "deactivate" => sim.deactivate(&user_id),
        "reactivate" => sim.reactivate(&user_id),
        "profile" => match json_object(&body, "a JSON object of profile attributes") {
            Ok(fields) => sim.update_profile_many(&user_id, fields),
            Err(resp) => return *resp,
        },
        "manager" => match json_object(&body, "{\"managerId\": id or null}").map(|f| f.get("managerId").cloned()) {
            Ok(Some(Value::String(m))) => sim.set_manager(&user_id, Some(&m)),
            Ok(Some(Value::Null)) => sim.set_manager(&user_id, None),
            Ok(_) => return error(StatusCode::BAD_REQUEST, "expected {\"managerId\": id or null}"),
            Err(resp) => return *resp,
        },
        other => return error(StatusCode::NOT_FOUND, format!("unknown action {other}")),
    };
    match result {
        Ok(()) => Json(sim.user(&user_id).unwrap_or(Value::Null)).into_response(),
        Err(e) => sim_error(&e),
    }
}

#[derive(Deserialize)]
struct NewHook {
    url: String,
    authorization: String,
}

/// `POST /_sim/event-hooks {url, authorization}`: verifies the endpoint, then subscribes it.
async fn register_hook(State(sim): State<OktaSim>, Json(body): Json<NewHook>) -> Response {
    match sim.register_event_hook(&body.url, &body.authorization).await {
        Ok(()) => Json(json!({ "status": "ACTIVE", "verificationStatus": "VERIFIED" })).into_response(),
        Err(e) => sim_error(&e),
    }
}

/// `POST /_sim/event-hooks/deliver`: delivers queued events now, answers the report.
async fn deliver(State(sim): State<OktaSim>) -> Json<Value> {
    let r = sim.deliver_pending_hooks().await;
    let mut out = Map::new();
    for (k, v) in [
        ("events", r.events),
        ("batches", r.batches),
        ("attempts", r.attempts),
        ("delivered", r.delivered),
        ("failed", r.failed),
        ("dropped", r.dropped),
    ] {
        out.insert(k.into(), json!(v));
    }
    Json(Value::Object(out))
}
