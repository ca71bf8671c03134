//! Sign-in as the web side sees it. The flows live in `roster_app::signin`; this module names
//! them for the pages and adds what only HTTP needs.

pub use roster_app::signin::oidc as flow;
pub use roster_app::signin::saml;
pub use roster_app::signin::sso::*;

/// Time a handler spent waiting on an identity provider, put in the response's extensions so
/// `Server-Timing` can report it apart from Roster's own time.
#[derive(Debug, Clone, Copy)]
pub struct ProviderTime(pub std::time::Duration);
