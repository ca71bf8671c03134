//! What Roster does, apart from how it is reached: the admin actions, provisioning from
//! identity providers, the rules of sign-in, e-mail, secrets and the background jobs. The pages,
//! the REST API, the SCIM routes and the command line all call in here; nothing here knows
//! HTTP.
//!
//! - `admin/`: actions on organisations, people, teams, API keys, CSV import, SCIM tokens.
//! - `provision/`: connections to identity providers (Entra setup, consent, syncs queued).
//! - `jobs/`: background work: the Entra sync runner and the daily scheduler.
//! - `signin/`: rules of sign-in (throttling).
//! - `mail`: rendering and sending e-mails, minting their links.
//! - `secrets/`: sealing secrets at rest, password hashing, random tokens.
//! - `demo`: the seeded organisation `roster demo` shows.

pub mod admin;
pub mod clock;
pub mod config;
pub mod demo;
pub mod jobs;
pub mod mail;
pub mod provision;
pub mod secrets;
pub mod signin;
pub mod webhooks;

use clock::Clock;
use config::Config;
use roster_store::Store;
use secrets::seal::MasterKey;
use std::sync::Arc;

/// What every action needs: the store, the settings, the clock and the key that seals
/// secrets. Cheap to clone; nothing in it is process-local state another process would need.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// Seals the secrets integrations store (tenant ids, client secrets, keys).
    pub master_key: MasterKey,
}
