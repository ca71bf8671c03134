//! Fresh databases per test, and small builders for plans.

use chrono::{DateTime, TimeZone, Utc};
use roster_core::plan::{MailedToken, NewPerson};
use roster_core::{Actor, Change, Email, Org, OrgId, OrgSlug, Plan, Profile, Role, Status, TeamId, TeamName, UserId};
use roster_store::postgres::PgStore;
use roster_store::sqlite::SqliteStore;
use roster_store::Store;
use sqlx::Connection;
use std::sync::Arc;
use uuid::Uuid;

pub const PG_URL_VAR: &str = "ROSTER_TEST_DATABASE_URL";

/// A store on a database of its own, removed when the test is done.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Held so the directory lives as long as the store.
    Dir { _dir: tempfile::TempDir },
    Postgres { server_url: String, database: String },
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(&dir.path().join("data")).await.expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        Self { store: Arc::new(store), cleanup: Cleanup::Dir { _dir: dir } }
    }

    /// A new database on the server named by `ROSTER_TEST_DATABASE_URL`. None (the test is
    /// skipped with a notice) when it is unset, except under CI, where that is a failure.
    pub async fn postgres() -> Option<Self> {
        let Ok(server_url) = std::env::var(PG_URL_VAR) else {
            if std::env::var_os("CI").is_some() {
                panic!("{PG_URL_VAR} is not set: the PostgreSQL store tests cannot run, and under CI they must");
            }
            eprintln!("notice: {PG_URL_VAR} is not set; skipping a PostgreSQL store test");
            return None;
        };
        let database = format!("roster_t_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&server_url).await.expect("connect to the PostgreSQL test server");
        sqlx::query(&format!("CREATE DATABASE {database}")).execute(&mut admin).await.expect("create a test database");
        admin.close().await.ok();
        let store = PgStore::connect(&with_database(&server_url, &database)).await.expect("connect to the test database");
        store.migrate().await.expect("migrate PostgreSQL");
        Some(Self { store: Arc::new(store), cleanup: Cleanup::Postgres { server_url, database } })
    }

    pub async fn finish(self) {
        let TestDb { store, cleanup } = self;
        drop(store);
        if let Cleanup::Postgres { server_url, database } = cleanup {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&server_url).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).execute(&mut admin).await;
            }
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("a valid time")
}

pub fn email(s: &str) -> Email {
    Email::parse(s).expect("a valid address")
}

pub fn uid() -> UserId {
    UserId::from_uuid(Uuid::now_v7())
}

pub fn tid() -> TeamId {
    TeamId::from_uuid(Uuid::now_v7())
}

pub async fn new_org(store: &dyn Store, slug: &str) -> OrgId {
    let org = Org { id: OrgId::from_uuid(Uuid::now_v7()), slug: OrgSlug::parse(slug).expect("slug"), name: slug.to_uppercase(), created_at: now() };
    store.create_org(&org).await.expect("create org");
    org.id
}

pub fn profile(first: &str, last: &str) -> Profile {
    Profile { first_name: first.into(), last_name: last.into(), ..Profile::default() }
}

pub fn new_person(address: &str, first: &str, last: &str) -> NewPerson {
    NewPerson {
        id: uid(),
        email: email(address),
        profile: profile(first, last),
        role: Role::Learner,
        status: Status::Invited,
        primary_team: None,
        source: None,
    }
}

pub fn create(person: &NewPerson) -> Change {
    Change::CreatePerson { person: person.clone() }
}

pub fn create_team(id: TeamId, name: &str) -> Change {
    Change::CreateTeam { id, name: TeamName::parse(name).expect("team name") }
}

pub fn invite(person: &NewPerson, raw: &str) -> Change {
    Change::Invite {
        id: person.id,
        email: person.email.clone(),
        name: person.profile.display_name(),
        token: MailedToken { raw: raw.into(), expires_at: now() + chrono::Duration::days(14) },
    }
}

pub fn plan(org: OrgId, changes: Vec<Change>) -> Plan {
    let mut plan = Plan::new(org, Actor::System);
    plan.changes = changes;
    plan
}

/// Apply a plan that must succeed.
pub async fn apply(store: &dyn Store, org: OrgId, changes: Vec<Change>) {
    store.apply(&plan(org, changes), now()).await.expect("the plan applies");
}

/// Create one person in `org` and return them.
pub async fn person_in(store: &dyn Store, org: OrgId, address: &str) -> NewPerson {
    let person = new_person(address, "Test", address);
    apply(store, org, vec![create(&person)]).await;
    person
}
