//! The authorization request: code flow, PKCE S256, `state` and `nonce`, from randomness the
//! caller passes in. The caller stores `state` (as a digest), `nonce` and the verifier, and
//! binds the request to the browser.

use crate::error::SsoError;
use crate::metadata::ProviderMetadata;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use url::Url;

#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// Where to send the browser.
    pub url: String,
    pub state: String,
    pub nonce: String,
    /// The PKCE code verifier: a secret until the code is exchanged.
    pub pkce_verifier: String,
}

impl std::fmt::Display for AuthorizationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the verifier.
        write!(f, "authorization request to {}", self.url.split('?').next().unwrap_or_default())
    }
}

/// 32 random bytes, base64url: 256 bits, and a valid PKCE verifier (43 characters).
fn random_value(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Refuses a provider that says it cannot do PKCE with S256 (one that does not say is tried).
pub fn require_s256(metadata: &ProviderMetadata) -> Result<(), SsoError> {
    match &metadata.code_challenge_methods_supported {
        Some(methods) if !methods.iter().any(|m| m == "S256") => Err(SsoError::NoS256 { found: methods.join(", ") }),
        _ => Ok(()),
    }
}

/// Build the request. Refuses a provider that says it cannot do S256 rather than fall back
/// to `plain` or no PKCE.
pub fn authorization_request(
    metadata: &ProviderMetadata,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    rng: &mut impl RngCore,
) -> Result<AuthorizationRequest, SsoError> {
    require_s256(metadata)?;
    let state = random_value(rng);
    let nonce = random_value(rng);
    let pkce_verifier = random_value(rng);
    let mut url = Url::parse(&metadata.authorization_endpoint)
        .map_err(|_| SsoError::InsecureEndpoint { what: "authorization", url: metadata.authorization_endpoint.clone() })?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &pkce_challenge(&pkce_verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(AuthorizationRequest { url: url.into(), state, nonce, pkce_verifier })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::mock::StepRng;

    fn metadata(methods: Option<Vec<&str>>) -> ProviderMetadata {
        ProviderMetadata {
            issuer: "https://idp.example".into(),
            authorization_endpoint: "https://idp.example/authorize?tenant=x".into(),
            token_endpoint: "https://idp.example/token".into(),
            jwks_uri: "https://idp.example/keys".into(),
            code_challenge_methods_supported: methods.map(|m| m.into_iter().map(str::to_owned).collect()),
            token_endpoint_auth_methods_supported: None,
        }
    }

    #[test]
    fn every_request_carries_an_s256_challenge_state_and_nonce() {
        let mut rng = StepRng::new(1, 1);
        let req = authorization_request(&metadata(None), "client", "https://roster.example/cb", "openid email", &mut rng).unwrap();
        let url = Url::parse(&req.url).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "x", "the endpoint's own query is kept");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], pkce_challenge(&req.pkce_verifier));
        assert_eq!(q["state"], req.state);
        assert_eq!(q["nonce"], req.nonce);
        assert_eq!(req.pkce_verifier.len(), 43);
        assert!(!req.url.contains(&req.pkce_verifier), "the verifier never leaves Roster before the exchange");
        assert_ne!(req.state, req.nonce);
    }

    #[test]
    fn a_provider_without_s256_gets_no_request() {
        let mut rng = StepRng::new(1, 1);
        let err = authorization_request(&metadata(Some(vec!["plain"])), "c", "https://r/cb", "openid", &mut rng).unwrap_err();
        assert_eq!(err, SsoError::NoS256 { found: "plain".into() });
    }

    #[test]
    fn the_rfc_7636_example_challenge() {
        assert_eq!(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
