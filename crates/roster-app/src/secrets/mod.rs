//! Secrets: sealing them at rest under the master key, hashing passwords, and the random
//! tokens Roster hands out (one implementation of each).

pub mod password;
pub mod seal;

/// Constant-time comparison of two secrets, so a forged one learns nothing from timing.
pub fn same_secret(a: &str, b: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}
