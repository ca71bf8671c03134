//! Secrets: sealing them at rest under the master key, hashing passwords, and the random
//! tokens Roster hands out (one implementation of each).

pub mod password;
pub mod seal;
