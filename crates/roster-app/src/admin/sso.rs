//! Sign-in connections (OpenID Connect and SAML 2.0) as admins manage them from the pages and
//! the command line. A connection is saved only after it is checked against its provider (the
//! discovery document fetched and read, the client ID and secret tried where the provider
//! allows it, the metadata parsed, a certificate that still verifies), and each failure says
//! what to fix. Deleting one ends its links; nobody's account changes.

use crate::admin::OpsError;
use crate::signin::saml::{self as saml_flow, SamlSettings, CERT_WARNING_DAYS};
use crate::signin::sso::{new_connection, providers, MatchClaim, OidcProvider, OidcSettings, CLIENT_SECRET};
use crate::App;
use chrono::{DateTime, Utc};
use roster_core::{Actor, Connection, ConnectionKind, OrgId};
use roster_oidc::{ClientCheck, SsoError};
use roster_saml::Certificate;

/// The scope Microsoft needs for a client-credentials token; any app registration with a valid
/// secret gets one (without permissions), which is what proves the secret.
const ENTRA_CHECK_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Inside this many days a certificate warning becomes urgent.
pub const CERT_URGENT_DAYS: i64 = 7;

/// Whether the connection signs people in (OpenID Connect or SAML).
pub fn is_sign_in(kind: ConnectionKind) -> bool {
    matches!(kind, ConnectionKind::Oidc | ConnectionKind::Saml)
}

fn invalid(message: impl Into<String>) -> OpsError {
    OpsError::Invalid(message.into())
}

/// Checks an OpenID connection against its provider; what was confirmed, or what to fix.
pub async fn check_oidc(settings: &OidcSettings, client_secret: &str) -> Result<Vec<String>, OpsError> {
    let providers = providers().map_err(|e| invalid(e.to_string()))?;
    let metadata = providers.refresh_metadata(&settings.discovery_url).await.map_err(|e| invalid(discovery_problem(settings, &e)))?;
    roster_oidc::require_s256(&metadata).map_err(|e| invalid(format!("The provider cannot sign people in safely: {e}.")))?;
    let mut notes = vec![format!("The provider's discovery document names the issuer {}.", metadata.issuer)];
    let scope = match settings.provider {
        OidcProvider::Entra => Some(ENTRA_CHECK_SCOPE),
        // Okta's org authorization server takes client credentials only with a signed JWT, so
        // a secret cannot be tried there.
        OidcProvider::Okta if !settings.discovery_url.contains("/oauth2/") => {
            notes.push("Okta's org authorization server does not let Roster try the secret: Test sign-in will.".into());
            return Ok(notes);
        }
        _ => None,
    };
    match providers.try_client_credentials(&metadata, &settings.client_id, client_secret, scope).await {
        ClientCheck::Accepted => notes.push("The provider accepted the client ID and secret.".into()),
        ClientCheck::Refused { error, description } if error == "invalid_client" || settings.provider == OidcProvider::Entra => {
            return Err(invalid(format!(
                "The provider refused the client ID and secret: {error}{description}. Copy the client ID and the secret's value (not its ID) \
                 again from the provider's app."
            )))
        }
        ClientCheck::Refused { error, .. } => {
            notes.push(format!("The provider does not let Roster try the secret (it answered {error}): Test sign-in will."))
        }
        ClientCheck::Unreachable(reason) => return Err(invalid(format!("Roster could not reach the provider's token endpoint: {reason}."))),
    }
    Ok(notes)
}

/// A discovery failure, worded for the field the admin filled in.
fn discovery_problem(settings: &OidcSettings, error: &SsoError) -> String {
    let fix = match settings.provider {
        OidcProvider::Entra => "Check the tenant ID.",
        OidcProvider::Okta => "Check the Okta domain and the authorization server.",
        OidcProvider::Generic => "Check the discovery URL: it ends in /.well-known/openid-configuration.",
    };
    let mut text = error.to_string();
    if let Some(first) = text.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    format!("{text}. {fix}")
}

/// Checks SAML settings: a certificate that still verifies, and what the warning would be.
pub fn check_saml(settings: &SamlSettings, now: DateTime<Utc>) -> Result<Vec<String>, OpsError> {
    let certificates = settings.certificates();
    let Some(last) = certificates.iter().map(|c| c.not_after).max() else {
        return Err(invalid("The metadata has no signing certificate Roster can read; download it again from the identity provider."));
    };
    if last <= now {
        return Err(invalid(format!(
            "The identity provider's signing certificate expired on {}: sign-ins would fail. Give Roster its new metadata or certificate.",
            last.format("%Y-%m-%d")
        )));
    }
    let mut notes = vec![format!("Signed by {} certificate(s), valid until {}.", certificates.len(), last.format("%Y-%m-%d"))];
    if let Some(warning) = certificate_warning(settings, now) {
        notes.push(warning.message);
    }
    Ok(notes)
}

/// A SAML connection whose certificates lapse soon (or have).
pub struct CertificateWarning {
    pub message: String,
    /// Within `CERT_URGENT_DAYS`, or past.
    pub urgent: bool,
}

/// The warning for a SAML connection's certificates: sign-ins stop when the last pinned one
/// lapses, so that is the date that matters.
pub fn certificate_warning(settings: &SamlSettings, now: DateTime<Utc>) -> Option<CertificateWarning> {
    let last = settings.certificates_expire()?;
    let day = last.format("%Y-%m-%d");
    if last <= now {
        return Some(CertificateWarning {
            message: format!(
                "The identity provider's signing certificate expired on {day}: sign-ins fail until you give Roster its new certificate."
            ),
            urgent: true,
        });
    }
    let days = (last - now).num_days();
    (days < CERT_WARNING_DAYS).then(|| CertificateWarning {
        message: format!(
            "The identity provider's signing certificate expires on {day} ({days} day(s) from now): give Roster its new metadata or certificate before then."
        ),
        urgent: days < CERT_URGENT_DAYS,
    })
}

/// Adds an OpenID connection once its provider has confirmed it.
pub async fn add_oidc(
    state: &App,
    org: OrgId,
    name: &str,
    settings: &OidcSettings,
    client_secret: &str,
    enabled: bool,
    actor: &Actor,
) -> Result<(Connection, Vec<String>), OpsError> {
    let connection = new_connection(&state.master_key, org, name, settings, client_secret, enabled, state.clock.now()).map_err(invalid)?;
    let notes = check_oidc(settings, client_secret).await?;
    state.store.create_connection(&connection, actor).await?;
    Ok((connection, notes))
}

/// Adds a SAML connection once its metadata has been read and checked.
pub async fn add_saml(
    state: &App,
    org: OrgId,
    name: &str,
    settings: &SamlSettings,
    enabled: bool,
    actor: &Actor,
) -> Result<(Connection, Vec<String>), OpsError> {
    let connection = saml_flow::new_connection(org, name, settings, enabled, state.clock.now()).map_err(invalid)?;
    let notes = check_saml(settings, state.clock.now())?;
    state.store.create_connection(&connection, actor).await?;
    Ok((connection, notes))
}

/// What an admin changes on an OpenID connection.
pub struct OidcEdit {
    pub name: String,
    pub client_id: String,
    /// A new secret (a rotation); `None` keeps the sealed one.
    pub client_secret: Option<String>,
    /// Microsoft connections only.
    pub match_claim: Option<MatchClaim>,
}

fn check_name(name: &str) -> Result<String, OpsError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(invalid("Give the connection a short name; the button says \"Sign in with <name>\"."));
    }
    Ok(name.to_owned())
}

/// The connection's client secret, opened.
fn open_secret(state: &App, connection: &Connection) -> Result<String, OpsError> {
    crate::signin::sso::client_secret(&state.master_key, connection)
        .ok_or_else(|| invalid("The stored client secret cannot be opened (was the master key changed?): enter the secret again."))
}

/// Saves an edited OpenID connection after checking it with the provider; nothing is saved
/// when the check fails.
pub async fn edit_oidc(state: &App, connection: &Connection, edit: OidcEdit, actor: &Actor) -> Result<Vec<String>, OpsError> {
    let mut settings = OidcSettings::of(connection).ok_or(OpsError::NotFound)?;
    let client_id = edit.client_id.trim();
    if client_id.is_empty() {
        return Err(invalid("Enter the client ID (application ID) the provider gave the app."));
    }
    settings.client_id = client_id.to_owned();
    if let (OidcProvider::Entra, Some(claim)) = (settings.provider, edit.match_claim) {
        settings.match_claim = claim;
    }
    let new_secret = edit.client_secret.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let secret = match &new_secret {
        Some(secret) => secret.clone(),
        None => open_secret(state, connection)?,
    };
    let mut updated = connection.clone();
    updated.name = check_name(&edit.name)?;
    updated.settings = serde_json::to_value(&settings).map_err(|e| invalid(e.to_string()))?;
    if let Some(secret) = &new_secret {
        updated.sealed.insert(CLIENT_SECRET.to_owned(), state.master_key.seal(connection.org, CLIENT_SECRET, secret.as_bytes()));
    }
    let notes = check_oidc(&settings, &secret).await?;
    state.store.update_connection(&updated, actor, state.clock.now()).await?;
    Ok(notes)
}

/// Where a SAML connection's new signing material comes from, if anywhere.
pub enum NewSigning {
    Keep,
    /// Metadata XML pasted or uploaded.
    MetadataXml(String),
    /// The identity provider's metadata URL, fetched now.
    MetadataUrl(String),
    /// One certificate (PEM or base64), added beside those still valid: both verify during
    /// the identity provider's rollover.
    Certificate(String),
}

/// What an admin changes on a SAML connection.
pub struct SamlEdit {
    pub name: String,
    pub allow_idp_initiated: bool,
    pub signing: NewSigning,
}

/// Saves an edited SAML connection after checking it; nothing is saved when the check fails.
pub async fn edit_saml(state: &App, connection: &Connection, edit: SamlEdit, actor: &Actor) -> Result<Vec<String>, OpsError> {
    let current = SamlSettings::of(connection).ok_or(OpsError::NotFound)?;
    let now = state.clock.now();
    let mut settings = match edit.signing {
        NewSigning::Keep => current.clone(),
        NewSigning::MetadataXml(xml) => SamlSettings::from_metadata(&xml, None, current.allow_idp_initiated).map_err(invalid)?,
        NewSigning::MetadataUrl(url) => {
            let xml = saml_flow::fetch_metadata(&url).await.map_err(invalid)?;
            SamlSettings::from_metadata(&xml, Some(url.trim().to_owned()), current.allow_idp_initiated).map_err(invalid)?
        }
        NewSigning::Certificate(text) => {
            let text = text.trim();
            let certificate = if text.starts_with("-----") { Certificate::from_pem(text) } else { Certificate::from_base64(text) }
                .map_err(|e| invalid(format!("{e}; paste the certificate as PEM (-----BEGIN CERTIFICATE----- ...).")))?;
            if certificate.not_after <= now {
                return Err(invalid(format!(
                    "That certificate expired on {}; give the identity provider's new one.",
                    certificate.not_after.format("%Y-%m-%d")
                )));
            }
            let mut settings = current.clone();
            let added = certificate.to_base64();
            // Lapsed certificates verify nothing; the new one joins those still valid.
            settings.certificates =
                current.certificates().iter().filter(|c| c.not_after > now).map(Certificate::to_base64).filter(|c| *c != added).collect();
            settings.certificates.push(added);
            settings
        }
    };
    if settings.idp_entity_id != current.idp_entity_id {
        let others = state.store.connections(connection.org).await?;
        if others.iter().any(|c| c.id != connection.id && SamlSettings::of(c).is_some_and(|s| s.idp_entity_id == settings.idp_entity_id)) {
            return Err(invalid(format!("Another connection already signs in with {}.", settings.idp_entity_id)));
        }
    }
    settings.allow_idp_initiated = edit.allow_idp_initiated;
    let notes = check_saml(&settings, now)?;
    let mut updated = connection.clone();
    updated.name = check_name(&edit.name)?;
    updated.settings = serde_json::to_value(&settings).map_err(|e| invalid(e.to_string()))?;
    state.store.update_connection(&updated, actor, now).await?;
    Ok(notes)
}

/// Deletes a sign-in connection: its button goes, its links to people and its sign-ins in
/// flight end; people keep their accounts and can sign in another way.
pub async fn delete(state: &App, connection: &Connection, actor: &Actor) -> Result<(), OpsError> {
    if !is_sign_in(connection.kind) {
        return Err(invalid(format!("{} connections are not deleted here", connection.kind.label())));
    }
    state.store.delete_connection(connection.org, connection.id, actor, state.clock.now()).await?;
    Ok(())
}

/// Checks a saved connection with its provider now, as saving it would; changes nothing.
pub async fn check(state: &App, connection: &Connection) -> Result<Vec<String>, OpsError> {
    if let Some(settings) = OidcSettings::of(connection) {
        return check_oidc(&settings, &open_secret(state, connection)?).await;
    }
    let settings = SamlSettings::of(connection).ok_or_else(|| invalid("The connection's settings cannot be read: delete it and add it again."))?;
    check_saml(&settings, state.clock.now())
}

/// Where a SAML connection's settings remember which certificate warnings were e-mailed.
const NOTICES_KEY: &str = "certificate_notices";
/// E-mail owners and admins when this many days or fewer are left (0: it has lapsed).
const NOTICE_DAYS: [i64; 3] = [CERT_WARNING_DAYS, CERT_URGENT_DAYS, 0];

/// The warning threshold `days_left` has reached, if any (the smallest one it is within).
fn threshold(days_left: i64) -> Option<i64> {
    NOTICE_DAYS.into_iter().filter(|t| days_left <= *t).min()
}

/// E-mails the owners and admins of every enabled SAML connection whose certificates lapse
/// within 30 days, again within 7, and once they have: one e-mail per step. Returns how many
/// connections were warned.
pub async fn warn_expiring_certificates(state: &App) -> Result<usize, roster_store::StoreError> {
    let now = state.clock.now();
    let mut warned = 0;
    for mut connection in state.store.enabled_connections(ConnectionKind::Saml).await? {
        let Some(last) = SamlSettings::of(&connection).and_then(|s| s.certificates_expire()) else { continue };
        let days = if last <= now { 0 } else { (last - now).num_days() };
        let Some(step) = threshold(days) else { continue };
        // Remembered per certificate date: new certificates start afresh.
        let sent = &connection.settings[NOTICES_KEY];
        if sent["not_after"].as_i64() == Some(last.timestamp()) && sent["step"].as_i64().is_some_and(|s| s <= step) {
            continue;
        }
        let notice = roster_store::ConnectionNotice::CertificateExpiring { on: last, days };
        crate::provision::health::notify(state, &connection, notice).await?;
        connection.settings[NOTICES_KEY] = serde_json::json!({ "not_after": last.timestamp(), "step": step });
        state.store.update_connection(&connection, &Actor::System, now).await?;
        warned += 1;
    }
    Ok(warned)
}

#[cfg(test)]
mod tests {
    use super::threshold;

    #[test]
    fn certificate_warnings_come_at_thirty_days_seven_and_the_end() {
        let steps: Vec<Option<i64>> = [45, 30, 12, 7, 1, 0].into_iter().map(threshold).collect();
        assert_eq!(steps, [None, Some(30), Some(30), Some(7), Some(7), Some(0)]);
    }
}
