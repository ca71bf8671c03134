//! The SCIM store, written once for both backends.

pub(crate) const RESOURCE_COLUMNS: &str = "r.org_id, r.id, r.connection_id, r.resource_type, r.external_id, r.user_name, r.display_name, r.document, r.version, r.created_at, r.updated_at, r.person_id, r.team_id";
pub(crate) const TOKEN_COLUMNS: &str = "id, org_id, connection_id, name, created_at, last_used_at, revoked_at";
/// A token's last use is recorded at most this often, so that authenticating is not a write.
pub(crate) const TOKEN_TOUCH_SECONDS: i64 = 60;
/// Ids per `IN (...)` list.
pub(crate) const IDS_PER_STATEMENT: usize = 500;

/// A violation of the SCIM tables' rules, worded for the client (the kind says which rule),
/// without the database's detail, which names ids the client never sent.
pub(crate) fn scim_conflict(error: sqlx::Error) -> crate::StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            let (unique, what) = super::unique_rule(db.constraint().unwrap_or_else(|| db.message()));
            return crate::StoreError::conflict(unique, what);
        }
    }
    super::classify(error, "SCIM resource")
}

/// Instantiates `ScimStore` for `$store`. Besides what every template needs, the module must
/// instantiate `impl_apply!` (a SCIM write applies its plan in the same transaction, through
/// `apply_changes`) and define `SCIM_DIALECT`.
macro_rules! impl_scim {
    ($store:ident) => {
        use $crate::common::scim::{scim_conflict, IDS_PER_STATEMENT, RESOURCE_COLUMNS, TOKEN_COLUMNS, TOKEN_TOUCH_SECONDS};
        use $crate::common::scim_filter::{compile_filter, sort_expression, Bind, Piece};

        fn scim_resource_from_row(row: &DbRow) -> $crate::StoreResult<$crate::ScimResource> {
            let kind: String = row.try_get("resource_type")?;
            let document: sqlx::types::Json<serde_json::Value> = row.try_get("document").map_err($crate::common::corrupt("SCIM document"))?;
            let person: Option<uuid::Uuid> = row.try_get("person_id")?;
            let team: Option<uuid::Uuid> = row.try_get("team_id")?;
            Ok($crate::ScimResource {
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                connection: roster_core::ConnectionId::from_uuid(row.try_get("connection_id")?),
                resource_type: $crate::ScimResourceType::parse(&kind).ok_or_else(|| $crate::StoreError::Corrupt(format!("SCIM resource type {kind}")))?,
                id: row.try_get("id")?,
                external_id: row.try_get("external_id")?,
                user_name: row.try_get("user_name")?,
                display_name: row.try_get("display_name")?,
                document: document.0,
                version: row.try_get("version")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                person: person.map(roster_core::UserId::from_uuid),
                team: team.map(roster_core::TeamId::from_uuid),
            })
        }

        fn scim_token_from_row(row: &DbRow) -> $crate::StoreResult<$crate::ScimToken> {
            Ok($crate::ScimToken {
                id: row.try_get("id")?,
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                connection: roster_core::ConnectionId::from_uuid(row.try_get("connection_id")?),
                name: row.try_get("name")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        fn push_pieces(qb: &mut sqlx::QueryBuilder<'_, Db>, pieces: Vec<Piece>) {
            for piece in pieces {
                match piece {
                    Piece::Sql(text) => {
                        qb.push(text);
                    }
                    Piece::Bind(Bind::Text(text)) => {
                        qb.push_bind(text);
                    }
                    Piece::Bind(Bind::Uuid(id)) => {
                        qb.push_bind(id);
                    }
                    Piece::Bind(Bind::Time(at)) => {
                        qb.push_bind(ts(at));
                    }
                }
            }
        }

        fn lower_key(value: &Option<String>) -> Option<String> {
            value.as_ref().map(|v| v.to_lowercase())
        }

        /// Apply the plan inside `tx`, as `PlanStore::apply` would.
        async fn apply_plan_in(tx: &mut DbTx, plan: &roster_core::Plan, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<()> {
            if plan.changes.is_empty() {
                return Ok(());
            }
            let run = Run::new(plan, uuid::Uuid::now_v7(), now);
            apply_changes(tx, &run).await
        }

        async fn replace_members(tx: &mut DbTx, org: uuid::Uuid, group: uuid::Uuid, members: &[uuid::Uuid]) -> $crate::StoreResult<()> {
            sqlx::query("DELETE FROM scim_group_members WHERE org_id = $1 AND group_id = $2").bind(org).bind(group).execute(&mut **tx).await?;
            for chunk in members.chunks(IDS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO scim_group_members (org_id, group_id, member_id) ");
                qb.push_values(chunk, |mut row, member| {
                    row.push_bind(org).push_bind(group).push_bind(*member);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut **tx).await.map_err(|e| $crate::common::classify(e, "group members"))?;
            }
            Ok(())
        }

        /// Insert or replace (at the expected version) one resource; false when it is stale.
        /// Keep `person`'s deactivation, asked by `connection`, for an admin (once per person).
        async fn hold_deactivation_in(
            tx: &mut DbTx,
            org: roster_core::OrgId,
            person: roster_core::UserId,
            connection: roster_core::ConnectionId,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::StoreResult<()> {
            sqlx::query(
                "INSERT INTO pending_deactivations (org_id, person_id, connection_id, asked_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (org_id, person_id) DO NOTHING",
            )
            .bind(org.as_uuid())
            .bind(person.as_uuid())
            .bind(connection.as_uuid())
            .bind(ts(now))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        async fn write_resource(tx: &mut DbTx, write: &$crate::ScimWrite) -> $crate::StoreResult<bool> {
            let r = &write.resource;
            let document = sqlx::types::Json(&r.document);
            let written = match write.expected_version {
                None => sqlx::query(
                    "INSERT INTO scim_resources (org_id, id, connection_id, resource_type, external_id, user_name, user_name_key, display_name, display_name_key, document, version, created_at, updated_at, person_id, team_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(r.org.as_uuid())
                .bind(r.id)
                .bind(r.connection.as_uuid())
                .bind(r.resource_type.as_str())
                .bind(&r.external_id)
                .bind(&r.user_name)
                .bind(lower_key(&r.user_name))
                .bind(&r.display_name)
                .bind(lower_key(&r.display_name))
                .bind(document)
                .bind(r.version)
                .bind(ts(r.created_at))
                .bind(ts(r.updated_at))
                .bind(r.person.map(|p| p.as_uuid()))
                .bind(r.team.map(|t| t.as_uuid()))
                .execute(&mut **tx)
                .await
                .map_err(scim_conflict)?,
                Some(expected) => sqlx::query(
                    "UPDATE scim_resources SET external_id = $4, user_name = $5, user_name_key = $6, display_name = $7, display_name_key = $8, \
                     document = $9, version = $10, updated_at = $11, person_id = $12, team_id = $13 \
                     WHERE org_id = $1 AND id = $2 AND version = $3",
                )
                .bind(r.org.as_uuid())
                .bind(r.id)
                .bind(expected)
                .bind(&r.external_id)
                .bind(&r.user_name)
                .bind(lower_key(&r.user_name))
                .bind(&r.display_name)
                .bind(lower_key(&r.display_name))
                .bind(document)
                .bind(r.version)
                .bind(ts(r.updated_at))
                .bind(r.person.map(|p| p.as_uuid()))
                .bind(r.team.map(|t| t.as_uuid()))
                .execute(&mut **tx)
                .await
                .map_err(scim_conflict)?,
            };
            if written.rows_affected() != 1 {
                return Ok(false);
            }
            if let Some(members) = &write.members {
                replace_members(tx, r.org.as_uuid(), r.id, members).await?;
            }
            Ok(true)
        }

        #[async_trait::async_trait]
        impl $crate::ScimStore for $store {
            async fn create_scim_token(&self, token: &$crate::NewScimToken) -> $crate::StoreResult<$crate::ScimToken> {
                let mut tx = begin_write(&self.pool).await?;
                sqlx::query("INSERT INTO scim_tokens (id, org_id, connection_id, name, digest, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(token.id)
                    .bind(token.org.as_uuid())
                    .bind(token.connection.as_uuid())
                    .bind(&token.name)
                    .bind(&token.digest)
                    .bind(ts(token.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::common::classify(e, "SCIM token"))?;
                let detail = serde_json::json!({ "token": token.id, "name": token.name });
                audit_row(&mut tx, token.org, &token.created_by, "scim_token.created", None, None, detail, token.created_at).await?;
                tx.commit().await?;
                Ok($crate::ScimToken {
                    id: token.id,
                    org: token.org,
                    connection: token.connection,
                    name: token.name.clone(),
                    created_at: token.created_at,
                    last_used_at: None,
                    revoked_at: None,
                })
            }

            async fn scim_token(&self, digest: &str, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<Option<$crate::ScimToken>> {
                let sql = format!("SELECT {TOKEN_COLUMNS} FROM scim_tokens WHERE digest = $1 AND revoked_at IS NULL");
                let Some(row) = sqlx::query(&sql).bind(digest).fetch_optional(&self.pool).await? else {
                    return Ok(None);
                };
                let mut token = scim_token_from_row(&row)?;
                let fresh = token.last_used_at.is_some_and(|t| now - t < chrono::Duration::seconds(TOKEN_TOUCH_SECONDS));
                if !fresh {
                    sqlx::query("UPDATE scim_tokens SET last_used_at = $2 WHERE id = $1").bind(token.id).bind(ts(now)).execute(&self.pool).await?;
                    token.last_used_at = Some(now);
                }
                Ok(Some(token))
            }

            async fn scim_tokens(&self, org: roster_core::OrgId) -> $crate::StoreResult<Vec<$crate::ScimToken>> {
                let sql = format!("SELECT {TOKEN_COLUMNS} FROM scim_tokens WHERE org_id = $1 ORDER BY created_at DESC, id DESC");
                let rows = sqlx::query(&sql).bind(org.as_uuid()).fetch_all(&self.pool).await?;
                rows.iter().map(scim_token_from_row).collect()
            }

            async fn revoke_scim_token(&self, org: roster_core::OrgId, id: uuid::Uuid, actor: &roster_core::Actor, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<bool> {
                let mut tx = begin_write(&self.pool).await?;
                let done = sqlx::query("UPDATE scim_tokens SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL")
                    .bind(org.as_uuid())
                    .bind(id)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                audit_row(&mut tx, org, actor, "scim_token.revoked", None, None, serde_json::json!({ "token": id }), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn scim_resource(&self, org: roster_core::OrgId, kind: $crate::ScimResourceType, id: uuid::Uuid) -> $crate::StoreResult<Option<$crate::ScimResource>> {
                let sql = format!("SELECT {RESOURCE_COLUMNS} FROM scim_resources r WHERE r.org_id = $1 AND r.id = $2 AND r.resource_type = $3");
                let row = sqlx::query(&sql).bind(org.as_uuid()).bind(id).bind(kind.as_str()).fetch_optional(&self.pool).await?;
                row.as_ref().map(scim_resource_from_row).transpose()
            }

            async fn scim_resources(&self, org: roster_core::OrgId, kind: $crate::ScimResourceType, ids: &[uuid::Uuid]) -> $crate::StoreResult<Vec<$crate::ScimResource>> {
                let mut found = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(IDS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(format!("SELECT {RESOURCE_COLUMNS} FROM scim_resources r WHERE r.org_id = "));
                    qb.push_bind(org.as_uuid()).push(" AND r.resource_type = ").push_bind(kind.as_str()).push(" AND r.id IN (");
                    let mut list = qb.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    qb.push(")");
                    for row in qb.build().fetch_all(&self.pool).await? {
                        found.push(scim_resource_from_row(&row)?);
                    }
                }
                Ok(found)
            }

            async fn scim_user_by_name(&self, org: roster_core::OrgId, user_name: &str) -> $crate::StoreResult<Option<$crate::ScimResource>> {
                let sql = format!("SELECT {RESOURCE_COLUMNS} FROM scim_resources r WHERE r.org_id = $1 AND r.resource_type = 'User' AND r.user_name_key = $2");
                let row = sqlx::query(&sql).bind(org.as_uuid()).bind(user_name.to_lowercase()).fetch_optional(&self.pool).await?;
                row.as_ref().map(scim_resource_from_row).transpose()
            }

            async fn scim_group_by_name(&self, org: roster_core::OrgId, name: &str) -> $crate::StoreResult<Option<$crate::ScimResource>> {
                let sql = format!("SELECT {RESOURCE_COLUMNS} FROM scim_resources r WHERE r.org_id = $1 AND r.resource_type = 'Group' AND r.display_name_key = $2");
                let row = sqlx::query(&sql).bind(org.as_uuid()).bind(name.to_lowercase()).fetch_optional(&self.pool).await?;
                row.as_ref().map(scim_resource_from_row).transpose()
            }

            async fn scim_list(&self, org: roster_core::OrgId, kind: $crate::ScimResourceType, query: &$crate::ScimQuery<'_>) -> $crate::StoreResult<$crate::ScimPage> {
                let schema = kind.schema();
                let compiled = match query.filter {
                    Some(filter) => Some(compile_filter(SCIM_DIALECT, schema, filter).map_err($crate::StoreError::Invalid)?),
                    None => None,
                };
                let order = match query.sort {
                    Some(sort) => Some(sort_expression(SCIM_DIALECT, schema, &sort.by).map_err($crate::StoreError::Invalid)?),
                    None => None,
                };
                let scope = |qb: &mut sqlx::QueryBuilder<'_, Db>| {
                    // The type is written into the SQL, not bound: only then can either planner
                    // use the partial indexes (`WHERE resource_type = 'User'`) that serve
                    // `userName eq`; bound, every lookup scanned all the organisation's Users.
                    // `as_str` is one of two fixed words.
                    qb.push(" WHERE r.org_id = ").push_bind(org.as_uuid()).push(format!(" AND r.resource_type = '{}'", kind.as_str()));
                    if let Some(pieces) = compiled.clone() {
                        qb.push(" AND ");
                        push_pieces(qb, pieces);
                    }
                };
                let mut count = sqlx::QueryBuilder::<Db>::new("SELECT COUNT(*) FROM scim_resources r");
                scope(&mut count);
                let total: i64 = count.build().fetch_one(&self.pool).await?.try_get(0)?;
                // COUNT(*) is never negative (and fits usize on 64-bit targets): the default is unreachable.
                let total = usize::try_from(total).unwrap_or(0);
                if query.count == 0 || query.offset >= total {
                    return Ok($crate::ScimPage { total, resources: Vec::new() });
                }
                // Absent values last on both backends (they disagree on where NULL sorts).
                let ordering = match &order {
                    Some(expr) => format!("({expr} IS NULL), {expr} {}, r.id", if query.descending() { "DESC" } else { "ASC" }),
                    None => "r.id".to_owned(),
                };
                // The page's ids first, from the indexes alone, then only those rows: an OFFSET
                // deep into 100,000 Users then skips index entries, not documents.
                let mut page = sqlx::QueryBuilder::<Db>::new(format!("SELECT {RESOURCE_COLUMNS} FROM scim_resources r WHERE r.org_id = "));
                page.push_bind(org.as_uuid()).push(" AND r.id IN (SELECT r.id FROM scim_resources r");
                scope(&mut page);
                // Saturating is exact here: a count or offset past i64::MAX is past every row.
                page.push(format_args!(" ORDER BY {ordering} LIMIT "))
                    .push_bind(i64::try_from(query.count).unwrap_or(i64::MAX))
                    .push(" OFFSET ")
                    .push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX))
                    .push(format_args!(") ORDER BY {ordering}"));
                let rows = page.build().fetch_all(&self.pool).await?;
                let resources = rows.iter().map(scim_resource_from_row).collect::<$crate::StoreResult<Vec<_>>>()?;
                Ok($crate::ScimPage { total, resources })
            }

            async fn scim_groups_of(&self, org: roster_core::OrgId, member: uuid::Uuid) -> $crate::StoreResult<Vec<(uuid::Uuid, String)>> {
                let rows = sqlx::query(
                    "SELECT g.id, g.display_name FROM scim_group_members m JOIN scim_resources g ON g.org_id = m.org_id AND g.id = m.group_id \
                     WHERE m.org_id = $1 AND m.member_id = $2 ORDER BY g.display_name_key, g.id",
                )
                .bind(org.as_uuid())
                .bind(member)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| Ok((row.try_get::<uuid::Uuid, _>(0)?, row.try_get::<Option<String>, _>(1)?.unwrap_or_default())))
                    .collect()
            }

            async fn scim_members(&self, org: roster_core::OrgId, group: uuid::Uuid) -> $crate::StoreResult<Vec<uuid::Uuid>> {
                let rows = sqlx::query("SELECT member_id FROM scim_group_members WHERE org_id = $1 AND group_id = $2 ORDER BY member_id")
                    .bind(org.as_uuid())
                    .bind(group)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|row| Ok(row.try_get::<uuid::Uuid, _>(0)?)).collect()
            }

            async fn scim_write(&self, write: &$crate::ScimWrite, plan: &roster_core::Plan, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::ScimWriteOutcome> {
                let mut tx = begin_write(&self.pool).await?;
                lock_org(&mut tx, write.resource.org).await?;
                // The plan first: a new person or team must exist before the resource links to it.
                apply_plan_in(&mut tx, plan, now).await?;
                if !write_resource(&mut tx, write).await? {
                    // Dropping the transaction rolls the plan back too.
                    return Ok($crate::ScimWriteOutcome::Stale);
                }
                if let Some(person) = write.resource.person {
                    let r = &write.resource;
                    if write.hold_deactivation {
                        hold_deactivation_in(&mut tx, r.org, person, r.connection, now).await?;
                    } else if r.document.get("active") != Some(&serde_json::Value::Bool(false)) {
                        // Active again: a deactivation still waiting is no longer asked for.
                        sqlx::query("DELETE FROM pending_deactivations WHERE org_id = $1 AND person_id = $2")
                            .bind(r.org.as_uuid())
                            .bind(person.as_uuid())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok($crate::ScimWriteOutcome::Written)
            }

            async fn scim_guard_counts(
                &self,
                org: roster_core::OrgId,
                connection: roster_core::ConnectionId,
                since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<$crate::ScimGuardCounts> {
                let actor = roster_core::Actor::Connection { id: connection }.label();
                let recent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE org_id = $1 AND actor = $2 AND action = 'user.deactivated' AND at >= $3")
                    .bind(org.as_uuid())
                    .bind(&actor)
                    .bind(ts(since))
                    .fetch_one(&self.pool)
                    .await?;
                let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_deactivations WHERE org_id = $1 AND connection_id = $2")
                    .bind(org.as_uuid())
                    .bind(connection.as_uuid())
                    .fetch_one(&self.pool)
                    .await?;
                // COUNT(*) is never negative.
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                Ok($crate::ScimGuardCounts { deactivated_recently: count(recent), pending: count(pending) })
            }

            async fn provisioned_count(&self, org: roster_core::OrgId, connection: roster_core::ConnectionId) -> $crate::StoreResult<u64> {
                let provisioned: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM people WHERE org_id = $1 AND source_connection_id = $2 AND status <> 'deactivated'")
                    .bind(org.as_uuid())
                    .bind(connection.as_uuid())
                    .fetch_one(&self.pool)
                    .await?;
                // COUNT(*) is never negative.
                Ok(u64::try_from(provisioned).unwrap_or(0))
            }

            async fn pending_deactivations(&self, org: roster_core::OrgId) -> $crate::StoreResult<Vec<$crate::PendingDeactivation>> {
                let rows = sqlx::query("SELECT person_id, connection_id, asked_at FROM pending_deactivations WHERE org_id = $1 ORDER BY asked_at, person_id")
                    .bind(org.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::PendingDeactivation {
                            person: roster_core::UserId::from_uuid(row.try_get("person_id")?),
                            connection: roster_core::ConnectionId::from_uuid(row.try_get("connection_id")?),
                            asked_at: row.try_get("asked_at")?,
                        })
                    })
                    .collect()
            }

            async fn clear_pending_deactivations(
                &self,
                org: roster_core::OrgId,
                people: &[roster_core::UserId],
                applied: bool,
                actor: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<u64> {
                let mut tx = begin_write(&self.pool).await?;
                let mut cleared = 0;
                let action = if applied { "user.deactivation_applied" } else { "user.deactivation_discarded" };
                for person in people {
                    let done = sqlx::query("DELETE FROM pending_deactivations WHERE org_id = $1 AND person_id = $2")
                        .bind(org.as_uuid())
                        .bind(person.as_uuid())
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 0 {
                        continue;
                    }
                    cleared += 1;
                    sqlx::query("INSERT INTO audit_log (id, org_id, at, run_id, actor, action, person_id, team_id, detail) VALUES ($1, $2, $3, NULL, $4, $5, $6, NULL, $7)")
                        .bind(uuid::Uuid::now_v7())
                        .bind(org.as_uuid())
                        .bind(ts(now))
                        .bind(actor)
                        .bind(action)
                        .bind(person.as_uuid())
                        .bind(sqlx::types::Json(serde_json::json!({ "waiting": "a SCIM deactivation held by the guard" })))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(cleared)
            }

            async fn scim_delete(&self, delete: &$crate::ScimDelete<'_>, plan: &roster_core::Plan, now: chrono::DateTime<chrono::Utc>) -> $crate::StoreResult<$crate::ScimWriteOutcome> {
                let $crate::ScimDelete { org, kind, id, expected_version, also, hold_deactivation } = *delete;
                let mut tx = begin_write(&self.pool).await?;
                lock_org(&mut tx, org).await?;
                sqlx::query("DELETE FROM scim_group_members WHERE org_id = $1 AND (group_id = $2 OR member_id = $2)").bind(org.as_uuid()).bind(id).execute(&mut *tx).await?;
                let deleted = sqlx::query("DELETE FROM scim_resources WHERE org_id = $1 AND id = $2 AND resource_type = $3 AND version = $4")
                    .bind(org.as_uuid())
                    .bind(id)
                    .bind(kind.as_str())
                    .bind(expected_version)
                    .execute(&mut *tx)
                    .await?;
                if deleted.rows_affected() != 1 {
                    return Ok($crate::ScimWriteOutcome::Stale);
                }
                for write in also {
                    if !write_resource(&mut tx, write).await? {
                        return Ok($crate::ScimWriteOutcome::Stale);
                    }
                }
                apply_plan_in(&mut tx, plan, now).await?;
                if let Some((person, connection)) = hold_deactivation {
                    hold_deactivation_in(&mut tx, org, person, connection, now).await?;
                }
                tx.commit().await?;
                Ok($crate::ScimWriteOutcome::Written)
            }

            async fn log_scim_requests(&self, entries: &[$crate::ScimRequestLog]) -> $crate::StoreResult<()> {
                if entries.is_empty() {
                    return Ok(());
                }
                let mut tx = begin_write(&self.pool).await?;
                for e in entries {
                    sqlx::query("INSERT INTO scim_requests (id, org_id, token_id, at, method, path, status, duration_micros, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                        .bind(e.id)
                        .bind(e.org.as_uuid())
                        .bind(e.token)
                        .bind(ts(e.at))
                        .bind(&e.method)
                        .bind(&e.path)
                        .bind(i32::from(e.status))
                        .bind(e.duration_micros)
                        .bind(&e.error)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn scim_requests(&self, org: roster_core::OrgId, limit: u32) -> $crate::StoreResult<Vec<$crate::ScimRequestLog>> {
                let rows = sqlx::query("SELECT id, org_id, token_id, at, method, path, status, duration_micros, error FROM scim_requests WHERE org_id = $1 ORDER BY at DESC, id DESC LIMIT $2")
                    .bind(org.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let status: i32 = row.try_get("status")?;
                        Ok($crate::ScimRequestLog {
                            id: row.try_get("id")?,
                            org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                            token: row.try_get("token_id")?,
                            at: row.try_get("at")?,
                            method: row.try_get("method")?,
                            path: row.try_get("path")?,
                            status: u16::try_from(status).map_err(|e| $crate::StoreError::Corrupt(format!("SCIM request status {status}: {e}")))?,
                            duration_micros: row.try_get("duration_micros")?,
                            error: row.try_get("error")?,
                        })
                    })
                    .collect()
            }
        }
    };
}
