//! Credentials, tokens, sessions, API keys and the outbox, written once for both backends.

pub(crate) const EMAIL_COLUMNS: &str = "id, org_id, payload, created_at, sent_at, attempts, last_error";
pub(crate) const API_KEY_COLUMNS: &str = "id, org_id, name, scopes, prefix, created_at, last_used_at, revoked_at";

/// Skip rewriting `last_used_at` when a key was used this recently: a busy integration would
/// otherwise turn every read into a write.
pub(crate) const API_KEY_TOUCH_SECONDS: i64 = 60;

/// Lease due e-mails: the oldest due first. `{lock}` is the backend's row-locking clause.
pub(crate) fn claim_sql(lock: &str) -> String {
    format!(
        "WITH due AS MATERIALIZED (SELECT id FROM outbox_emails \
         WHERE sent_at IS NULL AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) \
         ORDER BY next_attempt_at, id LIMIT $3{lock}) \
         UPDATE outbox_emails SET claimed_until = $2 WHERE id IN (SELECT id FROM due) \
         RETURNING {EMAIL_COLUMNS}"
    )
}

/// Instantiates `AuthStore` and `OutboxStore` for `$store`; the backend provides `CLAIM_LOCK`.
macro_rules! impl_writes {
    ($store:ident) => {
        use $crate::common::writes::{API_KEY_COLUMNS, API_KEY_TOUCH_SECONDS, EMAIL_COLUMNS};

        fn email_from_row(row: &DbRow) -> $crate::StoreResult<$crate::OutboxEmail> {
            let payload: sqlx::types::Json<$crate::OutgoingEmail> =
                row.try_get("payload").map_err($crate::common::corrupt("outbox e-mail payload"))?;
            let attempts: i32 = row.try_get("attempts")?;
            Ok($crate::OutboxEmail {
                id: row.try_get("id")?,
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                email: payload.0,
                created_at: row.try_get("created_at")?,
                sent_at: row.try_get("sent_at")?,
                attempts: u32::try_from(attempts).map_err(|e| $crate::StoreError::Corrupt(format!("outbox e-mail attempts {attempts}: {e}")))?,
                last_error: row.try_get("last_error")?,
            })
        }

        fn api_key_from_row(row: &DbRow) -> $crate::StoreResult<$crate::ApiKeyInfo> {
            Ok($crate::ApiKeyInfo {
                id: row.try_get("id")?,
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                name: row.try_get("name")?,
                scopes: $crate::ApiScope::split(&row.try_get::<String, _>("scopes")?),
                prefix: row.try_get("prefix")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        fn session_from_row(row: &DbRow) -> $crate::StoreResult<$crate::SessionRecord> {
            Ok($crate::SessionRecord {
                digest: row.try_get("digest")?,
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                person: roster_core::UserId::from_uuid(row.try_get("person_id")?),
                csrf: row.try_get("csrf")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        }

        /// Queue an e-mail in the same transaction as whatever caused it.
        async fn insert_email(
            conn: &mut <Db as sqlx::Database>::Connection,
            org: roster_core::OrgId,
            email: &$crate::OutgoingEmail,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreResult<()> {
            sqlx::query(
                "INSERT INTO outbox_emails (id, org_id, recipient, payload, created_at, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(org.as_uuid())
            .bind(email.to().as_str())
            .bind(sqlx::types::Json(email))
            .bind(ts(now))
            .execute(conn)
            .await?;
            Ok(())
        }

        /// One audit row outside a plan (an admin action, a sign-in, a connection's or a
        /// team's lifecycle), in the caller's transaction.
        #[allow(clippy::too_many_arguments)]
        async fn audit_row(
            tx: &mut DbTx,
            org: roster_core::OrgId,
            actor: &roster_core::Actor,
            action: &str,
            person: Option<uuid::Uuid>,
            team: Option<uuid::Uuid>,
            detail: serde_json::Value,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreResult<()> {
            sqlx::query("INSERT INTO audit_log (id, org_id, at, run_id, actor, action, person_id, team_id, detail) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8)")
                .bind(uuid::Uuid::now_v7())
                .bind(org.as_uuid())
                .bind(ts(now))
                .bind(actor.label())
                .bind(action)
                .bind(person)
                .bind(team)
                .bind(sqlx::types::Json(detail))
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// The organisation's events after `after_seq` of the given kinds (all when empty), oldest
        /// first, with `data` read as `D` (a JSON value, or the raw JSON text).
        async fn feed_page<D: serde::de::DeserializeOwned + Send + Unpin + 'static>(
            pool: &DbPool,
            org: roster_core::OrgId,
            after_seq: i64,
            kinds: &[String],
            limit: u32,
        ) -> $crate::StoreResult<Vec<$crate::OutboundEvent<D>>> {
            let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT seq, org_id, id, kind, at, run_id, actor, data FROM events WHERE org_id = ");
            qb.push_bind(org.as_uuid()).push(" AND seq > ").push_bind(after_seq);
            if !kinds.is_empty() {
                qb.push(" AND kind IN (");
                let mut list = qb.separated(", ");
                for kind in kinds.iter().take(100) {
                    list.push_bind(kind.clone());
                }
                qb.push(")");
            }
            qb.push(" ORDER BY seq LIMIT ").push_bind(i64::from(limit));
            let rows = qb.build().fetch_all(pool).await?;
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                let data: sqlx::types::Json<D> = row.try_get("data")?;
                events.push($crate::OutboundEvent {
                    seq: row.try_get("seq")?,
                    org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    at: row.try_get("at")?,
                    run: row.try_get("run_id")?,
                    actor: row.try_get("actor")?,
                    data: data.0,
                });
            }
            Ok(events)
        }

        /// One outbound event outside a plan, in the caller's transaction. The caller holds the
        /// organisation's lock (`lock_org`), so the organisation's events commit in sequence order.
        async fn event_row(
            tx: &mut DbTx,
            org: roster_core::OrgId,
            actor: &roster_core::Actor,
            kind: &str,
            data: serde_json::Value,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreResult<()> {
            sqlx::query("INSERT INTO events (id, org_id, kind, at, run_id, actor, data) VALUES ($1, $2, $3, $4, NULL, $5, $6)")
                .bind(uuid::Uuid::now_v7())
                .bind(org.as_uuid())
                .bind(kind)
                .bind(ts(now))
                .bind(actor.label())
                .bind(sqlx::types::Json(data))
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Use up every open link of `people` (of one purpose, or all): a newer link, a new
        /// password or a new address makes the older ones worthless.

        async fn void_tokens_of(
            tx: &mut DbTx,
            org: roster_core::OrgId,
            people: &[roster_core::UserId],
            purpose: Option<$crate::TokenPurpose>,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreResult<()> {
            if people.is_empty() {
                return Ok(());
            }
            let mut qb = sqlx::QueryBuilder::<Db>::new("UPDATE tokens SET used_at = ");
            qb.push_bind(ts(now)).push(" WHERE org_id = ").push_bind(org.as_uuid()).push(" AND used_at IS NULL");
            if let Some(purpose) = purpose {
                qb.push(" AND purpose = ").push_bind(purpose.as_str());
            }
            qb.push(" AND person_id IN (");
            let mut ids = qb.separated(", ");
            for person in people {
                ids.push_bind(person.as_uuid());
            }
            qb.push(")");
            qb.build().execute(&mut **tx).await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::AuthStore for $store {
            async fn credentials(&self, org: roster_core::OrgId, email: &roster_core::Email) -> $crate::StoreResult<Option<$crate::Credentials>> {
                let row = sqlx::query("SELECT id, status, role, password_hash FROM people WHERE org_id = $1 AND email = $2")
                    .bind(org.as_uuid())
                    .bind(email.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let status: String = row.try_get("status")?;
                let role: String = row.try_get("role")?;
                Ok(Some($crate::Credentials {
                    person: roster_core::UserId::from_uuid(row.try_get("id")?),
                    status: $crate::common::parse_status(&status)?,
                    role: $crate::common::parse_role(&role)?,
                    password_hash: row.try_get("password_hash")?,
                }))
            }

            async fn set_password(&self, org: roster_core::OrgId, person: roster_core::UserId, hash: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                lock_org(&mut tx, org).await?;
                let before = sqlx::query("SELECT status FROM people WHERE org_id = $1 AND id = $2")
                    .bind(org.as_uuid())
                    .bind(person.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(before) = before else {
                    return Err($crate::StoreError::NotFound(format!("person {person}")));
                };
                let before: String = before.try_get("status")?;
                let after = if before == "invited" { "active" } else { before.as_str() };
                sqlx::query("UPDATE people SET password_hash = $3, activated = $4, status = $5, updated_at = $6 WHERE org_id = $1 AND id = $2")
                    .bind(org.as_uuid())
                    .bind(person.as_uuid())
                    .bind(hash)
                    .bind(true)
                    .bind(after)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                // Whoever held another link or session of this person holds nothing now.
                void_tokens_of(&mut tx, org, &[person], None, now).await?;
                sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND person_id = $2")
                    .bind(org.as_uuid())
                    .bind(person.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                let actor = roster_core::Actor::Person { id: person };
                let detail = serde_json::json!({ "status": { "before": before, "after": after }, "activated": true });
                sqlx::query(
                    "INSERT INTO audit_log (id, org_id, at, run_id, actor, action, person_id, team_id, detail) \
                     VALUES ($1, $2, $3, NULL, $4, 'user.password_set', $5, NULL, $6)",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(org.as_uuid())
                .bind(ts(now))
                .bind(actor.label())
                .bind(person.as_uuid())
                .bind(sqlx::types::Json(detail))
                .execute(&mut *tx)
                .await?;
                // Accepting an invitation makes them active: the platform hears of it like any status change.
                if before != after {
                    let data = serde_json::json!({ "id": person, "status": { "before": before, "after": after }, "via": "password" });
                    event_row(&mut tx, org, &actor, "user.activated", data, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn activate_on_sign_in(&self, org: roster_core::OrgId, person: roster_core::UserId, via: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let mut tx = begin_write(&self.pool).await?;
                lock_org(&mut tx, org).await?;
                let done = sqlx::query("UPDATE people SET status = 'active', activated = $3, updated_at = $4 WHERE org_id = $1 AND id = $2 AND status = 'invited'")
                    .bind(org.as_uuid())
                    .bind(person.as_uuid())
                    .bind(true)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                // The invitation asked them to choose a password; they signed in another way.
                void_tokens_of(&mut tx, org, &[person], Some($crate::TokenPurpose::Invitation), now).await?;
                let detail = serde_json::json!({ "status": { "before": "invited", "after": "active" }, "via": via });
                let actor = roster_core::Actor::Person { id: person };
                audit_row(&mut tx, org, &actor, "user.activated", Some(person.as_uuid()), None, detail, now).await?;
                let data = serde_json::json!({ "id": person, "status": { "before": "invited", "after": "active" }, "via": via });
                event_row(&mut tx, org, &actor, "user.activated", data, now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn issue_token(&self, token: &$crate::NewToken, now: chrono::DateTime<chrono::Utc>, handed_over_by: Option<&roster_core::Actor>) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                void_tokens_of(&mut tx, token.org, &[token.person], Some(token.purpose), now).await?;
                sqlx::query("INSERT INTO tokens (digest, org_id, person_id, purpose, expires_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&token.digest)
                    .bind(token.org.as_uuid())
                    .bind(token.person.as_uuid())
                    .bind(token.purpose.as_str())
                    .bind(ts(token.expires_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::common::classify(e, &format!("token for person {}", token.person)))?;
                if let Some(actor) = handed_over_by {
                    let detail = serde_json::json!({ "purpose": token.purpose.as_str(), "expires_at": token.expires_at });
                    sqlx::query(
                        "INSERT INTO audit_log (id, org_id, at, run_id, actor, action, person_id, team_id, detail) \
                         VALUES ($1, $2, $3, NULL, $4, 'user.link_handed_over', $5, NULL, $6)",
                    )
                    .bind(uuid::Uuid::now_v7())
                    .bind(token.org.as_uuid())
                    .bind(ts(now))
                    .bind(actor.label())
                    .bind(token.person.as_uuid())
                    .bind(sqlx::types::Json(detail))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn peek_token(&self, org: roster_core::OrgId, purpose: $crate::TokenPurpose, digest: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Option<roster_core::UserId>> {
                let row = sqlx::query(
                    "SELECT person_id FROM tokens WHERE org_id = $1 AND purpose = $2 AND digest = $3 AND used_at IS NULL AND expires_at > $4",
                )
                .bind(org.as_uuid())
                .bind(purpose.as_str())
                .bind(digest)
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| r.try_get("person_id").map(roster_core::UserId::from_uuid)).transpose().map_err(Into::into)
            }

            async fn consume_token(&self, org: roster_core::OrgId, purpose: $crate::TokenPurpose, digest: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Option<roster_core::UserId>> {
                // One conditional UPDATE: of two concurrent callers, the second finds used_at set.
                let row = sqlx::query(
                    "UPDATE tokens SET used_at = $4 \
                     WHERE org_id = $1 AND purpose = $2 AND digest = $3 AND used_at IS NULL AND expires_at > $4 \
                     RETURNING person_id",
                )
                .bind(org.as_uuid())
                .bind(purpose.as_str())
                .bind(digest)
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| r.try_get("person_id").map(roster_core::UserId::from_uuid)).transpose().map_err(Into::into)
            }

            async fn set_provisioning_allowed(
                &self,
                org: roster_core::OrgId,
                person: roster_core::UserId,
                allowed: bool,
                actor: &roster_core::Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<bool> {
                let mut tx = begin_write(&self.pool).await?;
                let done = sqlx::query("UPDATE people SET provisioning_allowed = $3, updated_at = $4 WHERE org_id = $1 AND id = $2")
                    .bind(org.as_uuid())
                    .bind(person.as_uuid())
                    .bind(allowed)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO audit_log (id, org_id, at, run_id, actor, action, person_id, team_id, detail) \
                     VALUES ($1, $2, $3, NULL, $4, 'user.provisioning_allowed', $5, NULL, $6)",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(org.as_uuid())
                .bind(ts(now))
                .bind(actor.label())
                .bind(person.as_uuid())
                .bind(sqlx::types::Json(serde_json::json!({ "allowed": allowed })))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn create_session(&self, session: &$crate::SessionRecord) -> $crate::StoreResult<()> {
                sqlx::query("INSERT INTO sessions (digest, org_id, person_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&session.digest)
                    .bind(session.org.as_uuid())
                    .bind(session.person.as_uuid())
                    .bind(&session.csrf)
                    .bind(ts(session.created_at))
                    .bind(ts(session.expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::common::classify(e, &format!("session of person {}", session.person)))?;
                Ok(())
            }

            async fn session(&self, digest: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Option<$crate::SessionRecord>> {
                // A deactivated person's sessions are deleted; the join also covers any that slipped by.
                let row = sqlx::query(
                    "SELECT s.digest, s.org_id, s.person_id, s.csrf, s.created_at, s.expires_at FROM sessions s \
                     JOIN people p ON p.org_id = s.org_id AND p.id = s.person_id \
                     WHERE s.digest = $1 AND s.expires_at > $2 AND p.status <> 'deactivated'",
                )
                .bind(digest)
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(session_from_row).transpose()
            }

            async fn delete_session(&self, digest: &str) -> $crate::StoreResult<()> {
                sqlx::query("DELETE FROM sessions WHERE digest = $1").bind(digest).execute(&self.pool).await?;
                Ok(())
            }

            async fn delete_sessions_of(&self, org: roster_core::OrgId, person: roster_core::UserId) -> $crate::StoreResult<()> {
                sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND person_id = $2")
                    .bind(org.as_uuid())
                    .bind(person.as_uuid())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn create_api_key(&self, key: &$crate::NewApiKey) -> $crate::StoreResult<$crate::ApiKeyInfo> {
                let id = uuid::Uuid::now_v7();
                let mut tx = begin_write(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO api_keys (id, org_id, name, digest, prefix, created_by, created_at, scopes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(key.org.as_uuid())
                .bind(&key.name)
                .bind(&key.digest)
                .bind(&key.prefix)
                .bind(key.created_by.map(|p| p.as_uuid()))
                .bind(ts(key.created_at))
                .bind($crate::ApiScope::join(&key.scopes))
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::common::classify(e, &format!("API key '{}'", key.name)))?;
                let actor = key.created_by.map_or(roster_core::Actor::Cli, |id| roster_core::Actor::Person { id });
                let detail = serde_json::json!({ "key": id, "name": key.name, "prefix": key.prefix, "scopes": $crate::ApiScope::join(&key.scopes) });
                audit_row(&mut tx, key.org, &actor, "api_key.created", None, None, detail, key.created_at).await?;
                tx.commit().await?;
                Ok($crate::ApiKeyInfo {
                    id,
                    org: key.org,
                    name: key.name.clone(),
                    scopes: key.scopes.clone(),
                    prefix: key.prefix.clone(),
                    created_at: key.created_at,
                    last_used_at: None,
                    revoked_at: None,
                })
            }

            async fn api_key(&self, digest: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Option<$crate::ApiKeyInfo>> {
                let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE digest = $1 AND revoked_at IS NULL");
                let Some(row) = sqlx::query(&sql).bind(digest).fetch_optional(&self.pool).await? else {
                    return Ok(None);
                };
                let mut key = api_key_from_row(&row)?;
                let fresh = key.last_used_at.is_some_and(|t| now - t < chrono::Duration::seconds(API_KEY_TOUCH_SECONDS));
                if !fresh {
                    sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                        .bind(key.id)
                        .bind(ts(now))
                        .execute(&self.pool)
                        .await?;
                    key.last_used_at = Some(now);
                }
                Ok(Some(key))
            }

            async fn api_keys(&self, org: roster_core::OrgId) -> $crate::StoreResult<Vec<$crate::ApiKeyInfo>> {
                let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY created_at, id");
                let rows = sqlx::query(&sql).bind(org.as_uuid()).fetch_all(&self.pool).await?;
                rows.iter().map(api_key_from_row).collect()
            }

            async fn revoke_api_key(&self, org: roster_core::OrgId, id: uuid::Uuid, actor: &roster_core::Actor, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let mut tx = begin_write(&self.pool).await?;
                let done = sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL")
                    .bind(org.as_uuid())
                    .bind(id)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                audit_row(&mut tx, org, actor, "api_key.revoked", None, None, serde_json::json!({ "key": id }), now).await?;
                tx.commit().await?;
                Ok(true)
            }
        }

        #[async_trait::async_trait]
        impl $crate::OutboxStore for $store {
            async fn enqueue_email(&self, org: roster_core::OrgId, email: &$crate::OutgoingEmail, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                let mut conn = self.pool.acquire().await?;
                insert_email(&mut conn, org, email, now).await
            }

            async fn emails(&self, org: roster_core::OrgId, limit: u32) -> $crate::StoreResult<Vec<$crate::OutboxEmail>> {
                let sql = format!("SELECT {EMAIL_COLUMNS} FROM outbox_emails WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2");
                let rows = sqlx::query(&sql).bind(org.as_uuid()).bind(i64::from(limit)).fetch_all(&self.pool).await?;
                rows.iter().map(email_from_row).collect()
            }

            async fn claim_emails(&self, limit: u32, now: chrono::DateTime<chrono::Utc>, lease_until: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Vec<$crate::OutboxEmail>> {
                let sql = $crate::common::writes::claim_sql(CLAIM_LOCK);
                let rows = sqlx::query(&sql)
                    .bind(ts(now))
                    .bind(ts(lease_until))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                let mut emails = rows.iter().map(email_from_row).collect::<$crate::StoreResult<Vec<_>>>()?;
                emails.sort_by_key(|e| (e.created_at, e.id));
                Ok(emails)
            }

            async fn mark_email_sent(&self, id: uuid::Uuid, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE outbox_emails SET sent_at = $2, claimed_until = NULL WHERE id = $1")
                    .bind(id)
                    .bind(ts(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn mark_email_failed(&self, id: uuid::Uuid, error: &str, retry_at: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                sqlx::query(
                    "UPDATE outbox_emails SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, claimed_until = NULL \
                     WHERE id = $1 AND sent_at IS NULL",
                )
                .bind(id)
                .bind(error)
                .bind(ts(retry_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn publish_event(
                &self,
                org: roster_core::OrgId,
                actor: &roster_core::Actor,
                kind: &str,
                data: serde_json::Value,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                lock_org(&mut tx, org).await?;
                event_row(&mut tx, org, actor, kind, data, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn events(&self, org: roster_core::OrgId, after_seq: i64, limit: u32) -> $crate::StoreResult<Vec<$crate::OutboundEvent>> {
                self.event_feed(org, after_seq, &[], limit).await
            }

            async fn event_feed(&self, org: roster_core::OrgId, after_seq: i64, kinds: &[String], limit: u32) -> $crate::StoreResult<Vec<$crate::OutboundEvent>> {
                feed_page(&self.pool, org, after_seq, kinds, limit).await
            }

            async fn event_feed_raw(
                &self,
                org: roster_core::OrgId,
                after_seq: i64,
                kinds: &[String],
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::OutboundEvent<Box<serde_json::value::RawValue>>>> {
                feed_page(&self.pool, org, after_seq, kinds, limit).await
            }

            async fn purge_events(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                Ok(sqlx::query("DELETE FROM events WHERE at < $1").bind(ts(before)).execute(&self.pool).await?.rows_affected())
            }
        }
    };
}
