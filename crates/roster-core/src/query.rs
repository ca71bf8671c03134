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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonQuery {
    pub filter: Option<PersonFilter>,
    /// Zero-based offset into the sorted results (name, then id).
    pub offset: u64,
    pub limit: u32,
    /// Also count every match (costs a second query).
    pub with_total: bool,
}

impl PersonQuery {
    pub fn new(filter: Option<PersonFilter>, offset: u64, limit: u32) -> Self {
        Self { filter, offset, limit: limit.clamp(1, MAX_PAGE_SIZE), with_total: true }
    }
}
