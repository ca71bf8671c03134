//! Admin consent to Roster's own multi-tenant Microsoft app: the request that sends a tenant
//! admin to Microsoft, and the answer Microsoft sends back to one address for the whole
//! installation (`/entra/consent`). The organisation rides in `state` (`<slug>.<random>`), and
//! the request is stored and redeemed once, so an answer Roster did not ask for changes nothing.

use crate::admin::OpsError;
use crate::provision::entra::sync::{Authorization, Consent, EntraSettings, TENANT_ID};
use crate::App;
use chrono::Duration;
use roster_core::secret::token_digest;
use roster_core::{Actor, Connection, ConnectionKind, Org, UserId};
use roster_store::{SsoPurpose, SsoRequest};

/// Marks a stored request as an admin-consent request (the tables are shared with sign-in).
/// How long an admin has to answer Microsoft's consent page.
const CONSENT_MINUTES: i64 = 30;

/// Where to send the admin: Microsoft's admin-consent page for the connection's tenant.
pub async fn start(state: &App, org: &Org, connection: &Connection, admin: UserId) -> Result<String, OpsError> {
    let app = state.config.entra_app.as_ref().ok_or_else(|| OpsError::Invalid("This Roster has no app of its own for admin consent.".into()))?;
    let settings = EntraSettings::from_connection(connection).map_err(|e| OpsError::Invalid(e.to_string()))?;
    if settings.authorization != Authorization::AdminConsent {
        return Err(OpsError::Invalid("The connection uses your own app registration; admin consent is for Roster's app.".into()));
    }
    let tenant = open_tenant(state, connection)?;
    let token = format!("{}.{}", org.slug.as_str(), crate::secrets::password::random_token());
    let now = state.clock.now();
    state
        .store
        .create_sso_request(&SsoRequest {
            state_digest: token_digest(&token),
            org: org.id,
            connection: connection.id,
            purpose: SsoPurpose::EntraConsent { admin },
            created_at: now,
            expires_at: now + Duration::minutes(CONSENT_MINUTES),
        })
        .await?;
    let mut url = url::Url::parse(settings.login_base()).map_err(|e| OpsError::Invalid(format!("the login address is not a URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|_| OpsError::Invalid("the login address cannot take a path".into()))?
        .pop_if_empty()
        .push(&tenant)
        .push("adminconsent");
    url.query_pairs_mut()
        .append_pair("client_id", &app.client_id)
        .append_pair("state", &token)
        .append_pair("redirect_uri", &state.config.consent_redirect_uri());
    Ok(url.into())
}

fn open_tenant(state: &App, connection: &Connection) -> Result<String, OpsError> {
    let sealed = connection.sealed.get(TENANT_ID).ok_or_else(|| OpsError::Invalid("the connection has no tenant ID; set it up again".into()))?;
    let bytes = state.master_key.open(connection.org, TENANT_ID, sealed).map_err(|e| OpsError::Invalid(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| OpsError::Invalid("the stored tenant ID is not text; set it up again".into()))
}

/// Microsoft's answer, as it arrives at `/entra/consent`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ConsentAnswer {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub admin_consent: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// What became of an answer, for the organisation's Entra page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Granted,
    /// The admin cancelled or refused.
    Denied,
    /// Consent came from another tenant than the connection's.
    WrongTenant,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::Denied => "denied",
            Outcome::WrongTenant => "wrong_tenant",
        }
    }

    /// The page's words for an outcome named in its address; unknown names say nothing.
    pub fn message(name: &str) -> Option<(bool, &'static str)> {
        match name {
            "granted" => Some((true, "Admin consent granted. Test the connection, then enable it.")),
            "denied" => Some((false, "Admin consent was not granted: the admin cancelled or refused on Microsoft's page. Try again, signed in as a Global Administrator (or Privileged Role Administrator) of the tenant.")),
            "wrong_tenant" => Some((false, "Consent was granted in another tenant than the one this connection names. Sign in to Microsoft with an admin of the right tenant, or correct the tenant ID.")),
            _ => None,
        }
    }
}

fn looks_like_guid(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Redeems the request the answer names and records the consent. `None`: the answer matches
/// no request Roster has outstanding (unknown, used or expired), and nothing changed.
pub async fn finish(state: &App, answer: &ConsentAnswer) -> Result<Option<(Org, Outcome)>, OpsError> {
    let Some((slug, _)) = answer.state.split_once('.') else { return Ok(None) };
    let Some(org) = state.store.org_by_slug(slug).await? else { return Ok(None) };
    let now = state.clock.now();
    let Some(request) = state.store.consume_sso_request(org.id, &token_digest(&answer.state), now).await? else { return Ok(None) };
    // A request for anything but a consent (a sign-in's) is not one this answers.
    let SsoPurpose::EntraConsent { admin } = request.purpose else {
        return Ok(None);
    };
    let Some(mut connection) = state.store.connection(org.id, request.connection).await?.filter(|c| c.kind == ConnectionKind::Entra) else {
        return Ok(None);
    };
    let granted = answer.error.is_none() && answer.admin_consent.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let tenant = answer.tenant.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let (true, Some(tenant)) = (granted, tenant) else { return Ok(Some((org, Outcome::Denied))) };
    let configured = open_tenant(state, &connection)?;
    // A tenant named by domain cannot be compared; Microsoft's GUID is then what is kept.
    if looks_like_guid(&configured) && !configured.eq_ignore_ascii_case(tenant) {
        return Ok(Some((org, Outcome::WrongTenant)));
    }
    let mut settings = EntraSettings::from_connection(&connection).map_err(|e| OpsError::Invalid(e.to_string()))?;
    settings.consent = Some(Consent { tenant: tenant.to_owned(), at: now });
    connection.settings = settings.to_json();
    connection.updated_at = now;
    state.store.update_connection(&connection, &Actor::Person { id: admin }, now).await?;
    Ok(Some((org, Outcome::Granted)))
}
