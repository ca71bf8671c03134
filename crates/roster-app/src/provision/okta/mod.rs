//! Okta's standard provisioning: the Okta API pull (daily, and on "Sync users") and event hooks
//! that trigger a re-read of the users they name. Both go through the one `Provisioner`, guard
//! included; the daily pull stays the truth that repairs what hooks miss.

pub mod client;
pub mod hooks;
pub mod settings;
pub mod setup;
pub mod sync;
