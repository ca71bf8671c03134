//! Settings → Integrations → SCIM: tokens (created, listed with their last use, revoked), the
//! base URL and the steps for Okta and Entra, and the recent requests. Owners and admins only.

use super::{when, Chrome, ConfirmedForm};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::{AdminUser, CurrentUser};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::admin::scim_tokens;
use roster_app::admin::OpsError;
use roster_app::provision::entra::delete_connection;
use roster_app::provision::scim::ScimSettings;
use roster_core::Actor;
use serde::Deserialize;

/// Requests shown on the log page.
const LOGGED_REQUESTS: u32 = 200;

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "scim/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    base_url: String,
    tokens: Vec<TokenRow>,
    new_token: Option<String>,
    /// Deactivations the clients asked for beyond the guard: (name, e-mail, asked at).
    waiting: Vec<(String, String, String)>,
    /// Requests a second each token may make, and whether an admin set it.
    rate: String,
    connected: bool,
    notice: Option<String>,
    error: Option<String>,
}

/// What the page says back after a change.
#[derive(Default)]
struct Said {
    new_token: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

async fn render(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, said: Said) -> Result<Response, PageError> {
    let tokens = state
        .store
        .scim_tokens(ctx.org.id)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name,
            created: when(t.created_at),
            last_used: t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            revoked: t.revoked_at.is_some(),
        })
        .collect();
    let base_url = scim_tokens::base_url(state, ctx.org.slug.as_str());
    let waiting = roster_app::provision::waiting::waiting_deactivations(state, ctx.org.id)
        .await?
        .into_iter()
        .map(|w| (w.name, w.email, when(w.asked_at)))
        .collect();
    let connection = scim_tokens::existing_connection(state, ctx.org.id).await?;
    let rate = connection
        .as_ref()
        .and_then(|c| ScimSettings::from_connection(c).ok())
        .map_or(roster_app::provision::scim::DEFAULT_RATE_PER_SECOND, |s| s.rate_per_second());
    let page = SettingsPage {
        chrome: Chrome::signed_in(ctx, user, "settings"),
        base_url,
        tokens,
        new_token: said.new_token,
        waiting,
        rate: rate.to_string(),
        connected: connection.is_some(),
        notice: said.notice,
        error: said.error,
    };
    let mut response = page.into_response();
    // The page may carry a new token: keep it out of caches.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Query(done): Query<Done>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let (new_token, clear) = crate::flash::take(&state, &ctx, &user, &headers);
    let notice = match (done.saved, done.deleted.as_deref()) {
        (Some(_), _) => Some("Saved.".to_owned()),
        (_, Some("deactivate")) => {
            Some("The SCIM connection was deleted, its tokens stopped working, and the people it provisioned were deactivated.".to_owned())
        }
        (_, Some(_)) => Some(
            "The SCIM connection was deleted and its tokens stopped working. The people it provisioned are kept, managed by hand from now on."
                .to_owned(),
        ),
        _ => None,
    };
    Ok(clear.on(render(&state, &ctx, &user, Said { notice, new_token, ..Said::default() }).await?))
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let actor = Actor::Person { id: user.person.id };
    match scim_tokens::create_token(&state, ctx.org.id, &form.name, &actor).await {
        // Post/Redirect/Get: the token is shown once by the page the redirect leads to.
        Ok(created) => Ok(crate::flash::redirect(&state, &ctx, &user, "/settings/scim", &created.raw)),
        Err(OpsError::Invalid(msg)) => Err(PageError::BadRequest(msg)),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct TokenPath {
    id: uuid::Uuid,
}

pub async fn revoke_token(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<TokenPath>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&user, "Tick the box to confirm: a revoked token stops working at once. Nothing was changed.")?;
    if !state.store.revoke_scim_token(ctx.org.id, path.id, &Actor::Person { id: user.person.id }, state.clock.now()).await? {
        return Err(PageError::NotFound);
    }
    Ok(Redirect::to(&format!("{}/settings/scim", ctx.base)).into_response())
}

pub struct RequestRow {
    pub at: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration: String,
    pub error: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "scim/requests.html")]
struct RequestsPage {
    chrome: Chrome,
    limit: u32,
    requests: Vec<RequestRow>,
}

pub async fn requests(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser) -> Result<Response, PageError> {
    let requests = state
        .store
        .scim_requests(ctx.org.id, LOGGED_REQUESTS)
        .await?
        .into_iter()
        .map(|r| RequestRow {
            at: r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            method: r.method,
            path: r.path,
            status: r.status,
            duration: format!("{:.1} ms", r.duration_micros as f64 / 1000.0),
            error: r.error.unwrap_or_default(),
        })
        .collect();
    Ok(RequestsPage { chrome: Chrome::signed_in(&ctx, &user, "settings"), limit: LOGGED_REQUESTS, requests }.into_response())
}

/// Apply every deactivation waiting for a decision.
pub async fn apply_waiting(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    decide(&state, &ctx, &user, &form, true).await
}

/// Discard every deactivation waiting for a decision: the people stay active.
pub async fn discard_waiting(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    decide(&state, &ctx, &user, &form, false).await
}

async fn decide(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, form: &ConfirmedForm, apply: bool) -> Result<Response, PageError> {
    form.check(user, "Tick the box to confirm, then try again.")?;
    roster_app::provision::waiting::decide_waiting_deactivations(state, ctx.org.id, &Actor::Person { id: user.person.id }, apply).await?;
    Ok(Redirect::to(&format!("{}/settings/scim", ctx.base)).into_response())
}

#[derive(Deserialize)]
pub struct RateForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    rate: String,
}

/// How many requests a second each token may make; empty for the default.
pub async fn set_rate(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<RateForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let rate = match form.rate.trim() {
        "" => Ok(None),
        text => text.parse::<f64>().map(Some).map_err(|_| "Give the rate as a number of requests a second, e.g. 50.".to_owned()),
    };
    let result = match rate {
        Ok(rate) => scim_tokens::set_rate_limit(&state, ctx.org.id, rate, &Actor::Person { id: user.person.id }).await.map_err(|e| match e {
            OpsError::Invalid(message) => Ok(message),
            other => Err(other),
        }),
        Err(message) => Err(Ok(message)),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("{}/settings/scim?saved=1", ctx.base)).into_response()),
        Err(Ok(message)) => render(&state, &ctx, &user, Said { error: Some(message), ..Said::default() }).await,
        Err(Err(other)) => Err(other.into()),
    }
}

/// Delete the SCIM connection: its tokens stop working; its people are kept or deactivated
/// (guarded like any run).
pub async fn delete(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<super::DeleteConnectionForm>,
) -> Result<Response, PageError> {
    let people = form.check(&user)?;
    let connection = scim_tokens::existing_connection(&state, ctx.org.id).await?.ok_or(PageError::NotFound)?;
    match delete_connection(&state, &connection, &Actor::Person { id: user.person.id }, people).await {
        Ok(_) => Ok(Redirect::to(&format!("{}/settings/scim?deleted={}", ctx.base, form.people)).into_response()),
        Err(OpsError::Unconfirmed(message) | OpsError::Invalid(message)) => {
            render(&state, &ctx, &user, Said { error: Some(message), ..Said::default() }).await
        }
        Err(other) => Err(other.into()),
    }
}
