//! The provider's discovery document and the checks made on it before it is trusted.

use crate::error::SsoError;
use crate::validate::TENANT_PLACEHOLDER;
use serde::Deserialize;
use url::Url;

pub const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// How Roster authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client ID and secret.
    Basic,
    /// `client_secret_post`: both in the form body.
    Post,
}

impl ProviderMetadata {
    /// Parse and check a discovery document fetched from `discovery_url`: its issuer must be
    /// the URL it came from (OIDC Discovery §4.3; Microsoft's template may stand for the
    /// tenant segment), and its endpoints must be HTTPS, or HTTP on loopback.
    pub fn from_document(discovery_url: &str, body: &[u8]) -> Result<Self, SsoError> {
        let metadata: ProviderMetadata = serde_json::from_slice(body)
            .map_err(|e| SsoError::Discovery { url: discovery_url.to_owned(), reason: format!("not a discovery document: {e}") })?;
        let expected = discovery_url.strip_suffix(DISCOVERY_SUFFIX).unwrap_or(discovery_url).trim_end_matches('/');
        if !issuer_fits(metadata.issuer.trim_end_matches('/'), expected) {
            return Err(SsoError::DiscoveryIssuer { found: metadata.issuer.clone(), expected: expected.to_owned() });
        }
        check_endpoint("authorization", &metadata.authorization_endpoint)?;
        check_endpoint("token", &metadata.token_endpoint)?;
        check_endpoint("keys", &metadata.jwks_uri)?;
        Ok(metadata)
    }

    /// Basic unless the provider lists only `client_secret_post` (the default is Basic, per
    /// OIDC Discovery).
    pub fn client_auth(&self) -> ClientAuth {
        match &self.token_endpoint_auth_methods_supported {
            Some(methods) if !methods.iter().any(|m| m == "client_secret_basic") && methods.iter().any(|m| m == "client_secret_post") => {
                ClientAuth::Post
            }
            _ => ClientAuth::Basic,
        }
    }
}

/// The issuer equals the discovery base, or is Microsoft's template whose placeholder stands
/// for exactly one path segment of it (`common`, `organizations` or a tenant).
fn issuer_fits(issuer: &str, expected: &str) -> bool {
    if issuer == expected {
        return true;
    }
    let Some((prefix, suffix)) = issuer.split_once(TENANT_PLACEHOLDER) else { return false };
    match expected.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(suffix)) {
        Some(segment) => !segment.is_empty() && !segment.contains('/'),
        None => false,
    }
}

pub(crate) fn check_endpoint(what: &'static str, url: &str) -> Result<(), SsoError> {
    let insecure = || SsoError::InsecureEndpoint { what, url: url.to_owned() };
    let parsed = Url::parse(url).map_err(|_| insecure())?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        _ => Err(insecure()),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(issuer: &str) -> Vec<u8> {
        serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/keys",
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_issuer_must_be_where_the_document_came_from() {
        let url = "https://idp.example/oauth2/default/.well-known/openid-configuration";
        assert!(ProviderMetadata::from_document(url, &doc("https://idp.example/oauth2/default")).is_ok());
        let err = ProviderMetadata::from_document(url, &doc("https://evil.example/oauth2/default")).unwrap_err();
        assert!(matches!(err, SsoError::DiscoveryIssuer { .. }), "{err}");
    }

    #[test]
    fn microsofts_template_stands_for_one_tenant_segment() {
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert!(issuer_fits(template, "https://login.microsoftonline.com/common/v2.0"));
        assert!(!issuer_fits(template, "https://login.microsoftonline.com/a/b/v2.0"));
        assert!(!issuer_fits(template, "https://evil.example/common/v2.0"));
    }

    #[test]
    fn endpoints_must_be_https_except_on_loopback() {
        assert!(check_endpoint("token", "https://idp.example/token").is_ok());
        assert!(check_endpoint("token", "http://127.0.0.1:9/token").is_ok());
        assert!(check_endpoint("token", "http://localhost:9/token").is_ok());
        assert!(check_endpoint("token", "http://idp.example/token").is_err());
        assert!(check_endpoint("token", "javascript:alert(1)").is_err());
    }
}
