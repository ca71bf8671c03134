//! Microsoft Entra ID provisioning as the service runs it: the actions the pages and the
//! command line share (set up, test, enable, queue a sync), admin consent, and the lookups (a
//! group by name, why someone is missing, one person provisioned now). The syncs
//! themselves run as jobs (`crate::jobs`).

pub mod consent;
pub mod live;
pub mod lookup;
pub mod setup;
pub mod sync;

pub use setup::{
    delete_connection, enqueue_preview, enqueue_sync, entra_connection, ever_synced, graph_config, save_setup, set_enabled, target, test_connection,
    Deleted, EntraSetup, PeopleAfterDelete, PermissionLine, Target,
};
