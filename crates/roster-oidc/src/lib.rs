//! Roster's OpenID Connect relying party, free of HTTP serving and storage: discovery (fetched
//! and cached per provider), the authorization request (code + PKCE S256 + `state` + `nonce`),
//! the code exchange (`client_secret_basic` or `_post`) and ID token validation.
//!
//! # Why `jsonwebtoken` and not `openidconnect`
//!
//! `openidconnect` would do discovery, the exchange and validation for us, but its typed
//! issuer comparison cannot express Microsoft's `{tenantid}` issuer template (the multi-tenant
//! metadata names a template that no token matches literally), and its errors do not name the
//! value an admin must fix. With `jsonwebtoken` we verify only the signature there and check
//! every claim ourselves, in one small module (`validate`) whose every rule has a test. We use
//! exactly one crypto backend, `rust_crypto` (pure Rust: no C toolchain for a newcomer's
//! build), at 11.x, past the 10.3 fix for string-typed `exp`/`nbf`; we read those claims as
//! numbers ourselves regardless.
//!
//! # What the caller does
//!
//! Stores `state` (as a digest), `nonce` and the PKCE verifier of each request, binds it to the
//! browser, redeems it once, and decides who the validated claims are. Randomness and the
//! clock are passed in.

mod authorize;
mod client;
mod error;
mod metadata;
mod validate;

pub use authorize::{authorization_request, pkce_challenge, require_s256, AuthorizationRequest};
pub use client::{http_client, ClientCheck, CodeExchange, Providers};
pub use error::SsoError;
pub use metadata::{ClientAuth, ProviderMetadata, DISCOVERY_SUFFIX};
pub use validate::{
    check_claims, find_key, parse_key_set, read_header, validate_id_token, Expectations, IdTokenClaims, TokenHeader, ALLOWED_ALGORITHMS,
    TENANT_PLACEHOLDER,
};

/// Microsoft Entra's login host, for connections configured by tenant ID.
pub const ENTRA_LOGIN: &str = "https://login.microsoftonline.com";

/// The discovery URL of an Entra tenant (v2.0 endpoints) under `login_base`.
pub fn entra_discovery_url(login_base: &str, tenant: &str) -> String {
    format!("{}/{tenant}/v2.0{DISCOVERY_SUFFIX}", login_base.trim_end_matches('/'))
}

/// The discovery URL of an Okta authorization server: the org server when `server` is empty,
/// else the custom server (`default` is an id too).
pub fn okta_discovery_url(domain: &str, server: &str) -> String {
    let domain = domain.trim().trim_end_matches('/');
    let base = if domain.starts_with("https://") || domain.starts_with("http://") { domain.to_owned() } else { format!("https://{domain}") };
    if server.trim().is_empty() {
        format!("{base}{DISCOVERY_SUFFIX}")
    } else {
        format!("{base}/oauth2/{}{DISCOVERY_SUFFIX}", server.trim())
    }
}

#[cfg(test)]
mod tests;
