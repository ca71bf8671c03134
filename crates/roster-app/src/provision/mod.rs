//! Provisioning from identity providers: setting connections up and queueing their runs.

pub mod entra;
pub mod scim;
