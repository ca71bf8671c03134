//! Roster's domain: the directory's types and the rules that change it. Nothing here performs
//! I/O; storage, HTTP and identity providers live in other crates and call in.

pub mod connection;
pub mod csv_export;
pub mod csv_import;
pub mod email;
pub mod feed;
pub mod guard;
pub mod ids;
pub mod managers;
pub mod mapping;
pub mod ownership;
pub mod person;
pub mod plan;
pub mod preview;
pub mod query;
pub mod reconcile;
pub mod resource;
pub mod secret;
pub mod slug;
pub mod team;
pub mod text;

pub use connection::{Connection, ConnectionKind};
pub use email::Email;
pub use ids::{ConnectionId, IdSource, OrgId, RandomIds, RunId, TeamId, UserId};
pub use person::{Person, Profile, Role, SourceLink, Status};
pub use plan::{Actor, Change, IssueKind, Plan, RecordIssue, RunReport, Via};
pub use slug::OrgSlug;
pub use team::{Team, TeamName};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A customer organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub id: OrgId,
    pub slug: OrgSlug,
    pub name: String,
    pub created_at: DateTime<Utc>,
}
