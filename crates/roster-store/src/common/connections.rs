//! Connections, written once for both backends.

pub(crate) const CONNECTION_COLUMNS: &str = "id, org_id, kind, name, enabled, settings, sealed, created_at, updated_at";

/// Instantiates `ConnectionStore` for `$store`.
macro_rules! impl_connections {
    ($store:ident) => {
        use $crate::common::connections::CONNECTION_COLUMNS;

        fn connection_from_row(row: &DbRow) -> $crate::StoreResult<roster_core::Connection> {
            let kind: String = row.try_get("kind")?;
            let settings: sqlx::types::Json<serde_json::Value> = row.try_get("settings").map_err($crate::common::corrupt("connection settings"))?;
            let sealed: sqlx::types::Json<std::collections::BTreeMap<String, Vec<u8>>> =
                row.try_get("sealed").map_err($crate::common::corrupt("connection secrets"))?;
            Ok(roster_core::Connection {
                id: roster_core::ConnectionId::from_uuid(row.try_get("id")?),
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                kind: kind.parse().map_err(|e| $crate::StoreError::Corrupt(format!("{e}")))?,
                name: row.try_get("name")?,
                enabled: row.try_get("enabled")?,
                settings: settings.0,
                sealed: sealed.0,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        async fn audit_connection(
            tx: &mut DbTx,
            connection: &roster_core::Connection,
            actor: &roster_core::Actor,
            action: &str,
            detail: serde_json::Value,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreResult<()> {
            audit_row(tx, connection.org, actor, action, None, None, detail, now).await
        }

        #[async_trait::async_trait]
        impl $crate::ConnectionStore for $store {
            async fn create_connection(&self, c: &roster_core::Connection, actor: &roster_core::Actor) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                lock_org(&mut tx, c.org).await?;
                if c.kind == roster_core::ConnectionKind::Entra {
                    let existing = sqlx::query("SELECT 1 FROM connections WHERE org_id = $1 AND kind = $2")
                        .bind(c.org.as_uuid())
                        .bind(c.kind.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if existing.is_some() {
                        return Err($crate::StoreError::conflict(
                            $crate::Unique::OneConnection,
                            "this organisation is connected to a Microsoft Entra tenant already; one tenant per organisation",
                        ));
                    }
                }
                sqlx::query(&format!("INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                    .bind(c.id.as_uuid())
                    .bind(c.org.as_uuid())
                    .bind(c.kind.as_str())
                    .bind(&c.name)
                    .bind(c.enabled)
                    .bind(sqlx::types::Json(&c.settings))
                    .bind(sqlx::types::Json(&c.sealed))
                    .bind(ts(c.created_at))
                    .bind(ts(c.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::common::classify(e, "organisation"))?;
                let detail = serde_json::json!({ "connection": c.id, "kind": c.kind, "name": c.name, "enabled": c.enabled, "settings": c.settings });
                audit_connection(&mut tx, c, actor, "connection.created", detail, c.created_at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_connection(&self, c: &roster_core::Connection, actor: &roster_core::Actor, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                let before = sqlx::query(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE org_id = $1 AND id = $2"))
                    .bind(c.org.as_uuid())
                    .bind(c.id.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(before) = before else {
                    return Err($crate::StoreError::NotFound(format!("connection {}", c.id)));
                };
                let before = connection_from_row(&before)?;
                sqlx::query("UPDATE connections SET name = $3, enabled = $4, settings = $5, sealed = $6, updated_at = $7 WHERE org_id = $1 AND id = $2")
                    .bind(c.org.as_uuid())
                    .bind(c.id.as_uuid())
                    .bind(&c.name)
                    .bind(c.enabled)
                    .bind(sqlx::types::Json(&c.settings))
                    .bind(sqlx::types::Json(&c.sealed))
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                let secrets_changed: Vec<&String> = c.sealed.keys().filter(|k| before.sealed.get(*k) != c.sealed.get(*k)).collect();
                let detail = serde_json::json!({
                    "connection": c.id,
                    "kind": c.kind,
                    "before": { "name": before.name, "enabled": before.enabled, "settings": before.settings },
                    "after": { "name": c.name, "enabled": c.enabled, "settings": c.settings },
                    "secrets_changed": secrets_changed,
                });
                audit_connection(&mut tx, c, actor, "connection.updated", detail, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_connection(
                &self,
                org: roster_core::OrgId,
                id: roster_core::ConnectionId,
                actor: &roster_core::Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<u64> {
                let mut tx = begin_write(&self.pool).await?;
                let row = sqlx::query(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE org_id = $1 AND id = $2"))
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound(format!("connection {id}")));
                };
                let connection = connection_from_row(&row)?;
                let linked: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM people WHERE org_id = $1 AND source_connection_id = $2")
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_all(&mut *tx)
                    .await?;
                sqlx::query("UPDATE people SET source_connection_id = NULL, source_external_id = NULL, updated_at = $3 WHERE org_id = $1 AND source_connection_id = $2")
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                let detail = serde_json::json!({ "connection": id, "kind": connection.kind, "name": connection.name });
                for person in &linked {
                    sqlx::query("INSERT INTO audit_log (id, org_id, at, run_id, actor, action, person_id, team_id, detail) VALUES ($1, $2, $3, NULL, $4, 'user.unlinked', $5, NULL, $6)")
                        .bind(uuid::Uuid::now_v7())
                        .bind(org.as_uuid())
                        .bind(ts(now))
                        .bind(actor.label())
                        .bind(person)
                        .bind(sqlx::types::Json(&detail))
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM sync_runs WHERE org_id = $1 AND connection_id = $2").bind(org.as_uuid()).bind(id.as_uuid()).execute(&mut *tx).await?;
                // What only this connection used goes with it: SCIM's tokens and resources (their
                // people stay, unlinked above), sign-in links and sign-ins in flight.
                sqlx::query(
                    "DELETE FROM scim_group_members WHERE org_id = $1 AND (group_id IN (SELECT id FROM scim_resources WHERE org_id = $1 AND connection_id = $2) \
                     OR member_id IN (SELECT id FROM scim_resources WHERE org_id = $1 AND connection_id = $2))",
                )
                .bind(org.as_uuid())
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await?;
                for table in ["pending_deactivations", "scim_resources", "scim_tokens", "sso_links", "sso_requests", "okta_hook_events", "okta_hook_users", "entra_live", "entra_memberships", "entra_subscriptions"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE org_id = $1 AND connection_id = $2"))
                        .bind(org.as_uuid())
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM connections WHERE org_id = $1 AND id = $2").bind(org.as_uuid()).bind(id.as_uuid()).execute(&mut *tx).await?;
                let unlinked = linked.len() as u64;
                let detail = serde_json::json!({ "connection": id, "kind": connection.kind, "name": connection.name, "unlinked": unlinked });
                audit_connection(&mut tx, &connection, actor, "connection.deleted", detail, now).await?;
                tx.commit().await?;
                Ok(unlinked)
            }

            async fn connection(&self, org: roster_core::OrgId, id: roster_core::ConnectionId) -> $crate::StoreResult<Option<roster_core::Connection>> {
                let row = sqlx::query(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE org_id = $1 AND id = $2"))
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(connection_from_row).transpose()
            }

            async fn connections(&self, org: roster_core::OrgId) -> $crate::StoreResult<Vec<roster_core::Connection>> {
                let rows = sqlx::query(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE org_id = $1 ORDER BY created_at, id"))
                    .bind(org.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(connection_from_row).collect()
            }

            async fn enabled_connections(&self, kind: roster_core::ConnectionKind) -> $crate::StoreResult<Vec<roster_core::Connection>> {
                let rows = sqlx::query(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE kind = $1 AND enabled ORDER BY org_id, created_at"))
                    .bind(kind.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(connection_from_row).collect()
            }
        }
    };
}
