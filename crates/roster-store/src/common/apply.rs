//! Applying a plan, written once for both backends. Changes are taken in order, but written in
//! bulk: inserts (teams, people, memberships, invitations) and runs of same-kind person updates
//! are buffered and flushed as multi-row statements, so a 100,000-person import is a few dozen
//! statements rather than 300,000. Buffers are flushed before anything that could depend on them,
//! so the effect is that of applying the changes one by one.

use crate::OutgoingEmail;
use roster_core::plan::NewPerson;
use roster_core::{Change, Status, TeamId, TeamName, UserId};
use std::collections::HashSet;
use uuid::Uuid;

/// One audit row and one event row, for one change.
pub(crate) struct Logged {
    pub audit_id: Uuid,
    pub event_id: Uuid,
    pub action: &'static str,
    pub person: Option<Uuid>,
    pub team: Option<Uuid>,
    /// The change without its secrets: the audit detail and the event data.
    pub detail: serde_json::Value,
}

impl Logged {
    pub(crate) fn of(change: &Change) -> crate::StoreResult<Self> {
        Ok(Self {
            audit_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            action: change.action(),
            person: change.person().map(|p| p.as_uuid()),
            team: change.team().map(|t| t.as_uuid()),
            detail: super::redacted(change)?,
        })
    }
}

/// Person updates that are written in bulk when several of the same kind follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateKind {
    Status,
    Role,
    PrimaryTeam,
    Manager,
    Profile,
}

impl UpdateKind {
    pub(crate) fn of(change: &Change) -> Option<(Self, UserId)> {
        match change {
            Change::SetStatus { id, .. } => Some((Self::Status, *id)),
            Change::SetRole { id, .. } => Some((Self::Role, *id)),
            Change::SetPrimaryTeam { id, .. } => Some((Self::PrimaryTeam, *id)),
            Change::SetManager { id, .. } => Some((Self::Manager, *id)),
            Change::UpdateProfile { id, .. } => Some((Self::Profile, *id)),
            _ => None,
        }
    }

    /// Values bound per row, the person id included.
    pub(crate) fn columns(self) -> usize {
        match self {
            Self::Profile => 11,
            _ => 2,
        }
    }
}

/// A run of same-kind updates, each person at most once (a second update of the same person
/// starts a new run, so the later one wins as it would applied alone).
pub(crate) struct UpdateRun<'p> {
    pub kind: UpdateKind,
    pub changes: Vec<&'p Change>,
    people: HashSet<UserId>,
}

impl<'p> UpdateRun<'p> {
    pub(crate) fn new(kind: UpdateKind) -> Self {
        Self { kind, changes: Vec::new(), people: HashSet::new() }
    }

    pub(crate) fn accepts(&self, kind: UpdateKind, id: UserId) -> bool {
        self.kind == kind && !self.people.contains(&id)
    }

    pub(crate) fn push(&mut self, change: &'p Change, id: UserId) {
        self.people.insert(id);
        self.changes.push(change);
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = UserId> + '_ {
        self.changes.iter().filter_map(|c| c.person())
    }

    pub(crate) fn deactivated(&self) -> Vec<Uuid> {
        self.changes
            .iter()
            .filter_map(|c| match c {
                Change::SetStatus { id, after: Status::Deactivated, .. } => Some(id.as_uuid()),
                _ => None,
            })
            .collect()
    }
}

/// Rows waiting to be written. Inserts and an update run are never pending at the same time.
#[derive(Default)]
pub(crate) struct Pending<'p> {
    pub teams: Vec<(TeamId, &'p TeamName)>,
    pub people: Vec<&'p NewPerson>,
    pub members: Vec<(UserId, TeamId)>,
    /// People (re)invited: their open invitation links are voided.
    pub tokens: Vec<UserId>,
    pub emails: Vec<OutgoingEmail>,
    pub updates: Option<UpdateRun<'p>>,
    pub log: Vec<Logged>,
}

impl Pending<'_> {
    pub(crate) fn has_inserts(&self) -> bool {
        !(self.teams.is_empty() && self.people.is_empty() && self.members.is_empty() && self.tokens.is_empty() && self.emails.is_empty())
    }

    /// Is any insert buffer at its statement size?
    pub(crate) fn inserts_full(&self, rows: &RowLimits) -> bool {
        self.teams.len() >= rows.teams
            || self.people.len() >= rows.people
            || self.members.len() >= rows.members
            || self.tokens.len() >= rows.tokens
            || self.emails.len() >= rows.emails
    }
}

/// Rows per multi-row statement, per table, under a backend's bind limit.
pub(crate) struct RowLimits {
    pub teams: usize,
    pub people: usize,
    pub members: usize,
    pub tokens: usize,
    pub emails: usize,
    pub audit: usize,
    pub events: usize,
    max_binds: usize,
    update_rows: usize,
}

impl RowLimits {
    /// `update_rows` caps a bulk update: a backend whose planner may join the batch by scanning
    /// it once per updated row wants short batches, one that hashes it wants long ones.
    pub(crate) const fn new(max_binds: usize, update_rows: usize) -> Self {
        use super::rows_per_statement as rows;
        Self {
            teams: rows(max_binds, TEAM_BINDS),
            people: rows(max_binds, PERSON_BINDS),
            members: rows(max_binds, 3),
            tokens: rows(max_binds, 5),
            emails: rows(max_binds, 6),
            audit: rows(max_binds, 9),
            events: rows(max_binds, 7),
            max_binds,
            update_rows,
        }
    }

    /// Rows per bulk update; each row binds its values and its id twice (see `flush_updates`).
    pub(crate) fn updates(&self, kind: UpdateKind) -> usize {
        super::rows_per_statement(self.max_binds.saturating_sub(3), kind.columns() + 1).min(self.update_rows)
    }
}

/// After a plan this large the planner's statistics are refreshed, so that searches keep
/// using the right indexes once an organisation has grown by an import.
pub(crate) const LARGE_PLAN: usize = 5_000;

pub(crate) const TEAM_BINDS: usize = 5;
pub(crate) const PERSON_BINDS: usize = 21;

/// The e-mail addresses a plan gives out (new people and changed addresses): to name the one
/// that broke a uniqueness rule.
pub(crate) fn claimed_emails(changes: &[Change]) -> Vec<&str> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::CreatePerson { person } => Some(person.email.as_str()),
            Change::ChangeEmail { after, .. } => Some(after.as_str()),
            _ => None,
        })
        .collect()
}

/// The first address given out twice within the plan itself.
pub(crate) fn repeated_email<'a>(emails: &[&'a str]) -> Option<&'a str> {
    let mut seen = HashSet::with_capacity(emails.len());
    emails.iter().find(|e| !seen.insert(**e)).copied()
}

/// Instantiates `PlanStore` for `$store`; the backend provides `ROW_LIMITS`,
/// `begin_write`, `lock_org` and `refresh_statistics`.
macro_rules! impl_apply {
    ($store:ident) => {
        use roster_core::Change;
        use $crate::common::apply::{Logged, Pending, UpdateKind, UpdateRun, LARGE_PLAN};

        type Ts = chrono::DateTime<chrono::Utc>;

        /// What the whole plan shares: its organisation, actor, run and moment.
        struct Run<'p> {
            org: uuid::Uuid,
            actor: String,
            run: uuid::Uuid,
            now: Ts,
            plan: &'p roster_core::Plan,
            statistics_refreshed: std::sync::atomic::AtomicBool,
        }

        impl<'p> Run<'p> {
            fn new(plan: &'p roster_core::Plan, run: uuid::Uuid, now: Ts) -> Self {
                Run {
                    org: plan.org.as_uuid(),
                    actor: plan.actor.label(),
                    run,
                    now,
                    plan,
                    statistics_refreshed: std::sync::atomic::AtomicBool::new(false),
                }
            }
        }

        async fn apply_changes<'p>(tx: &mut DbTx, run: &Run<'p>) -> $crate::StoreResult<()> {
            let mut pending = Pending::default();
            for change in &run.plan.changes {
                pending.log.push(Logged::of(change)?);
                let buffered = match change {
                    Change::CreateTeam { id, name } => {
                        pending.teams.push((*id, name));
                        true
                    }
                    Change::CreatePerson { person } => {
                        pending.people.push(person);
                        true
                    }
                    Change::AddSecondaryTeam { id, team } => {
                        pending.members.push((*id, *team));
                        true
                    }
                    Change::Invite { id, email, name, .. } => {
                        // The link is minted when the e-mail is sent; an earlier one dies now.
                        pending.tokens.push(*id);
                        pending.emails.push($crate::OutgoingEmail::Invitation { to: email.clone(), name: name.clone(), person: Some(*id) });
                        true
                    }
                    _ => false,
                };
                if buffered {
                    // Updates before this insert are written first, to keep the plan's order.
                    flush_updates(tx, run, &mut pending).await?;
                    if pending.inserts_full(&ROW_LIMITS) {
                        flush_inserts(tx, run, &mut pending).await?;
                    }
                } else if let Some((kind, id)) = UpdateKind::of(change) {
                    // The people updated may be among the pending inserts.
                    flush_inserts(tx, run, &mut pending).await?;
                    let fits = pending.updates.as_ref().is_some_and(|u| u.accepts(kind, id) && u.changes.len() < ROW_LIMITS.updates(kind));
                    if !fits {
                        flush_updates(tx, run, &mut pending).await?;
                    }
                    pending.updates.get_or_insert_with(|| UpdateRun::new(kind)).push(change, id);
                } else {
                    flush_inserts(tx, run, &mut pending).await?;
                    flush_updates(tx, run, &mut pending).await?;
                    apply_single(tx, run, change).await?;
                }
                if pending.log.len() >= ROW_LIMITS.audit.min(ROW_LIMITS.events) {
                    // The events carry the people and teams as they are after their changes.
                    flush_inserts(tx, run, &mut pending).await?;
                    flush_updates(tx, run, &mut pending).await?;
                    flush_log(tx, run, &mut pending.log).await?;
                }
            }
            flush_inserts(tx, run, &mut pending).await?;
            flush_updates(tx, run, &mut pending).await?;
            flush_log(tx, run, &mut pending.log).await?;
            sign_out_readdressed(tx, run).await
        }

        /// A person whose address changed, or who was deactivated, is signed out everywhere and
        /// loses every open link: a session or link must not outlive the address it was for.
        async fn sign_out_readdressed(tx: &mut DbTx, run: &Run<'_>) -> $crate::StoreResult<()> {
            let people: Vec<roster_core::UserId> = run
                .plan
                .changes
                .iter()
                .filter_map(|change| match change {
                    Change::ChangeEmail { id, .. } | Change::SetStatus { id, after: roster_core::Status::Deactivated, .. } => Some(*id),
                    _ => None,
                })
                .collect();
            for chunk in people.chunks(ROW_LIMITS.members) {
                void_tokens_of(tx, roster_core::OrgId::from_uuid(run.org), chunk, None, run.now).await?;
                let mut qb = sqlx::QueryBuilder::<Db>::new("DELETE FROM sessions WHERE org_id = ");
                qb.push_bind(run.org).push(" AND person_id IN (");
                let mut ids = qb.separated(", ");
                for person in chunk {
                    ids.push_bind(person.as_uuid());
                }
                qb.push(")");
                qb.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        async fn flush_inserts(tx: &mut DbTx, run: &Run<'_>, pending: &mut Pending<'_>) -> $crate::StoreResult<()> {
            if !pending.has_inserts() {
                return Ok(());
            }
            // In reference order: teams, then the people in them, then what refers to people.
            if !pending.teams.is_empty() {
                let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO teams (org_id, id, name, name_key, created_at) ");
                qb.push_values(pending.teams.drain(..), |mut row, (id, name)| {
                    row.push_bind(run.org).push_bind(id.as_uuid()).push_bind(name.as_str().to_owned()).push_bind(name.key()).push_bind(ts(run.now));
                });
                qb.build().execute(&mut **tx).await.map_err(|e| $crate::common::classify(e, "creating teams"))?;
            }
            if !pending.people.is_empty() {
                let mut qb = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO people (org_id, id, email, first_name, last_name, job_title, department, location, language, \
                     hire_date, custom_fields, status, role, primary_team_id, source_connection_id, source_external_id, \
                     sort_key, last_key, team_key, created_at, updated_at) ",
                );
                // The team sort's key: the teams (those of this plan included) were written above.
                let team_keys: std::collections::HashMap<uuid::Uuid, String> =
                    sqlx::query_as::<_, (uuid::Uuid, String)>("SELECT id, name_key FROM teams WHERE org_id = $1")
                        .bind(run.org)
                        .fetch_all(&mut **tx)
                        .await?
                        .into_iter()
                        .collect();
                qb.push_values(pending.people.drain(..), |mut row, person| {
                    let profile = &person.profile;
                    row.push_bind(run.org)
                        .push_bind(person.id.as_uuid())
                        .push_bind(person.email.as_str().to_owned())
                        .push_bind(profile.first_name.clone())
                        .push_bind(profile.last_name.clone())
                        .push_bind(profile.job_title.clone())
                        .push_bind(profile.department.clone())
                        .push_bind(profile.location.clone())
                        .push_bind(profile.language.clone())
                        .push_bind(profile.hire_date)
                        .push_bind(sqlx::types::Json(profile.custom_fields.clone()))
                        .push_bind(person.status.as_str())
                        .push_bind(person.role.as_str())
                        .push_bind(person.primary_team.map(|t| t.as_uuid()))
                        .push_bind(person.source.as_ref().map(|s| s.connection.as_uuid()))
                        .push_bind(person.source.as_ref().map(|s| s.external_id.clone()))
                        .push_bind($crate::common::sort_key(profile, &person.email))
                        .push_bind($crate::common::last_key(profile))
                        .push_bind(person.primary_team.and_then(|t| team_keys.get(&t.as_uuid()).cloned()).unwrap_or_default())
                        .push_bind(ts(run.now))
                        .push_bind(ts(run.now));
                });
                qb.build().execute(&mut **tx).await.map_err(|e| $crate::common::classify(e, "creating people"))?;
            }
            if !pending.members.is_empty() {
                let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO team_members (org_id, person_id, team_id) ");
                qb.push_values(pending.members.drain(..), |mut row, (person, team)| {
                    row.push_bind(run.org).push_bind(person.as_uuid()).push_bind(team.as_uuid());
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut **tx).await.map_err(|e| $crate::common::classify(e, "adding people to teams"))?;
            }
            if !pending.tokens.is_empty() {
                let mut invited = std::mem::take(&mut pending.tokens);
                invited.sort_unstable();
                invited.dedup();
                // The queued e-mail refers to no row, so the organisation is checked here.
                let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT COUNT(*) AS n FROM people WHERE org_id = ");
                qb.push_bind(run.org).push(" AND id IN (");
                let mut ids = qb.separated(", ");
                for person in &invited {
                    ids.push_bind(person.as_uuid());
                }
                qb.push(")");
                let found: i64 = qb.build().fetch_one(&mut **tx).await?.try_get("n")?;
                if usize::try_from(found).ok() != Some(invited.len()) {
                    return Err($crate::StoreError::NotFound("inviting people: it refers to a person who is not in this organisation".into()));
                }
                void_tokens_of(tx, roster_core::OrgId::from_uuid(run.org), &invited, Some($crate::TokenPurpose::Invitation), run.now).await?;
            }
            if !pending.emails.is_empty() {
                let mut qb =
                    sqlx::QueryBuilder::<Db>::new("INSERT INTO outbox_emails (id, org_id, recipient, payload, created_at, next_attempt_at) ");
                qb.push_values(pending.emails.drain(..), |mut row, email| {
                    row.push_bind(uuid::Uuid::now_v7())
                        .push_bind(run.org)
                        .push_bind(email.to().as_str().to_owned())
                        .push_bind(sqlx::types::Json(email))
                        .push_bind(ts(run.now))
                        .push_bind(ts(run.now));
                });
                qb.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        async fn flush_updates(tx: &mut DbTx, run: &Run<'_>, pending: &mut Pending<'_>) -> $crate::StoreResult<()> {
            let Some(updates) = pending.updates.take() else {
                return Ok(());
            };
            let set = match updates.kind {
                UpdateKind::Status => "status = v.column2",
                UpdateKind::Role => "role = v.column2",
                UpdateKind::PrimaryTeam => "primary_team_id = v.column2",
                UpdateKind::Manager => "manager_id = v.column2",
                UpdateKind::Profile => {
                    "first_name = v.column2, last_name = v.column3, job_title = v.column4, department = v.column5, \
                     location = v.column6, language = v.column7, hire_date = v.column8, custom_fields = v.column9, \
                     last_key = v.column10, sort_key = CASE WHEN v.column11 = '' THEN people.email ELSE v.column11 END"
                }
            };
            let mut qb = sqlx::QueryBuilder::<Db>::new(format!("UPDATE people SET {set}, updated_at = "));
            qb.push_bind(ts(run.now)).push(" FROM (");
            qb.push_values(updates.changes.iter(), |mut row, change| match change {
                Change::SetStatus { id, after, .. } => {
                    row.push_bind(id.as_uuid()).push_bind(after.as_str());
                }
                Change::SetRole { id, after, .. } => {
                    row.push_bind(id.as_uuid()).push_bind(after.as_str());
                }
                Change::SetPrimaryTeam { id, after, .. } => {
                    row.push_bind(id.as_uuid()).push_bind(after.map(|t| t.as_uuid()));
                }
                Change::SetManager { id, after, .. } => {
                    row.push_bind(id.as_uuid()).push_bind(after.map(|m| m.as_uuid()));
                }
                Change::UpdateProfile { id, after, .. } => {
                    // The name part of the sort key; empty means "sort by e-mail", decided in SQL.
                    let name = after.display_name().to_lowercase();
                    row.push_bind(id.as_uuid())
                        .push_bind(after.first_name.clone())
                        .push_bind(after.last_name.clone())
                        .push_bind(after.job_title.clone())
                        .push_bind(after.department.clone())
                        .push_bind(after.location.clone())
                        .push_bind(after.language.clone())
                        .push_bind(after.hire_date)
                        .push_bind(sqlx::types::Json(after.custom_fields.clone()))
                        .push_bind($crate::common::last_key(after))
                        .push_bind(name);
                }
                // UpdateRun only holds the kinds above.
                _ => {}
            });
            // The id list confines the update to the batch's people by primary key, whatever
            // join order the planner picks for the values.
            qb.push(") AS v WHERE people.org_id = ").push_bind(run.org).push(" AND people.id IN (");
            let mut ids = qb.separated(", ");
            for id in updates.ids() {
                ids.push_bind(id.as_uuid());
            }
            qb.push(") AND people.id = v.column1 RETURNING people.id");
            let context = match updates.kind {
                UpdateKind::PrimaryTeam => "setting primary teams",
                UpdateKind::Manager => "setting managers",
                _ => "updating people",
            };
            let rows = qb.build().fetch_all(&mut **tx).await.map_err(|e| $crate::common::classify(e, context))?;
            if rows.len() != updates.changes.len() {
                let mut found = std::collections::HashSet::with_capacity(rows.len());
                for row in &rows {
                    found.insert(row.try_get::<uuid::Uuid, _>(0)?);
                }
                let missing = updates.ids().find(|id| !found.contains(&id.as_uuid()));
                return Err(not_found_person(missing));
            }
            let deactivated = updates.deactivated();
            if !deactivated.is_empty() {
                // Deactivation signs the person out everywhere.
                let mut qb = sqlx::QueryBuilder::<Db>::new("DELETE FROM sessions WHERE org_id = ");
                qb.push_bind(run.org).push(" AND person_id IN (");
                let mut ids = qb.separated(", ");
                for id in deactivated {
                    ids.push_bind(id);
                }
                qb.push(")");
                qb.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        fn not_found_person(id: Option<roster_core::UserId>) -> $crate::StoreError {
            match id {
                Some(id) => $crate::StoreError::NotFound(format!("person {id} is not in this organisation")),
                None => $crate::StoreError::NotFound("a person of this plan is not in this organisation".into()),
            }
        }

        fn not_found_team(id: roster_core::TeamId) -> $crate::StoreError {
            $crate::StoreError::NotFound(format!("team {id} is not in this organisation"))
        }

        /// The changes that are rare enough to write one at a time.
        async fn apply_single(tx: &mut DbTx, run: &Run<'_>, change: &Change) -> $crate::StoreResult<()> {
            let now = ts(run.now);
            match change {
                Change::RenameTeam { id, after, .. } => {
                    let done = sqlx::query("UPDATE teams SET name = $3, name_key = $4 WHERE org_id = $1 AND id = $2")
                        .bind(run.org)
                        .bind(id.as_uuid())
                        .bind(after.as_str())
                        .bind(after.key())
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| $crate::common::classify(e, &format!("renaming team {id} to '{after}'")))?;
                    if done.rows_affected() == 0 {
                        return Err(not_found_team(*id));
                    }
                }
                Change::SetTeamParent { id, after, .. } => {
                    if let Some(parent) = after {
                        ensure_no_cycle(tx, run.org, *id, *parent).await?;
                    }
                    let done = sqlx::query("UPDATE teams SET parent_id = $3 WHERE org_id = $1 AND id = $2")
                        .bind(run.org)
                        .bind(id.as_uuid())
                        .bind(after.map(|t| t.as_uuid()))
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| $crate::common::classify(e, &format!("moving team {id}")))?;
                    if done.rows_affected() == 0 {
                        return Err(not_found_team(*id));
                    }
                }
                Change::ChangeEmail { id, after, .. } => {
                    // A nameless person sorts by e-mail, so their sort key follows the address.
                    let done = sqlx::query(
                        "UPDATE people SET email = $3, updated_at = $4, \
                         sort_key = CASE WHEN sort_key = email THEN $3 ELSE sort_key END \
                         WHERE org_id = $1 AND id = $2",
                    )
                    .bind(run.org)
                    .bind(id.as_uuid())
                    .bind(after.as_str())
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| $crate::common::classify(e, &format!("changing the e-mail of person {id} to {after}")))?;
                    if done.rows_affected() == 0 {
                        return Err(not_found_person(Some(*id)));
                    }
                }
                Change::LinkSource { id, link } => {
                    let done = sqlx::query(
                        "UPDATE people SET source_connection_id = $3, source_external_id = $4, updated_at = $5 WHERE org_id = $1 AND id = $2",
                    )
                    .bind(run.org)
                    .bind(id.as_uuid())
                    .bind(link.connection.as_uuid())
                    .bind(&link.external_id)
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| $crate::common::classify(e, &format!("linking person {id} to external id '{}'", link.external_id)))?;
                    if done.rows_affected() == 0 {
                        return Err(not_found_person(Some(*id)));
                    }
                }
                Change::RemoveSecondaryTeam { id, team } => {
                    let exists = sqlx::query("SELECT 1 FROM people WHERE org_id = $1 AND id = $2")
                        .bind(run.org)
                        .bind(id.as_uuid())
                        .fetch_optional(&mut **tx)
                        .await?;
                    if exists.is_none() {
                        return Err(not_found_person(Some(*id)));
                    }
                    sqlx::query("DELETE FROM team_members WHERE org_id = $1 AND person_id = $2 AND team_id = $3")
                        .bind(run.org)
                        .bind(id.as_uuid())
                        .bind(team.as_uuid())
                        .execute(&mut **tx)
                        .await?;
                }
                // Everything else is buffered by apply_changes and never reaches here.
                _ => {}
            }
            Ok(())
        }

        /// Refuse a parent that is the team itself or one of its descendants.
        async fn ensure_no_cycle(tx: &mut DbTx, org: uuid::Uuid, team: roster_core::TeamId, parent: roster_core::TeamId) -> $crate::StoreResult<()> {
            let mut cursor = Some(parent.as_uuid());
            let mut steps = 0;
            while let Some(current) = cursor {
                if current == team.as_uuid() || steps > 10_000 {
                    return Err($crate::StoreError::Invalid(format!("team {parent} is inside team {team}, so it cannot be its parent")));
                }
                let row = sqlx::query("SELECT parent_id FROM teams WHERE org_id = $1 AND id = $2")
                    .bind(org)
                    .bind(current)
                    .fetch_optional(&mut **tx)
                    .await?;
                cursor = match row {
                    Some(row) => row.try_get("parent_id")?,
                    None => return Err(not_found_team(roster_core::TeamId::from_uuid(current))),
                };
                steps += 1;
            }
            Ok(())
        }

        /// The people and teams `log` is about, as they are now in `tx` (just after the changes),
        /// in the API's shape. Someone deleted or a team removed is absent.
        async fn resources(
            tx: &mut DbTx,
            org: uuid::Uuid,
            log: &[Logged],
        ) -> $crate::StoreResult<(std::collections::HashMap<uuid::Uuid, serde_json::Value>, std::collections::HashMap<uuid::Uuid, serde_json::Value>)>
        {
            const CHUNK: usize = 500;
            let person_ids: Vec<uuid::Uuid> = log.iter().filter_map(|e| e.person).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let team_ids: Vec<uuid::Uuid> =
                log.iter().filter(|e| e.person.is_none()).filter_map(|e| e.team).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let org_id = roster_core::OrgId::from_uuid(org);
            let mut people = std::collections::HashMap::with_capacity(person_ids.len());
            for chunk in person_ids.chunks(CHUNK) {
                let mut qb =
                    sqlx::QueryBuilder::<Db>::new(format!("SELECT {} FROM people p WHERE p.org_id = ", $crate::common::reads::PERSON_COLUMNS));
                qb.push_bind(org).push(" AND p.id IN (");
                let mut ids = qb.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                qb.push(")");
                let rows = qb.build().fetch_all(&mut **tx).await?;
                let mut found = rows.iter().map(person_from_row).collect::<$crate::StoreResult<Vec<_>>>()?;
                fill_secondary_teams(&mut **tx, org_id, &mut found).await?;
                people.extend(found.iter().map(|p| (p.id.as_uuid(), roster_core::resource::person(p))));
            }
            let mut teams = std::collections::HashMap::with_capacity(team_ids.len());
            for chunk in team_ids.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT id, org_id, name, parent_id FROM teams WHERE org_id = ");
                qb.push_bind(org).push(" AND id IN (");
                let mut ids = qb.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                qb.push(")");
                let found = qb.build().fetch_all(&mut **tx).await?.iter().map(team_from_row).collect::<$crate::StoreResult<Vec<_>>>()?;
                let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT team_id, person_id FROM team_managers WHERE org_id = ");
                qb.push_bind(org).push(" AND team_id IN (");
                let mut ids = qb.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                qb.push(") ORDER BY team_id, person_id");
                let mut managers: std::collections::HashMap<uuid::Uuid, Vec<roster_core::UserId>> = std::collections::HashMap::new();
                for row in qb.build().fetch_all(&mut **tx).await? {
                    managers.entry(row.try_get("team_id")?).or_default().push(roster_core::UserId::from_uuid(row.try_get("person_id")?));
                }
                teams.extend(found.iter().map(|t| {
                    let of = managers.get(&t.id.as_uuid()).map(Vec::as_slice).unwrap_or_default();
                    (t.id.as_uuid(), roster_core::resource::team(t, of))
                }));
            }
            Ok((people, teams))
        }

        /// The audit entry's detail: the change, and what brought it when a connection says.
        fn audit_detail(detail: &serde_json::Value, via: Option<roster_core::Via>) -> serde_json::Value {
            let mut detail = detail.clone();
            if let (Some(via), Some(object)) = (via, detail.as_object_mut()) {
                object.insert("trigger".into(), serde_json::Value::String(via.as_str().into()));
            }
            detail
        }

        async fn flush_log(tx: &mut DbTx, run: &Run<'_>, log: &mut Vec<Logged>) -> $crate::StoreResult<()> {
            if log.is_empty() {
                return Ok(());
            }
            let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO audit_log (id, org_id, at, run_id, actor, action, person_id, team_id, detail) ");
            qb.push_values(log.iter(), |mut row, entry| {
                row.push_bind(entry.audit_id)
                    .push_bind(run.org)
                    .push_bind(ts(run.now))
                    .push_bind(run.run)
                    .push_bind(run.actor.clone())
                    .push_bind(entry.action)
                    .push_bind(entry.person)
                    .push_bind(entry.team)
                    .push_bind(sqlx::types::Json(audit_detail(&entry.detail, run.plan.via)));
            });
            qb.build().execute(&mut **tx).await?;
            // Reading back what a large plan has just written: the table's statistics may predate
            // every row (a first sync fills an empty table in this transaction) and the planner
            // would then fetch the organisation's every row for each chunk of ids. Refreshed once.
            if !REFRESH_STATISTICS.is_empty() && log.len() >= 100 && !run.statistics_refreshed.swap(true, std::sync::atomic::Ordering::Relaxed) {
                sqlx::query(REFRESH_STATISTICS).execute(&mut **tx).await?;
            }
            let (people, teams) = resources(tx, run.org, log).await?;
            for entry in log.iter_mut() {
                let resource = match (entry.person, entry.team) {
                    (Some(person), _) => people.get(&person).cloned(),
                    (None, Some(team)) => teams.get(&team).cloned(),
                    (None, None) => None,
                };
                if let (Some(object), Some(resource)) = (entry.detail.as_object_mut(), resource) {
                    object.insert("resource".into(), resource);
                }
            }
            let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO events (id, org_id, kind, at, run_id, actor, data) ");
            qb.push_values(log.drain(..), |mut row, entry| {
                row.push_bind(entry.event_id)
                    .push_bind(run.org)
                    .push_bind(entry.action)
                    .push_bind(ts(run.now))
                    .push_bind(run.run)
                    .push_bind(run.actor.clone())
                    .push_bind(sqlx::types::Json(entry.detail));
            });
            qb.build().execute(&mut **tx).await?;
            Ok(())
        }

        /// Name the address behind an e-mail conflict of a bulk insert, which the database
        /// reports without saying which row it was.
        async fn explain_email_conflict(pool: &DbPool, plan: &roster_core::Plan, error: $crate::StoreError) -> $crate::StoreError {
            if error.unique() != Some($crate::Unique::Email) {
                return error;
            }
            let emails = $crate::common::apply::claimed_emails(&plan.changes);
            if let Some(twice) = $crate::common::apply::repeated_email(&emails) {
                return $crate::StoreError::conflict($crate::Unique::Email, format!("{twice} is given to two people in this plan"));
            }
            for chunk in emails.chunks(500) {
                let mut qb = sqlx::QueryBuilder::<Db>::new("SELECT email FROM people WHERE org_id = ");
                qb.push_bind(plan.org.as_uuid()).push(" AND email IN (");
                let mut list = qb.separated(", ");
                for email in chunk {
                    list.push_bind(email.to_string());
                }
                qb.push(") LIMIT 1");
                // A failed lookup only loses the detail: the original conflict is still returned.
                if let Ok(Some(row)) = qb.build().fetch_optional(pool).await {
                    if let Ok(taken) = row.try_get::<String, _>(0) {
                        return $crate::StoreError::conflict(
                            $crate::Unique::Email,
                            format!("{taken} already belongs to another person in this organisation"),
                        );
                    }
                }
            }
            error
        }

        #[async_trait::async_trait]
        impl $crate::PlanStore for $store {
            async fn apply(&self, plan: &roster_core::Plan, now: Ts) -> $crate::StoreResult<roster_core::RunId> {
                let run_id = roster_core::RunId::from_uuid(uuid::Uuid::now_v7());
                if plan.changes.is_empty() {
                    return Ok(run_id);
                }
                let run = Run::new(plan, run_id.as_uuid(), now);
                let mut tx = begin_write(&self.pool).await?;
                lock_org(&mut tx, plan.org).await?;
                match apply_changes(&mut tx, &run).await {
                    Ok(()) => {
                        tx.commit().await?;
                        if plan.changes.len() >= LARGE_PLAN {
                            refresh_statistics(&self.pool).await;
                        }
                        Ok(run_id)
                    }
                    Err(error) => {
                        // Nothing of the plan stays; a failed rollback means the connection is gone,
                        // which rolls back too.
                        let _ = tx.rollback().await;
                        Err(explain_email_conflict(&self.pool, plan, error).await)
                    }
                }
            }
        }
    };
}
