//! What went wrong in storage, as kinds callers decide on (never by reading a message).

/// The uniqueness rule a `Conflict` broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// A person's e-mail address within the organisation.
    Email,
    /// A connection's external id, linked to one person.
    SourceLink,
    /// A team's name (case-insensitive) within the organisation.
    TeamName,
    /// An organisation's slug.
    OrgSlug,
    /// A SCIM User's userName (case-insensitive) within the organisation.
    ScimUserName,
    /// A SCIM Group's displayName (case-insensitive) within the organisation.
    ScimGroupName,
    /// A person provisioned by two SCIM Users.
    ScimPerson,
    /// One connection of a kind an organisation may have once (one Entra tenant).
    OneConnection,
    /// A record with the same key or digest (a token, a job, a request).
    Key,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; `unique` says which, the message says it in words.
    #[error("conflict: {message}")]
    Conflict { unique: Unique, message: String },
    /// A plan referred to something that is not there (a person or team of another organisation).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request cannot be met as asked (a team made its own ancestor, a filter the store
    /// cannot compile); the message says why.
    #[error("{0}")]
    Invalid(String),
    /// Another writer changed the same rows at the same time (a serialization failure, a
    /// deadlock, a lock held too long): trying again may succeed.
    #[error("concurrent change: {0}")]
    Race(String),
    /// The database cannot be reached, or no connection was free in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a `Conflict` of [`Unique::TeamName`] says.
pub const TEAM_NAME_TAKEN: &str = "a team with that name already exists in this organisation";

impl StoreError {
    pub fn conflict(unique: Unique, message: impl Into<String>) -> Self {
        StoreError::Conflict { unique, message: message.into() }
    }

    /// Which uniqueness rule was broken, if this is a conflict.
    pub fn unique(&self) -> Option<Unique> {
        match self {
            StoreError::Conflict { unique, .. } => Some(*unique),
            _ => None,
        }
    }

    /// The plan raced another writer to create the same team: planning again (with that team
    /// now in the snapshot) succeeds, so callers that write single records retry.
    pub fn is_team_race(&self) -> bool {
        self.unique() == Some(Unique::TeamName)
    }

    /// Trying the same thing again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Race(_) | StoreError::Unavailable(_))
    }
}

/// Errors that reach `?` without a context: the kinds that need none are recognised here
/// (unreachable database, races); uniqueness and references go through `common::classify`,
/// which names what was taken.
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        crate::common::classify(error, "")
    }
}
