//! Graph's response shape and its error bodies, shared by direct calls and `$batch`.

use serde_json::{json, Value};

/// A Graph answer before it becomes an HTTP response or an inner `$batch` response.
#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Debug, Clone)]
pub enum Body {
    /// 204 No Content.
    Empty,
    Json(Value),
    Binary {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl GraphResponse {
    pub fn json(status: u16, value: Value) -> Self {
        Self { status, headers: Vec::new(), body: Body::Json(value) }
    }

    pub fn no_content() -> Self {
        Self { status: 204, headers: Vec::new(), body: Body::Empty }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
pub fn graph_error(status: u16, code: &str, message: &str) -> GraphResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    GraphResponse::json(
        status,
        json!({"error": {"code": code, "message": message,
            "innerError": {"date": date, "request-id": request_id, "client-request-id": request_id}}}),
    )
    .with_header("request-id", request_id)
}

pub fn not_found(id: &str) -> GraphResponse {
    graph_error(
        404,
        "Request_ResourceNotFound",
        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

pub fn forbidden() -> GraphResponse {
    graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

pub fn bad_request(message: &str) -> GraphResponse {
    graph_error(400, "Request_BadRequest", message)
}

pub fn unsupported_query(message: &str) -> GraphResponse {
    graph_error(400, "Request_UnsupportedQuery", message)
}

pub fn unauthorized(message: &str) -> GraphResponse {
    graph_error(401, "InvalidAuthenticationToken", message)
        .with_header("WWW-Authenticate", "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"")
}

pub fn image_not_found() -> GraphResponse {
    // The message is what tenants send; Roster must branch on the code only.
    graph_error(404, "ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.")
}

/// The 429 body of the throttling docs, with the inner `code`/`status` strings.
pub fn too_many_requests() -> GraphResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    GraphResponse::json(
        429,
        json!({"error": {"code": "TooManyRequests", "message": "Please retry again later.",
            "innerError": {"code": "429", "date": date, "message": "Please retry after",
                "request-id": request_id, "status": "429"}}}),
    )
    .with_header("request-id", request_id)
}

pub fn server_error(status: u16) -> GraphResponse {
    match status {
        503 => graph_error(503, "serviceNotAvailable", "Service is temporarily unavailable. Please try again later."),
        504 => graph_error(504, "UnknownError", "The gateway did not receive a response in time."),
        502 => graph_error(502, "BadGateway", "Bad gateway."),
        429 => too_many_requests(),
        400 => bad_request("Simulated bad request."),
        401 => unauthorized("Access token validation failure."),
        403 => forbidden(),
        404 => graph_error(404, "Request_ResourceNotFound", "Simulated missing resource."),
        _ => graph_error(status, "generalException", "An unexpected error occurred."),
    }
}
