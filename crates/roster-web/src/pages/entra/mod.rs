//! Settings → Integrations → Microsoft Entra ID: set up the connection with the customer's own
//! app registration or by admin consent to Roster's app, test it, enable or disable it, sync
//! now and follow the run. Owners and admins only.

mod avatar;
mod chart;
mod people;
pub(crate) mod runs;

use super::{when, Chrome};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::{AdminUser, CurrentUser};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use roster_app::admin::OpsError;
use roster_app::provision::entra::sync::{format_rules, Authorization, EntraSettings, DEFAULT_DAILY_AT};
use roster_app::provision::entra::{self as actions, consent, EntraSetup, PermissionLine};
use roster_app::provision::guard;
use roster_app::provision::health::{self, Health};
use roster_core::guard::GuardLimits;
use roster_core::{Actor, Connection};
use serde::Deserialize;

pub use runs::RunRow;

/// The routes of this page, merged into the organisation's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/integrations/entra", get(show).post(save))
        .route("/settings/integrations/entra/test", post(test))
        .route("/settings/integrations/entra/consent", post(grant_consent))
        .route("/settings/integrations/entra/enable", post(enable))
        .route("/settings/integrations/entra/disable", post(disable))
        .route("/settings/integrations/entra/sync", post(runs::sync_now))
        .route("/settings/integrations/entra/preview", post(preview))
        .route("/settings/integrations/entra/delete", post(delete))
        .route("/settings/integrations/entra/people", get(people::why))
        .route("/settings/integrations/entra/people/provision", post(people::provision))
        .route("/settings/integrations/entra/groups", get(people::groups))
        .route("/settings/integrations/entra/runs/{id}", get(runs::show_run))
        .route("/settings/integrations/entra/runs/{id}/issues.csv", get(runs::issues_csv))
        .route("/settings/integrations/entra/runs/{id}/allow", post(runs::allow))
        .route("/settings/integrations/entra/runs/{id}/reject", post(runs::reject))
        .route("/people/{id}/avatar", get(avatar::show))
}

/// The form's values: what is stored, or what the admin just sent back with an error.
pub struct FormValues {
    /// `own_app` or `admin_consent`.
    pub authorization: &'static str,
    pub group_id: String,
    pub client_id: String,
    pub invite: bool,
    pub manage_managers: bool,
    pub photos: bool,
    pub daily_at: String,
    pub mappings: String,
    pub login_base: String,
    pub graph_base: String,
    pub guard_max_people: String,
    pub guard_max_percent: String,
    /// The tenant ID as the admin just typed it, shown back only when they must confirm it.
    pub tenant_id: String,
    /// Saving would re-point the connection: the page asks for confirmation.
    pub ask_repoint: bool,
}

impl FormValues {
    fn from_settings(settings: Option<&EntraSettings>) -> Self {
        match settings {
            Some(s) => Self {
                authorization: authorization_name(s.authorization),
                group_id: s.group_id.clone(),
                client_id: s.client_id.clone(),
                invite: s.invite,
                manage_managers: s.manage_managers,
                photos: s.photos,
                daily_at: s.daily_at.clone(),
                mappings: format_rules(&s.mappings),
                login_base: s.login_base.clone().unwrap_or_default(),
                graph_base: s.graph_base.clone().unwrap_or_default(),
                guard_max_people: s.guard.max_people.to_string(),
                guard_max_percent: s.guard.max_percent.to_string(),
                tenant_id: String::new(),
                ask_repoint: false,
            },
            None => Self {
                authorization: "own_app",
                group_id: String::new(),
                client_id: String::new(),
                invite: false,
                manage_managers: true,
                photos: false,
                daily_at: DEFAULT_DAILY_AT.into(),
                mappings: String::new(),
                login_base: String::new(),
                graph_base: String::new(),
                guard_max_people: GuardLimits::default().max_people.to_string(),
                guard_max_percent: GuardLimits::default().max_percent.to_string(),
                tenant_id: String::new(),
                ask_repoint: false,
            },
        }
    }
}

fn authorization_name(authorization: Authorization) -> &'static str {
    match authorization {
        Authorization::OwnApp => "own_app",
        Authorization::AdminConsent => "admin_consent",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "entra/setup.html")]
struct SetupPage {
    chrome: Chrome,
    /// This Roster has an app of its own, so admin consent is offered.
    roster_app: bool,
    /// Admin consent: who granted it, or why the connection still waits for it.
    consent: Option<String>,
    awaiting_consent: bool,
    /// Set once the connection exists.
    connected: bool,
    enabled: bool,
    form: FormValues,
    error: Option<String>,
    notice: Option<String>,
    /// "Test connection": a sign-in failure, or one line per permission.
    test_error: Option<String>,
    permissions: Vec<PermissionLine>,
    runs: Vec<RunRow>,
    /// Recent runs drawn: duration, changes, issues.
    chart: Vec<chart::Panel>,
    /// The run holding the connection, and how many it would deactivate.
    held_run: Option<(String, usize)>,
    /// What the connection points at.
    target: Option<actions::Target>,
    /// How it is doing: (state, why).
    health: Option<(&'static str, String)>,
    /// Change notifications and delta rounds, once the connection exists.
    live: Option<LiveView>,
}

/// What the page says of live updates.
struct LiveView {
    status: String,
    /// (resource, subscription id, expiry)
    subscriptions: Vec<(String, String, String)>,
}

async fn live_view(state: &AppState, connection: &roster_core::Connection) -> Result<LiveView, PageError> {
    let live = state.store.entra_live(connection.org, connection.id).await?;
    let held = state.store.entra_subscriptions(connection.org, connection.id).await?;
    let subscriptions = held.iter().map(|s| (s.resource.clone(), s.id.clone(), when(s.expires_at))).collect();
    let status = match (connection.enabled, held.is_empty(), live.links_saved_at) {
        (false, _, _) => "Off while the connection is disabled.".to_owned(),
        (true, true, _) => "Waiting: Microsoft Graph has not accepted a subscription yet. Graph must reach Roster at its public address;                             Roster tries again every hour."
            .to_owned(),
        (true, false, None) => "Subscribed. Changes are applied as they are announced once the next full sync has run.".to_owned(),
        (true, false, Some(at)) => format!(
            "On: Microsoft Graph announces changes to people and groups, and Roster applies them within seconds. Last delta round {} UTC;              a full sync still runs daily to catch anything Graph did not announce.",
            when(at)
        ),
    };
    Ok(LiveView { status, subscriptions })
}

struct Feedback {
    error: Option<String>,
    notice: Option<String>,
    test_error: Option<String>,
    permissions: Vec<PermissionLine>,
    form: Option<FormValues>,
}

impl Feedback {
    fn none() -> Self {
        Self { error: None, notice: None, test_error: None, permissions: Vec::new(), form: None }
    }
}

async fn render(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, feedback: Feedback) -> Result<Response, PageError> {
    let connection = actions::entra_connection(state, ctx.org.id).await?;
    // Unreadable settings show as not yet set up (a sync reports why); saving the form rewrites them.
    let settings = connection.as_ref().and_then(|c| EntraSettings::from_connection(c).ok());
    let recent = match &connection {
        Some(c) => state.store.sync_runs(c.org, c.id, guard::RECENT_RUNS).await?,
        None => Vec::new(),
    };
    let runs = runs::history(&recent);
    let held_run = guard::holding(&recent).map(|run| (run.id.to_string(), guard::hold_size(run)));
    let health = connection.as_ref().map(|c| match health::health(c, &recent) {
        Health::Disabled => ("disabled", "Nothing runs until it is enabled.".to_owned()),
        Health::NotRunYet => ("waiting", "No sync has finished yet.".to_owned()),
        Health::Healthy => ("healthy", "The last sync went through.".to_owned()),
        Health::Degraded(why) => {
            let retry =
                health::next_retry(&recent).map(|at| format!(" Roster tries again from {} UTC, less often while it keeps failing.", when(at)));
            ("degraded", format!("The last sync failed and changed nothing: {why}{}", retry.unwrap_or_default()))
        }
        Health::Held => ("held", "The last sync was held by the deactivation guard.".to_owned()),
    });
    let by_consent = settings.as_ref().is_some_and(|s| s.authorization == Authorization::AdminConsent);
    let consent = settings
        .as_ref()
        .and_then(|s| s.consent.as_ref())
        .filter(|_| by_consent)
        .map(|c| format!("Consent granted for tenant {} on {}.", c.tenant, when(c.at)));
    let page = SetupPage {
        roster_app: state.config.entra_app.is_some(),
        awaiting_consent: by_consent && consent.is_none(),
        consent,
        chrome: Chrome::signed_in(ctx, user, "settings"),
        connected: connection.is_some(),
        enabled: connection.as_ref().is_some_and(|c| c.enabled),
        form: feedback.form.unwrap_or_else(|| FormValues::from_settings(settings.as_ref())),
        error: feedback.error,
        notice: feedback.notice,
        test_error: feedback.test_error,
        permissions: feedback.permissions,
        runs,
        chart: chart::panels(&recent),
        held_run,
        target: connection.as_ref().and_then(|c| actions::target(state, c)),
        health,
        live: match &connection {
            Some(c) => Some(live_view(state, c).await?),
            None => None,
        },
    };
    let mut response = page.into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

const DELETED_KEPT: &str = "The connection was deleted. The people it provisioned are kept as they were, and are managed by hand from now on.";
const DELETED_DEACTIVATED: &str = "The connection was deleted, and the people it provisioned were deactivated (never deleted).";

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    /// Set by the admin-consent answer's redirect; only known names are shown.
    #[serde(default)]
    consent: String,
    /// Set by the deletion's redirect: `keep` or `deactivate`.
    #[serde(default)]
    deleted: String,
    /// A group picked on the group search: it fills the form, and saving decides.
    #[serde(default)]
    group: String,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Query(query): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let feedback = match consent::Outcome::message(&query.consent) {
        Some((true, msg)) => Feedback { notice: Some(msg.into()), ..Feedback::none() },
        Some((false, msg)) => Feedback { error: Some(msg.into()), ..Feedback::none() },
        None => match query.deleted.as_str() {
            "keep" => Feedback { notice: Some(DELETED_KEPT.into()), ..Feedback::none() },
            "deactivate" => Feedback { notice: Some(DELETED_DEACTIVATED.into()), ..Feedback::none() },
            _ => Feedback::none(),
        },
    };
    let picked = query.group.trim();
    let feedback = if !picked.is_empty() && picked.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        let connection = actions::entra_connection(&state, ctx.org.id).await?;
        let settings = connection.as_ref().and_then(|c| EntraSettings::from_connection(c).ok());
        let form = FormValues { group_id: picked.to_owned(), ..FormValues::from_settings(settings.as_ref()) };
        let notice = Some("The group you picked is filled in below: save the settings to use it.".to_owned());
        Feedback { form: Some(form), notice, ..feedback }
    } else {
        feedback
    };
    render(&state, &ctx, &user, feedback).await
}

/// "Grant admin consent": on to Microsoft's consent page for the connection's tenant.
pub async fn grant_consent(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<super::CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let connection = existing(&state, &ctx).await?;
    match consent::start(&state, &ctx.org, &connection, user.person.id).await {
        Ok(url) => Ok(super::sso::provider_page("Microsoft", url)),
        Err(OpsError::Invalid(msg)) => render(&state, &ctx, &user, Feedback { error: Some(msg), ..Feedback::none() }).await,
        Err(other) => Err(other.into()),
    }
}

/// Microsoft's answer to admin consent, at one address for the whole installation.
pub async fn consent_answer(State(state): State<AppState>, Query(answer): Query<consent::ConsentAnswer>) -> Result<Response, PageError> {
    match consent::finish(&state, &answer).await? {
        Some((org, outcome)) => {
            let page = state.config.org_url(org.slug.as_str(), &format!("/settings/integrations/entra?consent={}", outcome.as_str()));
            Ok(Redirect::to(&page).into_response())
        }
        None => Err(PageError::BadRequest(
            "This consent answer matches no request Roster started (it was used already, or it expired). Start again from Settings → Integrations → Microsoft Entra ID.".into(),
        )),
    }
}

fn checked(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty())
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// `preview`: after saving, preview what a sync with the new settings would change.
    #[serde(default)]
    then: String,
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    authorization: String,
    #[serde(default)]
    group_id: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    invite: Option<String>,
    manage_managers: Option<String>,
    photos: Option<String>,
    #[serde(default)]
    daily_at: String,
    #[serde(default)]
    mappings: String,
    #[serde(default)]
    login_base: String,
    #[serde(default)]
    graph_base: String,
    #[serde(default)]
    guard_max_people: String,
    #[serde(default)]
    guard_max_percent: String,
    confirm_repoint: Option<String>,
}

pub async fn save(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<SetupForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let authorization = if form.authorization == "admin_consent" { Authorization::AdminConsent } else { Authorization::OwnApp };
    let setup = EntraSetup {
        authorization,
        tenant_id: form.tenant_id,
        group_id: form.group_id,
        client_id: form.client_id,
        client_secret: form.client_secret,
        invite: checked(&form.invite),
        manage_managers: checked(&form.manage_managers),
        photos: checked(&form.photos),
        daily_at: form.daily_at,
        mappings: form.mappings,
        login_base: Some(form.login_base),
        graph_base: Some(form.graph_base),
        guard_max_people: form.guard_max_people,
        guard_max_percent: form.guard_max_percent,
        confirm_repoint: checked(&form.confirm_repoint),
    };
    let actor = Actor::Person { id: user.person.id };
    match actions::save_setup(&state, ctx.org.id, &actor, &setup).await {
        Ok(connection) if form.then == "preview" => Ok(runs::to_run(&ctx, actions::enqueue_preview(&state, &connection).await?)),
        Ok(_) => {
            render(&state, &ctx, &user, Feedback { notice: Some("Saved. Test the connection, then enable it.".into()), ..Feedback::none() }).await
        }
        Err(error @ (OpsError::Invalid(_) | OpsError::Conflict(_) | OpsError::Unconfirmed(_))) => {
            let ask_repoint = matches!(error, OpsError::Unconfirmed(_));
            // Show the form again as sent, secrets excepted; the tenant ID only when it is what
            // the admin must confirm.
            let form = FormValues {
                authorization: authorization_name(setup.authorization),
                group_id: setup.group_id,
                client_id: setup.client_id,
                invite: setup.invite,
                manage_managers: setup.manage_managers,
                photos: setup.photos,
                daily_at: setup.daily_at,
                mappings: setup.mappings,
                login_base: setup.login_base.unwrap_or_default(),
                graph_base: setup.graph_base.unwrap_or_default(),
                guard_max_people: setup.guard_max_people,
                guard_max_percent: setup.guard_max_percent,
                tenant_id: if ask_repoint { setup.tenant_id } else { String::new() },
                ask_repoint,
            };
            render(&state, &ctx, &user, Feedback { error: Some(error.to_string()), form: Some(form), ..Feedback::none() }).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn existing(state: &AppState, ctx: &OrgCtx) -> Result<Connection, PageError> {
    actions::entra_connection(state, ctx.org.id).await?.ok_or_else(|| PageError::BadRequest("Save the connection's settings first.".into()))
}

pub async fn test(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<super::CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let connection = existing(&state, &ctx).await?;
    let feedback = match actions::test_connection(&state, &connection, &Actor::Person { id: user.person.id }).await {
        Ok(permissions) => Feedback { permissions, ..Feedback::none() },
        Err(OpsError::Invalid(msg)) => Feedback { test_error: Some(msg), ..Feedback::none() },
        Err(other) => return Err(other.into()),
    };
    render(&state, &ctx, &user, feedback).await
}

async fn toggle(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, csrf: &str, enabled: bool) -> Result<Response, PageError> {
    user.check_csrf(csrf)?;
    let connection = existing(state, ctx).await?;
    actions::set_enabled(state, &connection, &Actor::Person { id: user.person.id }, enabled).await?;
    Ok(Redirect::to(&format!("{}/settings/integrations/entra", ctx.base)).into_response())
}

#[derive(Deserialize)]
pub struct EnableForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// Set by the preview's "Enable and sync": the admin has seen what the first sync does.
    #[serde(default)]
    after_preview: String,
}

/// Enable the connection. The first time, show what its first sync would do instead: a
/// preview, whose page offers "Enable and sync".
pub async fn enable(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<EnableForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let connection = existing(&state, &ctx).await?;
    if form.after_preview.is_empty() && !actions::ever_synced(&state, &connection).await? {
        return Ok(runs::to_run(&ctx, actions::enqueue_preview(&state, &connection).await?));
    }
    let enabled = actions::set_enabled(&state, &connection, &Actor::Person { id: user.person.id }, true).await?;
    if form.after_preview.is_empty() {
        return Ok(Redirect::to(&format!("{}/settings/integrations/entra", ctx.base)).into_response());
    }
    Ok(runs::to_run(&ctx, actions::enqueue_sync(&state, &enabled, "manual").await?))
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// `keep` or `deactivate`.
    #[serde(default)]
    people: String,
    #[serde(default)]
    confirm: String,
}

/// Delete the connection, keeping its people (unlinked) or deactivating them (guarded).
pub async fn delete(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let people = match form.people.as_str() {
        "keep" => actions::PeopleAfterDelete::Keep,
        "deactivate" => actions::PeopleAfterDelete::Deactivate,
        _ => return Err(PageError::BadRequest("Choose what becomes of the people this connection provisions.".into())),
    };
    if form.confirm.is_empty() {
        return Err(PageError::BadRequest("Tick the box to confirm the deletion, then try again.".into()));
    }
    let connection = existing(&state, &ctx).await?;
    match actions::delete_connection(&state, &connection, &Actor::Person { id: user.person.id }, people).await {
        Ok(_) => Ok(Redirect::to(&format!("{}/settings/integrations/entra?deleted={}", ctx.base, form.people)).into_response()),
        Err(OpsError::Unconfirmed(msg)) => render(&state, &ctx, &user, Feedback { error: Some(msg), ..Feedback::none() }).await,
        Err(other) => Err(other.into()),
    }
}

/// "Preview": what a sync would change now, applying nothing.
pub async fn preview(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<super::CsrfOnly>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let connection = existing(&state, &ctx).await?;
    Ok(runs::to_run(&ctx, actions::enqueue_preview(&state, &connection).await?))
}

pub async fn disable(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<super::ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&user, "Tick the box to confirm: a disabled connection stops syncing. Nothing was changed.")?;
    toggle(&state, &ctx, &user, &form.csrf, false).await
}
