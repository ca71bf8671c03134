//! Settings → Integrations → Okta (standard): the connection (address, app, API token, options),
//! the event hook's URL and secret (shown once), enable and disable, preview and "Sync users",
//! the recent runs, and deleting the connection.

use super::entra::runs::{history, RunRow};
use super::{Chrome, ConfirmedForm, CsrfOnly};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::admin::OpsError;
use roster_app::jobs::okta_sync::enqueue_pull;
use roster_app::provision::entra as connections;
use roster_app::provision::entra::sync::format_rules;
use roster_app::provision::okta::settings::OktaSettings;
use roster_app::provision::okta::setup::{self, OktaSetup};
use roster_core::guard::GuardLimits;
use roster_core::{Actor, Connection};
use serde::Deserialize;

const PAGE: &str = "/settings/integrations/okta";

pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(PAGE, get(show).post(save))
        .route("/settings/integrations/okta/enable", post(enable))
        .route("/settings/integrations/okta/disable", post(disable))
        .route("/settings/integrations/okta/sync", post(sync_now))
        .route("/settings/integrations/okta/preview", post(preview))
        .route("/settings/integrations/okta/delete", post(delete))
        .route("/settings/integrations/okta/runs/{id}/allow", post(allow))
        .route("/settings/integrations/okta/runs/{id}/reject", post(reject))
}

/// The form as shown: the connection's values, or the defaults.
pub struct FormValues {
    pub base_url: String,
    pub app_id: String,
    pub invite: bool,
    pub manage_managers: bool,
    pub daily_at: String,
    pub mappings: String,
    pub guard_max_people: String,
    pub guard_max_percent: String,
}

impl FormValues {
    fn of(connection: Option<&Connection>) -> Self {
        match connection.and_then(|c| OktaSettings::from_connection(c).ok()) {
            Some(s) => Self {
                base_url: s.base_url,
                app_id: s.app_id,
                invite: s.invite,
                manage_managers: s.manage_managers,
                daily_at: s.daily_at,
                mappings: format_rules(&s.rules),
                guard_max_people: s.guard.max_people.to_string(),
                guard_max_percent: s.guard.max_percent.to_string(),
            },
            None => Self {
                base_url: String::new(),
                app_id: String::new(),
                invite: false,
                manage_managers: true,
                daily_at: "03:00".into(),
                mappings: String::new(),
                guard_max_people: GuardLimits::default().max_people.to_string(),
                guard_max_percent: GuardLimits::default().max_percent.to_string(),
            },
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "okta.html")]
struct OktaPage {
    chrome: Chrome,
    connected: bool,
    enabled: bool,
    form: FormValues,
    hook_url: Option<String>,
    /// The hook secret just made, shown once.
    secret: Option<String>,
    /// `healthy`, `degraded`... and what it means.
    health: Option<(String, String)>,
    runs: Vec<RunRow>,
    /// The run the guard holds, waiting for a decision: its id, and who it would deactivate.
    held: Option<HeldRun>,
    error: Option<String>,
    notice: Option<&'static str>,
}

pub struct HeldRun {
    pub id: String,
    pub count: usize,
    /// `name <address>` of the first ones.
    pub people: Vec<String>,
}

#[derive(Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

async fn page(
    state: &AppState,
    ctx: &OrgCtx,
    user: &crate::session::CurrentUser,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Result<OktaPage, PageError> {
    let connection = setup::okta_connection(state, ctx.org.id).await?;
    let runs = match &connection {
        Some(c) => state.store.sync_runs(ctx.org.id, c.id, 20).await?,
        None => Vec::new(),
    };
    let health = connection.as_ref().map(|c| {
        let health = roster_app::provision::health::health(c, &runs);
        let said = match &health {
            roster_app::provision::health::Health::Degraded(why) => format!("the last pull failed: {why}"),
            roster_app::provision::health::Health::Held => "a pull was held by the deactivation guard: nothing of it was applied".into(),
            roster_app::provision::health::Health::NotRunYet => "no pull has run yet".into(),
            _ => String::new(),
        };
        (health.name().to_owned(), said)
    });
    Ok(OktaPage {
        chrome: Chrome::signed_in(ctx, user, "settings"),
        connected: connection.is_some(),
        enabled: connection.as_ref().is_some_and(|c| c.enabled),
        form: FormValues::of(connection.as_ref()),
        hook_url: connection.as_ref().map(|c| setup::hook_url(state, ctx.org.slug.as_str(), c)),
        secret: None,
        health,
        held: roster_app::provision::guard::holding(&runs).map(|run| {
            let people = run
                .report
                .as_ref()
                .map(|r| r.would_deactivate.iter().take(50).map(|p| format!("{} <{}>", p.name, p.email)).collect())
                .unwrap_or_default();
            HeldRun { id: run.id.to_string(), count: roster_app::provision::guard::hold_size(run), people }
        }),
        runs: history(&runs),
        error,
        notice,
    })
}

/// The page again, saying why the action was refused (400).
fn refused(page: OktaPage) -> Response {
    let mut response = page.into_response();
    *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    response
}

pub async fn show(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Query(query): Query<ShowQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let notice = match query.done.as_str() {
        "saved" => Some("Saved."),
        "enabled" => Some("Enabled: the daily pull and the event hooks now change people."),
        "disabled" => Some("Disabled: nothing changes people until it is enabled again."),
        "queued" => Some("The pull is queued; its run appears below."),
        "preview" => Some("The preview is queued: it reads Okta and plans, applying nothing; its run appears below."),
        "allowed" => Some("Allowed: a pull is queued that applies unless it now deactivates more people than the held one."),
        "rejected" => Some("Rejected: nothing of the held run is applied, and later pulls apply only under the guard's limits."),
        _ => None,
    };
    let (secret, clear) = crate::flash::take(&state, &ctx, &user, &headers);
    let mut page = page(&state, &ctx, &user, None, notice).await?;
    page.secret = secret;
    let mut response = page.into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(clear.on(response))
}

#[derive(Deserialize)]
pub struct SaveForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    app_id: String,
    #[serde(default)]
    api_token: String,
    #[serde(default)]
    invite: String,
    #[serde(default)]
    manage_managers: String,
    #[serde(default)]
    daily_at: String,
    #[serde(default)]
    mappings: String,
    #[serde(default)]
    guard_max_people: String,
    #[serde(default)]
    guard_max_percent: String,
}

pub async fn save(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser, Form(form): Form<SaveForm>) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let values = OktaSetup {
        base_url: form.base_url,
        app_id: form.app_id,
        api_token: form.api_token,
        invite: !form.invite.is_empty(),
        manage_managers: !form.manage_managers.is_empty(),
        daily_at: form.daily_at,
        mappings: form.mappings,
        guard_max_people: form.guard_max_people,
        guard_max_percent: form.guard_max_percent,
    };
    match setup::save_setup(&state, ctx.org.id, &Actor::Person { id: user.person.id }, &values).await {
        Ok(saved) => match saved.hook_secret {
            // Post/Redirect/Get: the secret is shown once by the page the redirect leads to.
            Some(secret) => Ok(crate::flash::redirect(&state, &ctx, &user, PAGE, &secret)),
            None => Ok(Redirect::to(&format!("{}{PAGE}?done=saved", ctx.base)).into_response()),
        },
        Err(OpsError::Invalid(message)) => {
            let mut page = page(&state, &ctx, &user, Some(message), None).await?;
            // What was typed stays (but never the token).
            page.form.base_url = values.base_url;
            page.form.app_id = values.app_id;
            page.form.mappings = values.mappings;
            Ok(refused(page))
        }
        Err(other) => Err(other.into()),
    }
}

async fn existing(state: &AppState, ctx: &OrgCtx) -> Result<Connection, PageError> {
    setup::okta_connection(state, ctx.org.id).await?.ok_or(PageError::NotFound)
}

async fn set_enabled(state: AppState, ctx: OrgCtx, user: crate::session::CurrentUser, csrf: &str, enabled: bool) -> Result<Response, PageError> {
    user.check_csrf(csrf)?;
    let connection = existing(&state, &ctx).await?;
    connections::set_enabled(&state, &connection, &Actor::Person { id: user.person.id }, enabled).await?;
    let done = if enabled { "enabled" } else { "disabled" };
    Ok(Redirect::to(&format!("{}{PAGE}?done={done}", ctx.base)).into_response())
}

/// Enabling needs a preview or a pull that went through first: the admin sees what the first
/// pull will change before it changes anyone.
pub async fn enable(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let connection = existing(&state, &ctx).await?;
    let runs = state.store.sync_runs(ctx.org.id, connection.id, 20).await?;
    if !runs.iter().any(|r| matches!(r.status, roster_store::RunStatus::Previewed | roster_store::RunStatus::Succeeded)) {
        let message = "Preview first: press Preview, check what the first pull would change in the runs below, then enable.".to_owned();
        return Ok(refused(page(&state, &ctx, &user, Some(message), None).await?));
    }
    set_enabled(state, ctx, user, &form.csrf, true).await
}

pub async fn disable(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    if form.confirm.is_empty() {
        return Err(PageError::BadRequest("Tick the box to confirm: a disabled connection changes nobody until it is enabled again.".into()));
    }
    set_enabled(state, ctx, user, &form.csrf, false).await
}

async fn queue(state: AppState, ctx: OrgCtx, user: crate::session::CurrentUser, csrf: &str, preview: bool) -> Result<Response, PageError> {
    user.check_csrf(csrf)?;
    let connection = existing(&state, &ctx).await?;
    enqueue_pull(&state, &connection, "manual", preview).await?;
    let done = if preview { "preview" } else { "queued" };
    Ok(Redirect::to(&format!("{}{PAGE}?done={done}", ctx.base)).into_response())
}

pub async fn sync_now(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    queue(state, ctx, user, &form.csrf, false).await
}

pub async fn preview(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    queue(state, ctx, user, &form.csrf, true).await
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<super::DeleteConnectionForm>,
) -> Result<Response, PageError> {
    let people = form.check(&user)?;
    let connection = existing(&state, &ctx).await?;
    match connections::delete_connection(&state, &connection, &Actor::Person { id: user.person.id }, people).await {
        Ok(_) => Ok(Redirect::to(&format!("{}/settings", ctx.base)).into_response()),
        // Deactivating its people would be more than the guard allows: nothing was deleted.
        Err(OpsError::Unconfirmed(message) | OpsError::Invalid(message)) => Ok(refused(page(&state, &ctx, &user, Some(message), None).await?)),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct RunPath {
    id: roster_core::RunId,
}

/// Allow the held run: a new pull applies, unless it would now deactivate more people.
pub async fn allow(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    axum::extract::Path(path): axum::extract::Path<RunPath>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&user, "Tick the box to confirm: the people the held run names would be deactivated.")?;
    roster_app::provision::guard::allow(&state, ctx.org.id, path.id, &Actor::Person { id: user.person.id }).await?;
    Ok(Redirect::to(&format!("{}{PAGE}?done=allowed", ctx.base)).into_response())
}

/// Reject the held run: nothing of it is applied.
pub async fn reject(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    axum::extract::Path(path): axum::extract::Path<RunPath>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    roster_app::provision::guard::reject(&state, ctx.org.id, path.id, &Actor::Person { id: user.person.id }).await?;
    Ok(Redirect::to(&format!("{}{PAGE}?done=rejected", ctx.base)).into_response())
}
