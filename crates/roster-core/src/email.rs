//! A case-insensitive e-mail address. Addresses are kept in lower case, so equality, lookups and
//! uniqueness never depend on how an identity provider capitalised them.
//!
//! The domain goes through UTS 46 processing (internationalised domain names) and is kept in its
//! ASCII form: `a@bücher.example` and `a@xn--bcher-kva.example` are one address. An address may
//! not hold whitespace, control characters, or invisible and bidirectional characters anywhere,
//! so two addresses that look alike on a page are alike in the directory.

use crate::text::is_invisible;
use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why an address was refused. Variants that carry text only carry text that passed the
/// character checks, so a message never replays an invisible or control character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an e-mail address is required")]
    Empty,
    #[error("'{0}' is not an e-mail address: it needs one '@' with text on both sides")]
    Shape(String),
    #[error("an e-mail address has at most 254 characters")]
    TooLong,
    #[error("an e-mail address cannot contain spaces or other whitespace (U+{0:04X})")]
    Whitespace(u32),
    #[error("an e-mail address cannot contain control characters (U+{0:04X})")]
    Control(u32),
    #[error("an e-mail address cannot contain invisible or bidirectional characters (U+{0:04X})")]
    Invisible(u32),
    #[error("'{0}' is not a valid domain for an e-mail address")]
    Domain(String),
    #[error("the domain '{0}' of an e-mail address needs a dot, as in example.com")]
    NoDot(String),
}

/// The most bytes an address may have (RFC 5321's path limit less its angle brackets).
const MAX_LEN: usize = 254;

impl Email {
    /// Read an address. Surrounding whitespace is trimmed; whitespace, control characters and
    /// invisible or bidirectional characters anywhere else are refused. The local part is kept
    /// in lower case; the domain is processed by UTS 46 (non-transitional, STD3 ASCII rules,
    /// hyphens checked in the first and last positions, DNS lengths verified), stored in its
    /// ASCII (punycode) form, and needs a dot.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        for c in trimmed.chars() {
            if c.is_whitespace() {
                return Err(EmailError::Whitespace(u32::from(c)));
            }
            if c.is_control() {
                return Err(EmailError::Control(u32::from(c)));
            }
            if is_invisible(c) {
                return Err(EmailError::Invisible(u32::from(c)));
            }
        }
        let mut parts = trimmed.split('@');
        let (local, domain) = match (parts.next(), parts.next(), parts.next()) {
            (Some(l), Some(d), None) => (l, d),
            _ => return Err(EmailError::Shape(trimmed.to_owned())),
        };
        if local.is_empty() || domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
            return Err(EmailError::Shape(trimmed.to_owned()));
        }
        let ascii = Uts46::new()
            .to_ascii(domain.as_bytes(), AsciiDenyList::STD3, Hyphens::CheckFirstLast, DnsLength::Verify)
            .map_err(|_| EmailError::Domain(domain.to_owned()))?
            .to_ascii_lowercase();
        if !ascii.contains('.') {
            return Err(EmailError::NoDot(domain.to_owned()));
        }
        let address = format!("{}@{ascii}", local.to_lowercase());
        if address.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        Ok(Self(address))
    }

    /// An address the store wrote, read back as it is. Addresses stored before a stricter rule
    /// (a domain without a dot, say) must still be readable, so the store does not parse again.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain, in its ASCII (punycode) form.
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
        for bad in ["", "ada", "@x.com", "ada@", "a@b@c", "ada @x.com", "ada@.com", "ada@x.com."] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn invisible_characters_are_refused_anywhere() {
        assert_eq!(Email::parse("own\u{200b}er@acme.example"), Err(EmailError::Invisible(0x200B)));
        // "evil@acme.example" shown backwards after a right-to-left override.
        assert_eq!(Email::parse("\u{202e}elpmaxe.emca@live"), Err(EmailError::Invisible(0x202E)));
        assert_eq!(Email::parse("ada@acme\u{202e}.example"), Err(EmailError::Invisible(0x202E)));
        for c in ['\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{2060}', '\u{2064}', '\u{2066}', '\u{2069}', '\u{feff}', '\u{ad}'] {
            for bad in [format!("a{c}da@acme.example"), format!("ada@ac{c}me.example"), format!("ada@acme.example{c}")] {
                assert_eq!(Email::parse(&bad), Err(EmailError::Invisible(u32::from(c))), "{bad:?}");
            }
        }
        let message = Email::parse("own\u{200b}er@acme.example").map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(message.contains("invisible") && message.contains("U+200B") && !message.contains('\u{200b}'), "{message}");
    }

    #[test]
    fn whitespace_and_control_characters_are_refused_with_their_reason() {
        assert_eq!(Email::parse("ada\tx@acme.example"), Err(EmailError::Whitespace(0x09)));
        assert_eq!(Email::parse("ada@acme\u{a0}example.com"), Err(EmailError::Whitespace(0xA0)));
        assert_eq!(Email::parse("ada@ac\u{3000}me.example"), Err(EmailError::Whitespace(0x3000)));
        assert_eq!(Email::parse("ada\u{7}@acme.example"), Err(EmailError::Control(0x07)));
        assert_eq!(Email::parse("ada\u{9b}@acme.example"), Err(EmailError::Control(0x9B)));
        assert_eq!(Email::parse("ada@acme.example\0"), Err(EmailError::Control(0)));
        assert!(Email::parse("ada @x.com").map_err(|e| e.to_string()).err().unwrap_or_default().contains("whitespace"));
    }

    #[test]
    fn international_domains_are_kept_in_ascii() {
        let unicode = Email::parse("a@bücher.example");
        assert_eq!(unicode.as_ref().map(Email::as_str), Ok("a@xn--bcher-kva.example"));
        assert_eq!(unicode, Email::parse("a@xn--bcher-kva.example"));
        assert_eq!(unicode, Email::parse("A@BÜCHER.Example"), "mapped to lower case first");
        assert_eq!(unicode, Email::parse("a@XN--BCHER-KVA.EXAMPLE"));
        assert_eq!(unicode, Email::parse("a@bücher\u{3002}example"), "an ideographic full stop is a dot");
        assert_eq!(
            Email::parse("Ünï@bücher.example").map(|e| e.as_str().to_owned()),
            Ok("ünï@xn--bcher-kva.example".into()),
            "the local part keeps its letters, in lower case"
        );
        assert_eq!(unicode.map(|e| e.domain().to_owned()), Ok("xn--bcher-kva.example".into()));
    }

    #[test]
    fn domains_uts46_refuses_or_without_a_dot_are_refused() {
        let long_label = format!("a@{}.example", "x".repeat(64));
        for bad in ["a@xn--zz.example", "a@-acme.example", "a@acme-.example", "a@ac_me.example", "a@acme..example", "a@[127.0.0.1]", &long_label] {
            assert!(matches!(Email::parse(bad), Err(EmailError::Domain(_))), "{bad:?}: {:?}", Email::parse(bad));
        }
        assert_eq!(Email::parse("ada@localhost"), Err(EmailError::NoDot("localhost".into())));
        assert_eq!(Email::parse("ada@bücher"), Err(EmailError::NoDot("bücher".into())));
    }

    #[test]
    fn the_length_limit_counts_the_ascii_form() {
        // Each label grows from 32 bytes to about 38 in punycode.
        let label = format!("{}é", "a".repeat(30));
        let domain = [label.as_str(); 6].join(".");
        let raw = format!("{}@{domain}.example", "a".repeat(40));
        assert!(raw.len() <= MAX_LEN);
        assert_eq!(Email::parse(&raw), Err(EmailError::TooLong));
        assert_eq!(Email::parse(&format!("{}@x.com", "a".repeat(250))), Err(EmailError::TooLong));
    }

    #[test]
    fn stored_addresses_read_back_through_parse() {
        let parsed: Result<Email, _> = serde_json::from_str("\"A@Bücher.example\"");
        assert_eq!(parsed.map(String::from).ok().as_deref(), Some("a@xn--bcher-kva.example"));
        assert!(serde_json::from_str::<Email>("\"own\\u200ber@acme.example\"").is_err());
    }
}
