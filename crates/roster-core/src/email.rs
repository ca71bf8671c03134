//! A case-insensitive e-mail address. Addresses are kept in lower case, so equality, lookups and
//! uniqueness never depend on how an identity provider capitalised them.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an e-mail address is required")]
    Empty,
    #[error("'{0}' is not an e-mail address: it needs one '@' with text on both sides")]
    Shape(String),
    #[error("an e-mail address has at most 254 characters")]
    TooLong,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let mut parts = trimmed.split('@');
        let (local, domain) = match (parts.next(), parts.next(), parts.next()) {
            (Some(l), Some(d), None) => (l, d),
            _ => return Err(EmailError::Shape(trimmed.to_owned())),
        };
        let bad_domain = domain.is_empty() || domain.starts_with('.') || domain.ends_with('.');
        if local.is_empty() || bad_domain || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::Shape(trimmed.to_owned()));
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit('@').next().unwrap_or_default()
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_compare_without_case() {
        assert_eq!(Email::parse("Ada@Example.COM"), Email::parse("ada@example.com"));
        assert_eq!(Email::parse(" ada@example.com ").map(|e| e.domain().to_owned()), Ok("example.com".into()));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in ["", "ada", "@x.com", "ada@", "a@b@c", "ada @x.com", "ada@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
