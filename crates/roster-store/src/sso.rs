//! Storage for sign-in with OpenID Connect: pending requests (redeemed once), the links from a
//! provider's subject to a person, the refusals admins read, and whether password sign-in is on.
//! The PKCE verifier arrives sealed; `state` only as a digest.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::{Actor, ConnectionId, OrgId, UserId};

/// A sign-in Roster started and has not finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoRequest {
    /// SHA-256 of the `state` value; the value itself lives only in the browser's cookie and
    /// the provider's redirect.
    pub state_digest: String,
    pub org: OrgId,
    pub connection: ConnectionId,
    pub purpose: SsoPurpose,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a stored request is for, with what redeeming it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoPurpose {
    /// An OpenID Connect sign-in: the nonce the ID token must carry, and the PKCE code verifier
    /// sealed with the master key.
    Oidc { nonce: String, sealed_verifier: Vec<u8> },
    /// A SAML sign-in started by a browser (the digest of its cookie); `test` for an admin's
    /// "Test sign-in".
    Saml { browser_digest: String, test: bool },
    /// An unsolicited SAML sign-in handed over to the same-site step.
    SamlHandOver { person: UserId },
    /// An Entra admin consent started by this admin.
    EntraConsent { admin: UserId },
}

impl SsoPurpose {
    /// How the purpose is stored: its name, the text and the bytes it keeps.
    pub(crate) fn encode(&self) -> (&'static str, String, Vec<u8>) {
        match self {
            SsoPurpose::Oidc { nonce, sealed_verifier } => ("oidc", nonce.clone(), sealed_verifier.clone()),
            SsoPurpose::Saml { browser_digest, test: false } => ("saml", browser_digest.clone(), Vec::new()),
            SsoPurpose::Saml { browser_digest, test: true } => ("saml_test", browser_digest.clone(), Vec::new()),
            SsoPurpose::SamlHandOver { person } => ("saml_hand_over", person.to_string(), Vec::new()),
            SsoPurpose::EntraConsent { admin } => ("entra_consent", admin.to_string(), Vec::new()),
        }
    }

    pub(crate) fn decode(purpose: &str, text: String, bytes: Vec<u8>) -> Result<Self, String> {
        let person = |text: &str| text.parse::<UserId>().map_err(|e| format!("sign-in request names no person: {e}"));
        Ok(match purpose {
            "oidc" => SsoPurpose::Oidc { nonce: text, sealed_verifier: bytes },
            "saml" => SsoPurpose::Saml { browser_digest: text, test: false },
            "saml_test" => SsoPurpose::Saml { browser_digest: text, test: true },
            "saml_hand_over" => SsoPurpose::SamlHandOver { person: person(&text)? },
            "entra_consent" => SsoPurpose::EntraConsent { admin: person(&text)? },
            other => return Err(format!("unknown sign-in request purpose '{other}'")),
        })
    }
}

/// A sign-in Roster refused, for the admins' log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoRefusal {
    pub id: uuid::Uuid,
    pub org: OrgId,
    pub connection: Option<ConnectionId>,
    pub at: DateTime<Utc>,
    pub reason: String,
    /// The provider's subject, when the token got far enough to name one.
    pub subject: Option<String>,
    /// The address the provider claimed, when it named one.
    pub claimed_email: Option<String>,
}

#[async_trait]
pub trait SsoStore {
    async fn create_sso_request(&self, request: &SsoRequest) -> StoreResult<()>;
    /// A pending request, left pending (to learn what an answer that failed was for).
    async fn pending_sso_request(&self, org: OrgId, state_digest: &str, now: DateTime<Utc>) -> StoreResult<Option<SsoRequest>>;
    /// Redeem a pending request: only one caller ever gets `Some`, and only before it expires.
    async fn consume_sso_request(&self, org: OrgId, state_digest: &str, now: DateTime<Utc>) -> StoreResult<Option<SsoRequest>>;
    /// The person a provider's subject was linked to by an earlier sign-in.
    async fn sso_linked_person(&self, org: OrgId, connection: ConnectionId, subject: &str) -> StoreResult<Option<UserId>>;
    /// Link a subject to a person (first sign-in) or note its use; an existing link keeps its
    /// person.
    async fn record_sso_link(&self, org: OrgId, connection: ConnectionId, subject: &str, person: UserId, now: DateTime<Utc>) -> StoreResult<()>;
    async fn log_sso_refusal(&self, refusal: &SsoRefusal) -> StoreResult<()>;
    /// Newest first.
    async fn sso_refusals(&self, org: OrgId, limit: u32) -> StoreResult<Vec<SsoRefusal>>;
    /// Note a SAML assertion's first use: `true` the first time (in any process), `false` for a
    /// replay. Kept until `until`.
    async fn first_use_of_saml_assertion(
        &self,
        org: OrgId,
        issuer: &str,
        assertion_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Forget sign-in requests and assertion IDs that expired before `now`; returns how many.
    async fn purge_expired_sign_ins(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// On unless an admin turned it off.
    async fn password_sign_in_allowed(&self, org: OrgId) -> StoreResult<bool>;
    /// Audited.
    async fn set_password_sign_in(&self, org: OrgId, allowed: bool, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()>;
}
