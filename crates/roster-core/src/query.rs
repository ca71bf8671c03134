//! How people are searched: one filter shape shared by the admin pages, the REST API and, in
//! time, SCIM. The store compiles it to SQL in one place.

use crate::email::Email;
use crate::ids::{TeamId, UserId};
use crate::person::{Role, Status};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonFilter {
    And(Vec<PersonFilter>),
    Or(Vec<PersonFilter>),
    Not(Box<PersonFilter>),
    Status(Status),
    Role(Role),
    /// Primary or secondary member of the team.
    Team(TeamId),
    EmailIs(Email),
    ExternalIdIs(String),
    ManagerIs(UserId),
    /// Case-insensitive prefix of the e-mail, first name, last name or full name.
    TextPrefix(String),
}

impl PersonFilter {
    /// All of `filters`, or no condition at all when empty.
    pub fn all(filters: Vec<PersonFilter>) -> Option<PersonFilter> {
        match filters.len() {
            0 => None,
            1 => filters.into_iter().next(),
            _ => Some(PersonFilter::And(filters)),
        }
    }
}

/// The largest page any surface may ask for.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The column people are sorted by; ties are broken by name, then id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    Name,
    Email,
    JobTitle,
    /// The primary team's name; people without one come first.
    Team,
    Role,
    Status,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [SortKey::Name, SortKey::Email, SortKey::JobTitle, SortKey::Team, SortKey::Role, SortKey::Status];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Email => "email",
            SortKey::JobTitle => "job_title",
            SortKey::Team => "team",
            SortKey::Role => "role",
            SortKey::Status => "status",
        }
    }
}

impl std::str::FromStr for SortKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SortKey::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not a sort column (name, email, job_title, team, role, status)"))
    }
}

/// A sort column and its direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PersonSort {
    pub key: SortKey,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonQuery {
    pub filter: Option<PersonFilter>,
    /// Zero-based offset into the sorted results.
    pub offset: u64,
    pub limit: u32,
    /// Also count every match (costs a second query).
    pub with_total: bool,
    pub sort: PersonSort,
}

impl PersonQuery {
    pub fn new(filter: Option<PersonFilter>, offset: u64, limit: u32) -> Self {
        Self { filter, offset, limit: limit.clamp(1, MAX_PAGE_SIZE), with_total: true, sort: PersonSort::default() }
    }

    pub fn sorted(self, sort: PersonSort) -> Self {
        Self { sort, ..self }
    }
}
