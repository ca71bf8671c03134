//! An organisation's slug: its subdomain and its path prefix (`/o/acme/`).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgSlug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid organisation slug: use 2 to 40 lower-case letters, digits or dashes, starting with a letter")]
pub struct SlugError(pub String);

/// Names that would collide with the service's own hosts or routes.
const RESERVED: &[&str] = &["www", "api", "admin", "static", "assets", "healthz", "readyz", "metrics", "login"];

impl OrgSlug {
    pub fn parse(raw: &str) -> Result<Self, SlugError> {
        let s = raw.trim();
        let valid_chars = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let starts_with_letter = s.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if (2..=40).contains(&s.len()) && valid_chars && starts_with_letter && !s.ends_with('-') && !RESERVED.contains(&s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(SlugError(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrgSlug {
    type Error = SlugError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OrgSlug> for String {
    fn from(value: OrgSlug) -> Self {
        value.0
    }
}

impl fmt::Display for OrgSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_labels() {
        assert!(OrgSlug::parse("acme").is_ok());
        assert!(OrgSlug::parse("acme-2").is_ok());
        for bad in ["", "a", "Acme", "acme-", "1acme", "ac_me", "www", &"a".repeat(41)] {
            assert!(OrgSlug::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
