//! Okta event hooks' address: the one-time verification (GET) and the deliveries (POST),
//! answered at once; the users they name are read again from Okta by a job.

use crate::routing::OrgCtx;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_app::provision::okta::hooks::{self, HookError};
use roster_core::ConnectionId;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct HookPath {
    connection: String,
}

fn answer(error: HookError) -> Response {
    let status = match &error {
        HookError::NotFound => StatusCode::NOT_FOUND,
        HookError::Unauthorized => StatusCode::UNAUTHORIZED,
        HookError::Unreadable(_) => StatusCode::BAD_REQUEST,
        HookError::Store(detail) => {
            tracing::error!(%detail, "an Okta event hook could not be kept");
            // Okta retries a 5xx once; the daily pull repairs the rest.
            return (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "error": "try again" }))).into_response();
        }
    };
    (status, Json(serde_json::json!({ "error": error.to_string() }))).into_response()
}

fn connection_id(path: &HookPath) -> Option<ConnectionId> {
    path.connection.parse().ok()
}

/// Okta's verification request: echo the challenge.
pub async fn verify(State(state): State<AppState>, ctx: OrgCtx, Path(path): Path<HookPath>, headers: HeaderMap) -> Response {
    let Some(id) = connection_id(&path) else { return answer(HookError::NotFound) };
    if let Err(error) = hooks::verify(&state, ctx.org.id, id).await {
        return answer(error);
    }
    match headers.get("x-okta-verification-challenge").and_then(|v| v.to_str().ok()) {
        Some(challenge) => Json(serde_json::json!({ "verification": challenge })).into_response(),
        None => answer(HookError::Unreadable("no x-okta-verification-challenge header".into())),
    }
}

/// A delivery of events: kept, and answered at once (Okta waits 3 seconds at most).
pub async fn deliver(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<HookPath>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(id) = connection_id(&path) else { return answer(HookError::NotFound) };
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match hooks::receive(&state, ctx.org.id, id, authorization, &body).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => answer(error),
    }
}
