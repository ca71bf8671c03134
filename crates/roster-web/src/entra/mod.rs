//! Microsoft Entra ID provisioning as the service runs it: the actions the pages and the
//! command line share (set up, test, enable, queue a sync), the job runner that performs
//! queued syncs, and the daily scheduler.

pub mod actions;
pub mod consent;
pub mod worker;

pub use actions::{enqueue_sync, entra_connection, graph_config, save_setup, set_enabled, test_connection, EntraSetup, PermissionLine};
pub use worker::{run_due_jobs, schedule_due, spawn_scheduler, spawn_worker};
