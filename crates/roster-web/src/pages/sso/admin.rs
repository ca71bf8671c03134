//! Settings → Integrations → Single sign-on (OpenID Connect and SAML 2.0), for owners and admins.

use super::{enabled_connection, redirect_to_provider, TEST_COOKIE};
use crate::error::PageError;
use crate::pages::{when, Chrome};
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::sso::saml::{self, SamlSettings, CERT_WARNING_DAYS};
use crate::sso::{flow, new_connection, OidcSettings};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
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
    error: Option<String>,
}

async fn render(state: &AppState, ctx: &OrgCtx, admin: &AdminUser, error: Option<String>) -> Result<Response, PageError> {
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
            let expires = settings.certificates_expire();
            let warning = expires.filter(|at| *at <= now + chrono::Duration::days(CERT_WARNING_DAYS)).map(|at| {
                if at <= now {
                    format!("The identity provider's signing certificate expired on {}: sign-ins fail until you add its new metadata.", when(at))
                } else {
                    format!("The identity provider's signing certificate expires on {}: add its new metadata before then.", when(at))
                }
            });
            ("SAML 2.0".to_owned(), settings.idp_entity_id, warning)
        }
        _ => return None,
    };
    Some(ConnectionRow { id: c.id.to_string(), name: c.name, provider, client_id, enabled: c.enabled, warning })
}

pub async fn show(State(state): State<AppState>, ctx: OrgCtx, admin: AdminUser) -> Result<Response, PageError> {
    render(&state, &ctx, &admin, None).await
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
    let connection = settings.and_then(|s| new_connection(&state.master_key, ctx.org.id, &name, &s, &form.client_secret, false, state.clock.now()));
    match connection {
        Ok(c) => {
            state.store.create_connection(&c, &Actor::Person { id: admin.0.person.id }).await?;
            Ok(Redirect::to(&format!("{}/settings/sso", ctx.base)).into_response())
        }
        Err(msg) => render(&state, &ctx, &admin, Some(msg)).await,
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
    let connection = metadata
        .and_then(|xml| SamlSettings::from_metadata(&xml, source, form.allow_idp_initiated == "on"))
        .and_then(|settings| saml::new_connection(ctx.org.id, &form.name, &settings, false, state.clock.now()));
    match connection {
        Ok(c) => {
            state.store.create_connection(&c, &Actor::Person { id: admin.0.person.id }).await?;
            Ok(Redirect::to(&format!("{}/settings/sso", ctx.base)).into_response())
        }
        Err(msg) => render(&state, &ctx, &admin, Some(msg)).await,
    }
}

pub async fn set_enabled(
    State(state): State<AppState>,
    ctx: OrgCtx,
    admin: AdminUser,
    Path((_, id, action)): Path<(String, String, String)>,
    Form(form): Form<crate::pages::CsrfOnly>,
) -> Result<Response, PageError> {
    admin.0.check_csrf(&form.csrf)?;
    let mut connection = enabled_connection(&state, &ctx, &id, false).await?;
    connection.enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(PageError::NotFound),
    };
    state.store.update_connection(&connection, &Actor::Person { id: admin.0.person.id }, state.clock.now()).await?;
    Ok(Redirect::to(&format!("{}/settings/sso", ctx.base)).into_response())
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
