//! Signing in: the OpenID Connect and SAML 2.0 flows (taking the organisation and its public
//! addresses, not a web request), the sign-in connections' settings, and throttling.

pub mod oidc;
pub mod saml;
pub mod sso;
pub mod throttle;
