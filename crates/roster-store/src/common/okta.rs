//! Okta event hooks' seen events and queued users, written once for both backends.

/// Instantiates `OktaHookStore` for `$store`. A user named again while queued is queued again
/// (a later `queued_at`), so a re-read that started before the new change does not forget it.
macro_rules! impl_okta_hooks {
    ($store:ident) => {
        #[async_trait::async_trait]
        impl $crate::OktaHookStore for $store {
            async fn record_hook_events(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                events: &[$crate::HookEvent],
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<usize> {
                let (o, c) = (org.as_uuid(), connection.as_uuid());
                let mut tx = begin_write(&self.pool).await?;
                let mut queued = 0;
                for event in events {
                    // New when any of its keys is: a repeated delivery repeats them all.
                    let mut new = false;
                    for key in &event.keys {
                        let inserted = sqlx::query(
                            "INSERT INTO okta_hook_events (org_id, connection_id, event_key, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        )
                        .bind(o)
                        .bind(c)
                        .bind(key)
                        .bind(ts(now))
                        .execute(&mut *tx)
                        .await?;
                        new |= inserted.rows_affected() == 1;
                    }
                    if !new {
                        continue;
                    }
                    for user in &event.users {
                        let inserted = sqlx::query(
                            "INSERT INTO okta_hook_users (org_id, connection_id, user_id, queued_at) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (org_id, connection_id, user_id) DO UPDATE SET queued_at = excluded.queued_at",
                        )
                        .bind(o)
                        .bind(c)
                        .bind(user)
                        .bind(ts(now))
                        .execute(&mut *tx)
                        .await?;
                        queued += inserted.rows_affected() as usize;
                    }
                }
                tx.commit().await?;
                Ok(queued)
            }

            async fn pending_hook_users(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                limit: u32,
            ) -> $crate::StoreResult<Vec<(String, chrono::DateTime<chrono::Utc>)>> {
                let rows = sqlx::query(
                    "SELECT user_id, queued_at FROM okta_hook_users WHERE org_id = $1 AND connection_id = $2 ORDER BY queued_at, user_id LIMIT $3",
                )
                .bind(org.as_uuid())
                .bind(connection.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|row| Ok((row.try_get("user_id")?, row.try_get("queued_at")?))).collect()
            }

            async fn forget_hook_users(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                users: &[(String, chrono::DateTime<chrono::Utc>)],
            ) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                for (user, queued_at) in users {
                    sqlx::query("DELETE FROM okta_hook_users WHERE org_id = $1 AND connection_id = $2 AND user_id = $3 AND queued_at = $4")
                        .bind(org.as_uuid())
                        .bind(connection.as_uuid())
                        .bind(user)
                        .bind(ts(*queued_at))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn purge_hook_events(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                let done = sqlx::query("DELETE FROM okta_hook_events WHERE received_at < $1").bind(ts(before)).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }
        }
    };
}
