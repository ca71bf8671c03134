//! The token endpoint's `authorization_code` grant: the code a person's sign-in produced,
//! redeemed once by the app that asked for it, with the PKCE verifier, for an ID token shaped
//! like Microsoft's v2.0 tokens (no `upn`, pairwise `sub`, `oid` = the Graph user id).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::oidc::{audience, base_url, ensure_keys, random_token, IssuedCode, CODE_LIFETIME};
use super::token::{credentials, TokenError};
use super::{lock, token, EntraSim, SimState};

/// `POST /{tenant}/oauth2/v2.0/token`: sign-in codes here, everything else to the
/// client-credentials endpoint, as on the one real endpoint.
pub async fn token_endpoint(State(sim): State<EntraSim>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let is_code = url::form_urlencoded::parse(&body).any(|(k, v)| k == "grant_type" && v == "authorization_code");
    if !is_code {
        return token::token_endpoint(State(sim), Path(tenant), headers, body).await;
    }
    if let Err(r) = ensure_keys(&sim).await {
        return r;
    }
    let base = base_url(&headers);
    let mut s = lock(&sim.state);
    match redeem(&mut s, &headers, &tenant, &body, &base) {
        Ok(tokens) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store, no-cache")], axum::Json(tokens)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn error(status: StatusCode, error: &'static str, code: u32, message: impl Into<String>) -> TokenError {
    TokenError { status, error, code, message: message.into() }
}

fn missing(param: &str) -> TokenError {
    error(StatusCode::BAD_REQUEST, "invalid_request", 900144, format!("The request body must contain the following parameter: '{param}'."))
}

fn invalid_grant(code: u32, message: impl Into<String>) -> TokenError {
    error(StatusCode::BAD_REQUEST, "invalid_grant", code, message)
}

fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

fn redeem(s: &mut SimState, headers: &HeaderMap, tenant: &str, body: &[u8], base: &str) -> Result<Value, TokenError> {
    // Queued token-endpoint faults hit sign-ins too: it is one endpoint.
    if let Some(status) = s.faults.token_endpoint.pop_front() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err(error(status, "temporarily_unavailable", 50196, "The server is temporarily unavailable."));
    }
    audience(s, tenant).map_err(|(code, message)| error(StatusCode::BAD_REQUEST, "invalid_request", code, message))?;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());

    let (client_id, secret) = credentials(headers, &form);
    let client_id = client_id.ok_or_else(|| missing("client_id"))?;
    let app = &s.tenant.app;
    if !client_id.eq_ignore_ascii_case(&app.client_id) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        ));
    }
    let secret = secret.ok_or_else(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    })?;
    if !constant_time_eq(secret.as_bytes(), app.client_secret.as_bytes()) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", app.client_id),
        ));
    }
    if app.secret_expired {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!("The provided client secret keys for app '{}' are expired.", app.client_id),
        ));
    }

    let code = field("code").ok_or_else(|| missing("code"))?;
    let expired = || {
        invalid_grant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
    };
    let issued: IssuedCode = {
        let entry = s.oidc.codes.get_mut(&code).ok_or_else(expired)?;
        if entry.redeemed {
            return Err(invalid_grant(
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        // Spent by this attempt whatever its outcome: a code is never worth a second try.
        entry.redeemed = true;
        entry.clone()
    };
    if issued.request.created.elapsed() >= CODE_LIFETIME {
        return Err(expired());
    }
    let redirect_uri = field("redirect_uri").ok_or_else(|| missing("redirect_uri"))?;
    if redirect_uri != issued.request.redirect_uri {
        return Err(invalid_grant(
            500112,
            format!(
                "The reply address '{redirect_uri}' does not match the reply address '{}' provided when requesting Authorization code.",
                issued.request.redirect_uri
            ),
        ));
    }
    let verifier = field("code_verifier").ok_or_else(|| missing("code_verifier"))?;
    if !constant_time_eq(pkce_challenge(&verifier).as_bytes(), issued.request.code_challenge.as_bytes()) {
        return Err(invalid_grant(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."));
    }
    let user = s.tenant.users.get(&issued.user_id).ok_or_else(|| invalid_grant(50034, "The user account does not exist in the directory."))?;
    if user.props.get("accountEnabled").and_then(Value::as_bool) == Some(false) {
        return Err(invalid_grant(50057, "The user account is disabled."));
    }
    let claims = id_token_claims(s, &issued, base);
    let scopes: Vec<&str> = issued.request.scope.split_whitespace().collect();
    let lifetime = s.oidc.id_token_lifetime.as_secs();
    // Delegated access tokens are opaque here and unknown to the Graph side: the simulated
    // Graph only serves the app's own (client-credentials) tokens.
    let access_token = format!("eyJ0eXAiOiJKV1QiLCJub25jZSI6ImRlbGVnYXRlZCJ9.{}", random_token(s, 96));
    let mut tokens = json!({
        "token_type": "Bearer",
        "scope": scopes.join(" "),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    });
    if scopes.contains(&"openid") {
        let ring = s.oidc.keys.as_ref().ok_or_else(|| error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 50000, "No signing key."))?;
        let id_token = ring.sign(&claims).ok_or_else(|| error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 50000, "No signing key."))?;
        tokens["id_token"] = Value::String(id_token);
    }
    Ok(tokens)
}

/// The v2.0 ID token claims for this sign-in. `oid`, `name` and `preferred_username` come with
/// the `profile` scope and `email` with `email` (if the user has a mailbox), as at Microsoft.
fn id_token_claims(s: &SimState, issued: &IssuedCode, base: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    let tid = s.oidc.foreign_tenant.clone().unwrap_or_else(|| s.tenant.id.clone());
    let scopes: Vec<&str> = issued.request.scope.split_whitespace().collect();
    let user = s.tenant.users.get(&issued.user_id);
    let prop = |name: &str| user.and_then(|u| u.props.get(name)).and_then(Value::as_str).map(str::to_owned);
    // Pairwise: the same person has another `sub` in every other app.
    let mut digest = Sha256::new();
    digest.update(s.page_key);
    digest.update(issued.request.client_id.as_bytes());
    digest.update(tid.as_bytes());
    digest.update(issued.user_id.as_bytes());
    let sub = URL_SAFE_NO_PAD.encode(digest.finalize());
    let lifetime = i64::try_from(s.oidc.id_token_lifetime.as_secs()).unwrap_or(3600);
    let mut claims = json!({
        "aud": issued.request.client_id,
        "iss": format!("{base}/{tid}/v2.0"),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "sub": sub,
        "tid": tid,
        "ver": "2.0",
        "uti": URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
    });
    if let Some(nonce) = &issued.request.nonce {
        claims["nonce"] = json!(nonce);
    }
    if scopes.contains(&"profile") {
        claims["oid"] = json!(issued.user_id);
        claims["name"] = json!(prop("displayName"));
        claims["preferred_username"] = json!(prop("userPrincipalName"));
    }
    if scopes.contains(&"email") {
        if let Some(mail) = prop("mail") {
            claims["email"] = json!(mail);
        }
    }
    claims
}
