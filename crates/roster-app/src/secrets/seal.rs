//! Secrets at rest (tenant ids, client secrets, IdP keys) are sealed with AES-256-GCM under the
//! master key. The organisation and the column are the associated data, so a sealed value copied
//! to another organisation or column does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use roster_core::OrgId;

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("a sealed secret did not open: wrong master key, organisation or column, or altered data")]
    Open,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| CryptoError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| CryptoError::BadKey)?;
        Ok(Self(cipher))
    }

    /// A new random key, base64-encoded, for the key file written on first run.
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn aad(org: OrgId, column: &str) -> Vec<u8> {
        let mut aad = org.as_uuid().as_bytes().to_vec();
        aad.extend_from_slice(column.as_bytes());
        aad
    }

    /// Nonce followed by ciphertext and tag.
    pub fn seal(&self, org: OrgId, column: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = Self::aad(org, column);
        let sealed = self.0.encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &aad });
        let mut out = nonce.to_vec();
        // Encryption only fails for inputs beyond GCM's 64 GiB limit, far above any secret.
        out.extend(sealed.unwrap_or_default());
        out
    }

    pub fn open(&self, org: OrgId, column: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Open)?;
        let aad = Self::aad(org, column);
        self.0.decrypt(&Nonce::from(nonce), Payload { msg: body, aad: &aad }).map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn sealed_secrets_open_only_for_their_org_and_column() {
        let key = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let (a, b) = (OrgId::from_uuid(Uuid::from_u128(1)), OrgId::from_uuid(Uuid::from_u128(2)));
        let sealed = key.seal(a, "tenant_id", b"contoso-tenant");
        assert!(!sealed.windows(7).any(|w| w == b"contoso"), "plaintext must not be visible");
        assert_eq!(key.open(a, "tenant_id", &sealed).unwrap(), b"contoso-tenant");
        assert_eq!(key.open(b, "tenant_id", &sealed), Err(CryptoError::Open));
        assert_eq!(key.open(a, "client_secret", &sealed), Err(CryptoError::Open));
        let other = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        assert_eq!(other.open(a, "tenant_id", &sealed), Err(CryptoError::Open));
    }

    #[test]
    fn short_or_malformed_keys_are_refused() {
        assert_eq!(MasterKey::from_base64("c2hvcnQ=").err(), Some(CryptoError::BadKey));
        assert_eq!(MasterKey::from_base64("not base64!").err(), Some(CryptoError::BadKey));
    }
}
