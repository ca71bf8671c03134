//! Mapping: how a source record (a Graph user, a SCIM resource, an Okta profile, kept verbatim)
//! becomes a desired person. Each source has a default mapping (the help articles' tables); an
//! admin adds rules, e.g. Graph's `employeeId` to a custom field, without a developer.

use crate::email::Email;
use crate::person::Profile;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A field of the directory a rule can fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", content = "name", rename_all = "snake_case")]
pub enum Target {
    Email,
    FirstName,
    LastName,
    JobTitle,
    /// Also the primary team.
    Department,
    Location,
    Language,
    HireDate,
    Custom(String),
}

impl Target {
    /// Parse the form an admin types: `job_title`, or `custom.<name>`.
    pub fn parse(raw: &str) -> Option<Target> {
        let raw = raw.trim();
        Some(match raw {
            "email" => Target::Email,
            "first_name" => Target::FirstName,
            "last_name" => Target::LastName,
            "job_title" => Target::JobTitle,
            "department" => Target::Department,
            "location" => Target::Location,
            "language" => Target::Language,
            "hire_date" => Target::HireDate,
            other => {
                let name = other.strip_prefix("custom.")?.trim();
                if name.is_empty() || name.len() > 64 {
                    return None;
                }
                Target::Custom(name.to_owned())
            }
        })
    }

    pub fn label(&self) -> String {
        match self {
            Target::Email => "email".into(),
            Target::FirstName => "first_name".into(),
            Target::LastName => "last_name".into(),
            Target::JobTitle => "job_title".into(),
            Target::Department => "department".into(),
            Target::Location => "location".into(),
            Target::Language => "language".into(),
            Target::HireDate => "hire_date".into(),
            Target::Custom(name) => format!("custom.{name}"),
        }
    }
}

/// One rule: the value at `source` (a dotted path into the record; a path segment may be a URN
/// such as SCIM's enterprise extension) fills `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub source: String,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mapping {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the record has no usable e-mail address ({0})")]
    NoEmail(String),
}

impl Mapping {
    pub fn new(rules: &[(&str, Target)]) -> Self {
        Self { rules: rules.iter().map(|(s, t)| Rule { source: (*s).to_owned(), target: t.clone() }).collect() }
    }

    /// The default mapping with `extra` rules after it; a later rule for the same target wins.
    pub fn with_extra(mut self, extra: &[Rule]) -> Self {
        self.rules.extend(extra.iter().cloned());
        self
    }

    /// The source attributes the rules read, so a client can ask only for those.
    pub fn sources(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.source.as_str()).collect()
    }

    /// Read a record into an e-mail address and a profile.
    pub fn apply(&self, record: &Value) -> Result<(Email, Profile), MappingError> {
        let mut email = None;
        let mut profile = Profile::default();
        for rule in &self.rules {
            let value = lookup(record, &rule.source).and_then(as_text);
            match &rule.target {
                Target::Email => {
                    if let Some(v) = value {
                        email = Some(v);
                    }
                }
                Target::FirstName => profile.first_name = value.unwrap_or_default(),
                Target::LastName => profile.last_name = value.unwrap_or_default(),
                Target::JobTitle => profile.job_title = value,
                Target::Department => profile.department = value,
                Target::Location => profile.location = value,
                Target::Language => profile.language = value,
                Target::HireDate => profile.hire_date = value.as_deref().and_then(parse_date),
                Target::Custom(name) => {
                    match value {
                        Some(v) => profile.custom_fields.insert(name.clone(), v),
                        None => profile.custom_fields.remove(name),
                    };
                }
            }
        }
        let raw = email.unwrap_or_default();
        let email = Email::parse(&raw).map_err(|e| MappingError::NoEmail(e.to_string()))?;
        Ok((email, profile))
    }
}

/// Follow a dotted path. A segment that is a URN (it contains ':') is looked up whole, so
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department` works although the
/// URN itself contains a dot in `2.0`.
pub fn lookup<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(value) = record.get(path) {
        return Some(value);
    }
    if let Some((urn, rest)) = split_urn(path) {
        return lookup(record.get(urn)?, rest);
    }
    let (head, rest) = path.split_once('.')?;
    lookup(record.get(head)?, rest)
}

fn split_urn(path: &str) -> Option<(&str, &str)> {
    if !path.starts_with("urn:") {
        return None;
    }
    // The attribute part follows the last ':'; its first dot ends the URN.
    let last_colon = path.rfind(':')?;
    let dot = path[last_colon..].find('.')? + last_colon;
    Some((&path[..dot], &path[dot + 1..]))
}

/// Text of a scalar; empty strings and nulls are absent.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Dates arrive as `2024-03-01` or as a full timestamp (`2024-03-01T00:00:00Z`).
fn parse_date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw.get(..10)?, "%Y-%m-%d").ok()
}

/// The Entra ID mapping of the help articles' table.
pub fn entra_default() -> Mapping {
    Mapping::new(&[
        ("userPrincipalName", Target::Email),
        ("givenName", Target::FirstName),
        ("surname", Target::LastName),
        ("jobTitle", Target::JobTitle),
        ("department", Target::Department),
        ("officeLocation", Target::Location),
        ("preferredLanguage", Target::Language),
        ("employeeHireDate", Target::HireDate),
    ])
}

/// An Okta user's profile (the standard Okta profile's names): login or e-mail to the address
/// (the e-mail wins when both are set), names, title, department, location and language.
pub fn okta_default() -> Mapping {
    Mapping::new(&[
        ("login", Target::Email),
        ("email", Target::Email),
        ("firstName", Target::FirstName),
        ("lastName", Target::LastName),
        ("title", Target::JobTitle),
        ("department", Target::Department),
        ("city", Target::Location),
        ("preferredLanguage", Target::Language),
    ])
}

/// The SCIM core and enterprise attributes Okta and Entra send.
pub fn scim_default() -> Mapping {
    Mapping::new(&[
        ("userName", Target::Email),
        ("name.givenName", Target::FirstName),
        ("name.familyName", Target::LastName),
        ("title", Target::JobTitle),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department", Target::Department),
        ("preferredLanguage", Target::Language),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn graph_users_map_through_the_default_table_and_custom_rules() {
        let user = json!({
            "id": "u1", "userPrincipalName": "Adele.Vance@Contoso.com", "givenName": "Adele", "surname": "Vance",
            "jobTitle": "Retail Manager", "department": "Retail", "officeLocation": "18/2111", "preferredLanguage": "en-US",
            "employeeHireDate": "2021-03-01T00:00:00Z", "employeeId": "E-1001", "mail": null
        });
        let mapping = entra_default().with_extra(&[Rule { source: "employeeId".into(), target: Target::Custom("employee_id".into()) }]);
        let (email, profile) = mapping.apply(&user).unwrap();
        assert_eq!(email.as_str(), "adele.vance@contoso.com");
        assert_eq!(profile.department.as_deref(), Some("Retail"));
        assert_eq!(profile.hire_date, NaiveDate::from_ymd_opt(2021, 3, 1));
        assert_eq!(profile.custom_fields.get("employee_id").map(String::as_str), Some("E-1001"));
    }

    #[test]
    fn scim_paths_reach_into_the_enterprise_extension() {
        let user = json!({
            "userName": "kim@x.com", "name": {"givenName": "Kim", "familyName": "Lee"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "employeeNumber": "7"}
        });
        let mapping = scim_default().with_extra(&[Rule {
            source: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.employeeNumber".into(),
            target: Target::Custom("employee_number".into()),
        }]);
        let (email, profile) = mapping.apply(&user).unwrap();
        assert_eq!(email.as_str(), "kim@x.com");
        assert_eq!(profile.last_name, "Lee");
        assert_eq!(profile.department.as_deref(), Some("Sales"));
        assert_eq!(profile.custom_fields.get("employee_number").map(String::as_str), Some("7"));
    }

    #[test]
    fn records_without_an_address_are_refused_and_blanks_are_absent() {
        assert!(entra_default().apply(&json!({"givenName": "No"})).is_err());
        let (_, profile) = entra_default().apply(&json!({"userPrincipalName": "a@b.c", "jobTitle": "  "})).unwrap();
        assert_eq!(profile.job_title, None);
    }

    #[test]
    fn targets_read_as_admins_type_them() {
        assert_eq!(Target::parse("custom.employee_id"), Some(Target::Custom("employee_id".into())));
        assert_eq!(Target::parse("job_title"), Some(Target::JobTitle));
        assert_eq!(Target::parse("custom."), None);
        assert_eq!(Target::parse("shoe_size"), None);
    }
}
