//! The managers of each team, written once for both backends.

/// Instantiates `TeamManagerStore` for `$store`.
macro_rules! impl_team_managers {
    ($store:ident) => {
        #[async_trait::async_trait]
        impl $crate::TeamManagerStore for $store {
            async fn team_managers(&self, org: roster_core::OrgId) -> $crate::StoreResult<Vec<(roster_core::TeamId, roster_core::UserId)>> {
                let rows: Vec<(uuid::Uuid, uuid::Uuid)> =
                    sqlx::query_as("SELECT team_id, person_id FROM team_managers WHERE org_id = $1 ORDER BY team_id, person_id")
                        .bind(org.as_uuid())
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(|(t, p)| (roster_core::TeamId::from_uuid(t), roster_core::UserId::from_uuid(p))).collect())
            }

            async fn set_team_managers(
                &self,
                org: roster_core::OrgId,
                team: roster_core::TeamId,
                managers: &[roster_core::UserId],
                actor: &roster_core::Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                // With the organisation's plans, one at a time: its events commit in sequence order.
                lock_org(&mut tx, org).await?;
                let (o, t) = (org.as_uuid(), team.as_uuid());
                let name: Option<String> =
                    sqlx::query_scalar("SELECT name FROM teams WHERE org_id = $1 AND id = $2").bind(o).bind(t).fetch_optional(&mut *tx).await?;
                let Some(name) = name else { return Err($crate::StoreError::NotFound(format!("team {team}"))) };
                let before: Vec<String> = sqlx::query_scalar("SELECT p.email FROM team_managers m JOIN people p ON p.org_id = m.org_id AND p.id = m.person_id WHERE m.org_id = $1 AND m.team_id = $2 ORDER BY p.email")
                        .bind(o)
                        .bind(t)
                        .fetch_all(&mut *tx)
                        .await?;
                sqlx::query("DELETE FROM team_managers WHERE org_id = $1 AND team_id = $2").bind(o).bind(t).execute(&mut *tx).await?;
                let mut after = Vec::with_capacity(managers.len());
                for manager in managers {
                    let email: Option<String> = sqlx::query_scalar("SELECT email FROM people WHERE org_id = $1 AND id = $2")
                        .bind(o)
                        .bind(manager.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(email) = email else { return Err($crate::StoreError::NotFound(format!("person {manager}"))) };
                    sqlx::query("INSERT INTO team_managers (org_id, team_id, person_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                        .bind(o)
                        .bind(t)
                        .bind(manager.as_uuid())
                        .execute(&mut *tx)
                        .await?;
                    after.push(email);
                }
                after.sort();
                after.dedup();
                if before == after {
                    return Ok(());
                }
                let detail = serde_json::json!({ "team": name, "managers": { "before": before, "after": after } });
                audit_row(&mut tx, org, actor, "team.managers_changed", None, Some(t), detail.clone(), now).await?;
                let row = sqlx::query("SELECT id, org_id, name, parent_id FROM teams WHERE org_id = $1 AND id = $2").bind(o).bind(t).fetch_one(&mut *tx).await?;
                let mut ids = managers.to_vec();
                ids.sort();
                ids.dedup();
                let resource = roster_core::resource::team(&team_from_row(&row)?, &ids);
                let data = serde_json::json!({ "id": t, "managers": detail["managers"]["after"], "resource": resource });
                event_row(&mut tx, org, actor, "team.managers_changed", data, now).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
