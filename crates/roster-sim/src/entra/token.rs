//! The login endpoints: the client-credentials token endpoint and the admin-consent redirect.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::Rng;
use serde_json::json;

use super::{lock, AdminDecision, EntraSim, IssuedToken, SimState};

/// An AADSTS error as the token endpoint sends it.
#[derive(Debug, Clone)]
pub struct TokenError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub message: String,
}

impl TokenError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self { status, error, code, message: message.into() }
    }

    pub fn body(&self) -> serde_json::Value {
        let trace = uuid::Uuid::new_v4();
        let correlation = uuid::Uuid::new_v4();
        let now = chrono::Utc::now();
        let stamp = now.format("%Y-%m-%d %H:%M:%SZ");
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {stamp}",
                self.code, self.message
            ),
            "error_codes": [self.code],
            "timestamp": stamp.to_string(),
            "trace_id": trace.to_string(),
            "correlation_id": correlation.to_string(),
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

fn missing(param: &str) -> TokenError {
    TokenError::new(StatusCode::BAD_REQUEST, "invalid_request", 900144, format!("The request body must contain the following parameter: '{param}'."))
}

fn is_dns_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !l.starts_with('-') && !l.ends_with('-')
        })
}

/// Resolves `{tenant}` (GUID or domain) the way the login service does.
fn resolve_tenant(s: &SimState, tenant: &str) -> Result<(), TokenError> {
    let lower = tenant.to_ascii_lowercase();
    if matches!(lower.as_str(), "common" | "consumers" | "organizations") {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9001023,
            "The grant type is not supported over the /common or /consumers endpoints. Please use the tenant-specific endpoint.",
        ));
    }
    let known = lower == s.tenant.id || lower == s.tenant.domain.to_ascii_lowercase();
    if known {
        return Ok(());
    }
    if uuid::Uuid::parse_str(tenant).is_ok() || is_dns_name(tenant) {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
        ));
    }
    Err(TokenError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900023,
        format!("Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."),
    ))
}

fn app_not_found(client_id: &str, tenant: &str) -> TokenError {
    TokenError::new(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
        format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
    )
}

/// Client credentials from the form, or from HTTP Basic (both are allowed).
pub(super) fn credentials(headers: &HeaderMap, form: &[(String, String)]) -> (Option<String>, Option<String>) {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (mut id, mut secret) = (field("client_id"), field("client_secret"));
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    if let Some(pair) = basic {
        if let Some((u, p)) = pair.split_once(':') {
            let decode = |v: &str| url::form_urlencoded::parse(format!("v={v}").as_bytes()).next().map(|(_, v)| v.into_owned());
            id = id.or_else(|| decode(u));
            secret = secret.or_else(|| decode(p));
        }
    }
    (id, secret)
}

fn issue(s: &mut SimState, headers: &HeaderMap, tenant: &str, body: &[u8]) -> Result<serde_json::Value, TokenError> {
    if let Some(status) = s.faults.token_endpoint.pop_front() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err(TokenError::new(status, "temporarily_unavailable", 50196, "The server is temporarily unavailable."));
    }
    resolve_tenant(s, tenant)?;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let grant = field("grant_type").ok_or_else(|| missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let (client_id, secret) = credentials(headers, &form);
    let client_id = client_id.ok_or_else(|| missing("client_id"))?;
    let app = &s.tenant.app;
    if !client_id.eq_ignore_ascii_case(&app.client_id) || !app.consented {
        return Err(app_not_found(&client_id, tenant));
    }
    let scope = field("scope").ok_or_else(|| missing("scope"))?;
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if scopes.len() != 1 {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        ));
    }
    if !scopes[0].ends_with("/.default") {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        ));
    }
    let Some(secret) = secret else {
        return Err(TokenError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    if secret != app.client_secret {
        return Err(TokenError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", app.client_id),
        ));
    }
    if app.secret_expired {
        return Err(TokenError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!("The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", app.client_id),
        ));
    }
    let lifetime = s.tenant.token_lifetime;
    let client_id = app.client_id.clone();
    // Opaque to clients by design: only the simulator ever reads it.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let tail: String = (0..96).map(|_| char::from(ALPHABET[s.rng.gen_range(0..ALPHABET.len())])).collect();
    let token = format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{tail}");
    let issued = IssuedToken { client_id, tenant_id: s.tenant.id.clone(), expires_at: Instant::now() + lifetime };
    s.tokens.insert(token.clone(), issued);
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": token,
    }))
}

pub async fn token_endpoint(State(sim): State<EntraSim>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = lock(&sim.state);
    match issue(&mut s, &headers, &tenant, &body) {
        Ok(token) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store, no-cache")], axum::Json(token)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn error_page(code: u32, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("Sign in failed. AADSTS{code}: {message}")).into_response()
}

/// `GET /{tenant}/adminconsent`: the admin's decision was preset with `set_admin_decision`.
pub async fn admin_consent(State(sim): State<EntraSim>, Path(tenant): Path<String>, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut s = lock(&sim.state);
    let lower = tenant.to_ascii_lowercase();
    if !matches!(lower.as_str(), "common" | "organizations") {
        if let Err(e) = resolve_tenant(&s, &tenant) {
            return error_page(e.code, &e.message);
        }
    }
    let redirect = match super::oidc::registered_client(&s, get) {
        Ok((_, redirect)) => redirect,
        Err((code, message)) => return error_page(code, &message),
    };
    let Ok(mut location) = url::Url::parse(&redirect) else {
        return error_page(50011, &format!("The redirect URI '{redirect}' is not a valid URI."));
    };
    {
        let mut q = location.query_pairs_mut();
        match s.admin_decision {
            AdminDecision::Approve => {
                q.append_pair("tenant", &s.tenant.id);
                if let Some(state) = get("state") {
                    q.append_pair("state", &state);
                }
                q.append_pair("admin_consent", "True");
            }
            AdminDecision::Deny => {
                q.append_pair("error", "permission_denied");
                q.append_pair("error_description", "The admin canceled the request");
                if let Some(state) = get("state") {
                    q.append_pair("state", &state);
                }
            }
        }
    }
    if s.admin_decision == AdminDecision::Approve {
        s.tenant.app.consented = true;
    }
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}
