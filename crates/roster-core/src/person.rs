//! People and the fields the directory keeps about them.

use crate::email::Email;
use crate::ids::{ConnectionId, OrgId, TeamId, UserId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, not yet signed in (an invitation may or may not have gone out).
    Invited,
    Active,
    /// Kept with its history, unable to sign in. Nothing is ever deleted by a sync.
    Deactivated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Learner,
    Manager,
    Admin,
    Owner,
}

impl Role {
    /// Owners and admins configure the organisation: settings, integrations, imports, API keys.
    pub fn can_administer(self) -> bool {
        matches!(self, Role::Admin | Role::Owner)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a {what}; expected one of: {expected}")]
pub struct UnknownVariant {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! text_enum {
    ($ty:ty, $what:literal, $($variant:path => $text:literal),+) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($variant => $text),+ }
            }
        }
        impl FromStr for $ty {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($variant),)+
                    _ => Err(UnknownVariant { what: $what, value: s.to_owned(), expected: concat!($($text, " "),+) }),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(Status, "status", Status::Invited => "invited", Status::Active => "active", Status::Deactivated => "deactivated");
text_enum!(Role, "role", Role::Learner => "learner", Role::Manager => "manager", Role::Admin => "admin", Role::Owner => "owner");

/// The fields an identity provider or an import may set. Everything here is "provisioned":
/// a source that manages a person overwrites manual edits to these fields on its next run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub first_name: String,
    pub last_name: String,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub location: Option<String>,
    pub language: Option<String>,
    pub hire_date: Option<NaiveDate>,
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
}

impl Profile {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).trim().to_owned()
    }

    /// The fields that differ from `other`, by name: what an audit row and a run report show.
    pub fn changed_fields(&self, other: &Profile) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut check = |name, differs: bool| {
            if differs {
                changed.push(name);
            }
        };
        check("first_name", self.first_name != other.first_name);
        check("last_name", self.last_name != other.last_name);
        check("job_title", self.job_title != other.job_title);
        check("department", self.department != other.department);
        check("location", self.location != other.location);
        check("language", self.language != other.language);
        check("hire_date", self.hire_date != other.hire_date);
        check("custom_fields", self.custom_fields != other.custom_fields);
        changed
    }
}

/// Where a person comes from: the connection that provisions them and their id there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceLink {
    pub connection: ConnectionId,
    pub external_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: UserId,
    pub org: OrgId,
    pub email: Email,
    pub profile: Profile,
    pub status: Status,
    pub role: Role,
    pub primary_team: Option<TeamId>,
    pub secondary_teams: Vec<TeamId>,
    /// The override manager: set by hand or by a source that maps managers.
    pub manager: Option<UserId>,
    pub avatar_url: Option<String>,
    pub source: Option<SourceLink>,
    /// True once the person has accepted an invitation or signed in.
    pub activated: bool,
    /// An owner let connections manage this owner or admin. Without it a provisioning
    /// connection never links, re-addresses, deactivates or demotes an owner or an admin (see
    /// [`crate::reconcile`]); it means nothing for other roles. Absent in older data: false.
    #[serde(default)]
    pub provisioning_allowed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Person {
    /// Is this person kept from provisioning connections: an owner or an admin whom no owner
    /// let connections manage.
    pub fn is_protected_from_connections(&self) -> bool {
        self.role.can_administer() && !self.provisioning_allowed
    }

    pub fn display_name(&self) -> String {
        let name = self.profile.display_name();
        if name.is_empty() {
            self.email.to_string()
        } else {
            name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_statuses_read_their_own_names() {
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert_eq!("deactivated".parse::<Status>(), Ok(Status::Deactivated));
        assert!("boss".parse::<Role>().is_err());
        assert!(Role::Owner.can_administer() && !Role::Manager.can_administer());
    }

    #[test]
    fn changed_fields_name_each_difference() {
        let a = Profile { first_name: "Ada".into(), ..Profile::default() };
        let b = Profile { first_name: "Ada".into(), job_title: Some("CTO".into()), ..Profile::default() };
        assert_eq!(a.changed_fields(&b), vec!["job_title"]);
    }
}
