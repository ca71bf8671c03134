//! Roster's HTTP surfaces: the admin pages, the REST API, health and metrics; and the actions
//! they share with the command line.

pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod entra;
pub mod error;
pub mod guard;
pub mod mail;
pub mod ops;
pub mod pages;
pub mod password;
pub mod routing;
pub mod scim;
pub mod session;
pub mod sso;
pub mod state;
pub mod throttle;

pub use app::app;
pub use state::AppState;
