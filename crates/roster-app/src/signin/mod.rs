//! The rules of signing in that do not depend on how the form arrives.

pub mod throttle;
