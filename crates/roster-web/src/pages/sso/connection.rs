//! One sign-in connection's page: what it points at, its certificate's health, and the forms
//! to edit it (rotate the secret, give new SAML metadata or a certificate), check it with the
//! provider and delete it. Every change is checked before it is saved, then redirected.

use super::enabled_connection;
use crate::error::PageError;
use crate::pages::{when, Chrome, ConfirmedForm, CsrfOnly};
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::sso::saml::SamlSettings;
use crate::sso::{MatchClaim, OidcProvider, OidcSettings};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::admin::sso::{self as actions, certificate_warning, NewSigning, OidcEdit, SamlEdit};
use roster_app::admin::OpsError;
use roster_core::{Actor, Connection, ConnectionKind};
use serde::Deserialize;

/// A line of "What it points at".
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "sso/connection.html")]
struct ConnectionPage {
    chrome: Chrome,
    id: String,
    name: String,
    saml: bool,
    entra: bool,
    enabled: bool,
    facts: Vec<Fact>,
    client_id: String,
    match_claim: &'static str,
    allow_idp_initiated: bool,
    metadata_url: String,
    warning: Option<(String, bool)>,
    notice: Option<String>,
    /// What a check just found, line by line.
    checked: Vec<String>,
    error: Option<String>,
}

struct Feedback {
    notice: Option<String>,
    checked: Vec<String>,
    error: Option<String>,
}

fn provider_label(provider: OidcProvider) -> &'static str {
    match provider {
        OidcProvider::Entra => "Microsoft Entra ID (OpenID Connect)",
        OidcProvider::Okta => "Okta (OpenID Connect)",
        OidcProvider::Generic => "OpenID Connect",
    }
}

fn claim_name(claim: MatchClaim) -> &'static str {
    match claim {
        MatchClaim::PreferredUsername => "preferred_username",
        MatchClaim::Upn => "upn",
        MatchClaim::Email => "email",
    }
}

fn oidc_facts(settings: &OidcSettings) -> Vec<Fact> {
    let mut facts = vec![Fact { label: "Provider", value: provider_label(settings.provider).into() }];
    if let Some(tenant) = &settings.tenant_id {
        facts.push(Fact { label: "Tenant ID", value: tenant.clone() });
    }
    if settings.provider == OidcProvider::Okta {
        let url = url::Url::parse(&settings.discovery_url).ok();
        facts.push(Fact { label: "Okta domain", value: url.as_ref().and_then(|u| u.host_str()).unwrap_or("?").into() });
        let server = settings.discovery_url.split("/oauth2/").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("the org server");
        facts.push(Fact { label: "Authorization server", value: server.into() });
    }
    facts.push(Fact { label: "Discovery URL", value: settings.discovery_url.clone() });
    facts.push(Fact { label: "Client ID", value: settings.client_id.clone() });
    facts.push(Fact { label: "Client secret", value: "stored sealed; never shown".into() });
    if settings.provider == OidcProvider::Entra {
        facts.push(Fact { label: "People are matched by the claim", value: claim_name(settings.match_claim).into() });
    }
    facts
}

fn saml_facts(settings: &SamlSettings) -> Vec<Fact> {
    let mut facts = vec![
        Fact { label: "Provider", value: "SAML 2.0".into() },
        Fact { label: "IdP entity ID", value: settings.idp_entity_id.clone() },
        Fact { label: "IdP sign-in URL", value: settings.sso_url.clone() },
        Fact { label: "Metadata URL", value: settings.metadata_url.clone().unwrap_or_else(|| "— (metadata was pasted)".into()) },
    ];
    for certificate in settings.certificates() {
        facts.push(Fact { label: "Signing certificate", value: format!("valid until {}", when(certificate.not_after)) });
    }
    facts.push(Fact {
        label: "IdP-initiated sign-in",
        value: if settings.allow_idp_initiated { "allowed" } else { "off: sign-in starts from Roster's login page" }.into(),
    });
    facts
}

async fn render(state: &AppState, ctx: &OrgCtx, admin: &AdminUser, connection: &Connection, feedback: Feedback) -> Result<Response, PageError> {
    let now = state.clock.now();
    let oidc = OidcSettings::of(connection);
    let saml = SamlSettings::of(connection);
    let facts = match (&oidc, &saml) {
        (Some(s), _) => oidc_facts(s),
        (_, Some(s)) => saml_facts(s),
        _ => vec![Fact { label: "Settings", value: "unreadable: delete the connection and add it again".into() }],
    };
    let page = ConnectionPage {
        chrome: Chrome::signed_in(ctx, &admin.0, "settings"),
        id: connection.id.to_string(),
        name: connection.name.clone(),
        saml: connection.kind == ConnectionKind::Saml,
        entra: oidc.as_ref().is_some_and(|s| s.provider == OidcProvider::Entra),
        enabled: connection.enabled,
        facts,
        client_id: oidc.as_ref().map(|s| s.client_id.clone()).unwrap_or_default(),
        match_claim: oidc.as_ref().map(|s| claim_name(s.match_claim)).unwrap_or_default(),
        allow_idp_initiated: saml.as_ref().is_some_and(|s| s.allow_idp_initiated),
        metadata_url: saml.as_ref().and_then(|s| s.metadata_url.clone()).unwrap_or_default(),
        warning: saml.as_ref().and_then(|s| certificate_warning(s, now)).map(|w| (w.message, w.urgent)),
        notice: feedback.notice,
        checked: feedback.checked,
        error: feedback.error,
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: OrgCtx,
    admin: AdminUser,
    Path((_, id)): Path<(String, String)>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let connection = enabled_connection(&state, &ctx, &id, false).await?;
    let notice = done.saved.map(|_| "Saved, after the provider confirmed the settings.".to_owned());
    render(&state, &ctx, &admin, &connection, Feedback { notice, checked: Vec::new(), error: None }).await
}

/// A change was saved: back to the page (Post/Redirect/Get); a refused one is shown with why.
async fn saved(
    state: &AppState,
    ctx: &OrgCtx,
    admin: &AdminUser,
    connection: &Connection,
    result: Result<Vec<String>, OpsError>,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("{}/settings/sso/{}?saved=1", ctx.base, connection.id)).into_response()),
        Err(OpsError::Invalid(message)) => {
            render(state, ctx, admin, connection, Feedback { notice: None, checked: Vec::new(), error: Some(message) }).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    match_claim: String,
    #[serde(default)]
    allow_idp_initiated: String,
}

/// Saves the connection's settings: name and client (OpenID) or name and IdP-initiated sign-in
/// (SAML).
pub async fn edit(
    State(state): State<AppState>,
    ctx: OrgCtx,
    admin: AdminUser,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    admin.0.check_csrf(&form.csrf)?;
    let connection = enabled_connection(&state, &ctx, &id, false).await?;
    let actor = Actor::Person { id: admin.0.person.id };
    let result = if connection.kind == ConnectionKind::Saml {
        let edit = SamlEdit { name: form.name, allow_idp_initiated: form.allow_idp_initiated == "on", signing: NewSigning::Keep };
        actions::edit_saml(&state, &connection, edit, &actor).await
    } else {
        let edit = OidcEdit {
            name: form.name,
            client_id: form.client_id,
            client_secret: Some(form.client_secret).filter(|s| !s.trim().is_empty()),
            match_claim: MatchClaim::parse(&form.match_claim),
        };
        actions::edit_oidc(&state, &connection, edit, &actor).await
    };
    saved(&state, &ctx, &admin, &connection, result).await
}

#[derive(Deserialize)]
pub struct SigningForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    metadata_url: String,
    #[serde(default)]
    metadata_xml: String,
    #[serde(default)]
    certificate: String,
}

/// New signing material for a SAML connection: a certificate, pasted metadata or the metadata
/// URL fetched again, whichever the admin gave (in that order).
pub async fn signing(
    State(state): State<AppState>,
    ctx: OrgCtx,
    admin: AdminUser,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<SigningForm>,
) -> Result<Response, PageError> {
    admin.0.check_csrf(&form.csrf)?;
    let connection = enabled_connection(&state, &ctx, &id, false).await?;
    let Some(settings) = SamlSettings::of(&connection) else { return Err(PageError::NotFound) };
    let signing = if !form.certificate.trim().is_empty() {
        NewSigning::Certificate(form.certificate)
    } else if !form.metadata_xml.trim().is_empty() {
        NewSigning::MetadataXml(form.metadata_xml)
    } else if !form.metadata_url.trim().is_empty() {
        NewSigning::MetadataUrl(form.metadata_url)
    } else {
        let error = Some("Give the new certificate, the new metadata XML, or the metadata URL to fetch it from.".to_owned());
        return render(&state, &ctx, &admin, &connection, Feedback { notice: None, checked: Vec::new(), error }).await;
    };
    let edit = SamlEdit { name: connection.name.clone(), allow_idp_initiated: settings.allow_idp_initiated, signing };
    let result = actions::edit_saml(&state, &connection, edit, &Actor::Person { id: admin.0.person.id }).await;
    saved(&state, &ctx, &admin, &connection, result).await
}

/// Checks the saved settings with the provider now; changes nothing, so the result is shown
/// in place.
pub async fn check(
    State(state): State<AppState>,
    ctx: OrgCtx,
    admin: AdminUser,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.0.check_csrf(&form.csrf)?;
    let connection = enabled_connection(&state, &ctx, &id, false).await?;
    let result = actions::check(&state, &connection).await;
    let feedback = match result {
        Ok(checked) => Feedback { notice: Some("The connection checks out.".into()), checked, error: None },
        Err(OpsError::Invalid(message)) => Feedback { notice: None, checked: Vec::new(), error: Some(message) },
        Err(other) => return Err(other.into()),
    };
    render(&state, &ctx, &admin, &connection, feedback).await
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: OrgCtx,
    admin: AdminUser,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    form.check(&admin.0, "Tick the box to confirm the deletion; nothing was deleted.")?;
    let connection = enabled_connection(&state, &ctx, &id, false).await?;
    actions::delete(&state, &connection, &Actor::Person { id: admin.0.person.id }).await?;
    Ok(Redirect::to(&format!("{}/settings/sso?deleted=1", ctx.base)).into_response())
}
