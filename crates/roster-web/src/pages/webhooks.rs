//! Settings → Webhooks: the organisation's endpoints, adding one (its secret shown once),
//! rotating a secret, delivering again from a cursor, deleting, and each endpoint's delivery log.

use super::{when, Chrome, ConfirmedForm};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::{AdminUser, CurrentUser};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::webhooks;
use roster_core::Actor;
use serde::Deserialize;

pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub types: String,
    pub cursor: String,
    /// "delivering", "failing since ...", "disabled: ...".
    pub state: String,
    pub healthy: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    endpoints: Vec<EndpointRow>,
    /// A secret just created, shown once.
    secret: Option<String>,
}

fn actor(user: &CurrentUser) -> Actor {
    Actor::Person { id: user.person.id }
}

pub async fn show(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser, headers: HeaderMap) -> Result<Response, PageError> {
    let (secret, clear) = crate::flash::take(&state, &ctx, &user, &headers);
    let endpoints = state
        .store
        .webhooks(ctx.org.id)
        .await?
        .into_iter()
        .map(|e| EndpointRow {
            id: e.id.to_string(),
            types: if e.types.is_empty() { "all events".into() } else { e.types.join(", ") },
            cursor: roster_core::feed::cursor_of(e.cursor_seq),
            healthy: e.disabled_at.is_none() && e.failing_since.is_none(),
            state: match (&e.disabled_at, &e.failing_since) {
                (Some(_), _) => format!("disabled: {}", e.disabled_reason.as_deref().unwrap_or("")),
                (None, Some(since)) => format!("failing since {} UTC ({} attempts; next {})", when(*since), e.attempts, when(e.next_attempt_at)),
                (None, None) => "delivering".into(),
            },
            url: e.url,
        })
        .collect();
    let mut response = WebhooksPage { chrome: Chrome::signed_in(&ctx, &user, "settings"), endpoints, secret }.into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(clear.on(response))
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    url: String,
    /// Comma-separated; empty for all.
    #[serde(default)]
    types: String,
}

pub async fn add(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser, Form(form): Form<AddForm>) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let types: Vec<String> = form.types.split(',').map(str::to_owned).collect();
    let created = webhooks::add(&state, ctx.org.id, &actor(&user), &form.url, &types).await?;
    Ok(crate::flash::redirect(&state, &ctx, &user, "/settings/webhooks", &created.secret))
}

#[derive(Deserialize)]
pub struct EndpointPath {
    id: uuid::Uuid,
}

pub async fn rotate(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<EndpointPath>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&user, "Tick the box to confirm the new secret; nothing was changed.")?;
    let secret = webhooks::rotate_secret(&state, ctx.org.id, &actor(&user), path.id).await?;
    Ok(crate::flash::redirect(&state, &ctx, &user, "/settings/webhooks", &secret))
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<EndpointPath>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&user, "Tick the box to confirm the deletion; nothing was changed.")?;
    webhooks::delete(&state, ctx.org.id, &actor(&user), path.id).await?;
    Ok(Redirect::to(&format!("{}/settings/webhooks", ctx.base)).into_response())
}

#[derive(Deserialize)]
pub struct RedeliverForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// A cursor; empty for every event kept.
    #[serde(default)]
    after: String,
}

pub async fn redeliver(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<EndpointPath>,
    Form(form): Form<RedeliverForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let after = Some(form.after.trim()).filter(|a| !a.is_empty());
    webhooks::redeliver(&state, ctx.org.id, &actor(&user), path.id, after).await?;
    Ok(Redirect::to(&format!("{}/settings/webhooks/{}", ctx.base, path.id)).into_response())
}

pub struct DeliveryRow {
    pub at: String,
    pub event_type: String,
    pub event: String,
    pub answer: String,
    pub ok: bool,
    pub duration_ms: i32,
    pub response: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "webhook.html")]
struct EndpointPage {
    chrome: Chrome,
    id: String,
    url: String,
    cursor: String,
    deliveries: Vec<DeliveryRow>,
}

/// One endpoint's newest delivery attempts.
pub async fn deliveries(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<EndpointPath>,
) -> Result<Response, PageError> {
    let endpoint = state.store.webhook(ctx.org.id, path.id).await?.ok_or(PageError::NotFound)?;
    let deliveries = state
        .store
        .webhook_deliveries(ctx.org.id, path.id, 200)
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            at: d.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            event_type: d.event_type,
            event: d.event.to_string(),
            ok: d.status.is_some_and(|s| (200..300).contains(&s)),
            answer: match (d.status, d.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => error,
                (None, None) => "—".into(),
            },
            duration_ms: d.duration_ms,
            response: d.response.unwrap_or_default(),
        })
        .collect();
    Ok(EndpointPage {
        chrome: Chrome::signed_in(&ctx, &user, "settings"),
        id: endpoint.id.to_string(),
        url: endpoint.url,
        cursor: roster_core::feed::cursor_of(endpoint.cursor_seq),
        deliveries,
    }
    .into_response())
}

/// Send a test message now and show the answer in the delivery log.
pub async fn test(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<EndpointPath>,
    Form(form): Form<super::CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    // Whatever the endpoint answered is in the delivery log the redirect shows.
    let _answer = webhooks::send_test(&state, ctx.org.id, path.id).await?;
    Ok(Redirect::to(&format!("{}/settings/webhooks/{}", ctx.base, path.id)).into_response())
}
