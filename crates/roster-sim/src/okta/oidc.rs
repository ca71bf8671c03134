//! Sign-in with Okta (OpenID Connect) through the org authorization server, whose issuer is the
//! org URL itself: discovery, the JWKS, and the authorization endpoint with a small page where a
//! person types their Okta login. Code redemption and `/userinfo` live in `oidc_token`.
//!
//! The issuer is built from the request's `Host`, so it is whatever address the relying party
//! used to reach the simulator. Only the code flow with PKCE S256 is offered.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::errors::not_found;
use super::oidc_page::{error_page, sign_in_page};
use super::org::{okta_id, Status};
use super::{lock, oidc_token, OktaSim};
use crate::entra::keys::KeyRing;

/// Okta: "The code has a lifetime of 300 seconds."
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// How long the sign-in page waits for the person to answer.
const PAGE_LIFETIME: Duration = Duration::from_secs(600);
/// Bounds the maps a misbehaving client could otherwise grow without end.
const MAX_PENDING: usize = 10_000;
const SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// A sign-in shown on the page, waiting for the person to answer.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub redirect_uri: String,
    pub state: String,
    pub nonce: Option<String>,
    pub scopes: Vec<String>,
    pub code_challenge: String,
    pub created: Instant,
}

/// An authorization code handed to the browser, redeemable once.
#[derive(Debug, Clone)]
pub(crate) struct IssuedCode {
    pub request: Pending,
    pub user_id: String,
    /// When the person signed in (Unix seconds), for `auth_time`.
    pub auth_time: i64,
    pub issued: Instant,
    pub redeemed: bool,
    /// The access token the code bought, revoked if the code is presented again.
    pub access_token: Option<String>,
}

/// An access token `/userinfo` accepts.
#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub user_id: String,
    pub scopes: Vec<String>,
    pub expires: Instant,
}

pub(crate) struct OidcState {
    pub client_secret: String,
    /// The org's own identity provider id (`00o...`), which ID tokens name in `idp`.
    pub org_id: String,
    key_seed: u64,
    /// Made on first use: RSA key generation costs time that API-only tests need not pay.
    pub keys: Option<KeyRing>,
    /// Codes and token ids; separate from the org's generator so sign-ins do not shift the ids
    /// of users created later.
    pub rng: StdRng,
    pub pending: HashMap<String, Pending>,
    pub codes: HashMap<String, IssuedCode>,
    pub access_tokens: HashMap<String, AccessGrant>,
}

impl OidcState {
    /// The secret and ids follow from the seed alone, like the API token.
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0c7a_01dc);
        let client_secret = random_text(&mut rng, 64);
        let org_id = okta_id(&mut rng, "00o");
        Self {
            client_secret,
            org_id,
            key_seed: seed ^ 0x0c7a_4e75,
            keys: None,
            rng,
            pending: HashMap::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
        }
    }

    /// Forgets what has expired, and everything once a bound is passed.
    pub fn prune(&mut self) {
        self.pending.retain(|_, p| p.created.elapsed() < PAGE_LIFETIME);
        self.codes.retain(|_, c| c.issued.elapsed() < CODE_LIFETIME);
        let now = Instant::now();
        self.access_tokens.retain(|_, g| g.expires > now);
        if self.pending.len() > MAX_PENDING {
            self.pending.clear();
        }
        if self.codes.len() > MAX_PENDING {
            self.codes.clear();
        }
        if self.access_tokens.len() > MAX_PENDING {
            self.access_tokens.clear();
        }
    }

    pub fn token(&mut self, len: usize) -> String {
        random_text(&mut self.rng, len)
    }
}

/// Base64url-alphabet text: secrets, codes and token ids are opaque to everyone else.
fn random_text(rng: &mut StdRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

/// Whether Okta lets a person in this status sign in. PASSWORD_EXPIRED does, after choosing a
/// new password (which the simulator skips). RECOVERY does not: an admin's password reset blocks
/// sign-in until it is completed. STAGED and PROVISIONED have never set a password.
pub(crate) fn can_sign_in(status: Status) -> bool {
    matches!(status, Status::Active | Status::PasswordExpired)
}

pub fn routes() -> Router<OktaSim> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/{server}/.well-known/openid-configuration", get(custom_server))
        .route("/oauth2/v1/authorize", get(authorize).post(sign_in))
        .route("/oauth2/v1/token", post(oidc_token::token))
        .route("/oauth2/v1/keys", get(jwks))
        .route("/oauth2/v1/userinfo", get(oidc_token::userinfo).post(oidc_token::userinfo))
}

/// The issuer is the address the relying party reached the simulator at.
pub(crate) use crate::page::loopback_base_url as issuer;

/// Generates the key ring if there is none yet, off the async runtime and outside the lock.
pub(crate) async fn ensure_keys(sim: &OktaSim) -> Result<(), Response> {
    let seed = {
        let s = lock(&sim.state);
        if s.oidc.keys.is_some() {
            return Ok(());
        }
        s.oidc.key_seed
    };
    let ring = KeyRing::generate_off_runtime(seed).await?;
    let mut s = lock(&sim.state);
    // Another request may have won the race; the keys are the same either way.
    if s.oidc.keys.is_none() {
        s.oidc.keys = Some(ring);
    }
    Ok(())
}

/// `GET /.well-known/openid-configuration`: the org authorization server. Only what the
/// simulator implements is listed (Okta also lists implicit, refresh and revocation endpoints).
async fn discovery(headers: HeaderMap) -> Json<Value> {
    let iss = issuer(&headers);
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth2/v1/authorize"),
        "token_endpoint": format!("{iss}/oauth2/v1/token"),
        "userinfo_endpoint": format!("{iss}/oauth2/v1/userinfo"),
        "jwks_uri": format!("{iss}/oauth2/v1/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": ["iss", "ver", "sub", "aud", "iat", "exp", "jti", "auth_time", "amr", "idp", "nonce", "name", "preferred_username", "given_name", "family_name", "email", "email_verified", "zoneinfo", "locale", "updated_at", "at_hash"],
        "code_challenge_methods_supported": ["S256"],
        "request_parameter_supported": false,
    }))
}

/// Custom authorization servers (`/oauth2/default`, ...) need API Access Management, which the
/// simulated org does not have: Okta's 404 for an unknown server.
async fn custom_server(Path(server): Path<String>) -> Response {
    not_found(&server, "AuthorizationServer").into_response()
}

/// `GET /oauth2/v1/keys`, in Okta's shape: `alg` on each key, no certificates.
async fn jwks(State(sim): State<OktaSim>) -> Response {
    if let Err(r) = ensure_keys(&sim).await {
        return r;
    }
    let s = lock(&sim.state);
    let Some(ring) = &s.oidc.keys else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let mut set = ring.jwks("");
    for key in set["keys"].as_array_mut().into_iter().flatten() {
        if let Some(fields) = key.as_object_mut() {
            fields.remove("issuer");
            fields.remove("x5t");
            fields.insert("alg".into(), json!("RS256"));
        }
    }
    Json(set).into_response()
}

/// The browser's way back to the app, with these parameters and `state`.
fn redirect(redirect_uri: &str, state: Option<&str>, params: &[(&str, &str)]) -> Response {
    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return error_page("invalid_request", "The 'redirect_uri' parameter is not a valid URI.");
    };
    {
        let mut query = location.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    // Okta sends `Referrer-Policy: no-referrer` with query and fragment responses.
    let headers =
        [(header::LOCATION, location.to_string()), (header::REFERRER_POLICY, "no-referrer".into()), (header::CACHE_CONTROL, "no-store".into())];
    (StatusCode::FOUND, headers).into_response()
}

fn redirect_error(p: &Pending, error: &str, description: &str) -> Response {
    let state = Some(p.state.as_str()).filter(|s| !s.is_empty());
    redirect(&p.redirect_uri, state, &[("error", error), ("error_description", description)])
}

/// Absolute http(s) without a fragment. The simulated app accepts any such URI as a sign-in
/// redirect URI, so the relying party needs no registration step.
fn usable_redirect(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host() && u.fragment().is_none())
}

/// RFC 7636: 43 to 128 unreserved characters (S256 challenges are exactly 43).
fn valid_challenge(challenge: &str) -> bool {
    (43..=128).contains(&challenge.len()) && challenge.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

/// `GET /oauth2/v1/authorize`: the code flow. Errors about the client or the redirect URI are
/// shown on Okta's own page (nothing may go to an unverified address); the rest go back to the app.
async fn authorize(State(sim): State<OktaSim>, RawQuery(query): RawQuery) -> Response {
    let q: HashMap<String, String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let mut s = lock(&sim.state);
    if get("client_id").as_deref() != Some(s.org.app_id.as_str()) {
        return error_page("invalid_client", "Invalid value for 'client_id' parameter.");
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return error_page("invalid_request", "The 'redirect_uri' parameter is required.");
    };
    if !usable_redirect(&redirect_uri) {
        return error_page(
            "invalid_request",
            "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings (the simulator takes any absolute http or https URI).",
        );
    }
    let scopes: Vec<String> = get("scope").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    let pending = Pending {
        redirect_uri,
        state: get("state").unwrap_or_default(),
        nonce: get("nonce"),
        scopes,
        code_challenge: get("code_challenge").unwrap_or_default(),
        created: Instant::now(),
    };
    if get("response_mode").is_some_and(|m| m != "query") {
        return redirect_error(&pending, "unsupported_response_mode", "The simulator answers with response_mode 'query' only.");
    }
    if get("response_type").as_deref() != Some("code") {
        let description = "The response type is not supported by the authorization server. Configured response types: [code].";
        return redirect_error(&pending, "unsupported_response_type", description);
    }
    if pending.scopes.is_empty() {
        let description = "The authorization server resource does not have any configured default scopes, 'scope' must be provided.";
        return redirect_error(&pending, "invalid_scope", description);
    }
    if pending.scopes.iter().any(|sc| !SCOPES.contains(&sc.as_str())) {
        return redirect_error(&pending, "invalid_scope", "One or more scopes are not configured for the authorization server resource.");
    }
    if pending.state.is_empty() {
        return redirect_error(&pending, "invalid_request", "The 'state' parameter is required.");
    }
    // The simulated app has "Require PKCE as additional verification" on.
    if pending.code_challenge.is_empty() {
        return redirect_error(&pending, "invalid_request", "PKCE code challenge is required by the client.");
    }
    if get("code_challenge_method").as_deref() != Some("S256") {
        return redirect_error(&pending, "invalid_request", "The 'code_challenge_method' parameter must be 'S256'.");
    }
    if !valid_challenge(&pending.code_challenge) {
        return redirect_error(&pending, "invalid_request", "PKCE code challenge contains illegal characters or has an invalid length.");
    }
    s.oidc.prune();
    let id = s.oidc.token(32);
    s.oidc.pending.insert(id.clone(), pending);
    sign_in_page(&s, &id, get("login_hint").as_deref().unwrap_or(""), None)
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    username: String,
}

/// `POST /oauth2/v1/authorize`: the person's answer on the sign-in page. The password is not
/// checked. Okta authenticates first (the account's status), then checks the app assignment.
async fn sign_in(State(sim): State<OktaSim>, Form(form): Form<SignInForm>) -> Response {
    let mut s = lock(&sim.state);
    s.oidc.prune();
    let Some(pending) = s.oidc.pending.get(&form.request).cloned() else {
        return error_page("invalid_request", "This sign-in expired or was already completed. Start again from the application.");
    };
    let login = form.username.trim();
    let Some(user) = s.org.user_by_login(login) else {
        // Okta's sign-in page says no more than this about unknown people.
        return sign_in_page(&s, &form.request, login, Some("Unable to sign in"));
    };
    let (user_id, status) = (user.id.clone(), user.status);
    s.oidc.pending.remove(&form.request);
    if !can_sign_in(status) {
        let description = format!("User cannot sign in: the Okta account is {}.", status.as_str());
        return redirect_error(&pending, "access_denied", &description);
    }
    if !s.org.assignments.contains_key(&user_id) {
        return redirect_error(&pending, "access_denied", "User is not assigned to the client application.");
    }
    let code = s.oidc.token(43);
    let issued = IssuedCode {
        request: pending.clone(),
        user_id,
        auth_time: chrono::Utc::now().timestamp(),
        issued: Instant::now(),
        redeemed: false,
        access_token: None,
    };
    s.oidc.codes.insert(code.clone(), issued);
    redirect(&pending.redirect_uri, Some(&pending.state), &[("code", &code)])
}

#[cfg(test)]
#[path = "oidc_tests.rs"]
mod tests;
