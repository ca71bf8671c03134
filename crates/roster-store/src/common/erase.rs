//! Erasing a person on request, written once for both backends: their row keeps its id (so
//! the people who report to them and the audit trail still point somewhere) but every
//! personal value is replaced by a placeholder, and their address is taken out of every other
//! table that may hold it.

/// The address an erased person is given: unique per person, and in a domain that can never
/// receive mail.
pub(crate) fn placeholder_email(person: roster_core::UserId) -> String {
    format!("erased-{}@erased.invalid", person.as_uuid().simple())
}

/// Columns that may hold a person's address among other text: (table, column, stored as JSON).
pub(crate) const MENTIONS: &[(&str, &str, bool)] = &[
    ("audit_log", "detail", true),
    ("events", "data", true),
    ("outbox_emails", "payload", true),
    ("sync_runs", "report", true),
    ("sync_runs", "progress", true),
    ("sync_runs", "error", false),
    ("jobs", "payload", true),
    ("jobs", "last_error", false),
    ("scim_resources", "document", true),
    ("scim_requests", "path", false),
    ("scim_requests", "error", false),
    ("sso_refusals", "claimed_email", false),
    ("sso_refusals", "subject", false),
    ("provisioning_log", "subject", false),
    ("provisioning_log", "detail", false),
];

/// Instantiates `ErasureStore` for `$store`; the backend provides `JSON_TEXT` and `TEXT_JSON`.
macro_rules! impl_erase {
    ($store:ident) => {
        #[async_trait::async_trait]
        impl $crate::ErasureStore for $store {
            async fn erase_person(
                &self,
                org: roster_core::OrgId,
                person: roster_core::UserId,
                actor: &roster_core::Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<roster_core::Email> {
                let mut tx = begin_write(&self.pool).await?;
                // With the organisation's plans, one at a time: its events commit in sequence order.
                lock_org(&mut tx, org).await?;
                let (o, p) = (org.as_uuid(), person.as_uuid());
                let row = sqlx::query("SELECT email, source_connection_id FROM people WHERE org_id = $1 AND id = $2")
                    .bind(o)
                    .bind(p)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Err($crate::StoreError::NotFound(format!("person {person}"))) };
                let email: String = row.try_get("email")?;
                let source: Option<uuid::Uuid> = row.try_get("source_connection_id")?;
                if source.is_some() {
                    return Err($crate::StoreError::Invalid(format!("{email} is provisioned by a connection: unlink them from it before erasing them")));
                }
                let placeholder = $crate::common::erase::placeholder_email(person);
                let name = roster_core::Profile { first_name: "Erased".into(), last_name: "person".into(), ..Default::default() };
                let parsed = roster_core::Email::parse(&placeholder).map_err(|e| $crate::StoreError::Invalid(e.to_string()))?;
                sqlx::query(
                    "UPDATE people SET email = $3, first_name = $4, last_name = $5, job_title = NULL, department = NULL, location = NULL, \
                     language = NULL, hire_date = NULL, custom_fields = $6, status = 'deactivated', role = 'learner', primary_team_id = NULL, \
                     manager_id = NULL, avatar_url = NULL, source_external_id = NULL, password_hash = NULL, provisioning_allowed = $7, \
                     sort_key = $8, last_key = $9, updated_at = $10 WHERE org_id = $1 AND id = $2",
                )
                .bind(o)
                .bind(p)
                .bind(&placeholder)
                .bind(&name.first_name)
                .bind(&name.last_name)
                .bind(sqlx::types::Json(serde_json::json!({})))
                .bind(false)
                .bind($crate::common::sort_key(&name, &parsed))
                .bind($crate::common::last_key(&name))
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                for table in ["team_members", "team_managers", "tokens", "sessions", "avatars", "sso_links", "pending_deactivations", "provisioning_log"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE org_id = $1 AND person_id = $2")).bind(o).bind(p).execute(&mut *tx).await?;
                }
                sqlx::query("DELETE FROM scim_group_members WHERE org_id = $1 AND member_id IN (SELECT id FROM scim_resources WHERE org_id = $1 AND person_id = $2)")
                    .bind(o)
                    .bind(p)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM scim_resources WHERE org_id = $1 AND person_id = $2").bind(o).bind(p).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM outbox_emails WHERE org_id = $1 AND recipient = $2").bind(o).bind(&email).execute(&mut *tx).await?;
                // A kept API answer (for retries) may show them as they were.
                sqlx::query("DELETE FROM api_idempotency WHERE org_id = $1 AND body LIKE $2").bind(o).bind(format!("%{p}%")).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM throttle WHERE key LIKE $1").bind(format!("%:{org}:{email}")).execute(&mut *tx).await?;
                // What was recorded about them keeps its kind and time, not its values.
                let erased = serde_json::json!({ "erased": true });
                sqlx::query("UPDATE audit_log SET detail = $3 WHERE org_id = $1 AND person_id = $2")
                    .bind(o)
                    .bind(p)
                    .bind(sqlx::types::Json(&erased))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&format!("UPDATE events SET data = $3 WHERE org_id = $1 AND data{JSON_TEXT} LIKE $2"))
                    .bind(o)
                    .bind(format!("%\"{p}\"%"))
                    .bind(sqlx::types::Json(serde_json::json!({ "id": p, "erased": true })))
                    .execute(&mut *tx)
                    .await?;
                // Anywhere else the address was written (a run's report, someone else's audit
                // row naming them as a manager, a SCIM request's filter), the placeholder takes its place.
                for (table, column, json) in $crate::common::erase::MENTIONS {
                    let (as_text, back) = if *json { (JSON_TEXT, TEXT_JSON) } else { ("", "") };
                    let sql = format!("UPDATE {table} SET {column} = replace({column}{as_text}, $2, $3){back} WHERE org_id = $1 AND {column}{as_text} LIKE $4");
                    sqlx::query(&sql).bind(o).bind(&email).bind(&placeholder).bind(format!("%{email}%")).execute(&mut *tx).await?;
                }
                audit_row(&mut tx, org, actor, "user.erased", Some(p), None, serde_json::json!({}), now).await?;
                event_row(&mut tx, org, actor, "user.erased", serde_json::json!({ "id": p }), now).await?;
                tx.commit().await?;
                Ok(parsed)
            }

            async fn unlink_person(
                &self,
                org: roster_core::OrgId,
                person: roster_core::UserId,
                actor: &roster_core::Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<bool> {
                let mut tx = begin_write(&self.pool).await?;
                let (o, p) = (org.as_uuid(), person.as_uuid());
                let source: Option<Option<uuid::Uuid>> = sqlx::query_scalar("SELECT source_connection_id FROM people WHERE org_id = $1 AND id = $2")
                    .bind(o)
                    .bind(p)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(source) = source else { return Err($crate::StoreError::NotFound(format!("person {person}"))) };
                let Some(connection) = source else { return Ok(false) };
                sqlx::query("UPDATE people SET source_connection_id = NULL, source_external_id = NULL, updated_at = $3 WHERE org_id = $1 AND id = $2")
                    .bind(o)
                    .bind(p)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                // Their SCIM resource goes too: the client then creates them again if it still
                // means to provision them, rather than writing through a stale id.
                sqlx::query("DELETE FROM scim_group_members WHERE org_id = $1 AND member_id IN (SELECT id FROM scim_resources WHERE org_id = $1 AND person_id = $2)")
                    .bind(o)
                    .bind(p)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM scim_resources WHERE org_id = $1 AND person_id = $2").bind(o).bind(p).execute(&mut *tx).await?;
                audit_row(&mut tx, org, actor, "user.unlinked", Some(p), None, serde_json::json!({ "connection": connection }), now).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}
