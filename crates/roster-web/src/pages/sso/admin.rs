//! Settings → Integrations → Single sign-on (OpenID Connect and SAML 2.0), for owners and admins.

use super::{enabled_connection, redirect_to_provider, TEST_COOKIE};
use crate::error::PageError;
use crate::pages::{when, Chrome};
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::sso::saml::{self, SamlSettings};
use crate::sso::{flow, OidcSettings};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::admin::sso::{self as actions, certificate_warning};
use roster_app::admin::OpsError;
use roster_core::{Actor, ConnectionKind};
use serde::Deserialize;

pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub provider: String,
    /// The client ID (OpenID) or the identity provider's entity ID (SAML).
    pub client_id: String,
    pub enabled: bool,
    /// A pinned certificate lapses soon (or has).
    pub warning: Option<String>,
}

pub struct RefusalRow {
    pub at: String,
    pub reason: String,
    pub email: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "sso/settings.html")]
struct SsoSettingsPage {
    chrome: Chrome,
    redirect_uri: String,
    sp_entity_id: String,
    acs_url: String,
    connections: Vec<ConnectionRow>,
    refusals: Vec<RefusalRow>,
    password_sign_in: bool,
    notice: Option<String>,
    error: Option<String>,
}

async fn render(state: &AppState, ctx: &OrgCtx, admin: &AdminUser, notice: Option<String>, error: Option<String>) -> Result<Response, PageError> {
    let now = state.clock.now();
    let connections = state.store.connections(ctx.org.id).await?.into_iter().filter_map(|c| connection_row(c, now)).collect();
    let refusals = state
        .store
        .sso_refusals(ctx.org.id, 50)
        .await?
        .into_iter()
        .map(|r| RefusalRow { at: when(r.at), reason: r.reason, email: r.claimed_email.unwrap_or_default() })
        .collect();
    let page = SsoSettingsPage {
        chrome: Chrome::signed_in(ctx, &admin.0, "settings"),
        redirect_uri: flow::redirect_uri(state, &ctx.org),
        sp_entity_id: saml::sp_entity_id(state, &ctx.org),
        acs_url: saml::acs_url(state, &ctx.org),
        connections,
        refusals,
        password_sign_in: state.store.password_sign_in_allowed(ctx.org.id).await?,
        notice,
        error,
    };
    Ok(page.into_response())
}

fn connection_row(c: roster_core::Connection, now: chrono::DateTime<chrono::Utc>) -> Option<ConnectionRow> {
    let (provider, client_id, warning) = match c.kind {
        ConnectionKind::Oidc => {
            let settings = OidcSettings::of(&c);
            (settings.as_ref().map(|s| format!("{:?}", s.provider)).unwrap_or_default(), settings.map(|s| s.client_id).unwrap_or_default(), None)
        }
        ConnectionKind::Saml => {
            let settings = SamlSettings::of(&c)?;
            let warning = certificate_warning(&settings, now).map(|w| w.message);
            ("SAML 2.0".to_owned(), settings.idp_entity_id, warning)
        }
        _ => return None,
    };
    Some(ConnectionRow { id: c.id.to_string(), name: c.name, provider, client_id, enabled: c.enabled, warning })
}

pub async fn show(State(state): State<AppState>, ctx: OrgCtx, admin: AdminUser, Query(done): Query<Deleted>) -> Result<Response, PageError> {
    let notice = done.deleted.map(|_| "The connection was deleted; its button is gone from the login page.".to_owned());
    render(&state, &ctx, &admin, notice, None).await
}

#[derive(Deserialize)]
pub struct Deleted {
    #[serde(default)]
    deleted: Option<String>,
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    okta_domain: String,
    #[serde(default)]
    okta_server: String,
    #[serde(default)]
    discovery_url: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
}

pub async fn add(State(state): State<AppState>, ctx: OrgCtx, admin: AdminUser, Form(form): Form<AddForm>) -> Result<Response, PageError> {
    admin.0.check_csrf(&form.csrf)?;
    let settings = match form.provider.as_str() {
        "entra" => OidcSettings::entra(roster_oidc::ENTRA_LOGIN, &form.tenant_id, &form.client_id),
        "okta" => OidcSettings::okta(&form.okta_domain, &form.okta_server, &form.client_id),
        _ => OidcSettings::generic(&form.discovery_url, &form.client_id),
    };
    let name = if form.name.trim().is_empty() && form.provider == "entra" { "Microsoft".to_owned() } else { form.name.clone() };
    let actor = Actor::Person { id: admin.0.person.id };
    let added = match settings {
        Ok(settings) => actions::add_oidc(&state, ctx.org.id, &name, &settings, &form.client_secret, false, &actor).await,
        Err(message) => Err(OpsError::Invalid(message)),
    };
    added_or_explained(&state, &ctx, &admin, added).await
}

/// To the new connection's page (Post/Redirect/Get), or back to this page with the reason.
async fn added_or_explained(
    state: &AppState,
    ctx: &OrgCtx,
    admin: &AdminUser,
    added: Result<(roster_core::Connection, Vec<String>), OpsError>,
) -> Result<Response, PageError> {
    match added {
        Ok((connection, _)) => Ok(Redirect::to(&format!("{}/settings/sso/{}?saved=1", ctx.base, connection.id)).into_response()),
        Err(OpsError::Invalid(message)) => render(state, ctx, admin, None, Some(message)).await,
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct AddSamlForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    metadata_url: String,
    #[serde(default)]
    metadata_xml: String,
    #[serde(default)]
    allow_idp_initiated: String,
}

/// Adds a SAML connection from the identity provider's metadata (by URL, or pasted).
pub async fn add_saml(State(state): State<AppState>, ctx: OrgCtx, admin: AdminUser, Form(form): Form<AddSamlForm>) -> Result<Response, PageError> {
    admin.0.check_csrf(&form.csrf)?;
    let url = form.metadata_url.trim();
    let metadata = if !form.metadata_xml.trim().is_empty() {
        Ok(form.metadata_xml.clone())
    } else if !url.is_empty() {
        saml::fetch_metadata(url).await
    } else {
        Err("Give the identity provider's metadata URL, or paste its metadata XML.".to_owned())
    };
    let source = (!url.is_empty() && form.metadata_xml.trim().is_empty()).then(|| url.to_owned());
    let settings = metadata.and_then(|xml| SamlSettings::from_metadata(&xml, source, form.allow_idp_initiated == "on"));
    let added = match settings {
        Ok(settings) => actions::add_saml(&state, ctx.org.id, &form.name, &settings, false, &Actor::Person { id: admin.0.person.id }).await,
        Err(message) => Err(OpsError::Invalid(message)),
    };
    added_or_explained(&state, &ctx, &admin, added).await
}

#[derive(Deserialize)]
pub struct EnableForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// `connection` when the button was on the connection's own page.
    #[serde(default)]
    back: String,
    /// Disabling asks for a ticked box.
    #[serde(default)]
    confirm: String,
}

pub async fn set_enabled(
    State(state): State<AppState>,
    ctx: OrgCtx,
    admin: AdminUser,
    Path((_, id, action)): Path<(String, String, String)>,
    Form(form): Form<EnableForm>,
) -> Result<Response, PageError> {
    admin.0.check_csrf(&form.csrf)?;
    if action == "disable" && form.confirm.is_empty() {
        return Err(PageError::BadRequest("Tick the box to confirm: people cannot sign in with a disabled connection. Nothing was changed.".into()));
    }
    let mut connection = enabled_connection(&state, &ctx, &id, false).await?;
    connection.enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(PageError::NotFound),
    };
    state.store.update_connection(&connection, &Actor::Person { id: admin.0.person.id }, state.clock.now()).await?;
    let back = if form.back == "connection" { format!("/{}", connection.id) } else { String::new() };
    Ok(Redirect::to(&format!("{}/settings/sso{back}", ctx.base)).into_response())
}

/// Start a sign-in that reports what it found instead of signing anyone in; works while the
/// connection is still disabled, so admins can check it first.
pub async fn test(
    State(state): State<AppState>,
    ctx: OrgCtx,
    admin: AdminUser,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<crate::pages::CsrfOnly>,
) -> Result<Response, PageError> {
    admin.0.check_csrf(&form.csrf)?;
    let connection = enabled_connection(&state, &ctx, &id, false).await?;
    Ok(redirect_to_provider(&state, &ctx, &connection, TEST_COOKIE).await)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    allowed: String,
}

pub async fn password_policy(
    State(state): State<AppState>,
    ctx: OrgCtx,
    admin: AdminUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    admin.0.check_csrf(&form.csrf)?;
    state.store.set_password_sign_in(ctx.org.id, form.allowed == "on", &Actor::Person { id: admin.0.person.id }, state.clock.now()).await?;
    Ok(Redirect::to(&format!("{}/settings/sso", ctx.base)).into_response())
}
