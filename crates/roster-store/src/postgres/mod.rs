//! Production: PostgreSQL, shared by any number of processes. Plans of one organisation are
//! applied one at a time (a transaction-scoped advisory lock), and e-mails are claimed with
//! `FOR UPDATE SKIP LOCKED`, so no two processes send the same one.

use crate::common::apply::RowLimits;
use crate::StoreResult;
use chrono::{DateTime, Utc};
use roster_core::OrgId;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;
use std::str::FromStr;

type Db = sqlx::Postgres;
type DbRow = PgRow;
type DbPool = PgPool;
type DbTx = sqlx::Transaction<'static, Db>;

/// The protocol's limit on bind parameters in one statement.
const MAX_BINDS: usize = 65_535;
/// PostgreSQL hashes a bulk update's values, so long batches save round trips.
const ROW_LIMITS: RowLimits = RowLimits::new(MAX_BINDS, 2000);
/// How a JSON column is read as text, and text written back to it.
const JSON_TEXT: &str = "::text";
const TEXT_JSON: &str = "::jsonb";
/// Where NULLs go in an ascending and a descending sort: first, then last, on both backends.
const NULLS_FIRST: &str = " NULLS FIRST";
const NULLS_LAST: &str = " NULLS LAST";
const CLAIM_LOCK: &str = " FOR UPDATE SKIP LOCKED";
/// Run before reading back the rows a large plan has just written (see `flush_log`).
const REFRESH_STATISTICS: &str = "ANALYZE people";
/// How SCIM filters reach into stored JSON on this backend.
const SCIM_DIALECT: crate::common::scim_filter::Dialect = crate::common::scim_filter::Dialect::Postgres;

/// The first key of the advisory lock that serialises plans of one organisation.
const APPLY_LOCK_CLASS: i32 = 0x524F_5354;

fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t
}

async fn begin_write(pool: &DbPool) -> StoreResult<DbTx> {
    Ok(pool.begin().await?)
}

/// People, teams and memberships of the same moment, for a snapshot.
async fn begin_read(pool: &DbPool) -> StoreResult<DbTx> {
    Ok(pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?)
}

/// One plan per organisation at a time: plans never interleave, and event sequence numbers
/// of an organisation commit in order, so a feed reader never skips one.
async fn lock_org(tx: &mut DbTx, org: OrgId) -> StoreResult<()> {
    let (high, low) = org.as_uuid().as_u64_pair();
    let folded = high ^ low;
    // Fold 128 bits into the lock's 32-bit second key; a collision only serialises two orgs.
    let key = i32::from_ne_bytes(((folded >> 32) as u32 ^ folded as u32).to_ne_bytes());
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)").bind(APPLY_LOCK_CLASS).bind(key).execute(&mut **tx).await?;
    Ok(())
}

/// Autovacuum analyses a grown table within a minute or so; a large import does it at once.
async fn refresh_statistics(pool: &DbPool) {
    if let Err(error) = sqlx::query("ANALYZE people, team_members").execute(pool).await {
        tracing::warn!(%error, "could not refresh the query planner's statistics");
    }
}

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        // The directory's working set is small enough to stay cached, where index lookups cost
        // about what sequential reads do; the default cost (4) is tuned for spinning disks and
        // makes the planner scan 100,000 people to find a team's 2,000.
        let options = PgConnectOptions::from_str(url)?.options([("random_page_cost", "1.1")]);
        let pool = PgPoolOptions::new().max_connections(16).connect_with(options).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl_reads!(PgStore);
impl_writes!(PgStore);
impl_apply!(PgStore);
impl_connections!(PgStore);
impl_scim!(PgStore);
impl_jobs!(PgStore);
impl_runs!(PgStore);
impl_sso!(PgStore);
impl_throttle!(PgStore);
impl_erase!(PgStore);
impl_team_managers!(PgStore);
impl_webhooks!(PgStore);
impl_idempotency!(PgStore);
impl_okta_hooks!(PgStore);
impl_entra_live!(PgStore);

#[async_trait::async_trait]
impl crate::Store for PgStore {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
