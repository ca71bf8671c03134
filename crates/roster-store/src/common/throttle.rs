//! Throttle counters, written once for both backends.

/// Instantiates `ThrottleStore` for `$store`.
macro_rules! impl_throttle {
    ($store:ident) => {
        #[async_trait::async_trait]
        impl $crate::ThrottleStore for $store {
            async fn blocked_until(
                &self,
                keys: &[&str],
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
                if keys.is_empty() {
                    return Ok(None);
                }
                let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT blocked_until FROM throttle WHERE blocked_until > ");
                qb.push_bind(ts(now)).push(" AND key IN (");
                let mut list = qb.separated(", ");
                for key in keys {
                    list.push_bind(*key);
                }
                qb.push(")");
                let rows = qb.build().fetch_all(&self.pool).await?;
                let mut latest: Option<chrono::DateTime<chrono::Utc>> = None;
                for row in rows {
                    let until: chrono::DateTime<chrono::Utc> = row.try_get("blocked_until")?;
                    latest = Some(latest.map_or(until, |l| l.max(until)));
                }
                Ok(latest)
            }

            async fn count_failure(
                &self,
                key: &str,
                rule: &$crate::ThrottleRule,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<$crate::ThrottleCount> {
                let mut tx = begin_write(&self.pool).await?;
                sqlx::query("INSERT INTO throttle (key, failures, window_started_at) VALUES ($1, 0, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(key)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                // One statement, so concurrent failures each count (the row is locked by it).
                let row = sqlx::query(
                    "UPDATE throttle SET \
                       failures = CASE WHEN window_started_at < $2 THEN 1 ELSE failures + 1 END, \
                       window_started_at = CASE WHEN window_started_at < $2 THEN $3 ELSE window_started_at END \
                     WHERE key = $1 RETURNING failures",
                )
                .bind(key)
                .bind(ts(now - rule.window))
                .bind(ts(now))
                .fetch_one(&mut *tx)
                .await?;
                let failures: i32 = row.try_get("failures")?;
                // Counts up from 1, so never negative; were it ever, the most failures blocks: it fails closed.
                let failures = u32::try_from(failures).unwrap_or(u32::MAX);
                let blocked_until = (rule.delay)(failures).map(|wait| now + wait);
                sqlx::query("UPDATE throttle SET blocked_until = $2 WHERE key = $1").bind(key).bind(blocked_until.map(ts)).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok($crate::ThrottleCount { failures, blocked_until })
            }

            async fn clear_throttle(&self, key: &str) -> $crate::StoreResult<()> {
                sqlx::query("DELETE FROM throttle WHERE key = $1").bind(key).execute(&self.pool).await?;
                Ok(())
            }

            async fn purge_throttle(&self, before: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                let done = sqlx::query("DELETE FROM throttle WHERE window_started_at < $1 AND (blocked_until IS NULL OR blocked_until < $2)")
                    .bind(ts(before))
                    .bind(ts(now))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
