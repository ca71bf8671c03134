//! Fresh databases for tests of any crate: a SQLite directory, or a new database on the
//! PostgreSQL server named by `ROSTER_TEST_DATABASE_URL` (the test command starts one).

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::Store;
use sqlx::Connection;
use std::sync::Arc;

mod failing;
pub use failing::FailingStore;

pub const PG_URL_VAR: &str = "ROSTER_TEST_DATABASE_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A migrated store on a database of its own; `finish` removes a PostgreSQL database.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    raw: Raw,
    cleanup: Cleanup,
}

/// The store's own pool, for tests that look at every table.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

enum Cleanup {
    Dir { _dir: tempfile::TempDir },
    Postgres { server_url: String, database: String },
}

#[derive(Debug, thiserror::Error)]
pub enum TestDbError {
    #[error("{PG_URL_VAR} is not set: the PostgreSQL tests cannot run, and under CI they must")]
    MissingPostgresUnderCi,
    #[error("{0}")]
    Setup(String),
}

impl TestDb {
    /// `Ok(None)` only for PostgreSQL outside CI when no server is configured: the caller skips
    /// with a notice. Under CI a missing server is an error, so nothing is silently skipped.
    pub async fn new(backend: Backend) -> Result<Option<Self>, TestDbError> {
        match backend {
            Backend::Sqlite => Self::sqlite().await.map(Some),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn sqlite() -> Result<Self, TestDbError> {
        let dir = tempfile::tempdir().map_err(|e| TestDbError::Setup(e.to_string()))?;
        let store = SqliteStore::open(&dir.path().join("data")).await.map_err(|e| TestDbError::Setup(e.to_string()))?;
        store.migrate().await.map_err(|e| TestDbError::Setup(e.to_string()))?;
        let raw = Raw::Sqlite(store.pool().clone());
        Ok(Self { store: Arc::new(store), raw, cleanup: Cleanup::Dir { _dir: dir } })
    }

    pub async fn postgres() -> Result<Option<Self>, TestDbError> {
        let Ok(server_url) = std::env::var(PG_URL_VAR) else {
            if std::env::var_os("CI").is_some() {
                return Err(TestDbError::MissingPostgresUnderCi);
            }
            eprintln!("notice: {PG_URL_VAR} is not set; skipping a PostgreSQL test");
            return Ok(None);
        };
        let setup = |e: sqlx::Error| TestDbError::Setup(e.to_string());
        let database = format!("roster_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&server_url).await.map_err(setup)?;
        sqlx::query(&format!("CREATE DATABASE {database}")).execute(&mut admin).await.map_err(setup)?;
        admin.close().await.ok();
        let store = PgStore::connect(&with_database(&server_url, &database)).await.map_err(|e| TestDbError::Setup(e.to_string()))?;
        store.migrate().await.map_err(|e| TestDbError::Setup(e.to_string()))?;
        let raw = Raw::Postgres(store.pool().clone());
        Ok(Some(Self { store: Arc::new(store), raw, cleanup: Cleanup::Postgres { server_url, database } }))
    }

    /// The URL of this test's own PostgreSQL database, so other processes can share it.
    pub fn postgres_url(&self) -> Option<String> {
        match &self.cleanup {
            Cleanup::Postgres { server_url, database } => Some(with_database(server_url, database)),
            Cleanup::Dir { .. } => None,
        }
    }

    /// The tables with a row that holds `needle` in any column (as text, JSON included).
    pub async fn tables_mentioning(&self, needle: &str) -> Result<Vec<String>, sqlx::Error> {
        let pattern = format!("%{needle}%");
        let mut found = Vec::new();
        match &self.raw {
            Raw::Sqlite(pool) => {
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetch_all(pool).await?;
                for table in tables {
                    let columns: Vec<String> = sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')")).fetch_all(pool).await?;
                    let any = columns.iter().map(|c| format!("CAST(\"{c}\" AS TEXT) LIKE $1")).collect::<Vec<_>>().join(" OR ");
                    let hits: i64 =
                        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\" WHERE {any}")).bind(&pattern).fetch_one(pool).await?;
                    if hits > 0 {
                        found.push(table);
                    }
                }
            }
            Raw::Postgres(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
                )
                .fetch_all(pool)
                .await?;
                for table in tables {
                    let hits: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\" t WHERE t::text LIKE $1"))
                        .bind(&pattern)
                        .fetch_one(pool)
                        .await?;
                    if hits > 0 {
                        found.push(table);
                    }
                }
            }
        }
        Ok(found)
    }

    pub async fn finish(self) {
        let TestDb { store, cleanup, .. } = self;
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
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}
