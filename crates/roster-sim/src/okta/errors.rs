//! Okta's answer shape and its error objects:
//! `{"errorCode","errorSummary","errorLink","errorId","errorCauses":[]}`.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{json, Value};

use super::limits::RateHeaders;

/// An answer before it becomes an HTTP response.
#[derive(Debug, Clone)]
pub struct OktaResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Rate-limit headers that replace the bucket's (an injected 429 states its own Reset).
    pub rate: Option<RateHeaders>,
}

impl OktaResponse {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, headers: Vec::new(), body, rate: None }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut out = (status, axum::Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(&value)) {
                // `append`, not `insert`: Okta sends `link` once per relation.
                out.headers_mut().append(n, v);
            }
        }
        out
    }
}

/// Okta's `errorId`: an opaque request id, different on every error.
fn error_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::thread_rng();
    let tail: String = (0..22).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect();
    format!("oae{tail}")
}

pub fn okta_error(status: u16, code: &str, summary: &str) -> OktaResponse {
    OktaResponse::json(status, json!({ "errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": error_id(), "errorCauses": [] }))
}

pub fn invalid_token() -> OktaResponse {
    okta_error(401, "E0000011", "Invalid token provided")
}

/// `kind` is what Okta names the missing resource: `User`, `AppUser`, `AppInstance`.
pub fn not_found(id: &str, kind: &str) -> OktaResponse {
    okta_error(404, "E0000007", &format!("Not found: Resource not found: {id} ({kind})"))
}

pub fn rate_limited() -> OktaResponse {
    okta_error(429, "E0000047", "API call exceeded rate limit due to too many requests.")
}

pub fn method_not_allowed() -> OktaResponse {
    okta_error(405, "E0000022", "The endpoint does not support the provided HTTP method")
}

pub fn validation_failed(field: &str, cause: &str) -> OktaResponse {
    let mut resp = okta_error(400, "E0000001", &format!("Api validation failed: {field}"));
    resp.body["errorCauses"] = json!([{ "errorSummary": format!("{field}: {cause}") }]);
    resp
}

/// The error object Okta sends with an injected status.
pub fn server_error(status: u16) -> OktaResponse {
    match status {
        429 => rate_limited(),
        503 => okta_error(503, "E0000010", "Service is in read only mode"),
        401 => invalid_token(),
        403 => okta_error(403, "E0000006", "You do not have permission to perform the requested action"),
        404 => okta_error(404, "E0000007", "Not found: Resource not found"),
        400 => okta_error(400, "E0000001", "Api validation failed"),
        _ => okta_error(status, "E0000009", "Internal Server Error"),
    }
}
