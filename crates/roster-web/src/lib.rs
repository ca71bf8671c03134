//! Roster's HTTP surfaces: the admin pages, the REST API, the SCIM server, sign-in, health and
//! metrics. Handlers extract, authorise, call one `roster_app` action and render; the
//! behaviour lives in `roster_app`.

pub mod api;
pub mod app;
pub mod client_addr;
pub mod error;
pub mod flash;
pub mod graph_notifications;
pub mod guard;
pub mod okta_hooks;
pub mod pages;
pub mod routing;
pub mod scim;
pub mod session;
pub mod sso;
pub mod state;

pub use app::app;
pub use state::AppState;
