//! Background work, all owned by one [`supervisor::Supervisor`]: queued Entra syncs, the
//! daily schedule, e-mail delivery (`crate::mail::deliver_forever`) and purges.

pub mod entra_sync;
pub mod purge;
pub mod scheduler;
pub mod supervisor;
