//! Sign-in with Microsoft (OpenID Connect, v2.0 endpoints) against the simulated tenant:
//! discovery (tenant and multi-tenant, whose issuer is Microsoft's `{tenantid}` template), the
//! JWKS, and the authorization endpoint with a small page where a person types their UPN.
//! The code redemption lives in `oidc_token`.
//!
//! Addresses are built from the request's `Host`, so the issuer is whatever address the
//! relying party used to reach the simulator, exactly as it would be for a real host.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use rand::Rng;
use serde_json::{json, Value};

pub(crate) use crate::page::{escape, loopback_base_url as base_url};

use super::keys::KeyRing;
use super::{lock, EntraSim, SimState};

/// How long a started sign-in and an unredeemed code live (Microsoft's codes last minutes).
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Bounds the maps a misbehaving client could otherwise grow without end.
const MAX_PENDING: usize = 10_000;
/// The tenant id Microsoft gives personal accounts; this simulator has none of them.
const CONSUMERS_TID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// A sign-in shown on the page, waiting for the person to answer.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub scope: String,
    pub code_challenge: String,
    pub form_post: bool,
    pub created: Instant,
}

/// An authorization code handed to the browser, redeemable once.
#[derive(Debug, Clone)]
pub(crate) struct IssuedCode {
    pub request: Pending,
    pub user_id: String,
    pub redeemed: bool,
}

pub(crate) struct OidcState {
    /// Seeds the signing keys, so they follow from the tenant's seed.
    pub key_seed: u64,
    /// Made on first use: RSA key generation costs a second that Graph-only tests need not pay.
    pub keys: Option<KeyRing>,
    pub pending: HashMap<String, Pending>,
    pub codes: HashMap<String, IssuedCode>,
    /// Tokens claim this tenant instead (a tenant the relying party never onboarded).
    pub foreign_tenant: Option<String>,
    pub id_token_lifetime: Duration,
}

impl OidcState {
    pub fn new(seed: u64) -> Self {
        Self {
            key_seed: seed ^ 0x0dc0_51c0,
            keys: None,
            pending: HashMap::new(),
            codes: HashMap::new(),
            foreign_tenant: None,
            id_token_lifetime: Duration::from_secs(3600),
        }
    }

    /// Forgets sign-ins and codes past their lifetime, and the oldest beyond the bound.
    pub fn prune(&mut self) {
        let fresh = |created: Instant| created.elapsed() < CODE_LIFETIME;
        self.pending.retain(|_, p| fresh(p.created));
        self.codes.retain(|_, c| fresh(c.request.created));
        if self.pending.len() > MAX_PENDING {
            self.pending.clear();
        }
        if self.codes.len() > MAX_PENDING {
            self.codes.clear();
        }
    }
}

/// Generates the key ring if there is none yet, off the async runtime and outside the lock.
pub(crate) async fn ensure_keys(sim: &EntraSim) -> Result<(), Response> {
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

/// The same, for the synchronous test-facing methods.
pub(crate) fn ensure_keys_now(s: &mut SimState) -> Option<&mut KeyRing> {
    if s.oidc.keys.is_none() {
        s.oidc.keys = KeyRing::generate(s.oidc.key_seed).ok();
    }
    s.oidc.keys.as_mut()
}

/// What a `{tenant}` path segment names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The simulated tenant, by GUID or domain; endpoints then use the GUID.
    Tenant(String),
    /// `common` or `organizations`: any work account, issuer by template.
    MultiTenant(String),
}

impl Audience {
    pub fn segment(&self) -> &str {
        match self {
            Audience::Tenant(tid) | Audience::MultiTenant(tid) => tid,
        }
    }
}

/// Resolves `{tenant}` or answers with the AADSTS code and message the login service gives.
pub(crate) fn audience(s: &SimState, tenant: &str) -> Result<Audience, (u32, String)> {
    let lower = tenant.to_ascii_lowercase();
    match lower.as_str() {
        "common" | "organizations" => return Ok(Audience::MultiTenant(lower)),
        "consumers" => {
            return Err((
                50020,
                format!("Personal Microsoft accounts (tenant {CONSUMERS_TID}) are not simulated; use the tenant id or organizations."),
            ))
        }
        _ => {}
    }
    if lower == s.tenant.id || lower == s.tenant.domain.to_ascii_lowercase() {
        return Ok(Audience::Tenant(s.tenant.id.clone()));
    }
    Err((90002, format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")))
}

fn error_json(code: u32, message: &str) -> Response {
    let error = if code == 90002 { "invalid_tenant" } else { "invalid_request" };
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {message}"),
            "error_codes": [code],
        })),
    )
        .into_response()
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`
pub async fn discovery(State(sim): State<EntraSim>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let s = lock(&sim.state);
    let who = match audience(&s, &tenant) {
        Ok(who) => who,
        Err((code, message)) => return error_json(code, &message),
    };
    let seg = who.segment();
    let issuer = match &who {
        Audience::Tenant(tid) => format!("{base}/{tid}/v2.0"),
        Audience::MultiTenant(_) => format!("{base}/{{tenantid}}/v2.0"),
    };
    // Field for field what Microsoft publishes that a relying party may read; notably no
    // `code_challenge_methods_supported`, which Microsoft omits although it does S256.
    axum::Json(json!({
        "token_endpoint": format!("{base}/{seg}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{seg}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{base}/{seg}/oauth2/v2.0/authorize"),
        "end_session_endpoint": format!("{base}/{seg}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    }))
    .into_response()
}

/// `GET /{tenant}/discovery/v2.0/keys`
pub async fn jwks(State(sim): State<EntraSim>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = ensure_keys(&sim).await {
        return r;
    }
    let base = base_url(&headers);
    let s = lock(&sim.state);
    if let Err((code, message)) = audience(&s, &tenant) {
        return error_json(code, &message);
    }
    match &s.oidc.keys {
        Some(ring) => axum::Json(ring.jwks(&format!("{base}/{{tenantid}}/v2.0"))).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn query_map(query: Option<String>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The app a browser-facing request names, and its redirect URI, both as registered; otherwise
/// the AADSTS code and message Microsoft shows on its own page (never sent to the redirect).
pub(super) fn registered_client(s: &SimState, get: impl Fn(&str) -> Option<String>) -> Result<(String, String), (u32, String)> {
    let missing = |name: &str| (900144, format!("The request body must contain the following parameter: '{name}'."));
    let client_id = get("client_id").ok_or_else(|| missing("client_id"))?;
    if !client_id.eq_ignore_ascii_case(&s.tenant.app.client_id) {
        return Err((700016, format!("Application with identifier '{client_id}' was not found in the directory.")));
    }
    let redirect_uri = get("redirect_uri").ok_or_else(|| missing("redirect_uri"))?;
    let registered = &s.tenant.app.redirect_uris;
    if !registered.is_empty() && !registered.contains(&redirect_uri) {
        return Err((
            50011,
            format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."),
        ));
    }
    Ok((client_id, redirect_uri))
}

/// Errors Microsoft shows on its own page: nothing can be sent back to an unverified address.
fn error_page(code: u32, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in failed</title></head><body><h1>Sorry, but we're having trouble signing you in.</h1><p id=\"error\">AADSTS{code}: {}</p></body></html>",
        escape(message)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// Sends the browser back to the relying party with these parameters (and `state`).
pub(crate) fn respond(redirect_uri: &str, form_post: bool, state: Option<&str>, params: &[(&str, &str)]) -> Response {
    let mut pairs: Vec<(&str, &str)> = params.to_vec();
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    if form_post {
        let fields: String = pairs.iter().map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v))).collect();
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Working...</title></head><body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">{fields}<noscript><button>Continue</button></noscript></form></body></html>",
            escape(redirect_uri)
        );
        return Html(body).into_response();
    }
    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return error_page(50011, "The redirect URI is not a valid URI.");
    };
    {
        let mut q = location.query_pairs_mut();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

fn redirect_error(p: &Pending, error: &str, code: u32, message: &str) -> Response {
    let description = format!("AADSTS{code}: {message}");
    respond(&p.redirect_uri, p.form_post, p.state.as_deref(), &[("error", error), ("error_description", &description)])
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: the code flow, PKCE S256 required.
pub async fn authorize(State(sim): State<EntraSim>, Path(tenant): Path<String>, RawQuery(query): RawQuery) -> Response {
    let q = query_map(query);
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let mut s = lock(&sim.state);
    let who = match audience(&s, &tenant) {
        Ok(who) => who,
        Err((code, message)) => return error_page(code, &message),
    };
    let (client_id, redirect_uri) = match registered_client(&s, get) {
        Ok(found) => found,
        Err((code, message)) => return error_page(code, &message),
    };
    if url::Url::parse(&redirect_uri).is_err() {
        return error_page(
            50011,
            &format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."),
        );
    }
    let mode = get("response_mode").unwrap_or_else(|| "query".into());
    let mut pending = Pending {
        client_id: s.tenant.app.client_id.clone(),
        redirect_uri,
        state: get("state"),
        nonce: get("nonce"),
        scope: get("scope").unwrap_or_default(),
        code_challenge: get("code_challenge").unwrap_or_default(),
        form_post: mode == "form_post",
        created: Instant::now(),
    };
    if mode != "query" && mode != "form_post" {
        // Fragments would never reach a server; the simulator answers in the query instead.
        pending.form_post = false;
        return redirect_error(&pending, "invalid_request", 900144, "The simulator answers with response_mode query or form_post.");
    }
    match get("response_type").as_deref() {
        Some("code") => {}
        Some(other) if other.contains("token") => {
            let message = format!("response_type '{other}' is not enabled for the application.");
            return redirect_error(&pending, "unsupported_response_type", 700054, &message);
        }
        _ => return redirect_error(&pending, "unsupported_response_type", 900144, "The request must contain response_type 'code'."),
    }
    if pending.scope.is_empty() {
        return redirect_error(&pending, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.");
    }
    if pending.code_challenge.is_empty() {
        return redirect_error(&pending, "invalid_request", 900144, "The request body must contain the following parameter: 'code_challenge'.");
    }
    if get("code_challenge_method").as_deref() != Some("S256") {
        return redirect_error(&pending, "invalid_request", 501491, "The simulator requires code_challenge_method S256.");
    }
    s.oidc.prune();
    let id = random_token(&mut s, 32);
    s.oidc.pending.insert(id.clone(), pending);
    let page = sign_in_page(&s, who.segment(), &id, get("login_hint").as_deref().unwrap_or(""), None);
    page_response(page)
}

fn page_response(page: String) -> Response {
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

#[derive(Debug, serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    action: String,
}

/// `POST /{tenant}/oauth2/v2.0/authorize`: the person's answer on the sign-in page.
pub async fn sign_in(State(sim): State<EntraSim>, Path(tenant): Path<String>, Form(form): Form<SignInForm>) -> Response {
    let mut s = lock(&sim.state);
    let who = match audience(&s, &tenant) {
        Ok(who) => who,
        Err((code, message)) => return error_page(code, &message),
    };
    s.oidc.prune();
    let Some(pending) = s.oidc.pending.get(&form.request).cloned() else {
        return error_page(50058, "The sign-in took too long or was already finished. Start again from the application.");
    };
    if form.action == "cancel" {
        s.oidc.pending.remove(&form.request);
        return redirect_error(&pending, "access_denied", 65004, "User declined to consent to access the app.");
    }
    let login = form.login.trim();
    let user = s
        .tenant
        .users
        .values()
        .find(|u| u.props.get("userPrincipalName").and_then(Value::as_str).is_some_and(|upn| upn.eq_ignore_ascii_case(login)))
        .map(|u| (u.id.clone(), u.props.get("accountEnabled").and_then(Value::as_bool).unwrap_or(true)));
    let user_id = match user {
        Some((id, true)) => id,
        other => {
            let problem = match other {
                None => format!("AADSTS50034: The user account {login} does not exist in the directory. To sign into this application, the account must be added to the directory."),
                Some(_) => "AADSTS50057: The user account is disabled.".to_owned(),
            };
            let page = sign_in_page(&s, who.segment(), &form.request, login, Some(&problem));
            return page_response(page);
        }
    };
    s.oidc.pending.remove(&form.request);
    let code = random_token(&mut s, 96);
    let issued = IssuedCode { request: Pending { created: Instant::now(), ..pending.clone() }, user_id, redeemed: false };
    s.oidc.codes.insert(code.clone(), issued);
    let session_state = uuid::Uuid::new_v4().to_string();
    respond(&pending.redirect_uri, pending.form_post, pending.state.as_deref(), &[("code", &code), ("session_state", &session_state)])
}

/// Random base64url-alphabet text: codes and sign-in ids are opaque to everyone else.
pub(crate) fn random_token(s: &mut SimState, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len).map(|_| char::from(ALPHABET[s.rng.gen_range(0..ALPHABET.len())])).collect()
}

/// An enabled user to suggest on the page, so someone trying the demo knows what to type:
/// one of the synced group's members when there is one, as only they are in Roster.
fn example_upn(s: &SimState) -> Option<String> {
    let members = s.tenant.info.member_user_ids.iter();
    members.chain(s.tenant.user_order.iter()).filter_map(|id| s.tenant.users.get(id)).find_map(|u| {
        let enabled = u.props.get("accountEnabled").and_then(Value::as_bool).unwrap_or(true);
        enabled.then(|| u.props.get("userPrincipalName").and_then(Value::as_str).map(str::to_owned)).flatten()
    })
}

fn sign_in_page(s: &SimState, segment: &str, request: &str, login: &str, problem: Option<&str>) -> String {
    let alert = problem.map(|p| format!("<p class=\"error\" role=\"alert\" id=\"error\">{}</p>", escape(p))).unwrap_or_default();
    let example = example_upn(s)
        .map(|u| format!("<p class=\"hint\">Any enabled user of {} can sign in, e.g. <code>{}</code>.</p>", escape(&s.tenant.domain), escape(&u)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to your account</title>
<style>
body {{ font-family: "Segoe UI", system-ui, sans-serif; background: #f2f2f2; margin: 0; }}
main {{ max-width: 360px; margin: 10vh auto; background: #fff; padding: 44px; box-shadow: 0 2px 6px rgba(0,0,0,.2); }}
.brand {{ color: #5e5e5e; font-weight: 600; margin: 0 0 16px; }}
h1 {{ font-size: 24px; font-weight: 600; margin: 0 0 16px; }}
label {{ display: block; margin-bottom: 4px; }}
input[type=text] {{ width: 100%; box-sizing: border-box; padding: 6px 0; border: 0; border-bottom: 1px solid #666; font-size: 15px; }}
.buttons {{ display: flex; flex-direction: row-reverse; gap: 8px; margin-top: 24px; }}
button {{ min-width: 108px; padding: 6px 12px; border: 0; font-size: 15px; cursor: pointer; }}
button[value=signin] {{ background: #0067b8; color: #fff; }}
.error {{ color: #e81123; }}
.hint {{ color: #5e5e5e; font-size: 13px; }}
</style></head>
<body><main>
<p class="brand">Microsoft Entra ID (simulated)</p>
<h1>Sign in</h1>
{alert}
<form method="post" action="/{segment}/oauth2/v2.0/authorize">
<input type="hidden" name="request" value="{request}">
<label for="login">User principal name</label>
<input type="text" id="login" name="login" value="{login}" autocomplete="username" autofocus required>
{example}
<div class="buttons">
<button type="submit" name="action" value="signin">Sign in</button>
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</div>
</form>
</main></body></html>
"#,
        segment = escape(segment),
        request = escape(request),
        login = escape(login),
    )
}

/// Test-facing controls of sign-in.
impl EntraSim {
    /// A new signing key, used and published from now on (Microsoft may roll keys at any
    /// moment). Returns its `kid`; `None` only if key generation failed.
    pub fn rotate_signing_key(&self) -> Option<String> {
        self.with(|s| ensure_keys_now(s)?.rotate().ok())
    }

    /// The `kid` ID tokens are signed with now.
    pub fn signing_key_id(&self) -> Option<String> {
        self.with(|s| ensure_keys_now(s)?.signing_kid().map(str::to_owned))
    }

    /// The `kid`s the JWKS lists, the signing key first.
    pub fn published_key_ids(&self) -> Vec<String> {
        self.with(|s| ensure_keys_now(s).map(|r| r.kids()).unwrap_or_default())
    }

    /// Withdraws a key that no longer signs from the JWKS.
    pub fn retire_key(&self, kid: &str) -> bool {
        self.with(|s| ensure_keys_now(s).is_some_and(|r| r.retire(kid)))
    }

    /// ID tokens claim this tenant (in `tid` and `iss`) instead of the simulated one, as a
    /// sign-in from a tenant the relying party never onboarded would; `None` restores it.
    pub fn sign_in_as_tenant(&self, tenant_id: Option<&str>) {
        self.with(|s| s.oidc.foreign_tenant = tenant_id.map(str::to_owned));
    }

    pub fn set_id_token_lifetime(&self, lifetime: Duration) {
        self.with(|s| s.oidc.id_token_lifetime = lifetime);
    }
}

#[cfg(test)]
#[path = "oidc_tests.rs"]
mod tests;
