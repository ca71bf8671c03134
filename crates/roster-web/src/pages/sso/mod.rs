//! Single sign-on: the start route and OpenID Connect's callback, the login page's buttons, and
//! Settings → Integrations → Single sign-on. SAML's own routes are in `saml`.

pub mod admin;
pub mod connection;
pub mod saml;

use super::Chrome;
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::{cookie_value, same_secret, set_cookie, start_session, CurrentUser, FORM_COOKIE};
use crate::sso::flow::{self, CallbackParams, FlowError, Refusal};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::admin::sso::is_sign_in;
use roster_core::{ConnectionId, ConnectionKind, Role};

/// Carries `state` from the start to the callback, so only the browser that started a
/// sign-in can finish it.
pub const STATE_COOKIE: &str = "roster_oidc_state";
/// The same, for an admin's "Test sign-in", which reports instead of signing in.
pub const TEST_COOKIE: &str = "roster_oidc_test";

/// A "Sign in with ..." button on the login page.
pub struct SsoButton {
    pub id: String,
    pub name: String,
}

/// The enabled sign-in connections (OpenID Connect and SAML) of the organisation, for the
/// login page.
pub async fn login_buttons(state: &AppState, ctx: &OrgCtx) -> Result<Vec<SsoButton>, PageError> {
    Ok(state
        .store
        .connections(ctx.org.id)
        .await?
        .into_iter()
        .filter(|c| is_sign_in(c.kind) && c.enabled)
        .map(|c| SsoButton { id: c.id.to_string(), name: c.name })
        .collect())
}

/// Whether this person may sign in by password: always the owner, so nobody is locked out.
pub async fn password_allowed(state: &AppState, ctx: &OrgCtx, role: Role) -> Result<bool, PageError> {
    Ok(role == Role::Owner || state.store.password_sign_in_allowed(ctx.org.id).await?)
}

#[derive(Template, WebTemplate)]
#[template(path = "sso/refused.html")]
struct RefusedPage {
    chrome: Chrome,
    message: String,
}

fn refused_page(ctx: &OrgCtx, status: StatusCode, message: String) -> Response {
    (status, RefusedPage { chrome: Chrome::anonymous(ctx), message }).into_response()
}

/// An admin's test sign-in that failed: the real reason, and where to fix it.
#[derive(Template, WebTemplate)]
#[template(path = "sso/test_failed.html")]
struct TestFailedPage {
    chrome: Chrome,
    reason: String,
    connection: Option<String>,
}

async fn refuse(state: &AppState, ctx: &OrgCtx, error: FlowError) -> Response {
    match error {
        FlowError::Refused(refusal) => {
            flow::log_refusal(state, &ctx.org, &refusal).await;
            if refusal.test {
                let page =
                    TestFailedPage { chrome: Chrome::anonymous(ctx), reason: refusal.reason, connection: refusal.connection.map(|c| c.to_string()) };
                return (StatusCode::FORBIDDEN, page).into_response();
            }
            refused_page(ctx, StatusCode::FORBIDDEN, refusal.message)
        }
        FlowError::Store(e) => PageError::from(e).into_response(),
    }
}

/// Marks a refusal as the failure of an admin's test sign-in.
fn as_test(error: FlowError) -> FlowError {
    match error {
        FlowError::Refused(refusal) => FlowError::Refused(flow::Refusal { test: true, ..refusal }),
        other => other,
    }
}

fn clear(state: &AppState, ctx: &OrgCtx, response: &mut Response) {
    for name in [STATE_COOKIE, TEST_COOKIE] {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(state, ctx, name, "", 0));
    }
}

async fn enabled_connection(state: &AppState, ctx: &OrgCtx, id: &str, need_enabled: bool) -> Result<roster_core::Connection, PageError> {
    let id: ConnectionId = id.parse().map_err(|_| PageError::NotFound)?;
    let connection = state.store.connection(ctx.org.id, id).await?.ok_or(PageError::NotFound)?;
    if !is_sign_in(connection.kind) || (need_enabled && !connection.enabled) {
        return Err(PageError::NotFound);
    }
    Ok(connection)
}

/// The step between the login form and the provider. It is a page that moves on by itself, not a
/// redirect: browsers hold a form's redirects to the page's `form-action 'self'`, and the
/// provider is another origin.
#[derive(Template, WebTemplate)]
#[template(path = "sso/redirect.html")]
struct ToProvider {
    provider: String,
    url: String,
}

async fn redirect_to_provider(state: &AppState, ctx: &OrgCtx, connection: &roster_core::Connection, cookie: &str) -> Response {
    let testing = cookie == TEST_COOKIE;
    let refuse = |e: FlowError| refuse(state, ctx, if testing { as_test(e) } else { e });
    if connection.kind == ConnectionKind::Saml {
        // The answer comes back as a cross-site POST, which carries no Lax cookie: the stored
        // request, redeemed once, is what ties it to this start.
        return match crate::sso::saml::start(state, &ctx.org, connection, testing).await {
            Ok((url, browser)) => {
                let mut response = to_provider_page(connection, url);
                let cookie = set_cookie(state, ctx, crate::sso::saml::BROWSER_COOKIE, &browser, flow::REQUEST_MINUTES * 60);
                response.headers_mut().append(header::SET_COOKIE, cookie);
                response
            }
            Err(e) => refuse(e).await,
        };
    }
    match flow::start(state, &ctx.org, connection).await {
        Ok((url, sso_state)) => {
            let mut response = to_provider_page(connection, url);
            response.headers_mut().append(header::SET_COOKIE, set_cookie(state, ctx, cookie, &sso_state, flow::REQUEST_MINUTES * 60));
            response
        }
        Err(e) => refuse(e).await,
    }
}

/// The page that moves on to a provider by itself (see `ToProvider`).
pub(crate) fn to_provider_page(connection: &roster_core::Connection, url: String) -> Response {
    provider_page(&connection.name, url)
}

pub(crate) fn provider_page(provider: &str, url: String) -> Response {
    let mut response = ToProvider { provider: provider.to_owned(), url }.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[derive(serde::Deserialize)]
pub struct StartForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// POST from the organisation's own login page only: the double-submit cookie proves it.
pub async fn start(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Result<Response, PageError> {
    match cookie_value(&headers, FORM_COOKIE) {
        Some(cookie) if !form.csrf.is_empty() && same_secret(&cookie, &form.csrf) => {}
        _ => return Err(PageError::Csrf),
    }
    let connection = enabled_connection(&state, &ctx, &id, true).await?;
    Ok(redirect_to_provider(&state, &ctx, &connection, STATE_COOKIE).await)
}

pub async fn callback_get(
    State(state): State<AppState>,
    ctx: OrgCtx,
    user: Option<CurrentUser>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    finish(&state, &ctx, user, &headers, params).await
}

/// `response_mode=form_post`. The state cookie is SameSite=Lax, so a cross-site POST carries
/// it only where the provider shares the site; elsewhere the query mode is used.
pub async fn callback_post(
    State(state): State<AppState>,
    ctx: OrgCtx,
    user: Option<CurrentUser>,
    headers: HeaderMap,
    Form(params): Form<CallbackParams>,
) -> Response {
    finish(&state, &ctx, user, &headers, params).await
}

#[derive(Template, WebTemplate)]
#[template(path = "sso/tested.html")]
struct TestedPage {
    pub chrome: Chrome,
    pub connection: String,
    pub subject: String,
    /// The claims (OpenID) or NameID and attributes (SAML) received, by name.
    pub received: Vec<(String, String)>,
    pub matched: Result<String, String>,
}

async fn finish(state: &AppState, ctx: &OrgCtx, user: Option<CurrentUser>, headers: &HeaderMap, params: CallbackParams) -> Response {
    let started = std::time::Instant::now();
    let test_cookie = cookie_value(headers, TEST_COOKIE).filter(|c| !c.is_empty());
    // A test is finished only by the admin who started it; its state lives in its own cookie.
    let testing = test_cookie.is_some() && params.state.as_deref().zip(test_cookie.as_deref()).is_some_and(|(a, b)| same_secret(a, b));
    let cookie = if testing { test_cookie } else { cookie_value(headers, STATE_COOKIE).filter(|c| !c.is_empty()) };
    let mut provider_time = None;
    let mut response = match flow::verify(state, &ctx.org, &params, cookie.as_deref()).await.inspect(|v| provider_time = Some(v.provider_time)) {
        // The browser that started a test is an admin's: it is shown why the test failed.
        Err(e) if testing => refuse(state, ctx, as_test(e)).await,
        Err(e) => refuse(state, ctx, e).await,
        Ok(verified) if testing => match user.filter(|u| u.person.role.can_administer()) {
            None => {
                refuse(
                    state,
                    ctx,
                    FlowError::Refused(Refusal::new("Only admins can test sign-in.", "a test sign-in finished without an admin session")),
                )
                .await
            }
            Some(admin) => {
                let matched = match flow::match_person(state, &ctx.org, &verified).await {
                    Ok(p) => Ok(p.email.as_str().to_owned()),
                    Err(FlowError::Refused(r)) => Err(r.reason),
                    Err(FlowError::Store(e)) => return PageError::from(e).into_response(),
                };
                let chrome = Chrome::signed_in(ctx, &admin, "settings");
                let received = verified.received();
                TestedPage { chrome, connection: verified.connection.name.clone(), subject: verified.subject.clone(), received, matched }
                    .into_response()
            }
        },
        Ok(verified) => match flow::match_person(state, &ctx.org, &verified).await {
            Ok(person) => match flow::first_sign_in(state, &ctx.org, &verified.connection, person).await {
                Err(e) => refuse(state, ctx, e).await,
                Ok(person) => match start_session(state, ctx, &person).await {
                    Ok(cookie) => {
                        metrics::counter!("roster_sign_ins_total", "result" => "ok_sso").increment(1);
                        // Always the organisation's front page: nothing from the request chooses
                        // where a signed-in browser lands.
                        let mut r = Redirect::to(&format!("{}/", ctx.base)).into_response();
                        r.headers_mut().append(header::SET_COOKIE, cookie);
                        r
                    }
                    Err(e) => e.into_response(),
                },
            },
            Err(e) => refuse(state, ctx, e).await,
        },
    };
    clear(state, ctx, &mut response);
    if let Some(waited) = provider_time {
        response.extensions_mut().insert(crate::sso::ProviderTime(waited));
    }
    tracing::debug!(micros = started.elapsed().as_micros() as u64, "sso callback");
    response
}
