//! Settings: the integrations that exist, and the organisation's API keys.

use super::{when, Chrome};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::{AdminUser, CurrentUser};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::admin::{self, OpsError};
use serde::Deserialize;

pub struct KeyRow {
    pub id: String,
    pub name: String,
    /// "read, events".
    pub scopes: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    /// (name, state) of each configured integration.
    integrations: Vec<(String, String)>,
    api_base: String,
    keys: Vec<KeyRow>,
    new_key: Option<String>,
}

async fn render(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, new_key: Option<String>) -> Result<Response, PageError> {
    let keys = state.store.api_keys(ctx.org.id).await?;
    let keys = keys
        .into_iter()
        .map(|k| KeyRow {
            id: k.id.to_string(),
            name: k.name,
            scopes: roster_store::ApiScope::join(&k.scopes).replace(',', ", "),
            prefix: k.prefix,
            created: when(k.created_at),
            last_used: k.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            revoked: k.revoked_at.is_some(),
        })
        .collect();
    let api_base = state.config.org_url(ctx.org.slug.as_str(), "/api/v1");
    let integrations = state
        .store
        .connections(ctx.org.id)
        .await?
        .into_iter()
        .map(|c| (format!("{}: {}", c.kind.label(), c.name), if c.enabled { "enabled" } else { "disabled" }.to_owned()))
        .collect();
    let mut response = SettingsPage { chrome: Chrome::signed_in(ctx, user, "settings"), integrations, api_base, keys, new_key }.into_response();
    // The page may carry a new key: keep it out of caches.
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

pub async fn show(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let (new_key, clear) = crate::flash::take(&state, &ctx, &user, &headers);
    Ok(clear.on(render(&state, &ctx, &user, new_key).await?))
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// Ticked boxes, one per scope.
    #[serde(default)]
    scope_read: String,
    #[serde(default)]
    scope_events: String,
    #[serde(default)]
    scope_write: String,
}

pub async fn create_key(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<KeyForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let scopes: Vec<roster_store::ApiScope> = [
        (roster_store::ApiScope::Read, &form.scope_read),
        (roster_store::ApiScope::Write, &form.scope_write),
        (roster_store::ApiScope::Events, &form.scope_events),
    ]
    .into_iter()
    .filter(|(_, ticked)| !ticked.is_empty())
    .map(|(scope, _)| scope)
    .collect();
    match admin::create_scoped_api_key(&state, ctx.org.id, &form.name, Some(user.person.id), &scopes).await {
        // Post/Redirect/Get: the key is shown once by the page the redirect leads to.
        Ok(created) => Ok(crate::flash::redirect(&state, &ctx, &user, "/settings", &created.raw)),
        Err(OpsError::Invalid(msg)) => Err(PageError::BadRequest(msg)),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct KeyPath {
    id: uuid::Uuid,
}

pub async fn revoke_key(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<KeyPath>,
    Form(form): Form<super::ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&user, "Tick the box to confirm: a revoked key stops working at once. Nothing was changed.")?;
    if !state.store.revoke_api_key(ctx.org.id, path.id, &roster_core::Actor::Person { id: user.person.id }, state.clock.now()).await? {
        return Err(PageError::NotFound);
    }
    Ok(Redirect::to(&format!("{}/settings", ctx.base)).into_response())
}
