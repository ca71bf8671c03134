//! An identity provider's signing certificate: pinned at setup, its RSA key used to check
//! signatures, its expiry shown to admins before it lapses.

use crate::SamlError;
use base64::Engine;
use chrono::{DateTime, Utc};
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use x509_cert::der::{Decode, Encode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub der: Vec<u8>,
    pub key: RsaPublicKey,
    pub subject: String,
    pub not_after: DateTime<Utc>,
}

/// RSA keys shorter than this are refused.
const MIN_RSA_BITS: usize = 2048;

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Self, SamlError> {
        let bad = |why: String| SamlError::Metadata(format!("the signing certificate {why}"));
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| bad(format!("is not an X.509 certificate ({e})")))?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs.subject_public_key_info.to_der().map_err(|e| bad(format!("has an unreadable key ({e})")))?;
        let key =
            RsaPublicKey::from_public_key_der(&spki).map_err(|_| bad("does not hold an RSA key (Roster accepts RSA-SHA256 signatures)".into()))?;
        if rsa::traits::PublicKeyParts::size(&key) * 8 < MIN_RSA_BITS {
            return Err(bad(format!("has an RSA key shorter than {MIN_RSA_BITS} bits")));
        }
        let seconds = tbs.validity.not_after.to_unix_duration().as_secs();
        // Beyond the representable range is the far future: saturating keeps its meaning.
        let not_after = DateTime::from_timestamp(i64::try_from(seconds).unwrap_or(i64::MAX), 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
        Ok(Self { der: der.to_vec(), key, subject: tbs.subject.to_string(), not_after })
    }

    /// The base64 body of an `X509Certificate` element (whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, SamlError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| SamlError::Metadata("a signing certificate is not base64".into()))?;
        Self::from_der(&der)
    }

    /// A PEM `CERTIFICATE` block.
    pub fn from_pem(pem: &str) -> Result<Self, SamlError> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        Self::from_base64(&body)
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }

    /// Whether it lapses within `days` of `now` (or already has).
    pub fn expires_within(&self, now: DateTime<Utc>, days: i64) -> bool {
        self.not_after <= now + chrono::Duration::days(days)
    }
}
