//! One error type per surface: pages answer with an HTML page, the API with a JSON problem
//! (RFC 9457). Internal details are logged, never shown.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_app::admin::OpsError;
use roster_store::StoreError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    /// The form was stale or forged; the person reloads the page.
    #[error("the form expired; reload the page and try again")]
    Csrf,
    /// An address that exists, asked the wrong way (a form's address opened as a page).
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(_) => PageError::NotFound,
            StoreError::Conflict { message, .. } | StoreError::Invalid(message) => PageError::BadRequest(message),
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl From<OpsError> for PageError {
    fn from(err: OpsError) -> Self {
        match err {
            OpsError::Invalid(msg) | OpsError::Conflict(msg) | OpsError::Unconfirmed(msg) => PageError::BadRequest(msg),
            OpsError::Csv(e) => PageError::BadRequest(e.to_string()),
            OpsError::NotFound => PageError::NotFound,
            OpsError::Store(e) => PageError::from(e),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::NotFound => (StatusCode::NOT_FOUND, "Not found", "There is nothing at this address.".to_owned()),
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", (*why).to_owned()),
            PageError::BadRequest(msg) => (StatusCode::BAD_REQUEST, "That did not work", msg.clone()),
            PageError::Csrf => (StatusCode::FORBIDDEN, "Form expired", self.to_string()),
            PageError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Nothing to show here",
                "This address only takes a form that was sent from one of Roster's pages. Go back and use the form.".to_owned(),
            ),
            PageError::Internal(detail) => {
                tracing::error!(%detail, "page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "The error was logged; try again in a moment.".into())
            }
        };
        (status, ErrorPage { status: status.as_u16(), title, message }).into_response()
    }
}

/// A JSON problem (RFC 9457) for the REST API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// The API key lacks the scope this needs.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The request clashes with what is there (an address taken, a request still running).
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` named a version that is no longer the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// Well-formed, but not something this request may do (an `Idempotency-Key` reused).
    #[error("{0}")]
    Unprocessable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<OpsError> for ApiError {
    fn from(err: OpsError) -> Self {
        match err {
            OpsError::Invalid(msg) | OpsError::Unconfirmed(msg) => ApiError::BadRequest(msg),
            OpsError::Conflict(msg) => ApiError::Conflict(msg),
            OpsError::Csv(e) => ApiError::BadRequest(e.to_string()),
            OpsError::NotFound => ApiError::NotFound,
            OpsError::Store(e) => ApiError::from(e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(_) => ApiError::NotFound,
            StoreError::Conflict { message, .. } => ApiError::Conflict(message),
            StoreError::Invalid(message) => ApiError::BadRequest(message),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match &self {
            ApiError::Unauthorized(why) => (StatusCode::UNAUTHORIZED, "Unauthorized", (*why).to_owned()),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "Not Found", "no such resource in this organisation".into()),
            ApiError::BadRequest(msg) => (StatusCode::BAD_REQUEST, "Bad Request", msg.clone()),
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, "Forbidden", (*why).to_owned()),
            ApiError::Conflict(msg) => (StatusCode::CONFLICT, "Conflict", msg.clone()),
            ApiError::PreconditionFailed(msg) => (StatusCode::PRECONDITION_FAILED, "Precondition Failed", msg.clone()),
            ApiError::Unprocessable(msg) => (StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", msg.clone()),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "api call failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", "the error was logged".into())
            }
        };
        problem(status, title, detail)
    }
}

/// A JSON problem answer with this status.
pub fn problem(status: StatusCode, title: &'static str, detail: String) -> Response {
    let body = Problem { kind: "about:blank", title, status: status.as_u16(), detail };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/problem+json"));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    response
}

/// Axum's own rejections (an id that does not parse, a form's address opened as a page, a body
/// it cannot read) come as plain text; on the pages they become the pages' own error page, an
/// unparseable id in the address a 404.
pub async fn styled_rejections(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = request.uri().path().contains("/api/v1/");
    let response = next.run(request).await;
    let plain = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/plain"));
    // A wrong method comes with no body at all.
    let method = response.status() == StatusCode::METHOD_NOT_ALLOWED;
    if !(plain || method) || !response.status().is_client_error() {
        return response;
    }
    let status = response.status();
    if api {
        // The API answers its own rejections (a body that is not the JSON asked for, a wrong
        // method) as JSON problems too, with the same status.
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
        let detail = match status {
            StatusCode::METHOD_NOT_ALLOWED => "this address does not take that method".to_owned(),
            _ => String::from_utf8_lossy(&body).into_owned(),
        };
        return problem(status, status.canonical_reason().unwrap_or("Bad Request"), detail);
    }
    let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    match status {
        StatusCode::METHOD_NOT_ALLOWED => PageError::MethodNotAllowed.into_response(),
        _ if text.starts_with("Invalid URL") => PageError::NotFound.into_response(),
        StatusCode::NOT_FOUND => PageError::NotFound.into_response(),
        _ => {
            let mut page = PageError::BadRequest(text.into_owned()).into_response();
            *page.status_mut() = status;
            page
        }
    }
}
