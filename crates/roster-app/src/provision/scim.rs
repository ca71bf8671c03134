//! SCIM provisioning: a connection's settings, read once where the connection is loaded (so
//! nothing decides on `settings.get("...")` strings), and the plan of one User write through
//! the provisioner. The protocol itself is `roster_scim`; the routes are in the web crate.

use super::{Batch, Planned, ProvisionError, Provisioner, Reading};
use crate::App;
use roster_core::guard::{Guard, GuardLimits};
use roster_core::mapping::{scim_default, Rule};
use roster_core::ownership::Ownership;
use roster_core::reconcile::{DesiredPerson, Invitations, ManagerField, ManagerRef, Policy, Scope, Snapshot};
use roster_core::{Actor, Change, Connection, ConnectionId, Email, OrgId, Person, Plan, TeamId, TeamName, UserId};
use roster_scim::schema::ENTERPRISE_USER_URN;
use roster_scim::ScimError;
use roster_store::{ScimResource, ScimResourceType, StoreError};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// Requests per second a token may make when its connection does not say; bursts of twice as
/// many are allowed.
pub const DEFAULT_RATE_PER_SECOND: f64 = 200.0;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScimSettings {
    /// Whether people a client creates get their invitation at once.
    #[serde(default)]
    pub invitations: InvitationPolicy,
    /// Follow RFC 7644 to the letter instead of Entra's leniencies.
    #[serde(default)]
    pub strict_patch: bool,
    /// Rules an admin added to the default SCIM mapping.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub mapping: Vec<Rule>,
    /// Requests per second per token (default [`DEFAULT_RATE_PER_SECOND`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_second: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationPolicy {
    #[default]
    Hold,
    Immediately,
}

#[derive(Debug, thiserror::Error)]
#[error("the SCIM connection's settings are unreadable: {0}")]
pub struct SettingsError(serde_json::Error);

impl ScimSettings {
    pub fn from_connection(connection: &Connection) -> Result<Self, SettingsError> {
        serde_json::from_value(connection.settings.clone()).map_err(SettingsError)
    }

    pub fn to_json(&self) -> serde_json::Value {
        // Plain fields, strings and rules always serialise.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    pub fn invitations(&self) -> Invitations {
        match self.invitations {
            InvitationPolicy::Hold => Invitations::Hold,
            InvitationPolicy::Immediately => Invitations::Immediately,
        }
    }

    /// The per-token rate, ignoring a setting that is not a positive number.
    pub fn rate_per_second(&self) -> f64 {
        self.rate_limit_per_second.filter(|rate| rate.is_finite() && *rate > 0.0).unwrap_or(DEFAULT_RATE_PER_SECOND)
    }
}

/// `"mapping": null` (as stored by older settings pages) means no rules.
fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Rule>, D::Error> {
    Ok(Option::<Vec<Rule>>::deserialize(deserializer)?.unwrap_or_default())
}

/// What a SCIM User write plans, and the person the User provisions (found, or created by
/// the plan).
pub struct UserPlan {
    pub plan: Plan,
    pub person: Option<UserId>,
    /// The client deactivated the person beyond the connection's guard: the plan leaves them
    /// active, and the deactivation waits for an admin.
    pub hold_deactivation: bool,
}

/// How long a SCIM connection's deactivations count against its guard.
const GUARD_WINDOW_MINUTES: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum UserPlanError {
    /// The User does not map to a person (no usable e-mail address).
    #[error("{0}")]
    Mapping(String),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
}

/// Plan one SCIM User (`document`, with `active` overridden when given) through the
/// provisioner, reading only the people it can touch. Nothing is written: the SCIM route
/// stores the User and the plan together.
pub async fn plan_user(
    app: &App,
    org: OrgId,
    connection: &Connection,
    settings: &ScimSettings,
    resource: Uuid,
    document: &Value,
    active: Option<bool>,
) -> Result<UserPlan, UserPlanError> {
    let mapping = scim_default().with_extra(&settings.mapping);
    let (email, mapped) = mapping
        .apply(&mapping_record(document))
        .map_err(|e| UserPlanError::Mapping(format!("{e}: userName or an e-mail address must be an e-mail")))?;
    let external_id = resource.to_string();
    let manager = enterprise(document, "manager")
        .and_then(|m| m.get("value"))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map_or(ManagerField::Clear, |v| ManagerField::Set(ManagerRef::ExternalId(v.to_owned())));
    let desired = DesiredPerson {
        record: format!("SCIM User {resource}"),
        external_id: Some(external_id.clone()),
        email: email.clone(),
        // SCIM owns the fields its mapping fills and nothing else (the reconciler keeps the rest).
        profile: mapped,
        active: active.unwrap_or_else(|| document.get("active").and_then(Value::as_bool).unwrap_or(true)),
        role: None,
        manager,
    };
    let policy = Policy {
        connection: Some(connection.id),
        scope: Scope::Partial,
        invitations: settings.invitations(),
        manage_managers: true,
        ownership: Ownership::of_mapping(&mapping),
    };
    let batch = Batch {
        org,
        actor: Actor::Connection { id: connection.id },
        records: vec![desired],
        policy,
        reading: Reading::Narrow,
        guard: Guard::Limits(GuardLimits::of_settings(&connection.settings)),
    };
    let Planned { mut plan, snapshot } = Provisioner::new(app).plan(Arc::new(batch)).await?;
    let current = provisioned(&snapshot, connection.id, &external_id, &email).map(|p| p.id);
    let created = plan.changes.iter().find_map(|c| match c {
        Change::CreatePerson { person } => Some(person.id),
        _ => None,
    });
    let hold_deactivation = plan.deactivations() > 0 && !within_guard(app, org, connection).await.map_err(ProvisionError::from)?;
    if hold_deactivation {
        plan.changes.retain(|c| !matches!(c, Change::SetStatus { after: roster_core::Status::Deactivated, .. }));
        plan.report.deactivated = plan.report.deactivated.saturating_sub(1);
    }
    Ok(UserPlan { person: current.or(created), plan, hold_deactivation })
}

/// May the connection deactivate one more person now? Its deactivations of the last hour and
/// those already waiting count against its guard, as a run's would: a client unassigning
/// everyone (a mistaken rule in Okta or Entra) deactivates at most the guard's worth.
async fn within_guard(app: &App, org: OrgId, connection: &Connection) -> Result<bool, StoreError> {
    let since = app.clock.now() - chrono::Duration::minutes(GUARD_WINDOW_MINUTES);
    let counts = app.store.scim_guard_counts(org, connection.id, since).await?;
    let wanted = usize::try_from(counts.deactivated_recently + counts.pending + 1).unwrap_or(usize::MAX);
    let limits = GuardLimits::of_settings(&connection.settings);
    // Counting everyone the connection provisions is the costly part; most answers need only
    // the floor or the count limit.
    if let Some(decided) = limits.allows_without_share(wanted) {
        return Ok(decided);
    }
    // The person about to be deactivated is still counted among the provisioned.
    let provisioned = usize::try_from(app.store.provisioned_count(org, connection.id).await?).unwrap_or(usize::MAX);
    Ok(limits.allows(wanted, provisioned))
}

/// The person a User provisions: linked by its id, else the one with its e-mail.
fn provisioned<'s>(snapshot: &'s Snapshot, connection: ConnectionId, external_id: &str, email: &Email) -> Option<&'s Person> {
    let linked = snapshot.people.iter().find(|p| p.source.as_ref().is_some_and(|l| l.connection == connection && l.external_id == external_id));
    linked.or_else(|| snapshot.people.iter().find(|p| &p.email == email))
}

fn enterprise<'v>(document: &'v Value, attribute: &str) -> Option<&'v Value> {
    document.get(ENTERPRISE_USER_URN)?.get(attribute)
}

/// Okta may use a userName that is not an e-mail; the person's address is then the primary
/// (or work, or first) e-mail of the User.
fn mapping_record(document: &Value) -> Value {
    let user_name = document.get("userName").and_then(Value::as_str).unwrap_or_default();
    if Email::parse(user_name).is_ok() {
        return document.clone();
    }
    let emails = document.get("emails").and_then(Value::as_array).cloned().unwrap_or_default();
    let pick =
        |pred: &dyn Fn(&Value) -> bool| emails.iter().find(|e| pred(e)).and_then(|e| e.get("value")).and_then(Value::as_str).map(str::to_owned);
    let address = pick(&|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| pick(&|e| e.get("type").and_then(Value::as_str) == Some("work")))
        .or_else(|| pick(&|_| true));
    let mut record = document.clone();
    if let (Some(address), Value::Object(map)) = (address, &mut record) {
        map.insert("userName".into(), Value::String(address));
    }
    record
}

/// What a Group write plans: its team (made when missing), the memberships to add and end,
/// and the members to store.
pub struct GroupPlan {
    pub plan: Plan,
    pub team: TeamId,
    pub display_name: String,
    pub members: Vec<Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupPlanError {
    /// The client's error, in SCIM's terms.
    #[error("{0:?}")]
    Scim(ScimError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ScimError> for GroupPlanError {
    fn from(error: ScimError) -> Self {
        GroupPlanError::Scim(error)
    }
}

/// Plan a Group (`resource`, replacing `previous` when it is an update): its team, matched
/// without regard to case, and secondary memberships for its members' people. Nothing is
/// written: the SCIM route stores the Group and the plan together.
pub async fn plan_group(
    state: &App,
    org: OrgId,
    connection: ConnectionId,
    resource: &ScimResource,
    previous: Option<&ScimResource>,
) -> Result<GroupPlan, GroupPlanError> {
    let display_name = resource
        .document
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_value("\"displayName\" is required"))?;
    if let Some(holder) = state.store.scim_group_by_name(org, &display_name).await? {
        if holder.id != resource.id {
            return Err(ScimError::uniqueness(roster_store::SCIM_GROUP_NAME_TAKEN).into());
        }
    }
    let team_name = TeamName::parse(&display_name).map_err(|e| ScimError::invalid_value(format!("displayName: {e}")))?;
    let members = member_ids(&resource.document)?;
    let people = member_people(state, org, &members).await?;

    let mut plan = Plan::new(org, Actor::Connection { id: connection });
    let snapshot = state.store.snapshot(org).await?;
    let team = match snapshot.teams.iter().find(|t| t.name.key() == team_name.key()) {
        Some(team) => team.id,
        None => {
            let id = TeamId::from_uuid(Uuid::now_v7());
            plan.changes.push(Change::CreateTeam { id, name: team_name });
            id
        }
    };
    let before: HashMap<Uuid, UserId> = match previous {
        Some(previous) => stored_member_people(state, org, &state.store.scim_members(org, previous.id).await?).await?,
        None => HashMap::new(),
    };
    let old_team = previous.and_then(|p| p.team);
    let secondary: HashMap<UserId, &Vec<TeamId>> = snapshot.people.iter().map(|p| (p.id, &p.secondary_teams)).collect();
    for (member, person) in &before {
        // Leaving the group, or the group now stands for another team.
        if let Some(old_team) = old_team {
            if old_team != team || !people.contains_key(member) {
                plan.changes.push(Change::RemoveSecondaryTeam { id: *person, team: old_team });
            }
        }
    }
    for person in people.values() {
        if !secondary.get(person).is_some_and(|teams| teams.contains(&team)) {
            plan.changes.push(Change::AddSecondaryTeam { id: *person, team });
        }
    }
    Ok(GroupPlan { plan, team, display_name, members })
}

/// The person each member User provisions; an id that is not a User of this organisation is
/// the client's error.
pub async fn member_people(state: &App, org: OrgId, members: &[Uuid]) -> Result<HashMap<Uuid, UserId>, GroupPlanError> {
    let users = state.store.scim_resources(org, ScimResourceType::User, members).await?;
    let found: HashMap<Uuid, Option<UserId>> = users.into_iter().map(|u| (u.id, u.person)).collect();
    if let Some(missing) = members.iter().find(|m| !found.contains_key(m)) {
        return Err(ScimError::invalid_value(format!("member \"{missing}\" is not a User of this organisation")).into());
    }
    // A User created inactive has no person yet, and so no team to join.
    Ok(found.into_iter().filter_map(|(id, person)| person.map(|p| (id, p))).collect())
}

/// The people the Group's stored members provision. Unlike a request's members, a stored
/// member that is no longer a User is no error: it is simply nobody to take out of the team.
async fn stored_member_people(state: &App, org: OrgId, members: &[Uuid]) -> Result<HashMap<Uuid, UserId>, GroupPlanError> {
    let users = state.store.scim_resources(org, ScimResourceType::User, members).await?;
    Ok(users.into_iter().filter_map(|u| u.person.map(|p| (u.id, p))).collect())
}

fn member_ids(document: &Value) -> Result<Vec<Uuid>, GroupPlanError> {
    let mut ids = BTreeSet::new();
    for member in document.get("members").and_then(Value::as_array).into_iter().flatten() {
        let raw = member.get("value").and_then(Value::as_str).unwrap_or_default();
        let id = Uuid::parse_str(raw).map_err(|_| ScimError::invalid_value(format!("member \"{raw}\" is not a User of this organisation")))?;
        ids.insert(id);
    }
    Ok(ids.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(settings: serde_json::Value) -> ScimSettings {
        serde_json::from_value(settings).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn stored_settings_read_as_before() {
        let defaults = parse(json!({}));
        assert_eq!((defaults.invitations(), defaults.strict_patch, defaults.mapping.len()), (Invitations::Hold, false, 0));
        assert_eq!(defaults.rate_per_second(), DEFAULT_RATE_PER_SECOND);
        let set = parse(json!({"invitations": "immediately", "strict_patch": true, "mapping": null, "rate_limit_per_second": 0.5}));
        assert_eq!((set.invitations(), set.strict_patch, set.rate_per_second()), (Invitations::Immediately, true, 0.5));
        assert_eq!(parse(json!({"rate_limit_per_second": -3.0})).rate_per_second(), DEFAULT_RATE_PER_SECOND);
        assert!(serde_json::from_value::<ScimSettings>(json!({"invitations": "sometimes"})).is_err(), "an unknown value is refused, not guessed");
        assert_eq!(parse(defaults.to_json()), defaults);
    }
}
