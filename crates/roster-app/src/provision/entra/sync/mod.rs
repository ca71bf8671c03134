//! Microsoft Entra ID provisioning: read the people of one security group (nested groups
//! included) through Microsoft Graph and bring the directory in line through the one
//! reconciler every source uses.
//!
//! A run lists everything first and writes only at the end, in one plan: a run that breaks
//! half-way (listing, token, permission) changes nothing, so it can never deactivate people
//! because it saw only part of the group. The next run converges.

mod engine;
mod error;
mod photos;
mod progress;
mod record;
mod settings;

pub use engine::{extra_properties, full_sync, full_sync_with, one_record, run_recorded, RunOutcome, SyncOptions};
pub use error::SyncError;
pub use progress::{estimate, Estimate, NoProgress, Phase, ProgressSink, StoreProgress, SyncProgress};
pub use record::graph_record;
pub use settings::{
    format_rules, parse_daily_at, parse_rules, Authorization, Consent, EntraSettings, CLIENT_SECRET, DEFAULT_DAILY_AT, JOB_KIND, TENANT_ID,
};
