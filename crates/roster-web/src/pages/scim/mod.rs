//! Settings → Integrations → SCIM: tokens (created, listed with their last use, revoked), the
//! base URL and the steps for Okta and Entra, and the recent requests. Owners and admins only.

use super::{when, Chrome, ConfirmedForm, CsrfOnly};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::{AdminUser, CurrentUser};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::admin::scim_tokens;
use roster_app::admin::OpsError;
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
}

async fn render(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, new_token: Option<String>) -> Result<Response, PageError> {
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
    let mut response = SettingsPage { chrome: Chrome::signed_in(ctx, user, "settings"), base_url, tokens, new_token, waiting }.into_response();
    // The page may carry a new token: keep it out of caches.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub async fn show(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser) -> Result<Response, PageError> {
    render(&state, &ctx, &user, None).await
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
        Ok(created) => render(&state, &ctx, &user, Some(created.raw)).await,
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
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    if !state.store.revoke_scim_token(ctx.org.id, path.id, state.clock.now()).await? {
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
