//! The org authorization server's token endpoint (`authorization_code` only, the client
//! authenticated by `client_secret_basic` or `_post`, PKCE checked) and `/userinfo`.
//!
//! The ID token is Okta's "thin" ID token: when an access token is issued with it, as in the code
//! flow, Okta puts only `name`, `preferred_username` and `email` of the scope claims in it, and
//! the rest (`given_name`, `family_name`, `email_verified`, ...) are served by `/userinfo`.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::oidc::{can_sign_in, ensure_keys, issuer, AccessGrant, IssuedCode, CODE_LIFETIME};
use super::org::User;
use super::{lock, OktaSim, OrgState};

/// The org authorization server's fixed token lifetime (ID and access tokens alike).
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// An OAuth error as Okta's token endpoint sends it: `{"error","error_description"}`.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        (self.status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
    }
}

fn bad_request(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError { status: StatusCode::BAD_REQUEST, error, description: description.into() }
}

fn invalid_client(description: &str) -> OAuthError {
    OAuthError { status: StatusCode::UNAUTHORIZED, error: "invalid_client", description: description.into() }
}

fn invalid_code() -> OAuthError {
    bad_request("invalid_grant", "The authorization code is invalid or has expired.")
}

/// `POST /oauth2/v1/token`
pub(crate) async fn token(State(sim): State<OktaSim>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = ensure_keys(&sim).await {
        return r;
    }
    let iss = issuer(&headers);
    let mut s = lock(&sim.state);
    s.oidc.prune();
    match exchange(&mut s, &headers, &body, &iss) {
        Ok(tokens) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], Json(tokens)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `Authorization: Basic`, each part form-decoded (RFC 6749 §2.3.1). `Some(None)` is a header
/// that is there but unreadable.
fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decode = |v: &str| url::form_urlencoded::parse(format!("v={v}").as_bytes()).next().map(|(_, v)| v.into_owned());
    let pair = STANDARD.decode(encoded.trim()).ok().and_then(|raw| String::from_utf8(raw).ok());
    Some(pair.and_then(|p| p.split_once(':').and_then(|(id, secret)| Some((decode(id)?, decode(secret)?)))))
}

/// Checks the client's credentials, from the header or the body but not both, as Okta does.
fn authenticate(s: &OrgState, headers: &HeaderMap, field: &dyn Fn(&str) -> Option<String>) -> Result<(), OAuthError> {
    let (client_id, secret) = match basic_credentials(headers) {
        Some(Some((id, secret))) => {
            if field("client_secret").is_some() {
                return Err(bad_request(
                    "invalid_request",
                    "Cannot supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a client_assertion in the post body.",
                ));
            }
            if field("client_id").is_some_and(|body_id| body_id != id) {
                return Err(invalid_client("Invalid value for 'client_id' parameter."));
            }
            (id, Some(secret))
        }
        Some(None) => return Err(bad_request("invalid_request", "The Authorization header is not valid Basic authentication.")),
        None => (field("client_id").ok_or_else(|| invalid_client("No client credentials found."))?, field("client_secret")),
    };
    if client_id != s.org.app_id {
        return Err(invalid_client("Invalid value for 'client_id' parameter."));
    }
    let secret = secret.ok_or_else(|| invalid_client("No client credentials found."))?;
    if !bool::from(secret.as_bytes().ct_eq(s.oidc.client_secret.as_bytes())) {
        return Err(invalid_client("The client secret supplied for a confidential client is invalid."));
    }
    Ok(())
}

fn exchange(s: &mut OrgState, headers: &HeaderMap, body: &[u8], iss: &str) -> Result<Value, OAuthError> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let grant = field("grant_type").ok_or_else(|| bad_request("invalid_request", "The 'grant_type' parameter is required."))?;
    if grant == "client_credentials" {
        // Roster's connection check relies on this: a secret cannot be tried here.
        return Err(invalid_client(
            "Client Credentials requests to the Org Authorization Server must use the private_key_jwt token_endpoint_auth_method.",
        ));
    }
    authenticate(s, headers, &field)?;
    match grant.as_str() {
        "authorization_code" => {}
        "refresh_token" | "password" | "implicit" | "urn:ietf:params:oauth:grant-type:device_code" => {
            return Err(bad_request(
                "unauthorized_client",
                "The client is not authorized to use the provided grant type. Configured grant types: [authorization_code].",
            ))
        }
        _ => return Err(bad_request("unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")),
    }
    let code = field("code").ok_or_else(|| bad_request("invalid_request", "The 'code' parameter is required."))?;
    let issued: IssuedCode = {
        let entry = s.oidc.codes.get_mut(&code).ok_or_else(invalid_code)?;
        if entry.redeemed {
            // RFC 6749 §4.1.2: a code presented twice revokes what it bought.
            if let Some(spent) = entry.access_token.take() {
                s.oidc.access_tokens.remove(&spent);
            }
            return Err(invalid_code());
        }
        // Spent by this attempt whatever its outcome: a code is never worth a second try.
        entry.redeemed = true;
        entry.clone()
    };
    if issued.issued.elapsed() >= CODE_LIFETIME {
        return Err(invalid_code());
    }
    let redirect_uri = field("redirect_uri").ok_or_else(|| bad_request("invalid_request", "The 'redirect_uri' parameter is required."))?;
    if redirect_uri != issued.request.redirect_uri {
        return Err(bad_request("invalid_grant", "The 'redirect_uri' does not match the redirection URI used in the authorization request."));
    }
    let verifier = field("code_verifier").unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !bool::from(challenge.as_bytes().ct_eq(issued.request.code_challenge.as_bytes())) {
        return Err(bad_request("invalid_grant", "PKCE verification failed."));
    }
    // Someone suspended or unassigned since signing in gets nothing for the code.
    let user =
        s.org.users.get(&issued.user_id).filter(|u| can_sign_in(u.status) && s.org.assignments.contains_key(&u.id)).ok_or_else(invalid_code)?;
    let now = chrono::Utc::now().timestamp();
    let lifetime = i64::try_from(TOKEN_LIFETIME.as_secs()).unwrap_or(3600);
    let scopes = issued.request.scopes.clone();
    let access_claims = json!({
        "ver": 1,
        "jti": format!("AT.{}", s.oidc.token(43)),
        "iss": iss,
        // The org authorization server's access tokens are for Okta itself.
        "aud": iss,
        "sub": user.login(),
        "iat": now,
        "exp": now + lifetime,
        "cid": s.org.app_id,
        "uid": user.id,
        "scp": scopes,
        "auth_time": issued.auth_time,
    });
    let mut id_claims = json!({
        "sub": user.id,
        "ver": 1,
        "iss": iss,
        "aud": s.org.app_id,
        "iat": now,
        "exp": now + lifetime,
        "jti": format!("ID.{}", s.oidc.token(43)),
        "amr": ["pwd"],
        "idp": s.oidc.org_id,
        "auth_time": issued.auth_time,
    });
    if let Some(nonce) = &issued.request.nonce {
        id_claims["nonce"] = json!(nonce);
    }
    let has = |scope: &str| scopes.iter().any(|s| s == scope);
    if has("profile") {
        id_claims["name"] = json!(display_name(user));
        id_claims["preferred_username"] = json!(user.login());
    }
    if let Some(email) = user.profile.get("email").and_then(Value::as_str).filter(|_| has("email")) {
        id_claims["email"] = json!(email);
    }
    let user_id = user.id.clone();
    let server_error = || OAuthError { status: StatusCode::INTERNAL_SERVER_ERROR, error: "server_error", description: "No signing key.".into() };
    let ring = s.oidc.keys.as_ref().ok_or_else(server_error)?;
    let access_token = ring.sign(&access_claims).ok_or_else(server_error)?;
    // at_hash: the left half of the access token's SHA-256 (OIDC Core §3.1.3.6).
    id_claims["at_hash"] = json!(URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16]));
    let mut tokens = json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "access_token": access_token,
        "scope": scopes.join(" "),
    });
    if has("openid") {
        tokens["id_token"] = json!(ring.sign(&id_claims).ok_or_else(server_error)?);
    }
    s.oidc.access_tokens.insert(access_token.clone(), AccessGrant { user_id, scopes, expires: Instant::now() + TOKEN_LIFETIME });
    if let Some(entry) = s.oidc.codes.get_mut(&code) {
        entry.access_token = Some(access_token);
    }
    Ok(tokens)
}

/// The OIDC app's `name`: the profile's display name, else first and last name.
fn display_name(user: &User) -> String {
    user.profile.get("displayName").and_then(Value::as_str).filter(|n| !n.trim().is_empty()).map_or_else(|| user.display_name(), str::to_owned)
}

/// A 401 with the `WWW-Authenticate` challenge Okta sends; `error` only when a token was presented
/// (RFC 6750 §3.1).
fn bearer_challenge(iss: &str, error: Option<(&str, &str)>) -> Response {
    let mut challenge = format!("Bearer authorization_uri=\"{iss}/oauth2/v1/authorize\", realm=\"{iss}\", scope=\"openid\"");
    if let Some((code, description)) = error {
        challenge.push_str(&format!(", error=\"{code}\", error_description=\"{description}\""));
    }
    challenge.push_str(", resource=\"/oauth2/v1/userinfo\"");
    let status = if matches!(error, Some(("insufficient_scope", _))) { StatusCode::FORBIDDEN } else { StatusCode::UNAUTHORIZED };
    (status, [(header::WWW_AUTHENTICATE, challenge)]).into_response()
}

/// `GET|POST /oauth2/v1/userinfo` with `Authorization: Bearer <access token>`.
pub(crate) async fn userinfo(State(sim): State<OktaSim>, headers: HeaderMap) -> Response {
    let iss = issuer(&headers);
    let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("Bearer").then(|| token.trim().to_owned())
    });
    let Some(presented) = presented else { return bearer_challenge(&iss, None) };
    let mut s = lock(&sim.state);
    s.oidc.prune();
    let invalid = Some(("invalid_token", "The access token is invalid."));
    let Some(grant) = s.oidc.access_tokens.get(&presented).cloned() else { return bearer_challenge(&iss, invalid) };
    // Suspending or deactivating someone ends what their tokens can do.
    let Some(user) = s.org.users.get(&grant.user_id).filter(|u| can_sign_in(u.status)) else { return bearer_challenge(&iss, invalid) };
    let has = |scope: &str| grant.scopes.iter().any(|s| s == scope);
    if !has("openid") {
        return bearer_challenge(
            &iss,
            Some(("insufficient_scope", "The access token must provide access to at least one of these scopes - profile, email, address or phone")),
        );
    }
    let text = |k: &str| user.profile.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut claims = json!({ "sub": user.id });
    if has("profile") {
        claims["name"] = json!(display_name(user));
        claims["preferred_username"] = json!(user.login());
        claims["locale"] = json!("en_US");
        claims["zoneinfo"] = json!("America/Los_Angeles");
        claims["updated_at"] = json!(user.last_updated.timestamp());
        for (claim, attribute) in [("given_name", "firstName"), ("family_name", "lastName")] {
            if let Some(v) = text(attribute) {
                claims[claim] = json!(v);
            }
        }
    }
    if let Some(email) = text("email").filter(|_| has("email")) {
        claims["email"] = json!(email);
        // People who can sign in activated their account through that address.
        claims["email_verified"] = json!(true);
    }
    Json(claims).into_response()
}
