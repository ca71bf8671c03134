//! Background work: queued Entra syncs and the daily schedule.

pub mod entra_sync;
pub mod scheduler;
