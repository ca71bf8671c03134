//! Jobs and leases, written once for both backends.

pub(crate) const JOB_COLUMNS: &str =
    "id, org_id, kind, payload, dedup_key, run_at, claimed_until, attempts, last_error, status, created_at, finished_at";

/// Due jobs of one kind, marked running in the same statement: first those of organisations
/// with the least work running (so one organisation's backlog cannot starve the others), then
/// oldest first. `lock` is PostgreSQL's `FOR UPDATE SKIP LOCKED` (concurrent claimers skip each
/// other's rows) or empty on SQLite, where one writer at a time already serialises claims.
pub(crate) fn claim_jobs_sql(lock: &str) -> String {
    format!(
        "WITH due AS MATERIALIZED (SELECT j.id FROM jobs j \
         WHERE j.kind = $4 AND ((j.status = 'pending' AND j.run_at <= $1) OR (j.status = 'running' AND j.claimed_until <= $1)) \
         ORDER BY (SELECT COUNT(*) FROM jobs busy WHERE busy.org_id = j.org_id AND busy.status = 'running' AND busy.claimed_until > $1), \
         j.run_at, j.id LIMIT $3{lock}) \
         UPDATE jobs SET status = 'running', claimed_until = $2, attempts = attempts + 1 WHERE id IN (SELECT id FROM due) \
         RETURNING {JOB_COLUMNS}"
    )
}

/// Instantiates `JobStore` for `$store`; the backend provides `CLAIM_LOCK`.
macro_rules! impl_jobs {
    ($store:ident) => {
        use $crate::common::jobs::JOB_COLUMNS;

        fn job_from_row(row: &DbRow) -> $crate::StoreResult<$crate::Job> {
            let payload: sqlx::types::Json<serde_json::Value> = row.try_get("payload").map_err($crate::common::corrupt("job payload"))?;
            let status: String = row.try_get("status")?;
            let attempts: i32 = row.try_get("attempts")?;
            Ok($crate::Job {
                id: row.try_get("id")?,
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                kind: row.try_get("kind")?,
                payload: payload.0,
                dedup_key: row.try_get("dedup_key")?,
                run_at: row.try_get("run_at")?,
                claimed_until: row.try_get("claimed_until")?,
                attempts: u32::try_from(attempts).map_err(|e| $crate::StoreError::Corrupt(format!("job attempts {attempts}: {e}")))?,
                last_error: row.try_get("last_error")?,
                status: status.parse().map_err($crate::StoreError::Corrupt)?,
                created_at: row.try_get("created_at")?,
                finished_at: row.try_get("finished_at")?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::JobStore for $store {
            async fn enqueue_job(&self, job: &$crate::NewJob) -> $crate::StoreResult<$crate::Enqueued> {
                // Two rounds: the live duplicate we collided with may finish before we read it.
                for _ in 0..2 {
                    let inserted = sqlx::query(&format!(
                        "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, 0, NULL, 'pending', $7, NULL) ON CONFLICT DO NOTHING"
                    ))
                    .bind(job.id)
                    .bind(job.org.as_uuid())
                    .bind(&job.kind)
                    .bind(sqlx::types::Json(&job.payload))
                    .bind(&job.dedup_key)
                    .bind(ts(job.run_at))
                    .bind(ts(job.created_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::common::classify(e, "job"))?;
                    if inserted.rows_affected() > 0 {
                        return Ok($crate::Enqueued::New(job.id));
                    }
                    let Some(key) = &job.dedup_key else {
                        return Err($crate::StoreError::conflict($crate::Unique::Key, format!("job {} exists already", job.id)));
                    };
                    let existing = sqlx::query("SELECT id FROM jobs WHERE dedup_key = $1 AND status IN ('pending', 'running')")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                    if let Some(row) = existing {
                        return Ok($crate::Enqueued::Existing(row.try_get("id")?));
                    }
                }
                Err($crate::StoreError::Race(format!("job {} could not be queued; try again", job.id)))
            }

            async fn claim_jobs(
                &self,
                kind: &str,
                limit: u32,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<Vec<$crate::Job>> {
                let sql = $crate::common::jobs::claim_jobs_sql(CLAIM_LOCK);
                let rows = sqlx::query(&sql).bind(ts(now)).bind(ts(lease_until)).bind(i64::from(limit)).bind(kind).fetch_all(&self.pool).await?;
                let mut jobs = rows.iter().map(job_from_row).collect::<$crate::StoreResult<Vec<_>>>()?;
                jobs.sort_by_key(|j| (j.run_at, j.id));
                Ok(jobs)
            }

            async fn extend_job_lease(&self, id: uuid::Uuid, lease_until: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let done = sqlx::query("UPDATE jobs SET claimed_until = $2 WHERE id = $1 AND status = 'running'")
                    .bind(id)
                    .bind(ts(lease_until))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn finish_job(&self, id: uuid::Uuid, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE jobs SET status = 'succeeded', claimed_until = NULL, finished_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(ts(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn fail_job(
                &self,
                id: uuid::Uuid,
                error: &str,
                retry_at: Option<chrono::DateTime<chrono::Utc>>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                let query = match retry_at {
                    Some(at) => sqlx::query("UPDATE jobs SET status = 'pending', claimed_until = NULL, last_error = $2, run_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(error)
                        .bind(ts(at)),
                    None => sqlx::query("UPDATE jobs SET status = 'failed', claimed_until = NULL, last_error = $2, finished_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(error)
                        .bind(ts(now)),
                };
                query.execute(&self.pool).await?;
                Ok(())
            }

            async fn job(&self, id: uuid::Uuid) -> $crate::StoreResult<Option<$crate::Job>> {
                let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(job_from_row).transpose()
            }

            async fn try_lease(
                &self,
                name: &str,
                holder: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<bool> {
                // The conditional upsert is one atomic statement on both backends: of two
                // contenders for an expired lease, the second sees the first's row and fails.
                let taken = sqlx::query(
                    "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $4) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE leases.holder = excluded.holder OR leases.until <= $3",
                )
                .bind(name)
                .bind(holder)
                .bind(ts(now))
                .bind(ts(until))
                .execute(&self.pool)
                .await?;
                Ok(taken.rows_affected() > 0)
            }
        }
    };
}
