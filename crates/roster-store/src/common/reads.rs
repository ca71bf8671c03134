//! The read side (organisations, people, teams, audit), written once for both backends.

/// The person columns every person query selects, from `people p`.
pub(crate) const PERSON_COLUMNS: &str = "p.id, p.org_id, p.email, p.first_name, p.last_name, p.job_title, \
    p.department, p.location, p.language, p.hire_date, p.custom_fields, p.status, p.role, p.primary_team_id, \
    p.manager_id, p.avatar_url, p.source_connection_id, p.source_external_id, p.activated, p.provisioning_allowed, p.created_at, p.updated_at";

pub(crate) const AUDIT_COLUMNS: &str = "id, org_id, at, run_id, actor, action, person_id, team_id, detail";

/// Keys looked up in one statement by `snapshot_for`: far under either backend's bind limit,
/// and a SCIM write (one e-mail, one or two external ids) always makes the same few statements,
/// which stay prepared.
pub(crate) const KEYS_PER_STATEMENT: usize = 500;

/// Instantiates row decoding and `OrgStore`, `PeopleStore`, `TeamStore` and `AuditStore` for `$store`.
macro_rules! impl_reads {
    ($store:ident) => {
        use $crate::common::reads::{AUDIT_COLUMNS, PERSON_COLUMNS};

        fn org_from_row(row: &DbRow) -> $crate::StoreResult<roster_core::Org> {
            let slug: String = row.try_get("slug")?;
            Ok(roster_core::Org {
                id: roster_core::OrgId::from_uuid(row.try_get("id")?),
                slug: roster_core::OrgSlug::parse(&slug).map_err(|e| $crate::StoreError::Corrupt(e.to_string()))?,
                name: row.try_get("name")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn team_from_row(row: &DbRow) -> $crate::StoreResult<roster_core::Team> {
            let name: String = row.try_get("name")?;
            let parent: Option<uuid::Uuid> = row.try_get("parent_id")?;
            Ok(roster_core::Team {
                id: roster_core::TeamId::from_uuid(row.try_get("id")?),
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                name: roster_core::TeamName::parse(&name).map_err(|e| $crate::StoreError::Corrupt(e.to_string()))?,
                parent: parent.map(roster_core::TeamId::from_uuid),
            })
        }

        /// A person without their secondary teams, which live in another table.
        fn person_from_row(row: &DbRow) -> $crate::StoreResult<roster_core::Person> {
            let email: String = row.try_get("email")?;
            let status: String = row.try_get("status")?;
            let role: String = row.try_get("role")?;
            let custom: sqlx::types::Json<std::collections::BTreeMap<String, String>> = row.try_get("custom_fields")?;
            let connection: Option<uuid::Uuid> = row.try_get("source_connection_id")?;
            let external: Option<String> = row.try_get("source_external_id")?;
            let primary: Option<uuid::Uuid> = row.try_get("primary_team_id")?;
            let manager: Option<uuid::Uuid> = row.try_get("manager_id")?;
            Ok(roster_core::Person {
                id: roster_core::UserId::from_uuid(row.try_get("id")?),
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                email: roster_core::Email::from_stored(email),
                profile: roster_core::Profile {
                    first_name: row.try_get("first_name")?,
                    last_name: row.try_get("last_name")?,
                    job_title: row.try_get("job_title")?,
                    department: row.try_get("department")?,
                    location: row.try_get("location")?,
                    language: row.try_get("language")?,
                    hire_date: row.try_get("hire_date")?,
                    custom_fields: custom.0,
                },
                status: $crate::common::parse_status(&status)?,
                role: $crate::common::parse_role(&role)?,
                primary_team: primary.map(roster_core::TeamId::from_uuid),
                secondary_teams: Vec::new(),
                manager: manager.map(roster_core::UserId::from_uuid),
                avatar_url: row.try_get("avatar_url")?,
                source: match (connection, external) {
                    (Some(connection), Some(external_id)) => {
                        Some(roster_core::SourceLink { connection: roster_core::ConnectionId::from_uuid(connection), external_id })
                    }
                    _ => None,
                },
                activated: row.try_get("activated")?,
                provisioning_allowed: row.try_get("provisioning_allowed")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn audit_from_row(row: &DbRow) -> $crate::StoreResult<$crate::AuditEntry> {
            let run: Option<uuid::Uuid> = row.try_get("run_id")?;
            let person: Option<uuid::Uuid> = row.try_get("person_id")?;
            let team: Option<uuid::Uuid> = row.try_get("team_id")?;
            let detail: sqlx::types::Json<serde_json::Value> = row.try_get("detail")?;
            Ok($crate::AuditEntry {
                id: row.try_get("id")?,
                org: roster_core::OrgId::from_uuid(row.try_get("org_id")?),
                at: row.try_get("at")?,
                run: run.map(roster_core::RunId::from_uuid),
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                person: person.map(roster_core::UserId::from_uuid),
                team: team.map(roster_core::TeamId::from_uuid),
                detail: detail.0,
            })
        }

        /// Fill in the secondary teams of `people`, all of organisation `org`.
        async fn fill_secondary_teams<'c, E>(executor: E, org: roster_core::OrgId, people: &mut [roster_core::Person]) -> $crate::StoreResult<()>
        where
            E: sqlx::Executor<'c, Database = Db>,
        {
            if people.is_empty() {
                return Ok(());
            }
            let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT person_id, team_id FROM team_members WHERE org_id = ");
            qb.push_bind(org.as_uuid()).push(" AND person_id IN (");
            let mut ids = qb.separated(", ");
            for person in people.iter() {
                ids.push_bind(person.id.as_uuid());
            }
            qb.push(") ORDER BY person_id, team_id");
            let rows = qb.build().fetch_all(executor).await?;
            let mut by_person: std::collections::HashMap<uuid::Uuid, Vec<roster_core::TeamId>> = std::collections::HashMap::new();
            for row in &rows {
                by_person.entry(row.try_get("person_id")?).or_default().push(roster_core::TeamId::from_uuid(row.try_get("team_id")?));
            }
            for person in people.iter_mut() {
                if let Some(teams) = by_person.remove(&person.id.as_uuid()) {
                    person.secondary_teams = teams;
                }
            }
            Ok(())
        }

        async fn one_person(
            pool: &DbPool,
            org: roster_core::OrgId,
            column: &str,
            value: &str,
            id: Option<uuid::Uuid>,
        ) -> $crate::StoreResult<Option<roster_core::Person>> {
            let sql = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.org_id = $1 AND p.{column} = $2");
            let query = sqlx::query(&sql).bind(org.as_uuid());
            let query = match id {
                Some(id) => query.bind(id),
                None => query.bind(value),
            };
            let Some(row) = query.fetch_optional(pool).await? else {
                return Ok(None);
            };
            let mut person = [person_from_row(&row)?];
            fill_secondary_teams(pool, org, &mut person).await?;
            let [person] = person;
            Ok(Some(person))
        }

        /// The people of `org` whose `column` is one of `values` (and, for external ids, who are
        /// linked to `connection`), added to `people` unless `seen` already holds them. Each
        /// statement probes a unique index once per value: (org, email) or (org, connection,
        /// external id).
        async fn people_by_keys(
            tx: &mut DbTx,
            org: roster_core::OrgId,
            column: &str,
            connection: Option<roster_core::ConnectionId>,
            values: &[&str],
            seen: &mut std::collections::HashSet<roster_core::UserId>,
            people: &mut Vec<roster_core::Person>,
        ) -> $crate::StoreResult<()> {
            for chunk in values.chunks($crate::common::reads::KEYS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::<Db>::new(format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.org_id = "));
                qb.push_bind(org.as_uuid());
                if let Some(connection) = connection {
                    qb.push(" AND p.source_connection_id = ").push_bind(connection.as_uuid());
                }
                qb.push(format!(" AND p.{column} IN ("));
                let mut list = qb.separated(", ");
                for value in chunk {
                    list.push_bind(*value);
                }
                qb.push(")");
                for row in qb.build().fetch_all(&mut **tx).await? {
                    let person = person_from_row(&row)?;
                    if seen.insert(person.id) {
                        people.push(person);
                    }
                }
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::OrgStore for $store {
            async fn create_org(&self, org: &roster_core::Org) -> $crate::StoreResult<()> {
                sqlx::query("INSERT INTO orgs (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(org.id.as_uuid())
                    .bind(org.slug.as_str())
                    .bind(&org.name)
                    .bind(ts(org.created_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::common::classify(e, &format!("organisation '{}'", org.slug)))?;
                Ok(())
            }

            async fn org_by_slug(&self, slug: &str) -> $crate::StoreResult<Option<roster_core::Org>> {
                let row = sqlx::query("SELECT id, slug, name, created_at FROM orgs WHERE slug = $1").bind(slug).fetch_optional(&self.pool).await?;
                row.as_ref().map(org_from_row).transpose()
            }

            async fn org_by_id(&self, id: roster_core::OrgId) -> $crate::StoreResult<Option<roster_core::Org>> {
                let row =
                    sqlx::query("SELECT id, slug, name, created_at FROM orgs WHERE id = $1").bind(id.as_uuid()).fetch_optional(&self.pool).await?;
                row.as_ref().map(org_from_row).transpose()
            }

            async fn list_orgs(&self) -> $crate::StoreResult<Vec<roster_core::Org>> {
                let rows = sqlx::query("SELECT id, slug, name, created_at FROM orgs ORDER BY slug").fetch_all(&self.pool).await?;
                rows.iter().map(org_from_row).collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::PeopleStore for $store {
            async fn snapshot(&self, org: roster_core::OrgId) -> $crate::StoreResult<roster_core::reconcile::Snapshot> {
                // One read transaction, so people, teams and memberships are of the same moment.
                let mut tx = begin_read(&self.pool).await?;
                let team_rows = sqlx::query("SELECT id, org_id, name, parent_id FROM teams WHERE org_id = $1 ORDER BY name_key, id")
                    .bind(org.as_uuid())
                    .fetch_all(&mut *tx)
                    .await?;
                let teams = team_rows.iter().map(team_from_row).collect::<$crate::StoreResult<Vec<_>>>()?;
                let sql = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.org_id = $1 ORDER BY p.id");
                // Decoded as the rows arrive, while the database produces the next ones.
                let mut people = Vec::new();
                {
                    let mut rows = sqlx::query(&sql).bind(org.as_uuid()).fetch(&mut *tx);
                    while let Some(row) = futures::TryStreamExt::try_next(&mut rows).await? {
                        people.push(person_from_row(&row)?);
                    }
                }
                let member_rows = sqlx::query("SELECT person_id, team_id FROM team_members WHERE org_id = $1 ORDER BY person_id, team_id")
                    .bind(org.as_uuid())
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                if !member_rows.is_empty() {
                    let mut by_person: std::collections::HashMap<uuid::Uuid, Vec<roster_core::TeamId>> = std::collections::HashMap::new();
                    for row in &member_rows {
                        by_person.entry(row.try_get("person_id")?).or_default().push(roster_core::TeamId::from_uuid(row.try_get("team_id")?));
                    }
                    for person in &mut people {
                        if let Some(teams) = by_person.remove(&person.id.as_uuid()) {
                            person.secondary_teams = teams;
                        }
                    }
                }
                Ok(roster_core::reconcile::Snapshot { people, teams })
            }

            async fn snapshot_for(
                &self,
                org: roster_core::OrgId,
                keys: &$crate::SnapshotKeys,
            ) -> $crate::StoreResult<roster_core::reconcile::Snapshot> {
                // Of one moment, like the whole snapshot; the teams are all read (the reconciler
                // finds a department's team among them, and an organisation has few).
                let mut tx = begin_read(&self.pool).await?;
                let team_rows = sqlx::query("SELECT id, org_id, name, parent_id FROM teams WHERE org_id = $1 ORDER BY name_key, id")
                    .bind(org.as_uuid())
                    .fetch_all(&mut *tx)
                    .await?;
                let teams = team_rows.iter().map(team_from_row).collect::<$crate::StoreResult<Vec<_>>>()?;
                let mut seen = std::collections::HashSet::new();
                let mut people = Vec::new();
                let emails: Vec<&str> = keys.emails.iter().map(roster_core::Email::as_str).collect();
                people_by_keys(&mut tx, org, "email", None, &emails, &mut seen, &mut people).await?;
                if let Some((connection, ids)) = &keys.external_ids {
                    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                    people_by_keys(&mut tx, org, "source_external_id", Some(*connection), &ids, &mut seen, &mut people).await?;
                }
                for chunk in people.chunks_mut($crate::common::reads::KEYS_PER_STATEMENT) {
                    fill_secondary_teams(&mut *tx, org, chunk).await?;
                }
                tx.commit().await?;
                Ok(roster_core::reconcile::Snapshot { people, teams })
            }

            async fn person(&self, org: roster_core::OrgId, id: roster_core::UserId) -> $crate::StoreResult<Option<roster_core::Person>> {
                one_person(&self.pool, org, "id", "", Some(id.as_uuid())).await
            }

            async fn person_by_email(&self, org: roster_core::OrgId, email: &roster_core::Email) -> $crate::StoreResult<Option<roster_core::Person>> {
                one_person(&self.pool, org, "email", email.as_str(), None).await
            }

            async fn search_people(
                &self,
                org: roster_core::OrgId,
                query: &roster_core::query::PersonQuery,
            ) -> $crate::StoreResult<$crate::PersonPage> {
                let too_deep = || {
                    $crate::StoreError::Database(sqlx::Error::InvalidArgument(format!(
                        "a person filter may nest at most {} levels",
                        $crate::common::filter::MAX_FILTER_DEPTH
                    )))
                };
                let limit = i64::from(query.limit.clamp(1, roster_core::query::MAX_PAGE_SIZE));
                // An offset past i64::MAX is past every row: saturating gives the same empty page.
                let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
                let mut qb = sqlx::QueryBuilder::<Db>::new(format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.org_id = "));
                qb.push_bind(org.as_uuid());
                if let Some(filter) = &query.filter {
                    if !$crate::common::filter::push_filter(&mut qb, org.as_uuid(), filter) {
                        return Err(too_deep());
                    }
                }
                let by_text = query.filter.as_ref().is_some_and($crate::common::filter::narrows_by_text);
                qb.push(" ORDER BY ").push($crate::common::filter::order_by(query.sort, by_text, NULLS_FIRST, NULLS_LAST));
                qb.push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
                // Not kept prepared: a cached generic plan cannot see how wide a prefix range or
                // how large a team is, and picks a scan that suits none of them.
                let rows = qb.build().persistent(false).fetch_all(&self.pool).await?;
                let mut people = rows.iter().map(person_from_row).collect::<$crate::StoreResult<Vec<_>>>()?;
                fill_secondary_teams(&self.pool, org, &mut people).await?;

                let total = if query.with_total {
                    let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT COUNT(*) FROM people p WHERE p.org_id = ");
                    qb.push_bind(org.as_uuid());
                    if let Some(filter) = &query.filter {
                        if !$crate::common::filter::push_filter(&mut qb, org.as_uuid(), filter) {
                            return Err(too_deep());
                        }
                    }
                    let count: i64 = qb.build().persistent(false).fetch_one(&self.pool).await?.try_get(0)?;
                    // COUNT(*) is never negative: the default is unreachable.
                    Some(u64::try_from(count).unwrap_or_default())
                } else {
                    None
                };
                Ok($crate::PersonPage { people, total })
            }

            fn stream_people(&self, org: roster_core::OrgId, query: &roster_core::query::PersonQuery) -> $crate::PersonStream {
                /// People per chunk: one secondary-team lookup each.
                const CHUNK: usize = 500;
                // Two chunks in flight at most: the reader waits for the consumer.
                let (tx, rx) = tokio::sync::mpsc::channel::<$crate::StoreResult<Vec<roster_core::Person>>>(2);
                let (pool, query) = (self.pool.clone(), query.clone());
                tokio::spawn(async move {
                    let read = async {
                        let mut qb = sqlx::QueryBuilder::<Db>::new(format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.org_id = "));
                        qb.push_bind(org.as_uuid());
                        if let Some(filter) = &query.filter {
                            if !$crate::common::filter::push_filter(&mut qb, org.as_uuid(), filter) {
                                return Err($crate::StoreError::Invalid(format!(
                                    "a person filter may nest at most {} levels",
                                    $crate::common::filter::MAX_FILTER_DEPTH
                                )));
                            }
                        }
                        let by_text = query.filter.as_ref().is_some_and($crate::common::filter::narrows_by_text);
                        qb.push(" ORDER BY ").push($crate::common::filter::order_by(query.sort, by_text, NULLS_FIRST, NULLS_LAST));
                        let mut rows = qb.build().persistent(false).fetch(&pool);
                        let mut chunk = Vec::with_capacity(CHUNK);
                        while let Some(row) = futures::TryStreamExt::try_next(&mut rows).await? {
                            chunk.push(person_from_row(&row)?);
                            if chunk.len() == CHUNK {
                                fill_secondary_teams(&pool, org, &mut chunk).await?;
                                if tx.send(Ok(std::mem::take(&mut chunk))).await.is_err() {
                                    return Ok(()); // the consumer went away
                                }
                            }
                        }
                        if !chunk.is_empty() {
                            fill_secondary_teams(&pool, org, &mut chunk).await?;
                            let _ = tx.send(Ok(chunk)).await;
                        }
                        Ok(())
                    };
                    if let Err(error) = read.await {
                        let _ = tx.send(Err(error)).await;
                    }
                });
                Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
            }

            async fn count_people(&self, org: roster_core::OrgId) -> $crate::StoreResult<$crate::PeopleCounts> {
                let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM people WHERE org_id = $1 GROUP BY status")
                    .bind(org.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                let mut counts = $crate::PeopleCounts::default();
                for row in &rows {
                    let status: String = row.try_get("status")?;
                    // COUNT(*) is never negative: the default is unreachable.
                    let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or_default();
                    match $crate::common::parse_status(&status)? {
                        roster_core::Status::Active => counts.active = n,
                        roster_core::Status::Invited => counts.invited = n,
                        roster_core::Status::Deactivated => counts.deactivated = n,
                    }
                    counts.total += n;
                }
                Ok(counts)
            }
        }

        #[async_trait::async_trait]
        impl $crate::TeamStore for $store {
            async fn teams(&self, org: roster_core::OrgId) -> $crate::StoreResult<Vec<$crate::TeamSummary>> {
                let rows = sqlx::query(
                    "SELECT t.id, t.org_id, t.name, t.parent_id, \
                     (SELECT COUNT(*) FROM people p WHERE p.org_id = t.org_id AND p.primary_team_id = t.id) AS primary_members, \
                     (SELECT COUNT(*) FROM team_members m WHERE m.org_id = t.org_id AND m.team_id = t.id) AS secondary_members \
                     FROM teams t WHERE t.org_id = $1 ORDER BY t.name_key, t.id",
                )
                .bind(org.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                let mut teams = Vec::with_capacity(rows.len());
                for row in &rows {
                    // Both are COUNT(*), never negative: the defaults are unreachable.
                    teams.push($crate::TeamSummary {
                        team: team_from_row(row)?,
                        primary_members: u64::try_from(row.try_get::<i64, _>("primary_members")?).unwrap_or_default(),
                        secondary_members: u64::try_from(row.try_get::<i64, _>("secondary_members")?).unwrap_or_default(),
                    });
                }
                Ok(teams)
            }

            async fn team(&self, org: roster_core::OrgId, id: roster_core::TeamId) -> $crate::StoreResult<Option<roster_core::Team>> {
                let row = sqlx::query("SELECT id, org_id, name, parent_id FROM teams WHERE org_id = $1 AND id = $2")
                    .bind(org.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(team_from_row).transpose()
            }

            async fn delete_team(
                &self,
                org: roster_core::OrgId,
                team: roster_core::TeamId,
                into: Option<roster_core::TeamId>,
                actor: &roster_core::Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::StoreResult<u64> {
                let mut tx = begin_write(&self.pool).await?;
                let (o, t) = (org.as_uuid(), team.as_uuid());
                let found = sqlx::query("SELECT id, org_id, name, parent_id FROM teams WHERE org_id = $1 AND id = $2").bind(o).bind(t).fetch_optional(&mut *tx).await?;
                let Some(found) = found else { return Err($crate::StoreError::NotFound(format!("team {team}"))) };
                let found = team_from_row(&found)?;
                let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(o).bind(t);
                let primary = count("SELECT COUNT(*) FROM people WHERE org_id = $1 AND primary_team_id = $2").fetch_one(&mut *tx).await?;
                let secondary = count("SELECT COUNT(*) FROM team_members WHERE org_id = $1 AND team_id = $2").fetch_one(&mut *tx).await?;
                let children = count("SELECT COUNT(*) FROM teams WHERE org_id = $1 AND parent_id = $2").fetch_one(&mut *tx).await?;
                let mut moved: Vec<uuid::Uuid> = Vec::new();
                match into {
                    None if primary + secondary + children > 0 => {
                        return Err($crate::StoreError::Invalid(format!(
                            "'{}' still has {primary} people, {secondary} secondary members and {children} teams under it: merge it into another team instead",
                            found.name
                        )))
                    }
                    None => {}
                    Some(target) => {
                        let g = target.as_uuid();
                        if target == team {
                            return Err($crate::StoreError::Invalid("a team cannot be merged into itself".into()));
                        }
                        // Up from the target: reaching this team below its direct children would make a loop.
                        let mut cursor = Some(g);
                        let mut depth = 0;
                        while let Some(current) = cursor {
                            let row = sqlx::query("SELECT parent_id FROM teams WHERE org_id = $1 AND id = $2").bind(o).bind(current).fetch_optional(&mut *tx).await?;
                            let Some(row) = row else { return Err($crate::StoreError::NotFound(format!("team {current}"))) };
                            let parent: Option<uuid::Uuid> = row.try_get("parent_id")?;
                            if parent == Some(t) && depth > 0 {
                                return Err($crate::StoreError::Invalid(format!("'{}' is under '{}': merge into a team that is not under it", target, found.name)));
                            }
                            depth += 1;
                            cursor = parent.filter(|_| depth < 1000);
                        }
                        moved = sqlx::query_scalar("SELECT id FROM people WHERE org_id = $1 AND primary_team_id = $2").bind(o).bind(t).fetch_all(&mut *tx).await?;
                        sqlx::query("UPDATE people SET primary_team_id = $3, updated_at = $4 WHERE org_id = $1 AND primary_team_id = $2")
                            .bind(o).bind(t).bind(g).bind(ts(now)).execute(&mut *tx).await?;
                        // Secondary members join the target unless they are in it already.
                        sqlx::query(
                            "INSERT INTO team_members (org_id, person_id, team_id) SELECT org_id, person_id, $3 FROM team_members m \
                             WHERE m.org_id = $1 AND m.team_id = $2 AND NOT EXISTS (SELECT 1 FROM team_members x WHERE x.org_id = $1 AND x.person_id = m.person_id AND x.team_id = $3)",
                        )
                        .bind(o).bind(t).bind(g).execute(&mut *tx).await?;
                        // The target, if it was under this team, takes this team's place; the other children go under the target.
                        sqlx::query("UPDATE teams SET parent_id = $3 WHERE org_id = $1 AND id = $2 AND parent_id = $4")
                            .bind(o)
                            .bind(g)
                            .bind(found.parent.map(|p| p.as_uuid()))
                            .bind(t)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("UPDATE teams SET parent_id = $3 WHERE org_id = $1 AND parent_id = $2 AND id <> $3").bind(o).bind(t).bind(g).execute(&mut *tx).await?;
                        sqlx::query("UPDATE scim_resources SET team_id = $3 WHERE org_id = $1 AND team_id = $2").bind(o).bind(t).bind(g).execute(&mut *tx).await?;
                        sqlx::query(
                            "INSERT INTO team_managers (org_id, team_id, person_id) SELECT org_id, $3, person_id FROM team_managers m \
                             WHERE m.org_id = $1 AND m.team_id = $2 AND NOT EXISTS (SELECT 1 FROM team_managers x WHERE x.org_id = $1 AND x.person_id = m.person_id AND x.team_id = $3)",
                        )
                        .bind(o).bind(t).bind(g).execute(&mut *tx).await?;
                    }
                }
                sqlx::query("DELETE FROM team_managers WHERE org_id = $1 AND team_id = $2").bind(o).bind(t).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM team_members WHERE org_id = $1 AND team_id = $2").bind(o).bind(t).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM teams WHERE org_id = $1 AND id = $2").bind(o).bind(t).execute(&mut *tx).await?;

                let target = match into {
                    Some(g) => sqlx::query_scalar::<_, String>("SELECT name FROM teams WHERE org_id = $1 AND id = $2").bind(o).bind(g.as_uuid()).fetch_optional(&mut *tx).await?,
                    None => None,
                };
                for person in &moved {
                    let detail = serde_json::json!({ "team": { "before": found.name.to_string(), "after": target } });
                    audit_row(&mut tx, org, actor, "user.primary_team_changed", Some(*person), Some(t), detail, now).await?;
                }
                let action = if into.is_some() { "team.merged" } else { "team.deleted" };
                let detail = serde_json::json!({ "name": found.name.to_string(), "into": target, "people_moved": moved.len() });
                audit_row(&mut tx, org, actor, action, None, Some(t), detail, now).await?;
                tx.commit().await?;
                Ok(moved.len() as u64)
            }

            async fn team_list(&self, org: roster_core::OrgId) -> $crate::StoreResult<Vec<roster_core::Team>> {
                let rows = sqlx::query("SELECT id, org_id, name, parent_id FROM teams WHERE org_id = $1 ORDER BY name_key, id")
                    .bind(org.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(team_from_row).collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::AuditStore for $store {
            async fn audit_for_person(
                &self,
                org: roster_core::OrgId,
                person: roster_core::UserId,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::AuditEntry>> {
                let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE org_id = $1 AND person_id = $2 ORDER BY seq DESC LIMIT $3");
                let rows = sqlx::query(&sql).bind(org.as_uuid()).bind(person.as_uuid()).bind(i64::from(limit)).fetch_all(&self.pool).await?;
                rows.iter().map(audit_from_row).collect()
            }

            async fn audit_log(&self, org: roster_core::OrgId, query: &$crate::AuditQuery) -> $crate::StoreResult<Vec<$crate::AuditEntry>> {
                let mut qb = sqlx::QueryBuilder::<Db>::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE org_id = "));
                qb.push_bind(org.as_uuid());
                if let Some(actor) = &query.actor {
                    qb.push(" AND actor = ").push_bind(actor.clone());
                }
                if let Some(person) = query.person {
                    qb.push(" AND person_id = ").push_bind(person.as_uuid());
                }
                if let Some(prefix) = &query.action_prefix {
                    // A prefix of letters, dots and underscores only: no LIKE wildcard reaches the query.
                    let safe: String = prefix.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_').collect();
                    qb.push(" AND action LIKE ").push_bind(format!("{safe}%"));
                }
                if let Some(since) = query.since {
                    qb.push(" AND at >= ").push_bind(ts(since));
                }
                if let Some(until) = query.until {
                    qb.push(" AND at < ").push_bind(ts(until));
                }
                if let Some(before) = query.before {
                    qb.push(" AND id < ").push_bind(before);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(query.limit.clamp(1, 1000)));
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(audit_from_row).collect()
            }

            async fn audit_version(&self, org: roster_core::OrgId) -> $crate::StoreResult<i64> {
                let newest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(seq) FROM audit_log WHERE org_id = $1").bind(org.as_uuid()).fetch_one(&self.pool).await?;
                Ok(newest.unwrap_or(0))
            }

            async fn recent_audit(&self, org: roster_core::OrgId, limit: u32) -> $crate::StoreResult<Vec<$crate::AuditEntry>> {
                let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE org_id = $1 ORDER BY seq DESC LIMIT $2");
                let rows = sqlx::query(&sql).bind(org.as_uuid()).bind(i64::from(limit)).fetch_all(&self.pool).await?;
                rows.iter().map(audit_from_row).collect()
            }
        }
    };
}
