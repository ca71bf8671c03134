//! Microsoft Graph's notification addresses for an Entra connection: the validation handshake
//! (a `validationToken` echoed as plain text) and the change and lifecycle notifications,
//! answered 202 at once; a delta round does the work a moment later.

use crate::routing::OrgCtx;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_app::provision::entra::live::notifications::{self, NotificationError};
use roster_core::ConnectionId;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct NotificationPath {
    connection: String,
}

#[derive(Deserialize)]
pub struct Validation {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

fn answer(error: NotificationError) -> Response {
    let status = match &error {
        NotificationError::NotFound => StatusCode::NOT_FOUND,
        NotificationError::Refused => StatusCode::FORBIDDEN,
        NotificationError::Unreadable(_) => StatusCode::BAD_REQUEST,
        NotificationError::Store(detail) => {
            tracing::error!(%detail, "a Graph notification could not be kept");
            // Graph retries a 5xx for hours; the next delta round or full sync repairs the rest.
            return (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "error": "try again" }))).into_response();
        }
    };
    (status, Json(serde_json::json!({ "error": error.to_string() }))).into_response()
}

enum Kind {
    Change,
    Lifecycle,
}

async fn handle(state: AppState, ctx: OrgCtx, path: NotificationPath, validation: Validation, body: axum::body::Bytes, kind: Kind) -> Response {
    let Ok(id) = path.connection.parse::<ConnectionId>() else { return answer(NotificationError::NotFound) };
    // Graph checks the address when subscribing: the token comes back decoded, as plain text.
    if let Some(token) = validation.validation_token {
        return match notifications::verify(&state, ctx.org.id, id).await {
            Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], token).into_response(),
            Err(error) => answer(error),
        };
    }
    let received = match kind {
        Kind::Change => notifications::receive(&state, ctx.org.id, id, &body).await,
        Kind::Lifecycle => notifications::lifecycle(&state, ctx.org.id, id, &body).await,
    };
    match received {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(error) => answer(error),
    }
}

pub async fn change(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<NotificationPath>,
    Query(validation): Query<Validation>,
    body: axum::body::Bytes,
) -> Response {
    handle(state, ctx, path, validation, body, Kind::Change).await
}

pub async fn lifecycle(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<NotificationPath>,
    Query(validation): Query<Validation>,
    body: axum::body::Bytes,
) -> Response {
    handle(state, ctx, path, validation, body, Kind::Lifecycle).await
}
