//! Webhook endpoints and their delivery log, written once for both backends.

pub(crate) const ENDPOINT_COLUMNS: &str = "id, org_id, url, types, sealed_secret, sealed_previous, previous_until, created_at, disabled_at, \
     disabled_reason, cursor_seq, attempts, failing_since, next_attempt_at";

/// An endpoint that is due: enabled, its retry time come, not leased, and with events past its
/// cursor. `$1` is now.
pub(crate) const DUE: &str = "w.disabled_at IS NULL AND w.next_attempt_at <= $1 AND (w.claimed_until IS NULL OR w.claimed_until <= $1) \
     AND EXISTS (SELECT 1 FROM events e WHERE e.org_id = w.org_id AND e.seq > w.cursor_seq)";

/// Instantiates `WebhookStore` for `$store`; the backend provides `CLAIM_LOCK`.
macro_rules! impl_webhooks {
    ($store:ident) => {
        fn webhook_from_row(row: &DbRow) -> $crate::StoreResult<$crate::WebhookEndpoint> {
            let types: String = row.try_get("types")?;
            Ok($crate::WebhookEndpoint {
                id: row.try_get("id")?,
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                url: row.try_get("url")?,
                types: serde_json::from_str(&types).map_err(|e| $crate::StoreError::Corrupt(format!("webhook types: {e}")))?,
                sealed_secret: row.try_get("sealed_secret")?,
                sealed_previous: row.try_get("sealed_previous")?,
                previous_until: row.try_get("previous_until")?,
                created_at: row.try_get("created_at")?,
                disabled_at: row.try_get("disabled_at")?,
                disabled_reason: row.try_get("disabled_reason")?,
                cursor_seq: row.try_get("cursor_seq")?,
                attempts: row.try_get("attempts")?,
                failing_since: row.try_get("failing_since")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::WebhookStore for $store {
            async fn create_webhook(&self, endpoint: &$crate::WebhookEndpoint, actor: &roster_core::Actor) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                let newest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE org_id = $1").bind(endpoint.org.as_uuid()).fetch_one(&mut *tx).await?;
                let types = serde_json::to_string(&endpoint.types).map_err(|e| $crate::StoreError::Invalid(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO webhook_endpoints (id, org_id, url, types, sealed_secret, created_at, cursor_seq, attempts, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $6)",
                )
                .bind(endpoint.id)
                .bind(endpoint.org.as_uuid())
                .bind(&endpoint.url)
                .bind(types)
                .bind(&endpoint.sealed_secret)
                .bind(ts(endpoint.created_at))
                .bind(newest.unwrap_or(0))
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({ "webhook": endpoint.id, "url": endpoint.url, "types": endpoint.types });
                audit_row(&mut tx, endpoint.org, actor, "webhook.created", None, None, detail, endpoint.created_at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn webhooks(&self, org: roster_core::OrgId) -> $crate::StoreResult<Vec<$crate::WebhookEndpoint>> {
                let sql = format!("SELECT {} FROM webhook_endpoints WHERE org_id = $1 ORDER BY created_at, id", $crate::common::webhooks::ENDPOINT_COLUMNS);
                let rows = sqlx::query(&sql).bind(org.as_uuid()).fetch_all(&self.pool).await?;
                rows.iter().map(webhook_from_row).collect()
            }

            async fn webhook(&self, org: roster_core::OrgId, id: uuid::Uuid) -> $crate::StoreResult<Option<$crate::WebhookEndpoint>> {
                let sql = format!("SELECT {} FROM webhook_endpoints WHERE org_id = $1 AND id = $2", $crate::common::webhooks::ENDPOINT_COLUMNS);
                let row = sqlx::query(&sql).bind(org.as_uuid()).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(webhook_from_row).transpose()
            }

            async fn delete_webhook(&self, org: roster_core::OrgId, id: uuid::Uuid, actor: &roster_core::Actor, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let mut tx = begin_write(&self.pool).await?;
                let url: Option<String> =
                    sqlx::query_scalar("SELECT url FROM webhook_endpoints WHERE org_id = $1 AND id = $2").bind(org.as_uuid()).bind(id).fetch_optional(&mut *tx).await?;
                let Some(url) = url else { return Ok(false) };
                sqlx::query("DELETE FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2").bind(org.as_uuid()).bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2").bind(org.as_uuid()).bind(id).execute(&mut *tx).await?;
                audit_row(&mut tx, org, actor, "webhook.deleted", None, None, serde_json::json!({ "webhook": id, "url": url }), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn rotate_webhook_secret(
                &self,
                org: roster_core::OrgId,
                id: uuid::Uuid,
                sealed: &[u8],
                previous_until: chrono::DateTime<chrono::Utc>,
                actor: &roster_core::Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<bool> {
                let mut tx = begin_write(&self.pool).await?;
                let done = sqlx::query(
                    "UPDATE webhook_endpoints SET sealed_previous = sealed_secret, previous_until = $3, sealed_secret = $4 WHERE org_id = $1 AND id = $2",
                )
                .bind(org.as_uuid())
                .bind(id)
                .bind(ts(previous_until))
                .bind(sealed)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                let detail = serde_json::json!({ "webhook": id, "previous_secret_until": previous_until });
                audit_row(&mut tx, org, actor, "webhook.secret_rotated", None, None, detail, now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn rewind_webhook(&self, org: roster_core::OrgId, id: uuid::Uuid, seq: i64, actor: &roster_core::Actor, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let mut tx = begin_write(&self.pool).await?;
                let done = sqlx::query(
                    "UPDATE webhook_endpoints SET cursor_seq = $3, disabled_at = NULL, disabled_reason = NULL, attempts = 0, failing_since = NULL, \
                     next_attempt_at = $4 WHERE org_id = $1 AND id = $2",
                )
                .bind(org.as_uuid())
                .bind(id)
                .bind(seq)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                audit_row(&mut tx, org, actor, "webhook.rewound", None, None, serde_json::json!({ "webhook": id, "after_seq": seq }), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn claim_webhooks(&self, limit: u32, now: chrono::DateTime<chrono::Utc>, lease_until: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Vec<$crate::WebhookEndpoint>> {
                let sql = format!(
                    "WITH due AS MATERIALIZED (SELECT w.id FROM webhook_endpoints w WHERE {} ORDER BY w.next_attempt_at, w.id LIMIT $3{CLAIM_LOCK}) \
                     UPDATE webhook_endpoints SET claimed_until = $2 WHERE id IN (SELECT id FROM due) RETURNING {}",
                    $crate::common::webhooks::DUE,
                    $crate::common::webhooks::ENDPOINT_COLUMNS
                );
                // Looked for without a write first: an idle endpoint costs no write, and on SQLite
                // no write lock every tick.
                let any: Option<uuid::Uuid> = sqlx::query_scalar(&format!("SELECT w.id FROM webhook_endpoints w WHERE {} LIMIT 1", $crate::common::webhooks::DUE))
                    .bind(ts(now))
                    .fetch_optional(&self.pool)
                    .await?;
                if any.is_none() {
                    return Ok(Vec::new());
                }
                let mut tx = begin_write(&self.pool).await?;
                let rows = sqlx::query(&sql).bind(ts(now)).bind(ts(lease_until)).bind(i64::from(limit)).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.iter().map(webhook_from_row).collect()
            }

            async fn webhook_advanced(&self, id: uuid::Uuid, from: i64, seq: i64, next_attempt_at: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                sqlx::query(
                    "UPDATE webhook_endpoints SET cursor_seq = CASE WHEN cursor_seq = $2 THEN $3 ELSE cursor_seq END, \
                     attempts = CASE WHEN cursor_seq = $2 AND $3 > $2 THEN 0 ELSE attempts END, \
                     failing_since = CASE WHEN cursor_seq = $2 AND $3 > $2 THEN NULL ELSE failing_since END, \
                     next_attempt_at = $4, claimed_until = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(from)
                .bind(seq)
                .bind(ts(next_attempt_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn webhook_failed(&self, id: uuid::Uuid, retry: &$crate::WebhookRetry) -> $crate::StoreResult<()> {
                sqlx::query(
                    "UPDATE webhook_endpoints SET attempts = attempts + 1, failing_since = COALESCE(failing_since, $2), next_attempt_at = $3, \
                     claimed_until = NULL, disabled_at = CASE WHEN $4 IS NULL THEN disabled_at ELSE $3 END, \
                     disabled_reason = COALESCE($4, disabled_reason) WHERE id = $1",
                )
                .bind(id)
                .bind(ts(retry.failing_since))
                .bind(ts(retry.next_attempt_at))
                .bind(retry.disable.clone())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn record_deliveries(&self, deliveries: &[$crate::WebhookDelivery]) -> $crate::StoreResult<()> {
                // Ten values a row, well inside either backend's limit for a turn of 100.
                for chunk in deliveries.chunks(MAX_BINDS / 10) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, at, status, duration_ms, response, error) ",
                    );
                    qb.push_values(chunk, |mut row, d| {
                        row.push_bind(d.id)
                            .push_bind(d.org.as_uuid())
                            .push_bind(d.endpoint)
                            .push_bind(d.event)
                            .push_bind(d.event_type.clone())
                            .push_bind(ts(d.at))
                            .push_bind(d.status)
                            .push_bind(d.duration_ms)
                            .push_bind(d.response.clone())
                            .push_bind(d.error.clone());
                    });
                    qb.build().execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn webhook_deliveries(&self, org: roster_core::OrgId, endpoint: uuid::Uuid, limit: u32) -> $crate::StoreResult<Vec<$crate::WebhookDelivery>> {
                let rows = sqlx::query(
                    "SELECT id, org_id, endpoint_id, event_id, event_type, at, status, duration_ms, response, error FROM webhook_deliveries \
                     WHERE org_id = $1 AND endpoint_id = $2 ORDER BY at DESC, id DESC LIMIT $3",
                )
                .bind(org.as_uuid())
                .bind(endpoint)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::WebhookDelivery {
                            id: row.try_get("id")?,
                            org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                            endpoint: row.try_get("endpoint_id")?,
                            event: row.try_get("event_id")?,
                            event_type: row.try_get("event_type")?,
                            at: row.try_get("at")?,
                            status: row.try_get("status")?,
                            duration_ms: row.try_get("duration_ms")?,
                            response: row.try_get("response")?,
                            error: row.try_get("error")?,
                        })
                    })
                    .collect()
            }
        }
    };
}
