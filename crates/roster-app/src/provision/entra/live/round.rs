//! One delta round: what changed in the tenant since the connection's links, applied to the
//! people it touches through the one `Provisioner`. Nothing is stored of the round (links,
//! memberships) until its changes are applied, so a round that fails or is held is read again
//! in full by the next one.

use super::scope::{under_root, RoundMemberships, MAX_DEPTH};
use crate::provision::entra::sync::{extra_properties, one_record, EntraSettings, SyncError};
use crate::provision::{log, Batch, Provisioner, Reading};
use crate::App;
use chrono::Duration;
use roster_core::guard::{would_deactivate, Guard, Hold};
use roster_core::mapping::Mapping;
use roster_core::plan::{IssueKind, RecordIssue};
use roster_core::reconcile::{DesiredPerson, ManagerField, ManagerRef, Policy, Scope};
use roster_core::{Actor, Connection, Person, RunReport, Status, Via};
use roster_entra::{DeltaFrom, GraphClient, GraphError, GraphUser, ManagerDelta, UserDelta};
use roster_store::{DeltaLinks, SnapshotKeys, StoreError};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Deactivations a connection made this recently count with a round's against its guard, so
/// a burst spread over many rounds is held like one run making them all.
pub const GUARD_WINDOW_MINUTES: i64 = 60;

/// What a round did.
#[derive(Debug, Clone)]
pub enum Round {
    /// Applied (possibly nothing) and the links moved on.
    Done(RoundOutcome),
    /// The guard held it: nothing applied, the links stay where they were.
    Held(RoundOutcome),
    /// No usable links: only a full sync can start the rounds again.
    NeedsFullSync(String),
}

#[derive(Debug, Clone, Default)]
pub struct RoundOutcome {
    pub report: RunReport,
    pub hold: Option<String>,
    /// Users the round looked at (changed in Entra, or whose groups changed).
    pub users_touched: usize,
    pub graph_requests: u64,
}

/// Run a round for `connection`. `via` is what brought it, named in the audit entries.
pub async fn delta_round(app: &App, connection: &Connection, client: &GraphClient, via: Via) -> Result<Round, SyncError> {
    let (org, id) = (connection.org, connection.id);
    let settings = EntraSettings::from_connection(connection)?;
    let live = app.store.entra_live(org, id).await?;
    let Some(links) = live.links else { return Ok(Round::NeedsFullSync("live updates have no starting point yet".into())) };
    let mapping = settings.mapping();
    let extras = extra_properties(&mapping);
    let expired = |error: GraphError| async move {
        match error {
            GraphError::DeltaExpired { code } => {
                app.store.clear_entra_links(org, id).await?;
                Ok(Round::NeedsFullSync(format!("Microsoft Graph no longer knows the change history ({code})")))
            }
            other => Err(SyncError::Graph(other)),
        }
    };
    let groups = match client.groups_delta(DeltaFrom::Link(&links.groups)).await {
        Ok(groups) => groups,
        Err(error) => return expired(error).await,
    };
    let users = match client.users_delta(DeltaFrom::Link(&links.users), &extras).await {
        Ok(users) => users,
        Err(error) => return expired(error).await,
    };
    let next = DeltaLinks { users: users.delta_link.clone(), groups: groups.delta_link.clone() };
    let memberships = RoundMemberships::from_round(&groups.groups);

    let (mut touched, moved_groups) = memberships.touched();
    touched.extend(users_under(app, connection, &memberships, moved_groups).await?);
    let changed: HashMap<&str, &UserDelta> = users.users.iter().map(|u| (u.id(), u)).collect();
    touched.extend(changed.keys().map(|k| (*k).to_owned()));
    let mut outcome = RoundOutcome { users_touched: touched.len(), ..RoundOutcome::default() };
    if touched.is_empty() {
        app.store.save_entra_round(org, id, &next, &memberships.changes(), app.clock.now()).await?;
        outcome.graph_requests = client.graph_requests();
        return Ok(Round::Done(outcome));
    }
    let parents = parents_of(app, connection, &memberships, &touched).await?;
    let inside = under_root(&settings.group_id, &touched, &parents);

    let keys = SnapshotKeys { emails: Vec::new(), external_ids: Some((id, touched.iter().cloned().collect())) };
    let linked_people = app.store.snapshot_for(org, &keys).await?.people;
    let linked: HashMap<&str, &Person> =
        linked_people.iter().filter_map(|p| p.source.as_ref().filter(|l| l.connection == id).map(|l| (l.external_id.as_str(), p))).collect();

    let mut staying = Vec::new();
    let mut leaving = Vec::new();
    let mut to_read = Vec::new();
    let mut issues = Vec::new();
    for user_id in &touched {
        let entry = changed.get(user_id.as_str()).copied();
        let person = linked.get(user_id.as_str()).copied();
        let deleted = matches!(entry, Some(UserDelta::Removed { .. }));
        if inside.contains(user_id) && !deleted {
            match entry {
                Some(UserDelta::Changed { user, manager }) => match record((**user).clone(), manager, &mapping, settings.manage_managers) {
                    Ok(desired) => staying.push(desired),
                    Err(issue) => issues.push(issue),
                },
                // In the group but unchanged: only someone who is not (or no longer) active
                // here needs reading.
                _ if person.is_none_or(|p| p.status == Status::Deactivated) => to_read.push(user_id.clone()),
                _ => {}
            }
        } else if let Some(person) = person.filter(|p| p.status != Status::Deactivated) {
            leaving.push(departure(person, user_id));
        }
    }
    if !to_read.is_empty() {
        for (_, found) in client.users_with_managers(&to_read, &extras).await? {
            let Some((user, manager)) = found else { continue };
            let manager = manager.map_or(ManagerDelta::Cleared, ManagerDelta::Set);
            match record(user, &manager, &mapping, settings.manage_managers) {
                Ok(desired) => staying.push(desired),
                Err(issue) => issues.push(issue),
            }
        }
    }
    outcome.graph_requests = client.graph_requests();
    if staying.is_empty() && leaving.is_empty() {
        outcome.report.issues = issues;
        app.store.save_entra_round(org, id, &next, &memberships.changes(), app.clock.now()).await?;
        return Ok(Round::Done(outcome));
    }

    let stayed = staying.len();
    let mut records = staying;
    records.extend(leaving);
    let batch = Arc::new(Batch {
        org,
        actor: Actor::Connection { id },
        records,
        policy: Policy {
            connection: Some(id),
            scope: Scope::Partial,
            invitations: settings.invitations(),
            manage_managers: settings.manage_managers,
            ownership: roster_core::ownership::Ownership::of_mapping(&mapping),
        },
        reading: Reading::Narrow,
        // The window below decides, with the deactivations of the last hour counted in.
        guard: Guard::Explicit,
    });
    let provisioner = Provisioner::on(app.store.as_ref(), app.clock.now());
    let planned = provisioner.plan(batch.clone()).await.map_err(|e| SyncError::Settings(e.to_string()))?;
    let mut plan = planned.plan;
    plan.report.issues.extend(issues);
    if let Some(hold) = windowed_hold(app, connection, &settings, plan.deactivations()).await? {
        plan.report.would_deactivate = would_deactivate(&plan, &planned.snapshot, &batch.records[..stayed]);
        outcome.hold = Some(hold.to_string());
        plan.report.hold = Some(hold);
        outcome.report = plan.report;
        return Ok(Round::Held(outcome));
    }
    if !plan.is_empty() {
        plan.via = Some(via);
        provisioner.apply(&plan).await?;
    }
    app.store.save_entra_round(org, id, &next, &memberships.changes(), app.clock.now()).await?;
    log::keep(app.store.as_ref(), &log::decisions(org, Some(id), None, &plan.report, false, app.clock.now())).await;
    outcome.report = plan.report;
    Ok(Round::Done(outcome))
}

/// The desired person for a user Graph described, with the manager as the round reported it.
fn record(user: GraphUser, manager: &ManagerDelta, mapping: &Mapping, manage_managers: bool) -> Result<DesiredPerson, RecordIssue> {
    let shown = user.user_principal_name.as_deref().map_or_else(|| user.id.clone(), |upn| format!("{upn} ({})", user.id));
    let mut desired = one_record(user, mapping, None).map_err(|error| RecordIssue::new(shown, IssueKind::Invalid, error))?;
    desired.manager = match manager {
        _ if !manage_managers => ManagerField::Untouched,
        ManagerDelta::NotSent => ManagerField::Untouched,
        ManagerDelta::Set(id) => ManagerField::Set(ManagerRef::ExternalId(id.clone())),
        ManagerDelta::Cleared => ManagerField::Clear,
    };
    Ok(desired)
}

/// Someone who left the group or the tenant: deactivated, as they stand otherwise.
fn departure(person: &Person, external_id: &str) -> DesiredPerson {
    DesiredPerson {
        record: format!("{} ({external_id})", person.email),
        external_id: Some(external_id.to_owned()),
        email: person.email.clone(),
        profile: person.profile.clone(),
        active: false,
        role: None,
        manager: ManagerField::Untouched,
    }
}

/// The hold, when this round's deactivations and the connection's of the last hour together
/// pass its limits.
async fn windowed_hold(app: &App, connection: &Connection, settings: &EntraSettings, now_deactivating: usize) -> Result<Option<Hold>, StoreError> {
    if now_deactivating == 0 {
        return Ok(None);
    }
    let since = app.clock.now() - Duration::minutes(GUARD_WINDOW_MINUTES);
    let recent = app.store.scim_guard_counts(connection.org, connection.id, since).await?.deactivated_recently;
    let wanted = usize::try_from(recent).unwrap_or(usize::MAX).saturating_add(now_deactivating);
    let limits = settings.guard;
    if limits.allows_without_share(wanted) == Some(true) {
        return Ok(None);
    }
    let provisioned = usize::try_from(app.store.provisioned_count(connection.org, connection.id).await?).unwrap_or(usize::MAX);
    if limits.allows(wanted, provisioned) {
        return Ok(None);
    }
    Ok(Some(Hold { would_deactivate: wanted, provisioned, limits }))
}

/// Every user under `groups` (nested groups followed) as the round leaves the memberships.
async fn users_under(
    app: &App,
    connection: &Connection,
    memberships: &RoundMemberships,
    groups: BTreeSet<String>,
) -> Result<BTreeSet<String>, StoreError> {
    let mut users = BTreeSet::new();
    let mut seen = groups.clone();
    let mut frontier = groups;
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let keys: Vec<String> = frontier.iter().cloned().collect();
        let stored = app.store.entra_members_of(connection.org, connection.id, &keys).await?;
        let mut next = BTreeSet::new();
        for m in memberships.children(&frontier, stored) {
            if !m.member_is_group {
                users.insert(m.member);
            } else if seen.insert(m.member.clone()) {
                next.insert(m.member);
            }
        }
        frontier = next;
    }
    Ok(users)
}

/// Child → the groups it is directly in, for `starts` and every group above them.
async fn parents_of(
    app: &App,
    connection: &Connection,
    memberships: &RoundMemberships,
    starts: &BTreeSet<String>,
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut parents: HashMap<String, Vec<String>> = HashMap::new();
    let mut frontier = starts.clone();
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let keys: Vec<String> = frontier.iter().cloned().collect();
        let stored = app.store.entra_groups_of(connection.org, connection.id, &keys).await?;
        let mut next = BTreeSet::new();
        for m in memberships.parents(&frontier, stored) {
            if !parents.contains_key(&m.group) && !frontier.contains(&m.group) {
                next.insert(m.group.clone());
            }
            parents.entry(m.member).or_default().push(m.group);
        }
        for node in &frontier {
            parents.entry(node.clone()).or_default();
        }
        frontier = next;
    }
    Ok(parents)
}
