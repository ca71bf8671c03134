//! A SCIM connection's settings, read once where the connection is loaded, so nothing decides
//! on `settings.get("...")` strings.

use roster_core::mapping::Rule;
use roster_core::reconcile::Invitations;
use roster_core::Connection;
use serde::{Deserialize, Deserializer, Serialize};

/// Requests per second a token may make when its connection does not say; bursts of twice as
/// many are allowed.
pub const DEFAULT_RATE_PER_SECOND: f64 = 200.0;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScimSettings {
    /// Whether people a client creates get their invitation at once.
    #[serde(default)]
    pub invitations: InvitationPolicy,
    /// Follow RFC 7644 to the letter instead of Entra's leniencies.
    #[serde(default)]
    pub strict_patch: bool,
    /// Rules an admin added to the default SCIM mapping.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub mapping: Vec<Rule>,
    /// Requests per second per token (default [`DEFAULT_RATE_PER_SECOND`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_second: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationPolicy {
    #[default]
    Hold,
    Immediately,
}

#[derive(Debug, thiserror::Error)]
#[error("the SCIM connection's settings are unreadable: {0}")]
pub struct SettingsError(serde_json::Error);

impl ScimSettings {
    pub fn from_connection(connection: &Connection) -> Result<Self, SettingsError> {
        serde_json::from_value(connection.settings.clone()).map_err(SettingsError)
    }

    pub fn to_json(&self) -> serde_json::Value {
        // Plain fields, strings and rules always serialise.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    pub fn invitations(&self) -> Invitations {
        match self.invitations {
            InvitationPolicy::Hold => Invitations::Hold,
            InvitationPolicy::Immediately => Invitations::Immediately,
        }
    }

    /// The per-token rate, ignoring a setting that is not a positive number.
    pub fn rate_per_second(&self) -> f64 {
        self.rate_limit_per_second.filter(|rate| rate.is_finite() && *rate > 0.0).unwrap_or(DEFAULT_RATE_PER_SECOND)
    }
}

/// `"mapping": null` (as stored by older settings pages) means no rules.
fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Rule>, D::Error> {
    Ok(Option::<Vec<Rule>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(settings: serde_json::Value) -> ScimSettings {
        serde_json::from_value(settings).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn stored_settings_read_as_before() {
        let defaults = parse(json!({}));
        assert_eq!((defaults.invitations(), defaults.strict_patch, defaults.mapping.len()), (Invitations::Hold, false, 0));
        assert_eq!(defaults.rate_per_second(), DEFAULT_RATE_PER_SECOND);
        let set = parse(json!({"invitations": "immediately", "strict_patch": true, "mapping": null, "rate_limit_per_second": 0.5}));
        assert_eq!((set.invitations(), set.strict_patch, set.rate_per_second()), (Invitations::Immediately, true, 0.5));
        assert_eq!(parse(json!({"rate_limit_per_second": -3.0})).rate_per_second(), DEFAULT_RATE_PER_SECOND);
        assert!(serde_json::from_value::<ScimSettings>(json!({"invitations": "sometimes"})).is_err(), "an unknown value is refused, not guessed");
        assert_eq!(parse(defaults.to_json()), defaults);
    }
}
