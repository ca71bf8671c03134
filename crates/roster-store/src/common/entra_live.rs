//! Entra delta state, memberships and subscriptions, written once for both backends.

/// Instantiates `EntraLiveStore` for `$store`.
macro_rules! impl_entra_live {
    ($store:ident) => {
        fn entra_subscription_from_row(row: &DbRow) -> $crate::StoreResult<$crate::EntraSubscription> {
            Ok($crate::EntraSubscription {
                id: row.try_get("subscription_id")?,
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                connection: roster_core::ConnectionId::from_uuid(row.try_get("connection_id")?),
                resource: row.try_get("resource")?,
                expires_at: row.try_get("expires_at")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn membership_from_row(row: &DbRow) -> $crate::StoreResult<$crate::Membership> {
            Ok($crate::Membership { group: row.try_get("group_id")?, member: row.try_get("member_id")?, member_is_group: row.try_get("member_is_group")? })
        }

        const ENTRA_SUBSCRIPTION_COLUMNS: &str = "subscription_id, org_id, connection_id, resource, expires_at, created_at";

        /// Memberships of `org`/`connection` whose `column` is one of `keys`, a chunk at a time.
        async fn entra_memberships_where(
            pool: &DbPool,
            org: roster_core::OrgId,
            connection: roster_core::ConnectionId,
            column: &str,
            keys: &[String],
        ) -> $crate::StoreResult<Vec<$crate::Membership>> {
            let mut out = Vec::new();
            for chunk in keys.chunks(500) {
                let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT group_id, member_id, member_is_group FROM entra_memberships WHERE org_id = ");
                qb.push_bind(org.as_uuid()).push(" AND connection_id = ").push_bind(connection.as_uuid()).push(format!(" AND {column} IN ("));
                let mut ids = qb.separated(", ");
                for key in chunk {
                    ids.push_bind(key.clone());
                }
                qb.push(")");
                for row in qb.build().fetch_all(pool).await? {
                    out.push(membership_from_row(&row)?);
                }
            }
            Ok(out)
        }

        #[async_trait::async_trait]
        impl $crate::EntraLiveStore for $store {
            async fn entra_live(&self, org: roster_core::OrgId, connection: roster_core::ConnectionId) -> $crate::StoreResult<$crate::EntraLive> {
                let row = sqlx::query("SELECT users_link, groups_link, links_saved_at, notified_at FROM entra_live WHERE org_id = $1 AND connection_id = $2")
                    .bind(org.as_uuid())
                    .bind(connection.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok($crate::EntraLive::default()) };
                let users: Option<String> = row.try_get("users_link")?;
                let groups: Option<String> = row.try_get("groups_link")?;
                Ok($crate::EntraLive {
                    links: users.zip(groups).map(|(users, groups)| $crate::DeltaLinks { users, groups }),
                    links_saved_at: row.try_get("links_saved_at")?,
                    notified_at: row.try_get("notified_at")?,
                })
            }

            async fn note_entra_notification(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO entra_live (org_id, connection_id, notified_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (org_id, connection_id) DO UPDATE SET notified_at = excluded.notified_at",
                )
                .bind(org.as_uuid())
                .bind(connection.as_uuid())
                .bind(ts(at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn settle_entra_notification(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                seen: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<bool> {
                sqlx::query("UPDATE entra_live SET notified_at = NULL WHERE org_id = $1 AND connection_id = $2 AND notified_at <= $3")
                    .bind(org.as_uuid())
                    .bind(connection.as_uuid())
                    .bind(ts(seen))
                    .execute(&self.pool)
                    .await?;
                Ok(self.entra_live(org, connection).await?.notified_at.is_some())
            }

            async fn save_entra_round(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                links: &$crate::DeltaLinks,
                changes: &$crate::MembershipChanges,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                let (o, c) = (org.as_uuid(), connection.as_uuid());
                let mut tx = begin_write(&self.pool).await?;
                if changes.replace_all {
                    sqlx::query("DELETE FROM entra_memberships WHERE org_id = $1 AND connection_id = $2").bind(o).bind(c).execute(&mut *tx).await?;
                }
                for group in &changes.groups_removed {
                    sqlx::query("DELETE FROM entra_memberships WHERE org_id = $1 AND connection_id = $2 AND (group_id = $3 OR member_id = $3)")
                        .bind(o)
                        .bind(c)
                        .bind(group)
                        .execute(&mut *tx)
                        .await?;
                }
                for (group, member) in &changes.removed {
                    sqlx::query("DELETE FROM entra_memberships WHERE org_id = $1 AND connection_id = $2 AND group_id = $3 AND member_id = $4")
                        .bind(o)
                        .bind(c)
                        .bind(group)
                        .bind(member)
                        .execute(&mut *tx)
                        .await?;
                }
                for chunk in changes.added.chunks(500) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO entra_memberships (org_id, connection_id, group_id, member_id, member_is_group) ");
                    qb.push_values(chunk, |mut row, m| {
                        row.push_bind(o).push_bind(c).push_bind(m.group.clone()).push_bind(m.member.clone()).push_bind(m.member_is_group);
                    });
                    qb.push(" ON CONFLICT DO NOTHING");
                    qb.build().execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO entra_live (org_id, connection_id, users_link, groups_link, links_saved_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (org_id, connection_id) DO UPDATE SET users_link = excluded.users_link, groups_link = excluded.groups_link, \
                     links_saved_at = excluded.links_saved_at",
                )
                .bind(o)
                .bind(c)
                .bind(&links.users)
                .bind(&links.groups)
                .bind(ts(at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn clear_entra_links(&self, org: roster_core::OrgId, connection: roster_core::ConnectionId) -> $crate::StoreResult<()> {
                let (o, c) = (org.as_uuid(), connection.as_uuid());
                let mut tx = begin_write(&self.pool).await?;
                sqlx::query("UPDATE entra_live SET users_link = NULL, groups_link = NULL, links_saved_at = NULL WHERE org_id = $1 AND connection_id = $2")
                    .bind(o)
                    .bind(c)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM entra_memberships WHERE org_id = $1 AND connection_id = $2").bind(o).bind(c).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn entra_groups_of(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                members: &[String],
            ) -> $crate::StoreResult<Vec<$crate::Membership>> {
                entra_memberships_where(&self.pool, org, connection, "member_id", members).await
            }

            async fn entra_members_of(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                groups: &[String],
            ) -> $crate::StoreResult<Vec<$crate::Membership>> {
                entra_memberships_where(&self.pool, org, connection, "group_id", groups).await
            }

            async fn entra_subscriptions(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
            ) -> $crate::StoreResult<Vec<$crate::EntraSubscription>> {
                let rows = sqlx::query(&format!(
                    "SELECT {ENTRA_SUBSCRIPTION_COLUMNS} FROM entra_subscriptions WHERE org_id = $1 AND connection_id = $2 ORDER BY resource, subscription_id"
                ))
                .bind(org.as_uuid())
                .bind(connection.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(entra_subscription_from_row).collect()
            }

            async fn entra_subscription(&self, id: &str) -> $crate::StoreResult<Option<$crate::EntraSubscription>> {
                let row = sqlx::query(&format!("SELECT {ENTRA_SUBSCRIPTION_COLUMNS} FROM entra_subscriptions WHERE subscription_id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(entra_subscription_from_row).transpose()
            }

            async fn save_entra_subscription(&self, s: &$crate::EntraSubscription) -> $crate::StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO entra_subscriptions ({ENTRA_SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (subscription_id) DO UPDATE SET expires_at = excluded.expires_at, resource = excluded.resource"
                ))
                .bind(&s.id)
                .bind(s.org.as_uuid())
                .bind(s.connection.as_uuid())
                .bind(&s.resource)
                .bind(ts(s.expires_at))
                .bind(ts(s.created_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delete_entra_subscription(&self, id: &str) -> $crate::StoreResult<()> {
                sqlx::query("DELETE FROM entra_subscriptions WHERE subscription_id = $1").bind(id).execute(&self.pool).await?;
                Ok(())
            }

            async fn entra_subscriptions_expiring(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::EntraSubscription>> {
                let rows = sqlx::query(&format!(
                    "SELECT {ENTRA_SUBSCRIPTION_COLUMNS} FROM entra_subscriptions WHERE expires_at < $1 ORDER BY expires_at, subscription_id LIMIT $2"
                ))
                .bind(ts(before))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(entra_subscription_from_row).collect()
            }
        }
    };
}
