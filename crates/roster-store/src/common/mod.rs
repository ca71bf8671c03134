//! What both backends share. Plain helpers and the filter compiler are ordinary generic code;
//! the store implementations themselves are `macro_rules!` templates (`reads`, `writes`,
//! `apply`) that each backend instantiates with its own pool, row and timestamp types, because
//! sqlx's generic bounds for "any database" grow unwieldy while the SQL text is the same.
//!
//! A template expects these items in the module that invokes it:
//! - `type Db`, `type DbRow`, `type DbPool`, `type DbTx = sqlx::Transaction<'static, Db>`;
//! - `fn ts(DateTime<Utc>) -> impl Encode`: how a timestamp is bound;
//! - `async fn begin_write(&DbPool) -> StoreResult<DbTx>` and `async fn lock_org(&mut DbTx, OrgId)`;
//! - `const MAX_BINDS: usize`: bind parameters allowed in one statement;
//! - `const JSON_TEXT` / `TEXT_JSON: &str`: the casts between a JSON column and text (none on SQLite).

pub(crate) mod filter;
#[macro_use]
pub(crate) mod reads;
#[macro_use]
pub(crate) mod writes;
#[macro_use]
pub(crate) mod apply;
#[macro_use]
pub(crate) mod connections;
pub(crate) mod scim_filter;
#[macro_use]
pub(crate) mod scim;
#[macro_use]
pub(crate) mod jobs;
#[macro_use]
pub(crate) mod runs;
#[macro_use]
pub(crate) mod sso;
#[macro_use]
pub(crate) mod throttle;
#[macro_use]
pub(crate) mod erase;
#[macro_use]
pub(crate) mod team_managers;
#[macro_use]
pub(crate) mod webhooks;
#[macro_use]
pub(crate) mod idempotency;
#[macro_use]
pub(crate) mod entra_live;
#[macro_use]
pub(crate) mod okta;

use crate::StoreError;
use roster_core::{Change, Email, Profile, Role, Status};

/// The sort key of a person: their lower-cased display name, or their e-mail when they have no
/// name. Lower-cased in Rust (not SQL), so both backends and every query agree on it.
pub(crate) fn sort_key(profile: &Profile, email: &Email) -> String {
    let name = profile.display_name();
    if name.is_empty() {
        email.as_str().to_owned()
    } else {
        name.to_lowercase()
    }
}

pub(crate) fn last_key(profile: &Profile) -> String {
    profile.last_name.trim().to_lowercase()
}

/// The smallest string greater than every string that starts with `prefix`, so that
/// `col >= prefix AND col < bound` is a prefix match any B-tree index can serve. None when
/// there is no such string (the prefix is all U+10FFFF); the range is then open-ended.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The change as the audit log and the event feed show it. Changes hold no secrets (an
/// invitation's link is minted when its e-mail is sent), so this is the change itself.
pub(crate) fn redacted(change: &Change) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(change).map_err(|e| StoreError::Invalid(format!("the change cannot be written to the audit log: {e}")))
}

pub(crate) fn parse_status(raw: &str) -> Result<Status, StoreError> {
    raw.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))
}

pub(crate) fn parse_role(raw: &str) -> Result<Role, StoreError> {
    raw.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))
}

pub(crate) fn corrupt(what: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

/// Turn a database error into the kind the caller can act on: a uniqueness rule into
/// `Conflict` naming what is taken, a broken reference into `NotFound` with `context`, a lost
/// race into `Race`, an unreachable database into `Unavailable`.
pub(crate) fn classify(error: sqlx::Error, context: &str) -> StoreError {
    let context = if context.is_empty() { String::new() } else { format!("{context}: ") };
    let db = match &error {
        sqlx::Error::Database(db) => db,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            return StoreError::Unavailable(error.to_string());
        }
        _ => return StoreError::Database(error),
    };
    // PostgreSQL names the constraint; SQLite names the columns in its message.
    let subject = db.constraint().unwrap_or_else(|| db.message()).to_owned();
    let detail = pg_detail(db.as_ref()).map(|d| format!(" ({d})")).unwrap_or_default();
    if db.is_unique_violation() {
        let (unique, what) = unique_rule(&subject);
        return StoreError::conflict(unique, format!("{context}{what}{detail}"));
    }
    if db.is_foreign_key_violation() {
        return StoreError::NotFound(format!("{context}it refers to a person or team that is not in this organisation{detail}"));
    }
    // PostgreSQL: serialization_failure, deadlock_detected, lock_not_available. SQLite: the
    // database stayed busy or locked past the busy timeout.
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    if matches!(code.as_str(), "40001" | "40P01" | "55P03" | "5" | "6" | "517" | "262") {
        return StoreError::Race(format!("{context}{}", db.message()));
    }
    StoreError::Database(error)
}

/// The rule a unique index or constraint stands for, from its name (PostgreSQL) or its
/// columns (SQLite), and what to tell the person.
pub(crate) fn unique_rule(subject: &str) -> (crate::Unique, &'static str) {
    use crate::Unique;
    if subject.contains("scim") && subject.contains("user_name") {
        (Unique::ScimUserName, crate::SCIM_USER_NAME_TAKEN)
    } else if subject.contains("scim") && subject.contains("display_name") {
        (Unique::ScimGroupName, crate::SCIM_GROUP_NAME_TAKEN)
    } else if subject.contains("scim") && subject.contains("person") {
        (Unique::ScimPerson, "that person is already provisioned by another SCIM User")
    } else if subject.contains("email") {
        (Unique::Email, "that e-mail address already belongs to another person in this organisation")
    } else if subject.contains("source") {
        (Unique::SourceLink, "that external id of this connection is already linked to another person")
    } else if subject.contains("name_key") {
        (Unique::TeamName, crate::TEAM_NAME_TAKEN)
    } else if subject.contains("slug") {
        (Unique::OrgSlug, "that organisation slug is taken")
    } else {
        (Unique::Key, "a record with that key already exists")
    }
}

fn pg_detail(db: &dyn sqlx::error::DatabaseError) -> Option<String> {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().and_then(|e| e.detail()).map(str::to_owned)
}

/// Rows per multi-row statement for a table of `columns` columns, under the backend's limit.
pub(crate) const fn rows_per_statement(max_binds: usize, columns: usize) -> usize {
    let rows = max_binds / columns;
    if rows > 2000 {
        2000
    } else {
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds_close_the_prefix_range() {
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a%").as_deref(), Some("a&"));
        assert_eq!(prefix_upper_bound("z\u{10FFFF}").as_deref(), Some("{"));
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound(""), None);
    }

    #[test]
    fn nameless_people_sort_by_email() {
        let email = Email::parse("Zed@Example.com").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(sort_key(&Profile::default(), &email), "zed@example.com");
        let profile = Profile { first_name: "Émile".into(), last_name: "Zola".into(), ..Profile::default() };
        assert_eq!(sort_key(&profile, &email), "émile zola");
        assert_eq!(last_key(&profile), "zola");
    }
}
