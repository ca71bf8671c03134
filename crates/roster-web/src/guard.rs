//! What keeps one client or one organisation from harming the others, in front of every
//! handler: text with control characters is refused before it reaches any store (PostgreSQL
//! rejects NUL, SQLite would keep it: both must answer the same), each organisation gets a
//! bounded share of the server's work, and no request runs forever. Each refusal is answered in
//! the format of the surface it was sent to.

use crate::error::{ApiError, PageError};
use crate::scim::ScimFailure;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use roster_core::text::first_control_char;
use roster_scim::ScimError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Requests of one organisation's machine clients (SCIM, API) and imports in flight at once;
/// more wait their turn, so one tenant cannot occupy every worker.
pub const PER_ORG_CONCURRENCY: usize = 8;
/// How long a request waits for its organisation's turn before it is told to come back.
const TURN_WAIT: Duration = Duration::from_secs(10);
/// Longest a request may run. Okta gives up after 60 s; nothing Roster serves needs longer
/// (syncs run as background jobs).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The surface a request was sent to, which decides the format of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Scim,
    Api,
    Page,
}

impl Surface {
    fn of(path: &str) -> Self {
        if path.contains("/scim/v2") {
            Surface::Scim
        } else if path.contains("/api/") {
            Surface::Api
        } else {
            Surface::Page
        }
    }

    fn bad_request(self, message: String) -> Response {
        match self {
            Surface::Scim => ScimFailure::from(ScimError::invalid_value(message)).into_response(),
            Surface::Api => ApiError::BadRequest(message).into_response(),
            Surface::Page => PageError::BadRequest(message).into_response(),
        }
    }

    fn unavailable(self, status: StatusCode, message: &str, retry_after: u64) -> Response {
        let mut response = match self {
            Surface::Scim => {
                ScimFailure { error: ScimError::new(status.as_u16(), None, message), retry_after_seconds: Some(retry_after) }.into_response()
            }
            Surface::Api => {
                let mut r = ApiError::BadRequest(message.to_owned()).into_response();
                *r.status_mut() = status;
                r
            }
            Surface::Page => {
                let mut r = PageError::BadRequest(message.to_owned()).into_response();
                *r.status_mut() = status;
                r
            }
        };
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        response
    }
}

const CONTROL_MESSAGE: &str = "the request contains a control character (such as NUL), which no field accepts";

/// Refuse a query string or form body that holds a control character other than tab, CR and
/// LF. JSON bodies are checked where they are parsed (SCIM), CSV files cell by cell.
pub async fn refuse_control_characters(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let surface = Surface::of(request.uri().path());
    if let Some(query) = request.uri().query() {
        if form_has_control(query.as_bytes()) {
            return surface.bad_request(CONTROL_MESSAGE.into());
        }
    }
    // A type that is not visible ASCII is no form: axum's `Form` refuses it too, so nothing is parsed.
    let is_form =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, state.config.max_body_bytes).await else {
        return surface.bad_request("the request body is too large".into());
    };
    if form_has_control(&bytes) {
        return surface.bad_request(CONTROL_MESSAGE.into());
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Does any name or value of an `application/x-www-form-urlencoded` text hold a forbidden
/// control character once decoded?
fn form_has_control(encoded: &[u8]) -> bool {
    url::form_urlencoded::parse(encoded).any(|(name, value)| first_control_char(&name).is_some() || first_control_char(&value).is_some())
}

/// One semaphore per organisation, made on first use.
#[derive(Default, Clone)]
pub struct Fairness {
    turns: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Fairness {
    fn semaphore(&self, org: &str) -> Arc<Semaphore> {
        // A poisoned lock only means another request panicked while inserting: the map is fine.
        let mut turns = self.turns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        turns.entry(org.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(PER_ORG_CONCURRENCY))).clone()
    }

    /// Wait for a turn of `org`; None when none came in time.
    async fn turn(&self, org: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.semaphore(org);
        // Timed out, or the semaphore closed (nothing closes it): either way, no turn.
        tokio::time::timeout(TURN_WAIT, semaphore.acquire_owned()).await.ok()?.ok()
    }
}

/// The organisation a heavy request works for: SCIM and API calls and CSV imports under
/// `/o/{slug}/`. Pages people click through are light and are not queued.
fn heavy_org(request: &Request) -> Option<&str> {
    let path = request.uri().path();
    let rest = path.strip_prefix("/o/")?;
    let (slug, tail) = rest.split_once('/')?;
    let heavy = tail.starts_with("scim/") || tail.starts_with("api/") || (tail == "import" && request.method() == axum::http::Method::POST);
    heavy.then_some(slug)
}

/// Give each organisation at most [`PER_ORG_CONCURRENCY`] heavy requests at a time, and end
/// any request that runs past [`REQUEST_TIMEOUT`] (its transaction is rolled back).
pub async fn share_fairly(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let surface = Surface::of(request.uri().path());
    let _turn = match heavy_org(&request).map(str::to_owned) {
        Some(org) => match state.fairness.turn(&org).await {
            Some(turn) => Some(turn),
            None => {
                return surface.unavailable(
                    StatusCode::TOO_MANY_REQUESTS,
                    "this organisation has too many requests in progress; try again shortly",
                    1,
                )
            }
        },
        None => None,
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("a request ran past the server's time limit and was stopped");
            surface.unavailable(StatusCode::SERVICE_UNAVAILABLE, "the request took too long and was stopped; try again", 5)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_control_characters_are_found() {
        assert!(form_has_control(b"q=a%00b"));
        assert!(form_has_control(b"name=%1B"));
        assert!(!form_has_control(b"q=caf%C3%A9&note=a%0Ab%09c"));
        assert!(!form_has_control(b""));
    }

    #[test]
    fn surfaces_follow_the_path() {
        assert_eq!(Surface::of("/o/acme/scim/v2/Users"), Surface::Scim);
        assert_eq!(Surface::of("/o/acme/api/v1/users"), Surface::Api);
        assert_eq!(Surface::of("/o/acme/people"), Surface::Page);
    }
}
