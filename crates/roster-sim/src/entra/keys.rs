//! The tenant's token-signing keys: RS256, published as a JWKS that always lists several keys
//! (as Microsoft's does), with rotation a test can trigger at any moment, because Microsoft
//! rolls keys on no guaranteed schedule and relying parties must cope.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Microsoft's keys are 2048-bit RSA; smaller keys would hide size bugs in a relying party.
const KEY_BITS: usize = 2048;
/// How many keys the JWKS lists at most: the signing key and the ones it replaced.
const PUBLISHED: usize = 3;

pub(crate) struct Key {
    pub kid: String,
    signer: SigningKey<Sha256>,
    jwk: Value,
}

impl Key {
    /// Deterministic for a seed, so a failing run can be replayed from the tenant's seed.
    fn generate(seed: u64) -> Result<Key, rsa::Error> {
        let mut rng = StdRng::seed_from_u64(seed);
        let private = RsaPrivateKey::new(&mut rng, KEY_BITS)?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        // Entra's kids are base64url thumbprints; a digest of the modulus looks the same.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&n)[..20]);
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": kid,
            "x5t": kid,
            "n": URL_SAFE_NO_PAD.encode(&n),
            "e": URL_SAFE_NO_PAD.encode(&e),
            // Microsoft publishes the multi-tenant issuer template beside each key.
            "issuer": "{tenantid}",
        });
        Ok(Key { kid, signer: SigningKey::<Sha256>::new(private), jwk })
    }

    /// The JWK with its `issuer` filled in for the host it is served from.
    fn published(&self, issuer_template: &str) -> Value {
        let mut jwk = self.jwk.clone();
        jwk["issuer"] = Value::String(issuer_template.to_owned());
        jwk
    }
}

/// The signing key first, then the keys it replaced, newest first.
pub(crate) struct KeyRing {
    seed: u64,
    generated: u64,
    keys: Vec<Key>,
}

impl KeyRing {
    /// Two keys at once: a JWKS with a single key would let a relying party get away with
    /// ignoring `kid`.
    pub fn generate(seed: u64) -> Result<KeyRing, rsa::Error> {
        let mut ring = KeyRing { seed, generated: 0, keys: Vec::new() };
        let second = ring.next_key()?;
        let first = ring.next_key()?;
        ring.keys = vec![first, second];
        Ok(ring)
    }

    /// `generate` on the blocking pool (RSA keys take a moment); a failure answers 500.
    pub(crate) async fn generate_off_runtime(seed: u64) -> Result<KeyRing, axum::response::Response> {
        use axum::response::IntoResponse;
        match tokio::task::spawn_blocking(move || KeyRing::generate(seed)).await {
            Ok(Ok(ring)) => Ok(ring),
            _ => Err((axum::http::StatusCode::INTERNAL_SERVER_ERROR, "the simulator could not make its signing keys").into_response()),
        }
    }

    fn next_key(&mut self) -> Result<Key, rsa::Error> {
        self.generated += 1;
        Key::generate(self.seed.wrapping_add(self.generated.wrapping_mul(0x9e37_79b9)))
    }

    pub fn signing_kid(&self) -> Option<&str> {
        self.keys.first().map(|k| k.kid.as_str())
    }

    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }

    /// A new key signs from now on; it is published at the same moment, with no overlap.
    pub fn rotate(&mut self) -> Result<String, rsa::Error> {
        let key = self.next_key()?;
        let kid = key.kid.clone();
        self.keys.insert(0, key);
        self.keys.truncate(PUBLISHED);
        Ok(kid)
    }

    /// Withdraws a key from the JWKS (tokens it signed stop validating). The signing key
    /// stays: a tenant is never without one.
    pub fn retire(&mut self, kid: &str) -> bool {
        let before = self.keys.len();
        let signing = self.signing_kid().map(str::to_owned);
        self.keys.retain(|k| Some(k.kid.as_str()) == signing.as_deref() || k.kid != kid);
        self.keys.len() != before
    }

    pub fn jwks(&self, issuer_template: &str) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.published(issuer_template)).collect::<Vec<_>>() })
    }

    /// A compact JWS over `claims`, signed RS256 with the signing key.
    pub fn sign(&self, claims: &Value) -> Option<String> {
        let key = self.keys.first()?;
        let header = json!({ "typ": "JWT", "alg": "RS256", "kid": key.kid });
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = key.signer.sign(input.as_bytes()).to_vec();
        Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    #[test]
    fn rings_are_deterministic_list_two_keys_and_rotate() {
        let mut ring = KeyRing::generate(7).unwrap();
        let again = KeyRing::generate(7).unwrap();
        assert_eq!(ring.kids(), again.kids());
        assert_eq!(ring.kids().len(), 2);
        let old = ring.signing_kid().unwrap().to_owned();
        let new = ring.rotate().unwrap();
        assert_ne!(old, new);
        assert_eq!(ring.signing_kid(), Some(new.as_str()));
        assert_eq!(ring.kids().len(), 3);
        ring.rotate().unwrap();
        assert_eq!(ring.kids().len(), 3, "at most three keys are published");
        let signing = ring.signing_kid().unwrap().to_owned();
        assert!(!ring.retire(&signing), "the signing key stays");
        let oldest = ring.kids()[2].clone();
        assert!(ring.retire(&oldest));
        assert!(!ring.kids().contains(&oldest));
    }

    #[test]
    fn signatures_verify_with_the_published_key() {
        let ring = KeyRing::generate(3).unwrap();
        let token = ring.sign(&json!({"sub": "x"})).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let key = &ring.keys[0];
        let verifier = VerifyingKey::<Sha256>::new(key.signer.as_ref().to_public_key());
        let sig = Signature::try_from(URL_SAFE_NO_PAD.decode(sig).unwrap().as_slice()).unwrap();
        verifier.verify(input.as_bytes(), &sig).unwrap();
        let jwks = ring.jwks("http://sim/{tenantid}/v2.0");
        assert_eq!(jwks["keys"][0]["kid"], key.kid.as_str());
        assert_eq!(jwks["keys"][0]["issuer"], "http://sim/{tenantid}/v2.0");
    }
}
