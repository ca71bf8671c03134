//! Sign-in storage, written once for both backends.

/// Instantiates `SsoStore` for `$store`.
macro_rules! impl_sso {
    ($store:ident) => {
        fn sso_request_from_row(row: &DbRow) -> $crate::StoreResult<$crate::SsoRequest> {
            let purpose: String = row.try_get("purpose")?;
            let purpose = $crate::SsoPurpose::decode(&purpose, row.try_get("nonce")?, row.try_get("sealed_verifier")?).map_err($crate::StoreError::Corrupt)?;
            Ok($crate::SsoRequest {
                state_digest: row.try_get("state_digest")?,
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                connection: roster_core::ConnectionId::from_uuid(row.try_get("connection_id")?),
                purpose,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::SsoStore for $store {
            async fn create_sso_request(&self, r: &$crate::SsoRequest) -> $crate::StoreResult<()> {
                let (purpose, text, bytes) = r.purpose.encode();
                sqlx::query(
                    "INSERT INTO sso_requests (state_digest, org_id, connection_id, purpose, nonce, sealed_verifier, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&r.state_digest)
                .bind(r.org.as_uuid())
                .bind(r.connection.as_uuid())
                .bind(purpose)
                .bind(text)
                .bind(bytes)
                .bind(ts(r.created_at))
                .bind(ts(r.expires_at))
                .execute(&self.pool)
                .await
                .map_err(|e| $crate::common::classify(e, "sign-in request"))?;
                Ok(())
            }

            async fn pending_sso_request(&self, org: roster_core::OrgId, state_digest: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Option<$crate::SsoRequest>> {
                let row = sqlx::query(
                    "SELECT state_digest, org_id, connection_id, purpose, nonce, sealed_verifier, created_at, expires_at FROM sso_requests \
                     WHERE org_id = $1 AND state_digest = $2 AND consumed_at IS NULL AND expires_at > $3",
                )
                .bind(org.as_uuid())
                .bind(state_digest)
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(sso_request_from_row).transpose()
            }

            async fn consume_sso_request(&self, org: roster_core::OrgId, state_digest: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Option<$crate::SsoRequest>> {
                // One statement: of two concurrent callbacks with the same state, one updates
                // the row and the other finds it consumed.
                let row = sqlx::query(
                    "UPDATE sso_requests SET consumed_at = $3 \
                     WHERE org_id = $1 AND state_digest = $2 AND consumed_at IS NULL AND expires_at > $3 \
                     RETURNING state_digest, org_id, connection_id, purpose, nonce, sealed_verifier, created_at, expires_at",
                )
                .bind(org.as_uuid())
                .bind(state_digest)
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(sso_request_from_row).transpose()
            }

            async fn sso_linked_person(&self, org: roster_core::OrgId, connection: roster_core::ConnectionId, subject: &str) -> $crate::StoreResult<Option<roster_core::UserId>> {
                let row = sqlx::query("SELECT person_id FROM sso_links WHERE org_id = $1 AND connection_id = $2 AND subject = $3")
                    .bind(org.as_uuid())
                    .bind(connection.as_uuid())
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| r.try_get("person_id").map(roster_core::UserId::from_uuid)).transpose().map_err(Into::into)
            }

            async fn record_sso_link(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                subject: &str,
                person: roster_core::UserId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sso_links (org_id, connection_id, subject, person_id, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (org_id, connection_id, subject) DO UPDATE SET last_used_at = excluded.last_used_at",
                )
                .bind(org.as_uuid())
                .bind(connection.as_uuid())
                .bind(subject)
                .bind(person.as_uuid())
                .bind(ts(now))
                .execute(&self.pool)
                .await
                .map_err(|e| $crate::common::classify(e, "identity link"))?;
                Ok(())
            }

            async fn log_sso_refusal(&self, r: &$crate::SsoRefusal) -> $crate::StoreResult<()> {
                sqlx::query("INSERT INTO sso_refusals (id, org_id, connection_id, at, reason, subject, claimed_email) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(r.id)
                    .bind(r.org.as_uuid())
                    .bind(r.connection.map(|c| c.as_uuid()))
                    .bind(ts(r.at))
                    .bind(&r.reason)
                    .bind(&r.subject)
                    .bind(&r.claimed_email)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn sso_refusals(&self, org: roster_core::OrgId, limit: u32) -> $crate::StoreResult<Vec<$crate::SsoRefusal>> {
                let rows = sqlx::query(
                    "SELECT id, org_id, connection_id, at, reason, subject, claimed_email FROM sso_refusals WHERE org_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
                )
                .bind(org.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        let connection: Option<uuid::Uuid> = row.try_get("connection_id")?;
                        Ok($crate::SsoRefusal {
                            id: row.try_get("id")?,
                            org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                            connection: connection.map(roster_core::ConnectionId::from_uuid),
                            at: row.try_get("at")?,
                            reason: row.try_get("reason")?,
                            subject: row.try_get("subject")?,
                            claimed_email: row.try_get("claimed_email")?,
                        })
                    })
                    .collect()
            }

            async fn first_use_of_saml_assertion(
                &self,
                org: roster_core::OrgId,
                issuer: &str,
                assertion_id: &str,
                until: chrono::DateTime<chrono::Utc>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<bool> {
                // An expired row may linger until the purge; it no longer guards anything, and
                // the assertion itself has expired by then, so replacing it is safe.
                let done = sqlx::query(
                    "INSERT INTO saml_assertions (org_id, issuer, assertion_id, used_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (org_id, issuer, assertion_id) DO UPDATE SET used_at = excluded.used_at, expires_at = excluded.expires_at \
                     WHERE saml_assertions.expires_at <= excluded.used_at",
                )
                .bind(org.as_uuid())
                .bind(issuer)
                .bind(assertion_id)
                .bind(ts(now))
                .bind(ts(until))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn purge_expired_sign_ins(&self, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<u64> {
                let requests = sqlx::query("DELETE FROM sso_requests WHERE expires_at <= $1").bind(ts(now)).execute(&self.pool).await?;
                let assertions = sqlx::query("DELETE FROM saml_assertions WHERE expires_at <= $1").bind(ts(now)).execute(&self.pool).await?;
                Ok(requests.rows_affected() + assertions.rows_affected())
            }

            async fn password_sign_in_allowed(&self, org: roster_core::OrgId) -> $crate::StoreResult<bool> {
                let row = sqlx::query("SELECT password_sign_in FROM sso_policies WHERE org_id = $1").bind(org.as_uuid()).fetch_optional(&self.pool).await?;
                Ok(match row {
                    Some(row) => row.try_get("password_sign_in")?,
                    None => true,
                })
            }

            async fn set_password_sign_in(&self, org: roster_core::OrgId, allowed: bool, actor: &roster_core::Actor, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
                let mut tx = begin_write(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO sso_policies (org_id, password_sign_in, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (org_id) DO UPDATE SET password_sign_in = excluded.password_sign_in, updated_at = excluded.updated_at",
                )
                .bind(org.as_uuid())
                .bind(allowed)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO audit_log (id, org_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(uuid::Uuid::now_v7())
                    .bind(org.as_uuid())
                    .bind(ts(now))
                    .bind(actor.label())
                    .bind("sign_in.password_policy")
                    .bind(sqlx::types::Json(serde_json::json!({ "password_sign_in": allowed })))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
