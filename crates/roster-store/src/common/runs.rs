//! Sync runs and avatars, written once for both backends.

pub(crate) const RUN_COLUMNS: &str =
    "id, org_id, connection_id, trigger, status, queued_at, started_at, finished_at, progress, report, error, graph_requests";

/// Instantiates `RunStore` for `$store`.
macro_rules! impl_runs {
    ($store:ident) => {
        use $crate::common::runs::RUN_COLUMNS;

        fn sync_run_from_row(row: &DbRow) -> $crate::StoreResult<$crate::SyncRun> {
            let status: String = row.try_get("status")?;
            let progress: sqlx::types::Json<serde_json::Value> = row.try_get("progress").map_err($crate::common::corrupt("run progress"))?;
            let report: Option<sqlx::types::Json<roster_core::RunReport>> =
                row.try_get("report").map_err($crate::common::corrupt("run report"))?;
            let graph_requests: i64 = row.try_get("graph_requests")?;
            Ok($crate::SyncRun {
                id: roster_core::RunId::from_uuid(row.try_get("id")?),
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                connection: roster_core::ConnectionId::from_uuid(row.try_get("connection_id")?),
                trigger: row.try_get("trigger")?,
                status: status.parse().map_err($crate::StoreError::Corrupt)?,
                queued_at: row.try_get("queued_at")?,
                started_at: row.try_get("started_at")?,
                finished_at: row.try_get("finished_at")?,
                progress: progress.0,
                report: report.map(|r| r.0),
                error: row.try_get("error")?,
                graph_requests: u64::try_from(graph_requests).map_err(|e| $crate::StoreError::Corrupt(format!("run graph_requests {graph_requests}: {e}")))?,
            })
        }

        async fn audit_avatar(
            tx: &mut DbTx,
            org: roster_core::OrgId,
            person: roster_core::UserId,
            actor: &str,
            action: &str,
            detail: serde_json::Value,
            at: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreResult<()> {
            sqlx::query("INSERT INTO audit_log (id, org_id, at, run_id, actor, action, person_id, team_id, detail) VALUES ($1, $2, $3, NULL, $4, $5, $6, NULL, $7)")
                .bind(uuid::Uuid::now_v7())
                .bind(org.as_uuid())
                .bind(ts(at))
                .bind(actor)
                .bind(action)
                .bind(person.as_uuid())
                .bind(sqlx::types::Json(detail))
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::RunStore for $store {
            async fn create_run(&self, run: &$crate::SyncRun) -> $crate::StoreResult<()> {
                sqlx::query(&format!("INSERT INTO sync_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
                    .bind(run.id.as_uuid())
                    .bind(run.org.as_uuid())
                    .bind(run.connection.as_uuid())
                    .bind(&run.trigger)
                    .bind(run.status.as_str())
                    .bind(ts(run.queued_at))
                    .bind(run.started_at.map(ts))
                    .bind(run.finished_at.map(ts))
                    .bind(sqlx::types::Json(&run.progress))
                    .bind(run.report.as_ref().map(sqlx::types::Json))
                    .bind(&run.error)
                    // Saturating: no sync makes 2^63 Graph requests.
                    .bind(i64::try_from(run.graph_requests).unwrap_or(i64::MAX))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::common::classify(e, "sync run"))?;
                Ok(())
            }

            async fn start_run(&self, org: roster_core::OrgId, id: roster_core::RunId, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let done = sqlx::query("UPDATE sync_runs SET status = 'running', started_at = $3, alive_until = $4 WHERE org_id = $1 AND id = $2 AND status = 'queued'")
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .bind(ts(now))
                    .bind(ts(now + chrono::Duration::seconds($crate::RUN_ALIVE_SECONDS)))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn keep_run_alive(&self, org: roster_core::OrgId, id: roster_core::RunId, until: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE sync_runs SET alive_until = $3 WHERE org_id = $1 AND id = $2 AND status = 'running'")
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .bind(ts(until))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn fail_abandoned_runs(&self, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                // Runs started before liveness was recorded have none: they count as abandoned too.
                let done = sqlx::query(
                    "UPDATE sync_runs SET status = 'failed', error = $2, finished_at = $1 \
                     WHERE status = 'running' AND (alive_until IS NULL OR alive_until < $1)",
                )
                .bind(ts(now))
                .bind($crate::RUN_ABANDONED)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn log_decisions(&self, decisions: &[$crate::Decision]) -> $crate::StoreResult<()> {
                // Nine binds a row; SQLite takes 32,766 binds a statement.
                for chunk in decisions.chunks(1000) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO provisioning_log (id, org_id, connection_id, run_id, at, person_id, subject, outcome, detail) ",
                    );
                    qb.push_values(chunk, |mut row, d| {
                        row.push_bind(d.id)
                            .push_bind(d.org.as_uuid())
                            .push_bind(d.connection.map(|c| c.as_uuid()))
                            .push_bind(d.run.map(|r| r.as_uuid()))
                            .push_bind(ts(d.at))
                            .push_bind(d.person.map(|p| p.as_uuid()))
                            .push_bind(d.subject.clone())
                            .push_bind(d.outcome.as_str())
                            .push_bind(d.detail.clone());
                    });
                    qb.build().execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn decisions(
                &self,
                org: roster_core::OrgId,
                person: Option<roster_core::UserId>,
                subject: &str,
                since: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::Decision>> {
                let rows = sqlx::query(
                    "SELECT id, org_id, connection_id, run_id, at, person_id, subject, outcome, detail FROM provisioning_log \
                     WHERE org_id = $1 AND at >= $4 AND (person_id = $2 OR subject = $3) ORDER BY at DESC LIMIT $5",
                )
                .bind(org.as_uuid())
                .bind(person.map(|p| p.as_uuid()))
                .bind(subject)
                .bind(ts(since))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        let outcome: String = row.try_get("outcome")?;
                        let connection: Option<uuid::Uuid> = row.try_get("connection_id")?;
                        let run: Option<uuid::Uuid> = row.try_get("run_id")?;
                        let person: Option<uuid::Uuid> = row.try_get("person_id")?;
                        Ok($crate::Decision {
                            id: row.try_get("id")?,
                            org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                            connection: connection.map(roster_core::ConnectionId::from_uuid),
                            run: run.map(roster_core::RunId::from_uuid),
                            at: row.try_get("at")?,
                            person: person.map(roster_core::UserId::from_uuid),
                            subject: row.try_get("subject")?,
                            outcome: outcome.parse().map_err($crate::StoreError::Corrupt)?,
                            detail: row.try_get("detail")?,
                        })
                    })
                    .collect()
            }

            async fn purge_decisions(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                let done = sqlx::query("DELETE FROM provisioning_log WHERE at < $1").bind(ts(before)).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn set_run_progress(&self, org: roster_core::OrgId, id: roster_core::RunId, progress: &serde_json::Value) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE sync_runs SET progress = $3 WHERE org_id = $1 AND id = $2")
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .bind(sqlx::types::Json(progress))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn finish_run(&self, org: roster_core::OrgId, id: roster_core::RunId, end: &$crate::RunEnd<'_>) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                // Its event commits in sequence with the organisation's other events.
                lock_org(&mut tx, org).await?;
                let connection: Option<uuid::Uuid> = sqlx::query_scalar(
                    "UPDATE sync_runs SET status = $3, report = $4, error = $5, graph_requests = $6, finished_at = $7, \
                     started_at = COALESCE(started_at, $7) WHERE org_id = $1 AND id = $2 RETURNING connection_id",
                )
                .bind(org.as_uuid())
                .bind(id.as_uuid())
                .bind(end.status.as_str())
                .bind(end.report.map(sqlx::types::Json))
                .bind(end.error)
                // Saturating: no sync makes 2^63 Graph requests.
                .bind(i64::try_from(end.graph_requests).unwrap_or(i64::MAX))
                .bind(ts(end.at))
                .fetch_optional(&mut *tx)
                .await?;
                // The host platform hears how a connection's runs end (a preview is nobody's business).
                let kind = match end.status {
                    $crate::RunStatus::Held => Some("connection.run_held"),
                    $crate::RunStatus::Succeeded | $crate::RunStatus::Failed => Some("connection.run_finished"),
                    _ => None,
                };
                if let (Some(kind), Some(connection)) = (kind, connection) {
                    let counts = end.report.map(|r| {
                        serde_json::json!({ "created": r.created, "updated": r.updated, "deactivated": r.deactivated, "reactivated": r.reactivated,
                            "unchanged": r.unchanged, "skipped": r.skipped, "issues": r.issues.len(), "would_deactivate": r.would_deactivate.len() })
                    });
                    let data = serde_json::json!({ "connection_id": connection, "run_id": id, "status": end.status.as_str(), "counts": counts, "error": end.error });
                    let actor = roster_core::Actor::Connection { id: roster_core::ConnectionId::from_uuid(connection) };
                    event_row(&mut tx, org, &actor, kind, data, end.at).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn decide_held_run(
                &self,
                org: roster_core::OrgId,
                id: roster_core::RunId,
                decision: $crate::RunStatus,
                actor: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<bool> {
                if !matches!(decision, $crate::RunStatus::Allowed | $crate::RunStatus::Rejected) {
                    return Err($crate::StoreError::Invalid(format!("a held run can be allowed or rejected, not marked {decision}")));
                }
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query("UPDATE sync_runs SET status = $3 WHERE org_id = $1 AND id = $2 AND status = 'held'")
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .bind(decision.as_str())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query("INSERT INTO audit_log (id, org_id, at, run_id, actor, action, person_id, team_id, detail) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7)")
                    .bind(uuid::Uuid::now_v7())
                    .bind(org.as_uuid())
                    .bind(ts(at))
                    .bind(id.as_uuid())
                    .bind(actor)
                    .bind(format!("run.{decision}"))
                    .bind(sqlx::types::Json(serde_json::json!({})))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn sync_run(&self, org: roster_core::OrgId, id: roster_core::RunId) -> $crate::StoreResult<Option<$crate::SyncRun>> {
                let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE org_id = $1 AND id = $2"))
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(sync_run_from_row).transpose()
            }

            async fn sync_runs(&self, org: roster_core::OrgId, connection: roster_core::ConnectionId, limit: u32) -> $crate::StoreResult<Vec<$crate::SyncRun>> {
                let rows = sqlx::query(&format!(
                    "SELECT {RUN_COLUMNS} FROM sync_runs WHERE org_id = $1 AND connection_id = $2 ORDER BY queued_at DESC, id DESC LIMIT $3"
                ))
                .bind(org.as_uuid())
                .bind(connection.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(sync_run_from_row).collect()
            }

            async fn avatar_etags(&self, org: roster_core::OrgId) -> $crate::StoreResult<std::collections::HashMap<roster_core::UserId, String>> {
                let rows = sqlx::query("SELECT person_id, etag FROM avatars WHERE org_id = $1").bind(org.as_uuid()).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|row| Ok((roster_core::UserId::from_uuid(row.try_get("person_id")?), row.try_get("etag")?)))
                    .collect()
            }

            async fn avatar(&self, org: roster_core::OrgId, person: roster_core::UserId) -> $crate::StoreResult<Option<$crate::Avatar>> {
                let row = sqlx::query("SELECT etag, content_type, bytes, updated_at FROM avatars WHERE org_id = $1 AND person_id = $2")
                    .bind(org.as_uuid())
                    .bind(person.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok($crate::Avatar {
                        etag: row.try_get("etag")?,
                        content_type: row.try_get("content_type")?,
                        bytes: row.try_get("bytes")?,
                        updated_at: row.try_get("updated_at")?,
                    })
                })
                .transpose()
            }

            async fn put_avatar(&self, org: roster_core::OrgId, person: roster_core::UserId, avatar: &$crate::Avatar, actor: &str) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO avatars (org_id, person_id, etag, content_type, bytes, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (org_id, person_id) DO UPDATE SET etag = excluded.etag, content_type = excluded.content_type, \
                     bytes = excluded.bytes, updated_at = excluded.updated_at",
                )
                .bind(org.as_uuid())
                .bind(person.as_uuid())
                .bind(&avatar.etag)
                .bind(&avatar.content_type)
                .bind(&avatar.bytes)
                .bind(ts(avatar.updated_at))
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({ "etag": avatar.etag, "content_type": avatar.content_type, "bytes": avatar.bytes.len() });
                audit_avatar(&mut tx, org, person, actor, "user.avatar_changed", detail, avatar.updated_at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_avatar(&self, org: roster_core::OrgId, person: roster_core::UserId, actor: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let mut tx = begin_write(&self.pool).await?;
                let removed = sqlx::query("DELETE FROM avatars WHERE org_id = $1 AND person_id = $2")
                    .bind(org.as_uuid())
                    .bind(person.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                if removed.rows_affected() == 0 {
                    return Ok(false);
                }
                audit_avatar(&mut tx, org, person, actor, "user.avatar_removed", serde_json::json!({}), now).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}
