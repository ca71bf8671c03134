//! Sign-in with SAML 2.0: a connection's settings (from the identity provider's metadata, its
//! certificates pinned), Roster's own URLs, and the flow. SP-initiated requests are stored
//! like OpenID ones (their ID redeemed once through `InResponseTo`); assertion IDs are
//! remembered until they expire, so a replay yields no second session. The protocol itself
//! lives in `roster_saml`.

use super::oidc::{unavailable, FlowError, Refusal, REQUEST_MINUTES};
use crate::App;
use chrono::{DateTime, Duration, Utc};
use roster_core::secret::token_digest;
use roster_core::{Connection, ConnectionId, ConnectionKind, Org, OrgId, Person, Status, UserId};
use roster_saml::{Certificate, SamlError};
use roster_store::{SsoPurpose, SsoRequest, StoreError};
use serde::{Deserialize, Serialize};

/// Clock difference tolerated with the identity provider.
const SKEW_SECS: i64 = 180;
/// Marks a stored request as an admin's "Test sign-in" (SAML requests carry no nonce).
/// Binds a started sign-in to the browser that started it. The ACS cannot read it (a
/// cross-site POST carries no Lax cookie); the same-site step after it can.
pub const BROWSER_COOKIE: &str = "roster_saml_browser";
/// How long the step from the ACS to the session may take.
const HAND_OVER_SECS: i64 = 120;
/// Admins are warned this long before the identity provider's certificate lapses.
pub const CERT_WARNING_DAYS: i64 = 30;

/// A SAML connection's settings (`Connection::settings`); nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlSettings {
    pub idp_entity_id: String,
    pub sso_url: String,
    /// Pinned signing certificates, base64 DER.
    pub certificates: Vec<String>,
    #[serde(default)]
    pub metadata_url: Option<String>,
    /// Unsolicited responses are refused unless an admin opts in.
    #[serde(default)]
    pub allow_idp_initiated: bool,
}

impl SamlSettings {
    /// `None` for another kind, or for settings that no longer parse: sign-in then refuses the
    /// connection as unusable, which fails closed.
    pub fn of(connection: &Connection) -> Option<Self> {
        (connection.kind == ConnectionKind::Saml).then(|| serde_json::from_value(connection.settings.clone()).ok()).flatten()
    }

    pub fn from_metadata(xml: &str, metadata_url: Option<String>, allow_idp_initiated: bool) -> Result<Self, String> {
        let idp = roster_saml::parse_idp_metadata(xml).map_err(|e| e.to_string())?;
        Ok(Self {
            idp_entity_id: idp.entity_id,
            sso_url: idp.sso_url,
            certificates: idp.certificates.iter().map(Certificate::to_base64).collect(),
            metadata_url,
            allow_idp_initiated,
        })
    }

    pub fn certificates(&self) -> Vec<Certificate> {
        // An unreadable certificate verifies nothing: leaving it out fails closed (with none
        // left, every response is refused).
        self.certificates.iter().filter_map(|c| Certificate::from_base64(c).ok()).collect()
    }

    /// When the last pinned certificate lapses: a response verifies with any of them, so that
    /// is when sign-ins stop.
    pub fn certificates_expire(&self) -> Option<DateTime<Utc>> {
        self.certificates().iter().map(|c| c.not_after).max()
    }
}

/// A new SAML connection, disabled unless `enabled`.
pub fn new_connection(org: OrgId, name: &str, settings: &SamlSettings, enabled: bool, now: DateTime<Utc>) -> Result<Connection, String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 60 {
        return Err("Give the connection a short name; the button says \"Sign in with <name>\".".into());
    }
    Ok(Connection {
        id: ConnectionId::from_uuid(uuid::Uuid::now_v7()),
        org,
        kind: ConnectionKind::Saml,
        name: name.to_owned(),
        enabled,
        settings: serde_json::to_value(settings).map_err(|e| e.to_string())?,
        sealed: Default::default(),
        created_at: now,
        updated_at: now,
    })
}

/// Fetches metadata from the identity provider (HTTPS, or this machine for local providers).
pub async fn fetch_metadata(url: &str) -> Result<String, String> {
    let url = url.trim();
    if !roster_saml::metadata::acceptable_url(url) {
        return Err("The metadata URL must be HTTPS.".into());
    }
    let client = roster_oidc::http_client().map_err(|e| e.to_string())?;
    let failed = |e: reqwest::Error| format!("Roster could not fetch the metadata from {url}: {}", e.without_url());
    let response = client.get(url).send().await.map_err(failed)?;
    if !response.status().is_success() {
        return Err(format!("The metadata URL answered {}.", response.status()));
    }
    let too_large = || format!("The metadata is larger than {} KiB.", roster_saml::metadata::MAX_METADATA_BYTES / 1024);
    if response.content_length().is_some_and(|n| n as usize > roster_saml::metadata::MAX_METADATA_BYTES) {
        return Err(too_large());
    }
    let body = response.bytes().await.map_err(failed)?;
    if body.len() > roster_saml::metadata::MAX_METADATA_BYTES {
        return Err(too_large());
    }
    String::from_utf8(body.to_vec()).map_err(|_| "The metadata is not UTF-8 text.".into())
}

/// Roster's entity ID for the organisation: the address of its SP metadata.
pub fn sp_entity_id(state: &App, org: &Org) -> String {
    state.config.org_url(org.slug.as_str(), "/saml/metadata")
}

/// Where identity providers POST responses.
pub fn acs_url(state: &App, org: &Org) -> String {
    state.config.org_url(org.slug.as_str(), "/saml/acs")
}

/// Starts an SP-initiated sign-in: the identity provider's address, and the value the
/// browser's `BROWSER_COOKIE` must carry when it comes back.
pub async fn start(state: &App, org: &Org, connection: &Connection, test: bool) -> Result<(String, String), FlowError> {
    let settings = SamlSettings::of(connection).ok_or_else(|| unavailable(connection, "the connection's settings are not SAML settings".into()))?;
    let now = state.clock.now();
    let relay = uuid::Uuid::new_v4().simple().to_string();
    let browser = crate::secrets::password::random_token();
    let request = roster_saml::authn_request(&settings.sso_url, &sp_entity_id(state, org), &acs_url(state, org), &relay, now, &mut rand::rngs::OsRng)
        .map_err(|e| unavailable(connection, e))?;
    let stored = SsoRequest {
        state_digest: token_digest(&request.id),
        org: org.id,
        connection: connection.id,
        purpose: SsoPurpose::Saml { browser_digest: token_digest(&browser), test },
        created_at: now,
        expires_at: now + Duration::minutes(REQUEST_MINUTES),
    };
    state.store.create_sso_request(&stored).await?;
    Ok((request.redirect_url, browser))
}

/// What the identity provider POSTs to the ACS.
#[derive(Debug, Default, Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    pub saml_response: String,
    /// Opaque; never used as an address.
    #[serde(rename = "RelayState", default)]
    pub relay_state: Option<String>,
}

/// A verified SAML sign-in.
#[derive(Debug)]
pub struct Verified {
    pub connection: Connection,
    pub subject: String,
    pub claimed_email: Option<String>,
    /// An admin's "Test sign-in": report, do not sign in.
    pub test: bool,
    /// The digest of the browser cookie of the sign-in this answers; `None` when unsolicited.
    pub browser: Option<String>,
    /// The NameID and attributes received, by name, for an admin's test sign-in.
    pub received: Vec<(String, String)>,
}

fn malformed(e: &SamlError) -> Refusal {
    Refusal::new("The sign-in response could not be read. Start again from your organisation's login page.", e.to_string())
}

/// The Issuer the response claims (not yet verified), to pick the connection whose pinned
/// certificates then decide.
fn claimed_issuer(root: &roster_saml::xml::Element) -> Option<String> {
    let issuer = |e: &roster_saml::xml::Element| e.only_child(roster_saml::ASSERTION_NS, "Issuer").map(|i| i.text().trim().to_owned());
    issuer(root).or_else(|| root.only_child(roster_saml::ASSERTION_NS, "Assertion").and_then(issuer))
}

/// Verifies a POSTed response (see `verify_response`). A refused answer to an admin's test
/// sign-in is marked as one, so the admin is shown why. The request it names is only read: a
/// forged answer must not spend the real one's request.
pub async fn verify(state: &App, org: &Org, form: &AcsForm) -> Result<Verified, FlowError> {
    let root = roster_saml::decode_post(&form.saml_response).map_err(|e| malformed(&e))?;
    match verify_response(state, org, &root).await {
        Err(FlowError::Refused(mut refusal)) if !refusal.test => {
            if let Some(request_id) = root.attr("InResponseTo") {
                let request = state.store.pending_sso_request(org.id, &token_digest(request_id), state.clock.now()).await?;
                refusal.test = matches!(request.map(|r| r.purpose), Some(SsoPurpose::Saml { test: true, .. }));
            }
            Err(FlowError::Refused(refusal))
        }
        other => other,
    }
}

/// Verifies a response: signature and conditions, then the request it answers (redeemed once)
/// or the opt-in to unsolicited sign-in, then first use of the assertion.
async fn verify_response(state: &App, org: &Org, root: &roster_saml::xml::Element) -> Result<Verified, FlowError> {
    let issuer = claimed_issuer(root).ok_or_else(|| malformed(&SamlError::Malformed("the response names no Issuer".into())))?;
    let candidates: Vec<(Connection, SamlSettings)> = state
        .store
        .connections(org.id)
        .await?
        .into_iter()
        .filter_map(|c| SamlSettings::of(&c).map(|s| (c, s)))
        .filter(|(_, s)| s.idp_entity_id == issuer)
        .collect();
    if candidates.is_empty() {
        return Err(Refusal::new(
            "This organisation has no SAML sign-in with that identity provider. Ask an admin of your organisation.",
            format!("a SAML response arrived from {}, which no connection of this organisation names", issuer.chars().take(200).collect::<String>()),
        )
        .into());
    }
    let now = state.clock.now();
    let (sp_entity, acs) = (sp_entity_id(state, org), acs_url(state, org));
    let check = |settings: &SamlSettings| {
        let certificates = settings.certificates();
        let expect = roster_saml::Expectations {
            idp_entity_id: &settings.idp_entity_id,
            sp_entity_id: &sp_entity,
            acs_url: &acs,
            certificates: &certificates,
            now,
            skew: Duration::seconds(SKEW_SECS),
        };
        roster_saml::validate(root, &expect)
    };
    // Usually one connection names the issuer; with several, the one whose certificate verifies.
    let results: Vec<_> = candidates.iter().map(|(connection, settings)| (connection, settings, check(settings))).collect();
    // None verified: the first candidate's failure is the one reported (there is at least one).
    let chosen = results.iter().position(|(_, _, r)| r.is_ok()).unwrap_or(0);
    let (connection, settings, result) = &results[chosen];
    let (connection, settings): (&Connection, &SamlSettings) = (connection, settings);
    let refuse = |reason: String| {
        Refusal::new(
            format!(
                "{} could not sign you in. Start again from your organisation's login page, or ask an admin of your organisation.",
                connection.name
            ),
            reason,
        )
        .on(connection)
    };
    let assertion = result.clone().map_err(|e| refuse(e.to_string()))?;

    let (test, browser) = match &assertion.in_response_to {
        Some(request_id) => {
            let request = state.store.consume_sso_request(org.id, &token_digest(request_id), now).await?;
            match request.filter(|r| r.connection == connection.id).map(|r| r.purpose) {
                Some(SsoPurpose::Saml { browser_digest, test }) => (test, Some(browser_digest)),
                _ => {
                    return Err(refuse(
                        "the response answers a sign-in request that this organisation's connection did not start, or that was already used or expired".into(),
                    )
                    .into())
                }
            }
        }
        None if settings.allow_idp_initiated => (false, None),
        None => {
            return Err(refuse(
                "an unsolicited (IdP-initiated) response arrived, and IdP-initiated sign-in is off for this connection: start from Roster's login page, or turn it on".into(),
            )
            .into())
        }
    };
    let refuse = |reason: String| Refusal { test, ..refuse(reason) };
    if !test && !connection.enabled {
        return Err(refuse("the connection is disabled".into()).into());
    }
    if !state.store.first_use_of_saml_assertion(org.id, &assertion.issuer, &assertion.id, assertion.remember_until, now).await? {
        return Err(refuse(format!("the assertion {} was already used (a replay)", assertion.id)).into());
    }
    let mut received = vec![("NameID".to_owned(), assertion.name_id.clone())];
    received.extend(assertion.name_id_format.iter().map(|f| ("NameID format".to_owned(), f.clone())));
    received.extend(assertion.attributes.iter().map(|(name, values)| (name.clone(), values.join(", "))));
    Ok(Verified {
        connection: connection.clone(),
        subject: assertion.name_id.clone(),
        claimed_email: assertion.email().map(str::to_owned),
        test,
        browser,
        received,
    })
}

/// The sealed hand-over's column name (associated data of the seal).
const HAND_OVER_COLUMN: &str = "saml_hand_over";
/// Marks a sealed hand-over token (a stored one is a bare random token).
const SEALED_PREFIX: &str = "s.";

/// What a sealed hand-over carries: who, for which browser, until when.
#[derive(Serialize, Deserialize)]
struct HandOver {
    person: UserId,
    connection: ConnectionId,
    /// The digest of the starting browser's cookie.
    browser: String,
    expires: i64,
}

/// After the ACS: a token for the same-site step that checks the browser and starts the
/// session. An SP-initiated sign-in's is sealed with the master key and bound to the browser's
/// cookie, so it costs no write (only that browser can use it, and only briefly). An
/// unsolicited one has no browser to bind to, so it is a stored token redeemed once.
pub async fn hand_over(state: &App, org: &Org, verified: &Verified, person: &Person) -> Result<String, StoreError> {
    let now = state.clock.now();
    if let Some(browser) = &verified.browser {
        let sealed = HandOver {
            person: person.id,
            connection: verified.connection.id,
            browser: browser.clone(),
            expires: (now + Duration::seconds(HAND_OVER_SECS)).timestamp(),
        };
        let bytes = serde_json::to_vec(&sealed).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let token = state.master_key.seal(org.id, HAND_OVER_COLUMN, &bytes);
        return Ok(format!("{SEALED_PREFIX}{}", base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token)));
    }
    let token = crate::secrets::password::random_token();
    state
        .store
        .create_sso_request(&SsoRequest {
            state_digest: token_digest(&token),
            org: org.id,
            connection: verified.connection.id,
            purpose: SsoPurpose::SamlHandOver { person: person.id },
            created_at: now,
            expires_at: now + Duration::seconds(HAND_OVER_SECS),
        })
        .await?;
    Ok(token)
}

/// Opens a sealed hand-over: `(person, connection, browser digest)` while it is fresh.
fn open_sealed(state: &App, org: &Org, token: &str) -> Option<(UserId, ConnectionId, String)> {
    // A token that does not decode, open or parse is not one of ours: the caller refuses it as unknown.
    let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token).ok()?;
    let bytes = state.master_key.open(org.id, HAND_OVER_COLUMN, &raw).ok()?;
    let sealed: HandOver = serde_json::from_slice(&bytes).ok()?;
    (sealed.expires > state.clock.now().timestamp()).then_some((sealed.person, sealed.connection, sealed.browser))
}

/// The person a hand-over token names, if this is the browser that started the sign-in (an
/// unsolicited sign-in, allowed by the connection, has no browser to check) and they are still
/// active.
pub async fn take_over(state: &App, org: &Org, token: &str, cookie: Option<&str>) -> Result<Person, FlowError> {
    let stale = || {
        Refusal::new(
            "This sign-in was already used or took too long. Start again from your organisation's login page.",
            "the step after the ACS came with an unknown, used or expired token",
        )
    };
    let (id, connection, browser) = match token.strip_prefix(SEALED_PREFIX) {
        Some(sealed) => open_sealed(state, org, sealed).ok_or_else(stale)?,
        None => {
            let request = state.store.consume_sso_request(org.id, &token_digest(token), state.clock.now()).await?.ok_or_else(stale)?;
            // An unsolicited sign-in has no browser to bind to: "-" checks none.
            let SsoPurpose::SamlHandOver { person } = request.purpose else { return Err(stale().into()) };
            (person, request.connection, "-".to_owned())
        }
    };
    let connection = state.store.connection(org.id, connection).await?.ok_or_else(stale)?;
    if browser != "-" && cookie.map(token_digest).as_deref() != Some(browser.as_str()) {
        return Err(Refusal::new(
            "This sign-in was started in another browser. Start again from your organisation's login page.",
            "the response answers a sign-in started in another browser (its cookie is missing or different)",
        )
        .on(&connection)
        .into());
    }
    match state.store.person(org.id, id).await? {
        Some(p) if p.status != Status::Deactivated => super::oidc::first_sign_in(state, org, &connection, p).await,
        _ => Err(Refusal::new(
            "Your account in this organisation is deactivated. Ask an admin of your organisation.",
            "the person was deactivated during sign-in",
        )
        .on(&connection)
        .into()),
    }
}
