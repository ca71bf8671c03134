//! The reconciler: the one place that decides how the directory changes. Every source (CSV
//! import, Entra, SCIM, Okta) describes the people it wants as [`DesiredPerson`]s; the
//! reconciler compares them with the current [`Snapshot`] and returns a [`Plan`]. It is pure: no
//! I/O, no clock, no randomness that is not passed in.
//!
//! Owners and admins are protected from provisioning connections unless an owner allowed it for
//! the person ([`Person::provisioning_allowed`]): a connection never adopts (links) such a
//! person, and for one it already provisions it never changes the e-mail address, deactivates
//! (by `active = false` or by leaving a full sync's scope) or demotes; those parts are left out
//! with an [`IssueKind::Protected`] issue while the rest of the record applies. A manager link
//! that would close a reporting loop is refused ([`IssueKind::ManagerCycle`]).

use crate::email::Email;
use crate::ids::{ConnectionId, IdSource, OrgId, TeamId, UserId};
use crate::ownership::Ownership;
use crate::person::{Person, Profile, Role, SourceLink, Status};
use crate::plan::{Actor, Change, IssueKind, NewPerson, Plan, RecordIssue};
use crate::team::{Team, TeamName};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// How long an invitation link stays valid.
pub const INVITATION_LIFETIME_DAYS: i64 = 14;

/// The people and teams a run starts from.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub people: Vec<Person>,
    pub teams: Vec<Team>,
}

/// How a source refers to a person's manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerRef {
    Email(Email),
    ExternalId(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ManagerField {
    /// The source says nothing about managers; leave them as they are.
    #[default]
    Untouched,
    /// The source says this person has no manager.
    Clear,
    Set(ManagerRef),
}

/// What a source says one person should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPerson {
    /// How the admin recognises the record in a report: a CSV line, an external id.
    pub record: String,
    pub external_id: Option<String>,
    pub email: Email,
    pub profile: Profile,
    /// False deactivates (Entra `accountEnabled = false`, SCIM `active: false`).
    pub active: bool,
    /// Only imports set roles; identity providers leave them to the admins.
    pub role: Option<Role>,
    pub manager: ManagerField,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only the people described are touched (CSV import, a SCIM request, one webhook).
    Partial,
    /// The people described are everyone the source provisions: anyone it linked before who is
    /// missing now has left its scope and is deactivated (never deleted).
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invitations {
    /// New people get their invitation e-mail in the same run.
    Immediately,
    /// New people are created without e-mail; an admin invites them later.
    Hold,
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// The provisioning connection, when the source is one; people are then linked to it by
    /// external id. Without one (CSV), people are matched by e-mail.
    pub connection: Option<ConnectionId>,
    pub scope: Scope,
    pub invitations: Invitations,
    /// Whether the source's manager links become override managers.
    pub manage_managers: bool,
    /// The profile fields the source owns; the others stay as they are.
    pub ownership: Ownership,
}

/// The clock and randomness a plan may use, passed in.
pub struct PlanContext<'a> {
    pub now: DateTime<Utc>,
    pub ids: &'a mut (dyn IdSource + Send),
}

struct Index<'s> {
    by_id: HashMap<UserId, &'s Person>,
    by_email: HashMap<&'s Email, UserId>,
    by_external: HashMap<&'s str, UserId>,
    teams: HashMap<String, TeamId>,
}

impl<'s> Index<'s> {
    fn build(snapshot: &'s Snapshot, connection: Option<ConnectionId>) -> Self {
        let mut index = Index {
            by_id: HashMap::with_capacity(snapshot.people.len()),
            by_email: HashMap::with_capacity(snapshot.people.len()),
            by_external: HashMap::new(),
            teams: snapshot.teams.iter().map(|t| (t.name.key(), t.id)).collect(),
        };
        for person in &snapshot.people {
            index.by_id.insert(person.id, person);
            index.by_email.insert(&person.email, person.id);
            if let (Some(link), Some(conn)) = (&person.source, connection) {
                if link.connection == conn {
                    index.by_external.insert(link.external_id.as_str(), person.id);
                }
            }
        }
        index
    }
}

/// Compare what a source wants with what the directory holds, and plan the difference.
pub fn reconcile(org: OrgId, actor: Actor, snapshot: &Snapshot, desired: &[DesiredPerson], policy: &Policy, ctx: &mut PlanContext<'_>) -> Plan {
    let index = Index::build(snapshot, policy.connection);
    let mut run =
        Run { plan: Plan::new(org, actor), index, new_emails: HashMap::new(), new_external: HashMap::new(), planned_managers: HashMap::new() };
    let mut seen_people: HashSet<UserId> = HashSet::with_capacity(desired.len());
    let mut seen_records: HashSet<Email> = HashSet::with_capacity(desired.len());
    let mut resolved: Vec<(usize, UserId)> = Vec::with_capacity(desired.len());

    for (position, wanted) in desired.iter().enumerate() {
        if !seen_records.insert(wanted.email.clone()) {
            run.issue(wanted, IssueKind::Duplicate, format!("{} appears more than once in this run", wanted.email));
            continue;
        }
        match run.match_person(wanted, policy) {
            Ok(Some(id)) => {
                seen_people.insert(id);
                if run.update_person(id, wanted, policy, ctx) {
                    resolved.push((position, id));
                }
            }
            Ok(None) if !wanted.active => run.plan.report.skipped += 1,
            Ok(None) => {
                let id = run.create_person(wanted, policy, ctx);
                resolved.push((position, id));
            }
            Err((kind, message)) => run.issue(wanted, kind, message),
        }
    }

    if policy.manage_managers {
        for (position, id) in resolved {
            if let Some(wanted) = desired.get(position) {
                run.set_manager(id, wanted);
            }
        }
    }

    if policy.scope == Scope::Full {
        run.deactivate_missing(snapshot, &seen_people, policy);
    }
    run.plan
}

struct Run<'s> {
    plan: Plan,
    index: Index<'s>,
    new_emails: HashMap<Email, UserId>,
    new_external: HashMap<String, UserId>,
    /// The manager links planned so far in this run, by person; they win over the snapshot's.
    planned_managers: HashMap<UserId, Option<UserId>>,
}

/// How a sentence about a protected person ends: what lets a connection manage them.
const ALLOW_FIRST: &str = "an owner must let connections manage this person first";

/// "ada@x.com is an owner of this organisation", for an owner or admin kept from connections.
fn protected_person(person: &Person) -> String {
    let role = if person.role == Role::Owner { "an owner" } else { "an admin" };
    format!("{} is {role} of this organisation", person.email)
}

impl Run<'_> {
    fn issue(&mut self, wanted: &DesiredPerson, kind: IssueKind, message: String) {
        self.plan.report.issues.push(RecordIssue::new(wanted.record.clone(), kind, message));
    }

    /// Find the person a record describes: by external id for a connection, then by e-mail.
    fn match_person(&self, wanted: &DesiredPerson, policy: &Policy) -> Result<Option<UserId>, (IssueKind, String)> {
        if let (Some(_), Some(external)) = (policy.connection, &wanted.external_id) {
            if let Some(id) = self.index.by_external.get(external.as_str()) {
                return Ok(Some(*id));
            }
        }
        let Some(id) = self.index.by_email.get(&wanted.email) else {
            return Ok(None);
        };
        let Some(person) = self.index.by_id.get(id) else {
            return Ok(None);
        };
        match (&person.source, policy.connection) {
            (Some(link), Some(conn)) if link.connection != conn => {
                Err((IssueKind::Conflict, format!("{} is already provisioned by another connection; remove it there first", wanted.email)))
            }
            (Some(link), Some(_)) if wanted.external_id.as_deref().is_some_and(|ext| ext != link.external_id) => {
                Err((IssueKind::Conflict, format!("{} is linked to another identity ({}) of this connection", wanted.email, link.external_id)))
            }
            (Some(_), None) => Err((
                IssueKind::Conflict,
                format!("{} is provisioned by an identity provider; change this person there, not by import", wanted.email),
            )),
            _ => Ok(Some(*id)),
        }
    }

    fn team_for(&mut self, department: Option<&str>, ctx: &mut PlanContext<'_>) -> Option<TeamId> {
        let name = TeamName::parse(department?).ok()?;
        if let Some(id) = self.index.teams.get(&name.key()) {
            return Some(*id);
        }
        let id = TeamId::from_uuid(ctx.ids.next_uuid());
        self.index.teams.insert(name.key(), id);
        self.plan.changes.push(Change::CreateTeam { id, name });
        self.plan.report.teams_created += 1;
        Some(id)
    }

    fn create_person(&mut self, wanted: &DesiredPerson, policy: &Policy, ctx: &mut PlanContext<'_>) -> UserId {
        let id = UserId::from_uuid(ctx.ids.next_uuid());
        let primary_team = self.team_for(wanted.profile.department.as_deref(), ctx);
        let source = link_for(wanted, policy);
        self.plan.changes.push(Change::CreatePerson {
            person: Box::new(NewPerson {
                id,
                email: wanted.email.clone(),
                profile: wanted.profile.clone(),
                role: wanted.role.unwrap_or(Role::Learner),
                status: Status::Invited,
                primary_team,
                source,
            }),
        });
        self.plan.report.created += 1;
        self.new_emails.insert(wanted.email.clone(), id);
        if let Some(external) = &wanted.external_id {
            self.new_external.insert(external.clone(), id);
        }
        if policy.invitations == Invitations::Immediately {
            self.plan.changes.push(Change::Invite { id, email: wanted.email.clone(), name: wanted.profile.display_name() });
            self.plan.report.invited += 1;
        }
        id
    }

    /// Plan the changes that bring an existing person in line. False when the record was refused.
    fn update_person(&mut self, id: UserId, wanted: &DesiredPerson, policy: &Policy, ctx: &mut PlanContext<'_>) -> bool {
        let Some(person) = self.index.by_id.get(&id).copied() else {
            return false;
        };
        // An owner or admin this connection may not manage: never adopted; when already
        // linked, only the parts that cannot take their access away apply.
        let guarded = policy.connection.is_some() && person.is_protected_from_connections();
        if guarded && person.source.is_none() {
            self.issue(wanted, IssueKind::Protected, format!("{}; {ALLOW_FIRST}", protected_person(person)));
            return false;
        }
        if wanted.role.is_some_and(|r| r != person.role) && person.role == Role::Owner {
            self.issue(wanted, IssueKind::Protected, format!("{} is an owner; an owner's role is changed by hand only", wanted.email));
            return false;
        }
        let before = self.plan.changes.len();

        if person.email != wanted.email && guarded {
            let message = format!("{}; the address was not changed to {}: {ALLOW_FIRST}", protected_person(person), wanted.email);
            self.issue(wanted, IssueKind::Protected, message);
        } else if person.email != wanted.email {
            if self.index.by_email.contains_key(&wanted.email) || self.new_emails.contains_key(&wanted.email) {
                self.issue(wanted, IssueKind::Conflict, format!("{} already belongs to another person", wanted.email));
                return false;
            }
            self.plan.changes.push(Change::ChangeEmail { id, before: person.email.clone(), after: wanted.email.clone() });
        }
        if person.source.is_none() {
            if let Some(link) = link_for(wanted, policy) {
                self.plan.changes.push(Change::LinkSource { id, link });
            }
        }
        // The source's fields from the record, every other field as the directory has it.
        let profile = policy.ownership.merge(&person.profile, &wanted.profile);
        if person.profile != profile {
            self.plan.changes.push(Change::UpdateProfile { id, before: Box::new(person.profile.clone()), after: Box::new(profile.clone()) });
        }
        match wanted.role.filter(|r| *r != person.role) {
            Some(role) if guarded && role < person.role => {
                let message = format!("{}; the role was not changed to {role}: {ALLOW_FIRST}", protected_person(person));
                self.issue(wanted, IssueKind::Protected, message);
            }
            Some(role) => self.plan.changes.push(Change::SetRole { id, before: person.role, after: role }),
            None => {}
        }
        let team = self.team_for(profile.department.as_deref(), ctx);
        if team != person.primary_team {
            self.plan.changes.push(Change::SetPrimaryTeam { id, before: person.primary_team, after: team });
        }
        let counts_as_update = self.plan.changes.len() > before;

        match (person.status, wanted.active) {
            (Status::Deactivated, true) => {
                // Someone who never accepted an invitation comes back as invited.
                let after = if person.activated { Status::Active } else { Status::Invited };
                self.plan.changes.push(Change::SetStatus { id, before: person.status, after });
                self.plan.report.reactivated += 1;
            }
            (Status::Active | Status::Invited, false) if !guarded => {
                self.plan.changes.push(Change::SetStatus { id, before: person.status, after: Status::Deactivated });
                self.plan.report.deactivated += 1;
            }
            (Status::Active | Status::Invited, false) => {
                let message = format!("{}; this person was not deactivated: {ALLOW_FIRST}", protected_person(person));
                self.issue(wanted, IssueKind::Protected, message);
                self.count_update(counts_as_update);
            }
            _ => self.count_update(counts_as_update),
        }
        true
    }

    fn count_update(&mut self, changed: bool) {
        if changed {
            self.plan.report.updated += 1;
        } else {
            self.plan.report.unchanged += 1;
        }
    }

    fn resolve_manager(&self, reference: &ManagerRef) -> Option<UserId> {
        match reference {
            ManagerRef::Email(email) => self.index.by_email.get(email).or_else(|| self.new_emails.get(email)).copied(),
            ManagerRef::ExternalId(ext) => self.index.by_external.get(ext.as_str()).or_else(|| self.new_external.get(ext)).copied(),
        }
    }

    /// A person's manager as the run stands: planned in this run, else the snapshot's.
    fn manager_of(&self, id: UserId) -> Option<UserId> {
        match self.planned_managers.get(&id) {
            Some(planned) => *planned,
            None => self.index.by_id.get(&id).and_then(|p| p.manager),
        }
    }

    /// Would `manager` becoming `id`'s manager close a reporting loop, i.e. does `manager`'s
    /// chain of managers lead back to `id`? The walk remembers whom it visited, so it ends (after
    /// at most one step per person) even when the data already holds a loop elsewhere.
    fn closes_loop(&self, id: UserId, manager: UserId) -> bool {
        let mut visited = HashSet::new();
        let mut cursor = Some(manager);
        while let Some(current) = cursor {
            if current == id {
                return true;
            }
            if !visited.insert(current) {
                return false;
            }
            cursor = self.manager_of(current);
        }
        false
    }

    fn set_manager(&mut self, id: UserId, wanted: &DesiredPerson) {
        let current = self.index.by_id.get(&id).and_then(|p| p.manager);
        let shown = |reference: &ManagerRef| match reference {
            ManagerRef::Email(e) => e.to_string(),
            ManagerRef::ExternalId(x) => x.clone(),
        };
        let after = match &wanted.manager {
            ManagerField::Untouched => return,
            ManagerField::Clear => None,
            ManagerField::Set(reference) => match self.resolve_manager(reference) {
                Some(manager) if manager != id => Some(manager),
                Some(_) => {
                    let message = "a person cannot be their own manager; manager left unchanged".into();
                    self.issue(wanted, IssueKind::ManagerSelf, message);
                    return;
                }
                None => {
                    let cause = shown(reference);
                    let message = format!("manager {cause} is not in the directory; manager left unchanged");
                    self.plan.report.issues.push(RecordIssue::new(wanted.record.clone(), IssueKind::ManagerUnresolved, message).with_cause(cause));
                    return;
                }
            },
        };
        if after == current {
            return;
        }
        if let (Some(manager), ManagerField::Set(reference)) = (after, &wanted.manager) {
            if self.closes_loop(id, manager) {
                let message = format!("manager {} would make a reporting loop; manager left unchanged", shown(reference));
                self.issue(wanted, IssueKind::ManagerCycle, message);
                return;
            }
        }
        self.plan.changes.push(Change::SetManager { id, before: current, after });
        self.planned_managers.insert(id, after);
    }

    fn deactivate_missing(&mut self, snapshot: &Snapshot, seen: &HashSet<UserId>, policy: &Policy) {
        let Some(conn) = policy.connection else { return };
        for person in &snapshot.people {
            let linked_here = person.source.as_ref().is_some_and(|l| l.connection == conn);
            if !linked_here || person.status == Status::Deactivated || seen.contains(&person.id) {
                continue;
            }
            if person.is_protected_from_connections() {
                let message =
                    format!("{} and has left this connection's scope; this person was not deactivated: {ALLOW_FIRST}", protected_person(person));
                self.plan.report.issues.push(RecordIssue::new(person.email.as_str(), IssueKind::Protected, message));
                continue;
            }
            self.plan.changes.push(Change::SetStatus { id: person.id, before: person.status, after: Status::Deactivated });
            self.plan.report.deactivated += 1;
        }
    }
}

fn link_for(wanted: &DesiredPerson, policy: &Policy) -> Option<SourceLink> {
    match (policy.connection, &wanted.external_id) {
        (Some(connection), Some(external_id)) => Some(SourceLink { connection, external_id: external_id.clone() }),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
