//! The pages and the API, driven over HTTP against SQLite and PostgreSQL.
#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failing test panics, helpers included")]

#[path = "web/support.rs"]
pub mod support;

#[path = "web/access.rs"]
mod access;
#[path = "web/api.rs"]
mod api;
#[path = "web/api_write.rs"]
mod api_write;
#[path = "web/entra.rs"]
mod entra;
#[path = "web/entra_live.rs"]
mod entra_live;
#[path = "web/events.rs"]
mod events;
#[path = "web/failures.rs"]
mod failures;
#[path = "web/guard.rs"]
mod guard;
#[path = "web/hardening.rs"]
mod hardening;
#[path = "web/health.rs"]
mod health;
#[path = "web/import.rs"]
mod import;
#[path = "web/individuals.rs"]
mod individuals;
#[path = "web/isolation.rs"]
mod isolation;
#[path = "web/lifecycle.rs"]
mod lifecycle;
#[path = "web/lookup.rs"]
mod lookup;
#[path = "web/mail.rs"]
mod mail;
#[path = "web/okta.rs"]
mod okta;
#[path = "web/scim.rs"]
mod scim;
#[path = "web/signin.rs"]
mod signin;
#[path = "web/sso.rs"]
#[macro_use]
mod sso;
#[path = "web/saml.rs"]
mod saml;
#[path = "web/sso_admin.rs"]
mod sso_admin;
#[path = "web/teams.rs"]
mod teams;
#[path = "web/webhooks.rs"]
mod webhooks;
