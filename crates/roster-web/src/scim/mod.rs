//! The SCIM 2.0 server (RFC 7644) that Okta, Microsoft Entra ID and any SCIM client provision
//! people through, at `/o/{slug}/scim/v2` (so `https://{slug}.{domain}/scim/v2` on the
//! organisation's host).
//!
//! The protocol (filters, PATCH, PUT, projection, paging, discovery) is `roster_scim`; storage is
//! `roster_store::ScimStore`. This module authenticates, turns each write into a plan (Users
//! through the reconciler, Groups as secondary team memberships) and stores the resource and the
//! plan together. Every request is logged without its body.

mod auth;
mod groups;
mod list;
mod log;
pub use log::LogQueue;
mod render;
mod users;

use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use roster_scim::ScimError;
use roster_store::{StoreError, Unique};

pub use auth::ScimClient;

pub const SCIM_MEDIA_TYPE: &str = "application/scim+json";
/// The largest request body accepted; a Group of tens of thousands of members fits.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The largest page returned (`filter.maxResults`).
pub const MAX_RESULTS: usize = 500;
/// A write that keeps losing to concurrent writers of the same resource gives up after this.
const WRITE_ATTEMPTS: usize = 30;

/// Before retrying a write that lost to another writer: a short random pause, growing with the
/// attempt, so that writers of one resource stop colliding in lockstep.
async fn back_off(attempt: usize) {
    if attempt > 0 {
        // At most 25, which always fits: the default is unreachable.
        let ceiling = u64::try_from(attempt.min(25)).unwrap_or(25) * 2;
        let millis = rand::Rng::gen_range(&mut rand::thread_rng(), 1..=ceiling);
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
    }
}

/// The SCIM routes, to be nested at `/o/{slug}/scim/v2`.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", post(list::search_users))
        .route("/Users/{id}", get(users::get).put(users::replace).patch(users::patch).delete(users::delete))
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", post(list::search_groups))
        .route("/Groups/{id}", get(groups::get).put(groups::replace).patch(groups::patch).delete(groups::delete))
        .route("/.search", post(list::search_all))
        .route("/ServiceProviderConfig", get(list::service_provider_config))
        .route("/ResourceTypes", get(list::resource_types))
        .route("/ResourceTypes/{name}", get(list::resource_type))
        .route("/Schemas", get(list::schemas))
        .route("/Schemas/{id}", get(list::schema))
        .route(
            "/Me",
            axum::routing::any(|| async {
                ScimFailure::from(ScimError::not_implemented("/Me is not supported: Roster's SCIM clients are provisioning systems, not people"))
            }),
        )
        .fallback(|| async { ScimFailure::from(ScimError::not_found("no such SCIM endpoint")) })
        .layer(axum::middleware::from_fn_with_state(state, log::record))
}

/// A SCIM error as the client sees it: the RFC 7644 §3.12 body, `application/scim+json`, and
/// for 429 an integer `Retry-After` (Okta reads whole seconds only).
#[derive(Debug)]
pub struct ScimFailure {
    pub error: ScimError,
    pub retry_after_seconds: Option<u64>,
}

impl From<ScimError> for ScimFailure {
    fn from(error: ScimError) -> Self {
        ScimFailure { error, retry_after_seconds: None }
    }
}

impl From<StoreError> for ScimFailure {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { unique: Unique::ScimUserName | Unique::ScimGroupName, message } => ScimError::uniqueness(message).into(),
            StoreError::Conflict { message, .. } | StoreError::Race(message) => ScimError::conflict(message).into(),
            StoreError::Invalid(message) => ScimError::invalid_filter(message).into(),
            StoreError::NotFound(message) => ScimError::not_found(message).into(),
            other => {
                // The cause goes to the server log; the client learns only that it failed.
                tracing::error!(error = %other, "SCIM request failed in storage");
                ScimError::internal("the request could not be completed; try again").into()
            }
        }
    }
}

impl From<roster_app::provision::scim::GroupPlanError> for ScimFailure {
    fn from(error: roster_app::provision::scim::GroupPlanError) -> Self {
        match error {
            roster_app::provision::scim::GroupPlanError::Scim(error) => error.into(),
            roster_app::provision::scim::GroupPlanError::Store(error) => error.into(),
        }
    }
}

/// The detail of the error a response carries, for the request log.
#[derive(Clone, Debug)]
pub(crate) struct LoggedError(pub String);

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        // `ScimError` holds this crate's fixed codes; an impossible one is the server's fault.
        let status = StatusCode::from_u16(self.error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = scim_json(status, &self.error.to_json());
        if let Some(seconds) = self.retry_after_seconds {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(LoggedError(self.error.detail));
        response
    }
}

pub type ScimResult<T> = Result<T, ScimFailure>;

pub fn scim_json(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_MEDIA_TYPE))], body.to_string()).into_response()
}

/// Pure work that may be heavy (a PATCH of thousands of values) runs on the blocking pool, so
/// the async workers stay free to answer every other organisation.
pub(crate) async fn off_the_workers<T: Send + 'static>(work: impl FnOnce() -> Result<T, ScimError> + Send + 'static) -> ScimResult<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(ScimError::internal("the request could not be completed; try again").into()),
    }
}

/// Is the declared body type JSON? A missing type is let through (some clients omit it on
/// small bodies); any other type is refused with 415.
fn declares_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    // A type that is not visible ASCII is not JSON's: it reads as empty and is refused with 415.
    let essence = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == SCIM_MEDIA_TYPE || essence == "application/json"
}

/// A JSON request body (`application/scim+json` or `application/json`), at most
/// [`MAX_BODY_BYTES`], with no control characters in any string; anything else is a SCIM error.
pub struct ScimBody(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimFailure;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !declares_json(request.headers()) {
            return Err(ScimError::new(415, None, format!("the body must be JSON, sent as {SCIM_MEDIA_TYPE} or application/json")).into());
        }
        // An unreadable length only skips this early check: `to_bytes` below enforces the limit.
        let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        let too_large = || ScimError::payload_too_large(format!("the request body is larger than {MAX_BODY_BYTES} bytes"));
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(too_large().into());
        }
        let bytes: Bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await.map_err(|_| too_large())?;
        let value = serde_json::from_slice(&bytes).map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))?;
        roster_scim::limits::check_text(&value)?;
        Ok(ScimBody(value))
    }
}

/// `If-Match` against the resource's current version: a stale ETag is a 412.
fn check_if_match(headers: &HeaderMap, version: i64) -> ScimResult<()> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    // A value that is not visible ASCII matches no ETag: it fails closed with 412.
    let wanted = value.to_str().unwrap_or_default();
    let current = render::etag(version);
    let matches =
        wanted.split(',').map(str::trim).any(|tag| tag == "*" || tag == current || tag.trim_start_matches("W/") == current.trim_start_matches("W/"));
    if matches {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!("the resource has changed: its version is {current}")).into())
    }
}

fn parse_id(raw: &str) -> ScimResult<uuid::Uuid> {
    uuid::Uuid::parse_str(raw).map_err(|_| ScimError::not_found(format!("no resource has the id \"{raw}\"")).into())
}
