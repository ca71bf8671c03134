//! The sign-in flow: start (a request stored server-side and bound to the browser by a cookie)
//! and finish (state redeemed once, code exchanged, ID token validated, person matched). SSO
//! never creates, reactivates or moves anyone; it only finds who someone already is.

use super::sso::{providers, MatchClaim, OidcProvider, OidcSettings, VERIFIER_COLUMN};
use crate::App;
use chrono::Duration;
use roster_core::secret::token_digest;
use roster_core::{Connection, ConnectionId, Email, Org, Person, Status};
use roster_oidc::{authorization_request, CodeExchange, Expectations, IdTokenClaims};
use roster_store::{SsoPurpose, SsoRefusal, SsoRequest, StoreError};

/// How long a started sign-in may take.
pub const REQUEST_MINUTES: i64 = 10;
const SCOPE: &str = "openid profile email";
/// Clock skew tolerated on token times.
const LEEWAY_SECS: i64 = 60;

/// Why a sign-in ended without a session: what the person is told, and what admins read.
#[derive(Debug)]
pub struct Refusal {
    /// For the person, on the page.
    pub message: String,
    /// For admins, in the sign-in log. Never a secret.
    pub reason: String,
    pub connection: Option<ConnectionId>,
    pub subject: Option<String>,
    pub claimed_email: Option<String>,
    /// An admin's "Test sign-in" failed: the admin sees `reason`, not the person's message.
    pub test: bool,
}

impl Refusal {
    pub fn new(message: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { message: message.into(), reason: reason.into(), connection: None, subject: None, claimed_email: None, test: false }
    }

    pub fn on(mut self, connection: &Connection) -> Self {
        self.connection = Some(connection.id);
        self
    }
}

#[derive(Debug)]
pub enum FlowError {
    Refused(Refusal),
    Store(StoreError),
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        FlowError::Store(e)
    }
}

impl From<Refusal> for FlowError {
    fn from(r: Refusal) -> Self {
        FlowError::Refused(r)
    }
}

/// The address the provider sends people back to; admins paste it into the provider.
pub fn redirect_uri(state: &App, org: &Org) -> String {
    state.config.org_url(org.slug.as_str(), "/sso/callback")
}

pub fn unavailable(connection: &Connection, reason: String) -> Refusal {
    Refusal::new(
        format!("Sign-in with {} is not available right now. Try again later, or ask an admin of your organisation.", connection.name),
        reason,
    )
    .on(connection)
}

/// Start a sign-in: store the request and return the provider's address and the `state`
/// value the browser's cookie must carry back.
pub async fn start(state: &App, org: &Org, connection: &Connection) -> Result<(String, String), FlowError> {
    let settings =
        OidcSettings::of(connection).ok_or_else(|| unavailable(connection, "the connection's settings are not OpenID Connect settings".into()))?;
    let providers = providers().map_err(|e| unavailable(connection, e.to_string()))?;
    let metadata = providers.metadata(&settings.discovery_url).await.map_err(|e| unavailable(connection, e.to_string()))?;
    let request = authorization_request(&metadata, &settings.client_id, &redirect_uri(state, org), SCOPE, &mut rand::rngs::OsRng)
        .map_err(|e| unavailable(connection, e.to_string()))?;
    let now = state.clock.now();
    let stored = SsoRequest {
        state_digest: token_digest(&request.state),
        org: org.id,
        connection: connection.id,
        purpose: SsoPurpose::Oidc {
            nonce: request.nonce.clone(),
            sealed_verifier: state.master_key.seal(org.id, VERIFIER_COLUMN, request.pkce_verifier.as_bytes()),
        },
        created_at: now,
        expires_at: now + Duration::minutes(REQUEST_MINUTES),
    };
    state.store.create_sso_request(&stored).await?;
    Ok((request.url, request.state))
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

fn not_started() -> Refusal {
    Refusal::new(
        "This sign-in was not started from your organisation's login page, or it was already used or took too long. Start again from the login page.",
        "a callback arrived without a matching sign-in started from the same browser (missing, unknown, expired or reused state)",
    )
}

/// The validated identity of a finished flow.
#[derive(Debug)]
pub struct Verified {
    pub connection: Connection,
    pub claims: IdTokenClaims,
    pub subject: String,
    /// Spent waiting for the provider's token endpoint (reported apart from Roster's own time).
    pub provider_time: std::time::Duration,
}

impl Verified {
    /// The claims Roster read, by name, for an admin's test sign-in (never a token).
    pub fn received(&self) -> Vec<(String, String)> {
        let c = &self.claims;
        let mut shown = vec![("iss".to_owned(), c.issuer.clone()), ("sub".to_owned(), c.subject.clone()), ("aud".to_owned(), c.audiences.join(" "))];
        let optional = [
            ("tid", &c.tenant_id),
            ("oid", &c.object_id),
            ("email", &c.email),
            ("preferred_username", &c.preferred_username),
            ("upn", &c.upn),
            ("name", &c.name),
        ];
        shown.extend(optional.into_iter().filter_map(|(name, value)| value.clone().map(|v| (name.to_owned(), v))));
        if let Some(verified) = c.email_verified {
            shown.push(("email_verified".to_owned(), verified.to_string()));
        }
        shown
    }
}

/// Redeem the state, exchange the code and validate the ID token.
pub async fn verify(state: &App, org: &Org, params: &CallbackParams, cookie_state: Option<&str>) -> Result<Verified, FlowError> {
    let (Some(sent), Some(kept)) = (params.state.as_deref(), cookie_state) else { return Err(not_started().into()) };
    // The browser that comes back must be the one that started: its cookie carries the state.
    if sent.is_empty() || !crate::secrets::same_secret(sent, kept) {
        return Err(not_started().into());
    }
    let now = state.clock.now();
    let request = state.store.consume_sso_request(org.id, &token_digest(sent), now).await?.ok_or_else(not_started)?;
    // A request for anything but an OpenID sign-in is not one this callback answers.
    let SsoPurpose::Oidc { nonce, sealed_verifier } = &request.purpose else { return Err(not_started().into()) };
    let connection = state.store.connection(org.id, request.connection).await?.ok_or_else(not_started)?;
    let settings =
        OidcSettings::of(&connection).ok_or_else(|| unavailable(&connection, "the connection's settings are not OpenID Connect settings".into()))?;
    if let Some(error) = &params.error {
        let described = params.error_description.as_deref().map(|d| format!(": {}", d.chars().take(200).collect::<String>())).unwrap_or_default();
        let message = if error == "access_denied" {
            format!("{} did not sign you in (the sign-in was cancelled or refused).", connection.name)
        } else {
            format!("{} could not sign you in.", connection.name)
        };
        return Err(Refusal::new(message, format!("the provider answered {}{described}", error.chars().take(60).collect::<String>()))
            .on(&connection)
            .into());
    }
    let code = params.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| unavailable(&connection, "the provider sent no code".into()))?;
    let verifier = state
        .master_key
        .open(org.id, VERIFIER_COLUMN, sealed_verifier)
        .ok()
        .and_then(|v| String::from_utf8(v).ok())
        .ok_or_else(|| unavailable(&connection, "the stored PKCE verifier did not open (was the master key changed?)".into()))?;
    let secret = super::sso::client_secret(&state.master_key, &connection)
        .ok_or_else(|| unavailable(&connection, "the connection's client secret did not open (was the master key changed?)".into()))?;

    let providers = providers().map_err(|e| unavailable(&connection, e.to_string()))?;
    let failed = |e: roster_oidc::SsoError| unavailable(&connection, e.to_string());
    let metadata = providers.metadata(&settings.discovery_url).await.map_err(failed)?;
    let redirect = redirect_uri(state, org);
    let exchange = CodeExchange { code, redirect_uri: &redirect, pkce_verifier: &verifier, client_id: &settings.client_id, client_secret: &secret };
    let exchange_started = std::time::Instant::now();
    let id_token = providers.exchange_code(&metadata, &exchange).await.map_err(failed)?;
    let provider_time = exchange_started.elapsed();
    let expect = Expectations {
        issuer: &metadata.issuer,
        client_id: &settings.client_id,
        tenant: settings.tenant_id.as_deref(),
        nonce,
        now: now.timestamp(),
        leeway: LEEWAY_SECS,
        max_age: REQUEST_MINUTES * 60,
    };
    let claims = providers.validate(&settings.discovery_url, &metadata, &id_token, &expect).await.map_err(failed)?;
    // Entra's stable key is the tenant and object id; `sub` is pairwise per app.
    let subject = match settings.provider {
        OidcProvider::Entra => match (&claims.tenant_id, &claims.object_id) {
            (Some(tid), Some(oid)) => format!("{tid}/{oid}"),
            _ => return Err(unavailable(&connection, "the Microsoft token has no tid and oid claims".into()).into()),
        },
        _ => claims.subject.clone(),
    };
    Ok(Verified { connection, claims, subject, provider_time })
}

/// The address this connection matches people by, if the token carries a usable one.
fn claimed_address(settings: &OidcSettings, claims: &IdTokenClaims) -> Option<String> {
    match settings.provider {
        OidcProvider::Entra => match settings.match_claim {
            MatchClaim::PreferredUsername => claims.preferred_username.clone(),
            MatchClaim::Upn => claims.upn.clone(),
            MatchClaim::Email => claims.email.clone(),
        },
        // An address the provider says it has not verified proves nothing.
        _ => claims.email.clone().filter(|_| claims.email_verified != Some(false)),
    }
}

/// Who the verified OpenID identity is in this organisation (see `match_identity`).
pub async fn match_person(state: &App, org: &Org, verified: &Verified) -> Result<Person, FlowError> {
    let connection = &verified.connection;
    let settings = OidcSettings::of(connection).ok_or_else(|| unavailable(connection, "not OpenID Connect settings".into()))?;
    let claimed = claimed_address(&settings, &verified.claims);
    match_identity(state, org, connection, &verified.subject, claimed).await
}

/// Who a verified identity is, whatever the protocol: the person its subject was linked to
/// first, else the one whose e-mail matches the claimed address (case-insensitively), then
/// linked for next time. Nobody is created or reactivated.
pub async fn match_identity(state: &App, org: &Org, connection: &Connection, subject: &str, claimed: Option<String>) -> Result<Person, FlowError> {
    let refuse = |message: String, reason: String| {
        let mut r = Refusal::new(message, reason).on(connection);
        r.subject = Some(subject.to_owned());
        r.claimed_email = claimed.clone();
        FlowError::Refused(r)
    };
    let linked = state.store.sso_linked_person(org.id, connection.id, subject).await?;
    let person = match linked {
        Some(id) => state.store.person(org.id, id).await?,
        None => match claimed.as_deref().map(Email::parse) {
            Some(Ok(email)) => state.store.person_by_email(org.id, &email).await?,
            _ => {
                return Err(refuse(
                    format!(
                        "{} did not tell Roster your email address, so you cannot be recognised. Ask an admin of your organisation.",
                        connection.name
                    ),
                    "the provider sent no usable (verified) address to match a person by".into(),
                ))
            }
        },
    };
    let Some(person) = person else {
        let shown = claimed.clone().unwrap_or_default();
        return Err(refuse(
            format!("Nobody in {} has the address {shown}. Ask an admin of your organisation to add you.", org.name),
            format!("no person has the address {shown}"),
        ));
    };
    if person.status == Status::Deactivated {
        return Err(refuse(
            "Your account in this organisation is deactivated. Ask an admin of your organisation to reactivate it.".into(),
            format!("{} is deactivated", person.email.as_str()),
        ));
    }
    state.store.record_sso_link(org.id, connection.id, subject, person.id, state.clock.now()).await?;
    Ok(person)
}

/// A sign-in that starts a session: an invited person becomes active, whichever way they sign
/// in (an admin's test sign-in starts none, so it activates nobody).
pub async fn first_sign_in(state: &App, org: &Org, connection: &Connection, person: Person) -> Result<Person, FlowError> {
    if person.status == Status::Invited && state.store.activate_on_sign_in(org.id, person.id, &connection.name, state.clock.now()).await? {
        return Ok(Person { status: Status::Active, activated: true, ..person });
    }
    Ok(person)
}

/// Keep the refusal for admins; a failure to log is logged, not shown.
pub async fn log_refusal(state: &App, org: &Org, refusal: &Refusal) {
    let record = SsoRefusal {
        id: uuid::Uuid::now_v7(),
        org: org.id,
        connection: refusal.connection,
        at: state.clock.now(),
        reason: refusal.reason.clone(),
        subject: refusal.subject.clone(),
        claimed_email: refusal.claimed_email.clone(),
    };
    metrics::counter!("roster_sign_ins_total", "result" => "refused_sso").increment(1);
    tracing::info!(org = %org.slug.as_str(), reason = %refusal.reason, "single sign-on refused");
    if let Err(error) = state.store.log_sso_refusal(&record).await {
        tracing::warn!(%error, "could not log a refused sign-in");
    }
}
