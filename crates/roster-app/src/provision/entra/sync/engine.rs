//! One full sync: list, look up, plan once, apply once.

use chrono::{DateTime, Utc};
use roster_core::mapping::Mapping;
use roster_core::reconcile::{DesiredPerson, Invitations, ManagerField, ManagerRef, Policy, Scope, Snapshot};
use roster_core::{Actor, Change, Connection, OrgId, Plan, RunId, RunReport, Status, UserId};
use roster_entra::{GraphClient, GraphConfig, GraphUser, RequestStats};
use roster_store::{RunEnd, RunStatus, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::photos::{apply_photos, plan_photos, PhotoContext};
use super::progress::{Phase, ProgressSink, StoreProgress, SyncProgress};
use super::record::graph_record;
use super::settings::EntraSettings;
use super::SyncError;
use crate::provision::entra::live::baseline::{read_baseline, save_baseline};
use crate::provision::{Batch, ProvisionError, Provisioner, Reading};
use roster_core::guard::Guard;

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub invitations: Invitations,
    pub manage_managers: bool,
    pub photos: bool,
    /// What the run's deactivations are checked against: the connection's limits, or an
    /// admin's allowance of a held run.
    pub guard: Guard,
    /// Plan and stop: `RunOutcome::preview` holds the plan a real run would apply now, and
    /// nothing is written (photos are not looked at).
    pub dry_run: bool,
    /// The run's clock, passed in so tests are deterministic.
    pub now: DateTime<Utc>,
    /// Record where delta rounds start (`live::baseline`) once the plan is applied.
    pub live: bool,
    /// What started the run, named in its audit entries.
    pub via: roster_core::Via,
}

impl SyncOptions {
    pub fn from_settings(settings: &EntraSettings, now: DateTime<Utc>) -> Self {
        Self {
            invitations: settings.invitations(),
            manage_managers: settings.manage_managers,
            photos: settings.photos,
            guard: Guard::Limits(settings.guard),
            dry_run: false,
            now,
            live: false,
            via: roster_core::Via::FullSync,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub report: RunReport,
    /// Whether any change to people or teams was written (false for a run with nothing to do).
    pub applied: bool,
    /// The id the store gave the applied plan (its audit rows carry it).
    pub plan_run: Option<RunId>,
    /// Set when the deactivation guard held the plan back (the report names who it would
    /// have deactivated).
    pub held: Option<String>,
    pub users_listed: usize,
    pub photos_stored: usize,
    pub photos_removed: usize,
    /// A dry run's plan: exactly what a run would apply now.
    pub preview: Option<Plan>,
    /// Issues met after the people were applied (photo downloads); the next run retries them.
    pub late_issues: Vec<String>,
    pub graph_requests: u64,
    pub stats: RequestStats,
}

/// The property names the mapping reads, as `$select` wants them (a dotted path selects its
/// first segment).
fn selected_properties(mapping: &Mapping) -> Vec<&str> {
    mapping.sources().into_iter().map(|s| s.split('.').next().unwrap_or(s)).filter(|s| !s.starts_with("urn:")).collect()
}

/// Sync the connection's group into the directory: everything is read from Graph first, then
/// one plan is made and applied. Any failure before the apply changes nothing.
pub async fn full_sync(
    store: &dyn Store,
    connection: &Connection,
    config: GraphConfig,
    mapping: &Mapping,
    options: &SyncOptions,
    progress: &dyn ProgressSink,
) -> Result<RunOutcome, SyncError> {
    let client = GraphClient::new(config)?;
    full_sync_with(store, connection, &client, mapping, options, progress).await
}

/// `full_sync` with a client the caller keeps, e.g. to count the requests of a failed run.
pub async fn full_sync_with(
    store: &dyn Store,
    connection: &Connection,
    client: &GraphClient,
    mapping: &Mapping,
    options: &SyncOptions,
    progress: &dyn ProgressSink,
) -> Result<RunOutcome, SyncError> {
    let settings = EntraSettings::from_connection(connection)?;
    if settings.group_id.is_empty() {
        return Err(SyncError::Settings("no security group is set".into()));
    }
    let mut state = SyncProgress::new();
    progress.report(&state).await;
    client.access_token().await?;

    let actor = Actor::Connection { id: connection.id };
    let policy = Policy {
        connection: Some(connection.id),
        scope: Scope::Full,
        invitations: options.invitations,
        manage_managers: options.manage_managers,
        ownership: roster_core::ownership::Ownership::of_mapping(mapping),
    };
    let mut outcome = RunOutcome::default();
    // Read before the group is listed: what changes meanwhile, the first round replays.
    let baseline = if options.live && !options.dry_run {
        match read_baseline(client, &selected_properties(mapping)).await {
            Ok(baseline) => Some(baseline),
            Err(error) => {
                outcome.late_issues.push(format!("live updates could not start, the next full sync tries again: {error}"));
                None
            }
        }
    } else {
        None
    };

    // A conflict means the directory changed under the plan (an admin edit): read and plan
    // again, once. Reading again costs Graph requests in that rare case; keeping every mapped
    // person beside the plan would cost memory in every run.
    let mut attempt = 0;
    let (plan, linked, photo_metas) = loop {
        attempt += 1;
        let TenantRead { mut mapped, photo_metas, listed } = read_tenant(client, &settings, mapping, options, progress, &mut state).await?;
        outcome.users_listed = listed;
        state.enter(Phase::Planning);
        state.graph_requests = client.graph_requests();
        progress.report(&state).await;
        let snapshot = store.snapshot(connection.org).await?;
        let issues = mapped.add_unreadable(&snapshot, connection);
        let batch = Batch {
            org: connection.org,
            actor: actor.clone(),
            records: mapped.people,
            policy: policy.clone(),
            reading: Reading::Whole,
            guard: options.guard,
        };
        let judged = Provisioner::judge(&batch, &snapshot, options.now);
        drop(batch);
        let plan = match judged {
            Ok(mut plan) => {
                plan.report.issues.extend(issues);
                name_missing_managers(client, &mut plan.report).await;
                plan
            }
            Err(ProvisionError::Held(mut plan)) => {
                plan.report.issues.extend(issues);
                name_missing_managers(client, &mut plan.report).await;
                if options.dry_run {
                    plan.report.preview = Some(roster_core::preview::describe(&plan, &snapshot, PREVIEW_LINES));
                }
                outcome.held = plan.report.hold.as_ref().map(ToString::to_string);
                outcome.report = plan.report;
                return Ok(finish(outcome, client));
            }
            Err(other) => return Err(SyncError::Settings(other.to_string())),
        };
        state.changes_planned = plan.changes.len();
        if options.dry_run {
            let mut report = plan.report.clone();
            report.preview = Some(roster_core::preview::describe(&plan, &snapshot, PREVIEW_LINES));
            outcome.report = report;
            outcome.preview = Some(plan);
            return Ok(finish(outcome, client));
        }

        // Who is linked after the plan is all the photos need of the snapshot; it goes before
        // the apply, the sync's largest moment.
        let linked = if photo_metas.is_some() { linked_people(&snapshot, &plan, connection) } else { HashMap::new() };
        drop(snapshot);
        if plan.is_empty() {
            break (plan, linked, photo_metas);
        }
        state.enter(Phase::Applying);
        progress.report(&state).await;
        let mut plan = plan;
        plan.via = Some(options.via);
        match Provisioner::on(store, options.now).apply(&plan).await {
            Ok(run) => {
                outcome.plan_run = Some(run);
                outcome.applied = true;
                break (plan, linked, photo_metas);
            }
            Err(changed @ (StoreError::Conflict { .. } | StoreError::Race(_))) if attempt < 2 => {
                tracing::info!(connection = %connection.id, reason = %changed, "the directory changed during the sync; reading and planning again");
            }
            Err(other) => return Err(other.into()),
        }
    };
    outcome.report = plan.report;
    if let Some(baseline) = &baseline {
        save_baseline(store, connection, baseline, options.now).await?;
    }

    if let Some(metas) = &photo_metas {
        let stored = store.avatar_etags(connection.org).await?;
        let work = plan_photos(metas, &linked, &stored);
        state.enter(Phase::Photos);
        state.photos_to_download = work.downloads.len();
        progress.report(&state).await;
        let label = actor.label();
        let ctx = PhotoContext { client, store, org: connection.org, actor: &label, now: options.now };
        match apply_photos(&ctx, &work, progress, &mut state).await {
            Ok((stored, removed)) => {
                outcome.photos_stored = stored;
                outcome.photos_removed = removed;
            }
            // People are applied already; photos converge on the next run.
            Err(error) => outcome.late_issues.push(format!("profile photos were not all updated: {error}")),
        }
    }

    state.enter(Phase::Done);
    state.graph_requests = client.graph_requests();
    progress.report(&state).await;
    Ok(finish(outcome, client))
}

/// How many changes a preview describes line by line; every change is counted.
const PREVIEW_LINES: usize = 1_000;

/// The most managers outside the group a report names; the rest show by id.
const NAMED_MANAGERS: usize = 1_000;

/// Name the managers the report says are not in the directory (they are outside the group, so
/// Roster has only their ids): one lookup per manager, not per person they manage. Names are a
/// courtesy to the admin: when Graph cannot give them, the report keeps the ids.
async fn name_missing_managers(client: &GraphClient, report: &mut RunReport) {
    let mut ids: Vec<String> =
        report.issues.iter().filter(|i| i.kind == roster_core::IssueKind::ManagerUnresolved).filter_map(|i| i.cause.clone()).collect();
    ids.sort();
    ids.dedup();
    ids.truncate(NAMED_MANAGERS);
    if ids.is_empty() {
        return;
    }
    match client.display_names(&ids).await {
        Ok(names) => report.cause_names.extend(names.into_iter().filter_map(|(id, name)| name.map(|n| (id, n)))),
        Err(error) => tracing::warn!(error = %error, "the names of managers outside the group could not be read; the report shows their ids"),
    }
}

/// What one attempt reads from Graph: the members, mapped, with their managers, and the photo
/// metadata when photos are synced.
struct TenantRead {
    mapped: Mapped,
    photo_metas: Option<BTreeMap<String, Option<roster_entra::PhotoMeta>>>,
    listed: usize,
}

async fn read_tenant(
    client: &GraphClient,
    settings: &EntraSettings,
    mapping: &Mapping,
    options: &SyncOptions,
    progress: &dyn ProgressSink,
    state: &mut SyncProgress,
) -> Result<TenantRead, SyncError> {
    state.enter(Phase::Listing);
    progress.report(state).await;
    let members = client.transitive_member_users(&settings.group_id, &selected_properties(mapping)).await?;
    let ids: Vec<String> = members.users.iter().map(|u| u.id.clone()).collect();
    let listed = members.users.len();
    // Mapped at once and the Graph records dropped: a sync holds each person once, not as a
    // Graph user and a desired person and a stored person at the same time.
    let mut mapped = map_users(members.users, mapping);
    state.users_listed = listed;
    state.graph_requests = client.graph_requests();

    if options.manage_managers {
        state.enter(Phase::Managers);
        progress.report(state).await;
        let managers = read_managers(client, &ids).await?;
        state.managers_read = managers.len();
        mapped.set_managers(&managers);
    }
    let photo_metas = if options.photos {
        state.enter(Phase::PhotoCheck);
        state.graph_requests = client.graph_requests();
        progress.report(state).await;
        let metas = client.photo_metas(&ids).await?;
        state.photos_checked = metas.len();
        Some(metas)
    } else {
        None
    };
    Ok(TenantRead { mapped, photo_metas, listed })
}

/// From this many people on, managers are read with the tenant's user listing
/// (`$expand=manager`, 999 a request, about 2 resource units each) rather than one batched
/// request per person (a resource unit each): fewer requests and far less of Graph's budget
/// unless the tenant is hundreds of times larger than the group.
const MANAGERS_BY_LISTING_FROM: usize = 1_000;

async fn read_managers(client: &GraphClient, ids: &[String]) -> Result<BTreeMap<String, Option<String>>, SyncError> {
    if ids.len() < MANAGERS_BY_LISTING_FROM {
        return Ok(client.managers(ids).await?);
    }
    let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut managers = client.managers_listed(&wanted).await?;
    // Someone created since the group was listed is not in the listing yet: asked one by one.
    let missing: Vec<String> = ids.iter().filter(|id| !managers.contains_key(*id)).cloned().collect();
    if !missing.is_empty() {
        managers.extend(client.managers(&missing).await?);
    }
    Ok(managers)
}

fn finish(mut outcome: RunOutcome, client: &GraphClient) -> RunOutcome {
    outcome.graph_requests = client.graph_requests();
    outcome.stats = client.stats();
    outcome
}

/// The listed users as the reconciler wants them. Records the mapping could not read are kept
/// aside: each attempt describes their linked person as they stand (`add_unreadable`), so an
/// unreadable record never counts as "left the group".
struct Mapped {
    people: Vec<DesiredPerson>,
    /// How many of `people` come from readable records; the rest were added for one attempt.
    readable: usize,
    unreadable: Vec<Unreadable>,
}

struct Unreadable {
    shown: String,
    external_id: String,
    active: bool,
    error: String,
}

fn map_users(users: Vec<GraphUser>, mapping: &Mapping) -> Mapped {
    let mut people = Vec::with_capacity(users.len());
    let mut unreadable = Vec::new();
    for user in users {
        let record = graph_record(&user);
        let shown = user.user_principal_name.as_deref().map_or_else(|| user.id.clone(), |upn| format!("{upn} ({})", user.id));
        let active = user.account_enabled != Some(false);
        match mapping.apply(&record) {
            Ok((email, profile)) => people.push(DesiredPerson {
                record: shown,
                external_id: Some(user.id),
                email,
                profile,
                active,
                role: None,
                manager: ManagerField::Untouched,
            }),
            Err(error) => unreadable.push(Unreadable { shown, external_id: user.id, active, error: error.to_string() }),
        }
    }
    people.shrink_to_fit();
    Mapped { readable: people.len(), people, unreadable }
}

/// One user as a sync would describe them, with their manager: what provisioning one person
/// on demand hands the provisioner. `Err` says why the user cannot be read.
pub fn one_record(user: GraphUser, mapping: &Mapping, manager: Option<String>) -> Result<DesiredPerson, String> {
    let mut mapped = map_users(vec![user], mapping);
    if let Some(unreadable) = mapped.unreadable.pop() {
        return Err(unreadable.error);
    }
    let managers: BTreeMap<String, Option<String>> =
        mapped.people.iter().filter_map(|p| p.external_id.clone()).map(|id| (id, manager.clone())).collect();
    mapped.set_managers(&managers);
    mapped.people.pop().ok_or_else(|| "the user could not be read".to_owned())
}

/// The properties a mapping reads, as `$select` wants them.
pub fn extra_properties(mapping: &Mapping) -> Vec<&str> {
    selected_properties(mapping)
}

impl Mapped {
    fn set_managers(&mut self, managers: &BTreeMap<String, Option<String>>) {
        for person in &mut self.people {
            let Some(id) = person.external_id.as_deref() else { continue };
            person.manager = match managers.get(id) {
                Some(Some(manager)) => ManagerField::Set(ManagerRef::ExternalId(manager.clone())),
                _ => ManagerField::Clear,
            };
        }
    }

    /// Adds the linked people of unreadable records, as they stand, for one attempt.
    fn add_unreadable(&mut self, snapshot: &Snapshot, connection: &Connection) -> Vec<roster_core::plan::RecordIssue> {
        self.remove_unreadable();
        if self.unreadable.is_empty() {
            return Vec::new();
        }
        let linked: HashMap<&str, &roster_core::Person> = snapshot
            .people
            .iter()
            .filter_map(|p| p.source.as_ref().filter(|l| l.connection == connection.id).map(|l| (l.external_id.as_str(), p)))
            .collect();
        let mut issues = Vec::new();
        for record in &self.unreadable {
            if let Some(person) = linked.get(record.external_id.as_str()) {
                self.people.push(DesiredPerson {
                    record: record.shown.clone(),
                    external_id: Some(record.external_id.clone()),
                    email: person.email.clone(),
                    profile: person.profile.clone(),
                    active: record.active && person.status != Status::Deactivated,
                    role: None,
                    manager: ManagerField::Untouched,
                });
            }
            issues.push(roster_core::plan::RecordIssue::new(
                record.shown.clone(),
                roster_core::IssueKind::Invalid,
                format!("{}; the person was left as they are", record.error),
            ));
        }
        issues
    }

    fn remove_unreadable(&mut self) {
        self.people.truncate(self.readable);
    }
}

/// Graph user id → person, for everyone this connection links after the plan.
fn linked_people(snapshot: &Snapshot, plan: &Plan, connection: &Connection) -> HashMap<String, UserId> {
    let mut people: HashMap<String, UserId> = snapshot
        .people
        .iter()
        .filter_map(|p| p.source.as_ref().filter(|l| l.connection == connection.id).map(|l| (l.external_id.clone(), p.id)))
        .collect();
    for change in &plan.changes {
        match change {
            Change::CreatePerson { person } => {
                if let Some(link) = person.source.as_ref().filter(|l| l.connection == connection.id) {
                    people.insert(link.external_id.clone(), person.id);
                }
            }
            Change::LinkSource { id, link } if link.connection == connection.id => {
                people.insert(link.external_id.clone(), *id);
            }
            _ => {}
        }
    }
    people
}

/// A full sync recorded in its run row: started, progress while it goes, and the report or
/// the reason it failed. The run row must exist (queued) already.
pub async fn run_recorded(
    store: Arc<dyn Store>,
    connection: &Connection,
    config: GraphConfig,
    options: &SyncOptions,
    run: RunId,
    extra_progress: Option<&dyn ProgressSink>,
) -> Result<RunOutcome, SyncError> {
    let org = connection.org;
    store.start_run(org, run, options.now).await?;
    let sink = StoreProgress { store: store.clone(), org, run };
    let both = Fanout { first: &sink, second: extra_progress };
    let client = GraphClient::new(config);
    let work = async {
        match (&client, EntraSettings::from_connection(connection)) {
            (Ok(client), Ok(settings)) => full_sync_with(store.as_ref(), connection, client, &settings.mapping(), options, &both).await,
            (Err(error), _) => Err(SyncError::Graph(error.clone())),
            (_, Err(error)) => Err(error),
        }
    };
    let result = while_alive(store.as_ref(), org, run, work).await;
    let graph_requests = client.as_ref().map_or(0, GraphClient::graph_requests);
    let finished_at = Utc::now().max(options.now);
    match &result {
        Ok(outcome) => {
            let mut report = outcome.report.clone();
            for issue in &outcome.late_issues {
                report.issues.push(roster_core::plan::RecordIssue::new("profile photos", roster_core::IssueKind::Invalid, issue.clone()));
            }
            let status = match (options.dry_run, outcome.held.is_some()) {
                (true, _) => RunStatus::Previewed,
                (false, true) => RunStatus::Held,
                (false, false) => RunStatus::Succeeded,
            };
            let end = RunEnd { status, report: Some(&report), error: outcome.held.as_deref(), graph_requests, at: finished_at };
            store.finish_run(org, run, &end).await?;
            if !options.dry_run {
                let held = outcome.held.is_some();
                crate::provision::log::keep(
                    store.as_ref(),
                    &crate::provision::log::decisions(org, Some(connection.id), Some(run), &report, held, finished_at),
                )
                .await;
            }
        }
        Err(error) => {
            // A failed run still says how far it got, for the admin and for throttling budgets.
            let message = error.to_string();
            let end = RunEnd { status: RunStatus::Failed, report: None, error: Some(&message), graph_requests, at: finished_at };
            store.finish_run(org, run, &end).await?;
        }
    }
    result
}

/// Run `work`, telling the store every minute that this process is still running `run`: a
/// run whose process dies stops being renewed, and is then marked failed (see
/// `RunStore::fail_abandoned_runs`) instead of showing as running forever.
async fn while_alive<T>(store: &dyn Store, org: OrgId, run: RunId, work: impl std::future::Future<Output = T>) -> T {
    let mut beat = tokio::time::interval(std::time::Duration::from_secs(60));
    beat.tick().await;
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = beat.tick() => {
                let until = Utc::now() + chrono::Duration::seconds(roster_store::RUN_ALIVE_SECONDS);
                if let Err(error) = store.keep_run_alive(org, run, until).await {
                    tracing::warn!(%error, %run, "could not record that the sync is still running");
                }
            }
        }
    }
}

struct Fanout<'a> {
    first: &'a dyn ProgressSink,
    second: Option<&'a dyn ProgressSink>,
}

#[async_trait::async_trait]
impl ProgressSink for Fanout<'_> {
    async fn report(&self, progress: &SyncProgress) {
        self.first.report(progress).await;
        if let Some(second) = self.second {
            second.report(progress).await;
        }
    }
}
