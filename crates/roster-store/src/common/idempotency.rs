//! `Idempotency-Key` claims and kept answers, written once for both backends.

/// Instantiates `IdempotencyStore` for `$store`.
macro_rules! impl_idempotency {
    ($store:ident) => {
        #[async_trait::async_trait]
        impl $crate::IdempotencyStore for $store {
            async fn claim_idempotency_key(
                &self,
                org: roster_core::OrgId,
                client: &str,
                key: &str,
                fingerprint: &str,
                now: chrono::DateTime<chrono::Utc>,
                abandoned_before: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<$crate::IdempotencyClaim> {
                let o = org.as_uuid();
                let inserted = sqlx::query(
                    "INSERT INTO api_idempotency (org_id, client, key, fingerprint, claimed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(o)
                .bind(client)
                .bind(key)
                .bind(fingerprint)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok($crate::IdempotencyClaim::Claimed);
                }
                let row =
                    sqlx::query("SELECT fingerprint, status, headers, body FROM api_idempotency WHERE org_id = $1 AND client = $2 AND key = $3")
                        .bind(o)
                        .bind(client)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                // Purged between the insert and the read: a retry of this request may claim it.
                let Some(row) = row else { return Ok($crate::IdempotencyClaim::InFlight) };
                let status: Option<i32> = row.try_get("status")?;
                if let Some(status) = status {
                    let headers: String = row.try_get::<Option<String>, _>("headers")?.unwrap_or_else(|| "[]".into());
                    let answer = $crate::KeptAnswer {
                        status: u16::try_from(status).map_err(|_| $crate::StoreError::Corrupt(format!("kept status {status}")))?,
                        headers: serde_json::from_str(&headers).map_err(|e| $crate::StoreError::Corrupt(format!("kept headers: {e}")))?,
                        body: row.try_get::<Option<String>, _>("body")?.unwrap_or_default(),
                    };
                    return Ok($crate::IdempotencyClaim::Answered { fingerprint: row.try_get("fingerprint")?, answer });
                }
                // Claimed, never answered, long ago: whoever claimed it died. Taken over by one
                // retry only (the update matches the old claim).
                let taken = sqlx::query(
                    "UPDATE api_idempotency SET claimed_at = $4, fingerprint = $5 \
                     WHERE org_id = $1 AND client = $2 AND key = $3 AND status IS NULL AND claimed_at < $6",
                )
                .bind(o)
                .bind(client)
                .bind(key)
                .bind(ts(now))
                .bind(fingerprint)
                .bind(ts(abandoned_before))
                .execute(&self.pool)
                .await?;
                Ok(if taken.rows_affected() == 1 { $crate::IdempotencyClaim::Claimed } else { $crate::IdempotencyClaim::InFlight })
            }

            async fn keep_idempotent_answer(
                &self,
                org: roster_core::OrgId,
                client: &str,
                key: &str,
                answer: &$crate::KeptAnswer,
            ) -> $crate::StoreResult<()> {
                let headers = serde_json::to_string(&answer.headers).map_err(|e| $crate::StoreError::Invalid(e.to_string()))?;
                sqlx::query("UPDATE api_idempotency SET status = $4, headers = $5, body = $6 WHERE org_id = $1 AND client = $2 AND key = $3")
                    .bind(org.as_uuid())
                    .bind(client)
                    .bind(key)
                    .bind(i32::from(answer.status))
                    .bind(headers)
                    .bind(&answer.body)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn release_idempotency_key(&self, org: roster_core::OrgId, client: &str, key: &str) -> $crate::StoreResult<()> {
                sqlx::query("DELETE FROM api_idempotency WHERE org_id = $1 AND client = $2 AND key = $3 AND status IS NULL")
                    .bind(org.as_uuid())
                    .bind(client)
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn purge_idempotency_keys(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                let done = sqlx::query("DELETE FROM api_idempotency WHERE claimed_at < $1").bind(ts(before)).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }
        }
    };
}
