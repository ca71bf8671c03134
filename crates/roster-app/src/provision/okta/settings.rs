//! An Okta connection's settings: the organisation's address, the app whose assigned users are
//! synced, the options, and the names of its two sealed secrets (the API token, and the event
//! hook secret Roster made).

use crate::provision::entra::sync::{parse_daily_at, DEFAULT_DAILY_AT};
use chrono::NaiveTime;
use roster_core::mapping::{okta_default, Mapping, Rule};
use roster_core::reconcile::Invitations;
use roster_core::Connection;
use serde::{Deserialize, Serialize};

/// Sealed secret names (also the column part of the sealing's associated data).
pub const API_TOKEN: &str = "okta_api_token";
pub const HOOK_SECRET: &str = "okta_hook_secret";

fn yes() -> bool {
    true
}

fn default_daily_at() -> String {
    DEFAULT_DAILY_AT.to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OktaSettings {
    /// The Okta organisation's address, e.g. `https://acme.okta.com`.
    pub base_url: String,
    /// The id of the app in Okta (`0oa...`): only its assigned users are synced.
    pub app_id: String,
    #[serde(default)]
    pub invite: bool,
    /// Set the override manager from Okta's `managerId` (or the manager's login in `manager`).
    #[serde(default = "yes")]
    pub manage_managers: bool,
    #[serde(default)]
    pub guard: roster_core::guard::GuardLimits,
    /// `HH:MM`, UTC: the daily full pull.
    #[serde(default = "default_daily_at")]
    pub daily_at: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl OktaSettings {
    pub fn from_connection(connection: &Connection) -> Result<Self, String> {
        serde_json::from_value(connection.settings.clone()).map_err(|e| format!("the Okta connection's settings cannot be read: {e}"))
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn mapping(&self) -> Mapping {
        okta_default().with_extra(&self.rules)
    }

    pub fn invitations(&self) -> Invitations {
        if self.invite {
            Invitations::Immediately
        } else {
            Invitations::Hold
        }
    }

    pub fn daily_time(&self) -> NaiveTime {
        parse_daily_at(&self.daily_at).unwrap_or(NaiveTime::MIN + chrono::Duration::hours(3))
    }
}
