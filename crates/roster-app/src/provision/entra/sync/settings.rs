//! An Entra connection's settings: what is kept in the clear in `Connection::settings`, and
//! the names of the two sealed secrets (the tenant id, which the help articles promise to
//! keep encrypted, and the client secret).

use chrono::NaiveTime;
use roster_core::mapping::{entra_default, Mapping, Rule, Target};
use roster_core::reconcile::Invitations;
use roster_core::Connection;
use serde::{Deserialize, Serialize};

use super::SyncError;

/// The job that runs one full sync of one connection.
pub const JOB_KIND: &str = "entra.full_sync";
/// Sealed secret names (also the column part of the sealing's associated data).
pub const TENANT_ID: &str = "tenant_id";
pub const CLIENT_SECRET: &str = "client_secret";
/// When the daily sync runs unless the admin picks another time (UTC).
pub const DEFAULT_DAILY_AT: &str = "03:00";

fn yes() -> bool {
    true
}

fn default_daily_at() -> String {
    DEFAULT_DAILY_AT.to_owned()
}

/// How Roster signs in to the customer's tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Authorization {
    /// The customer's own app registration: client ID and a client secret they created.
    #[default]
    OwnApp,
    /// Roster's multi-tenant app, which a tenant admin allowed by admin consent.
    AdminConsent,
}

/// The answer to an admin-consent request: the tenant that granted it, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The tenant's GUID, as Microsoft returned it.
    pub tenant: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraSettings {
    /// Object ID of the security group whose members (nested groups included) are synced.
    pub group_id: String,
    #[serde(default)]
    pub authorization: Authorization,
    /// Set once a tenant admin granted consent to Roster's app (admin consent only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// Application (client) ID of the customer's app registration (own app only).
    #[serde(default)]
    pub client_id: String,
    /// Send invitations as people are created, or hold them for an admin.
    #[serde(default)]
    pub invite: bool,
    /// "Assign override manager using Manager/Direct Reports in Microsoft Entra ID".
    #[serde(default = "yes")]
    pub manage_managers: bool,
    #[serde(default)]
    pub photos: bool,
    /// How many people one run may deactivate before it is held for an admin.
    #[serde(default)]
    pub guard: roster_core::guard::GuardLimits,
    /// `HH:MM`, UTC.
    #[serde(default = "default_daily_at")]
    pub daily_at: String,
    /// The group's name as Entra gave it when the connection was last tested: what the page
    /// shows the connection points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// The tenant's name, as Graph gave it at the last "Test connection" (it needs the optional
    /// Organization.Read.All permission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<String>,
    /// The admin's rules, after the default table.
    #[serde(default)]
    pub mappings: Vec<Rule>,
    /// Other clouds, or the simulator; the public cloud when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_base: Option<String>,
}

impl EntraSettings {
    pub fn new(group_id: &str, client_id: &str) -> Self {
        Self {
            group_id: group_id.trim().to_owned(),
            authorization: Authorization::OwnApp,
            consent: None,
            client_id: client_id.trim().to_owned(),
            invite: false,
            manage_managers: true,
            photos: false,
            guard: roster_core::guard::GuardLimits::default(),
            daily_at: default_daily_at(),
            group_name: None,
            tenant_name: None,
            mappings: Vec::new(),
            login_base: None,
            graph_base: None,
        }
    }

    pub fn from_connection(connection: &Connection) -> Result<Self, SyncError> {
        serde_json::from_value(connection.settings.clone()).map_err(|e| SyncError::Settings(format!("unreadable settings: {e}")))
    }

    pub fn to_json(&self) -> serde_json::Value {
        // Strings, bools, rules and a timestamp, with string keys only: serialising cannot fail,
        // so `Null` is never written over a connection's settings.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    pub fn mapping(&self) -> Mapping {
        entra_default().with_extra(&self.mappings)
    }

    pub fn invitations(&self) -> Invitations {
        if self.invite {
            Invitations::Immediately
        } else {
            Invitations::Hold
        }
    }

    /// The daily sync's time; the default when the stored text is not `HH:MM`.
    pub fn daily_time(&self) -> NaiveTime {
        // DEFAULT_DAILY_AT always parses: the last default is unreachable.
        parse_daily_at(&self.daily_at).or_else(|| parse_daily_at(DEFAULT_DAILY_AT)).unwrap_or(NaiveTime::MIN)
    }

    pub fn login_base(&self) -> &str {
        self.login_base.as_deref().unwrap_or("https://login.microsoftonline.com/")
    }

    pub fn graph_base(&self) -> &str {
        self.graph_base.as_deref().unwrap_or("https://graph.microsoft.com/v1.0/")
    }
}

pub fn parse_daily_at(raw: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M").ok()
}

/// Custom mappings as an admin types them, one per line: `employeeId → custom.employee_id`
/// (`->` and `=` work too). Blank lines and lines starting with `#` are skipped.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let split = ["→", "->", "="].iter().find_map(|sep| line.split_once(sep));
        let Some((source, target)) = split else {
            return Err(format!("line {}: write a mapping as `source → target`, e.g. `employeeId → custom.employee_id`", number + 1));
        };
        let source = source.trim();
        if source.is_empty() || source.contains(char::is_whitespace) {
            return Err(format!("line {}: '{source}' is not a Graph property name", number + 1));
        }
        let Some(target) = Target::parse(target) else {
            return Err(format!(
                "line {}: '{}' is not a field; use email, first_name, last_name, job_title, department, location, language, hire_date or custom.<name>",
                number + 1,
                target.trim()
            ));
        };
        rules.push(Rule { source: source.to_owned(), target });
    }
    Ok(rules)
}

/// Rules shown back to the admin, one per line.
pub fn format_rules(rules: &[Rule]) -> String {
    rules.iter().map(|r| format!("{} → {}", r.source, r.target.label())).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_typed_and_refuse_nonsense() {
        let rules =
            parse_rules("employeeId → custom.employee_id\n\n# note\ncostCenter -> custom.cost_centre\nmobilePhone=job_title").unwrap_or_default();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].target, Target::Custom("employee_id".into()));
        assert_eq!(format_rules(&rules[..1]), "employeeId → custom.employee_id");
        assert!(parse_rules("employeeId").is_err());
        assert!(parse_rules("employeeId → shoe_size").is_err());
        assert!(parse_rules("employee id → custom.x").is_err());
    }

    #[test]
    fn settings_default_to_managers_on_and_three_in_the_morning() {
        let settings: EntraSettings =
            serde_json::from_value(serde_json::json!({"group_id": "g", "client_id": "c"})).unwrap_or_else(|_| EntraSettings::new("x", "y"));
        assert!(settings.manage_managers && !settings.invite && !settings.photos);
        assert_eq!(settings.daily_time(), NaiveTime::from_hms_opt(3, 0, 0).unwrap_or(NaiveTime::MIN));
        assert_eq!(parse_daily_at("25:00"), None);
    }
}
