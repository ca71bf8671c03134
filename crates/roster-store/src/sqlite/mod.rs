//! The embedded default: SQLite in a data directory, in WAL mode, one process. Writers take
//! the database lock up front (`BEGIN IMMEDIATE`), so a transaction never fails half-way to
//! upgrade its lock; the busy timeout makes other writers wait instead of failing.

use crate::common::apply::RowLimits;
use crate::{StoreError, StoreResult};
use chrono::{DateTime, SecondsFormat, Utc};
use roster_core::OrgId;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::Row;
use std::path::Path;
use std::time::Duration;

type Db = sqlx::Sqlite;
type DbRow = SqliteRow;
type DbPool = SqlitePool;
type DbTx = sqlx::Transaction<'static, Db>;

/// SQLite's default limit on bind parameters in one statement.
const MAX_BINDS: usize = 32_766;
/// SQLite's planner scans a bulk update's values once per updated row (it will not hash
/// them), so its batches stay short.
const ROW_LIMITS: RowLimits = RowLimits::new(MAX_BINDS, 200);
/// One writer at a time already, so claiming needs no row locks.
/// How a JSON column is read as text, and text written back to it.
const JSON_TEXT: &str = "";
const TEXT_JSON: &str = "";
/// Where NULLs go in an ascending and a descending sort: first, then last, on both backends.
const NULLS_FIRST: &str = "";
const NULLS_LAST: &str = "";
const CLAIM_LOCK: &str = "";
/// SQLite plans those reads with the primary key already.
const REFRESH_STATISTICS: &str = "";
/// How SCIM filters reach into stored JSON on this backend.
const SCIM_DIALECT: crate::common::scim_filter::Dialect = crate::common::scim_filter::Dialect::Sqlite;

/// Timestamps are text with a fixed six-digit fraction and a `Z`, so that comparing the text
/// compares the times (sqlx's own encoding drops trailing zeros, which breaks that).
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn begin_write(pool: &DbPool) -> StoreResult<DbTx> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// In WAL mode a deferred transaction reads one consistent snapshot.
async fn begin_read(pool: &DbPool) -> StoreResult<DbTx> {
    Ok(pool.begin().await?)
}

/// `BEGIN IMMEDIATE` already serialises writers.
async fn lock_org(_tx: &mut DbTx, _org: OrgId) -> StoreResult<()> {
    Ok(())
}

/// SQLite's planner works from statistics, and real ones go stale at the worst time: measured
/// on a small directory, they tell it that `people` has a handful of rows during the very
/// import that makes it 100,000, and it then joins a batch update by scanning everyone once per
/// row of the batch. So the statistics of Roster's tables are pinned to the shape of a large
/// organisation (see `planner_stats.sql`) at every migration and never measured: plans are the
/// same whatever the size of the data, and they are the plans a large directory needs.
const PLANNER_STATS: &str = include_str!("planner_stats.sql");

/// One of the pinned rows, to tell whether an ANALYZE has replaced them since.
const PINNED_MARK: (&str, &str) = ("people_title_sort", "1000000 100000 50 2 1");

async fn pin_planner_statistics(pool: &DbPool) -> StoreResult<()> {
    // One connection throughout: reading the statistics loads them into the connection that
    // reads, which must then be the one that reloads them.
    let mut conn = pool.acquire().await?;
    let current: Result<Option<String>, _> =
        sqlx::query_scalar("SELECT stat FROM sqlite_stat1 WHERE idx = $1").bind(PINNED_MARK.0).fetch_optional(&mut *conn).await;
    if matches!(current, Ok(Some(stat)) if stat == PINNED_MARK.1) {
        return Ok(());
    }
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
    // Creates sqlite_stat1 when it does not exist yet.
    sqlx::query("ANALYZE sqlite_schema").execute(&mut *tx).await?;
    sqlx::query(PLANNER_STATS).execute(&mut *tx).await?;
    // Reload them into this connection's planner; others load them when they open.
    sqlx::query("ANALYZE sqlite_schema").execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The statistics are pinned, not measured (see `PLANNER_STATS`).
async fn refresh_statistics(_pool: &DbPool) {}

/// The directory (0700, when created here) and the database file (0600) are the owner's alone:
/// they hold password hashes and sealed secrets. SQLite gives its `-wal` and `-shm` files the
/// mode of the database file; existing database files are tightened too.
async fn restrict_to_owner(data_dir: &Path, database: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let (dir, db) = (data_dir.to_owned(), database.to_owned());
    tokio::task::spawn_blocking(move || {
        // Only a directory made here is narrowed: an existing one may be shared on purpose.
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&db)?;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600))?;
        for suffix in ["-wal", "-shm"] {
            let mut side = db.clone().into_os_string();
            side.push(suffix);
            if std::path::Path::new(&side).exists() {
                std::fs::set_permissions(&side, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Open (creating when missing) `roster.db` in `data_dir`, creating the directory too.
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        let database = data_dir.join("roster.db");
        restrict_to_owner(data_dir, &database).await.map_err(|e| StoreError::from(sqlx::Error::Io(e)))?;
        let options = SqliteConnectOptions::new()
            .filename(&database)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // 32 MB of page cache per connection keeps the people indexes in memory during
            // large imports.
            .pragma("cache_size", "-32000")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        // Before any other connection loads the statistics; on a new database they wait for
        // the tables the migrations create. A database busy with a long write is served with
        // the statistics it has; the next start or migration pins them.
        if let Err(error) = pin_planner_statistics(&pool).await {
            tracing::warn!(%error, "could not pin the query planner's statistics");
        }
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl_reads!(SqliteStore);
impl_writes!(SqliteStore);
impl_apply!(SqliteStore);
impl_connections!(SqliteStore);
impl_scim!(SqliteStore);
impl_jobs!(SqliteStore);
impl_runs!(SqliteStore);
impl_sso!(SqliteStore);
impl_throttle!(SqliteStore);
impl_erase!(SqliteStore);
impl_team_managers!(SqliteStore);
impl_webhooks!(SqliteStore);
impl_idempotency!(SqliteStore);
impl_okta_hooks!(SqliteStore);
impl_entra_live!(SqliteStore);

#[async_trait::async_trait]
impl crate::Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
        pin_planner_statistics(&self.pool).await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
