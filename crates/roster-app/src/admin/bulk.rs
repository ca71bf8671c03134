//! One action over many people at once (a selection, or every match of a filter), applied as
//! one plan: all of it or none of it, audited per person like the single actions. People the
//! action does not fit are left alone and counted with the reason.

use super::people::Acting;
use super::{apply, OpsError};
use crate::App;
use futures::StreamExt;
use roster_core::plan::Change;
use roster_core::query::{PersonFilter, PersonQuery};
use roster_core::{OrgId, Person, Plan, Role, Status, TeamId, UserId};
use std::collections::BTreeMap;

/// What to do to each person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAction {
    Invite,
    Deactivate,
    Reactivate,
    AddToTeam(TeamId),
    /// Set the override manager (by id).
    SetManager(UserId),
}

impl BulkAction {
    /// "deactivate", for a sentence.
    pub fn verb(&self) -> &'static str {
        match self {
            BulkAction::Invite => "invite",
            BulkAction::Deactivate => "deactivate",
            BulkAction::Reactivate => "reactivate",
            BulkAction::AddToTeam(_) => "add to the team",
            BulkAction::SetManager(_) => "give the manager",
        }
    }
}

/// Who the action is for.
#[derive(Debug, Clone)]
pub enum Targets {
    /// These people (a selection on the page).
    Selected(Vec<UserId>),
    /// Everyone the filter matches now.
    Matching(Option<PersonFilter>),
}

/// What a bulk action did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    pub changed: u64,
    /// Why people were left alone, with how many each time.
    pub skipped: BTreeMap<&'static str, u64>,
}

impl BulkOutcome {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// The most people one bulk action reaches: a plan of this size applies in seconds.
pub const MAX_TARGETS: usize = 200_000;

/// Everyone the targets name, read a page at a time.
pub async fn resolve(state: &App, org: OrgId, targets: &Targets) -> Result<Vec<Person>, OpsError> {
    match targets {
        Targets::Selected(ids) => {
            let mut people = Vec::with_capacity(ids.len());
            for id in ids {
                people.push(state.store.person(org, *id).await?.ok_or(OpsError::NotFound)?);
            }
            Ok(people)
        }
        Targets::Matching(filter) => {
            let mut people = Vec::new();
            let mut chunks = state.store.stream_people(org, &PersonQuery::new(filter.clone(), 0, 1));
            while let Some(chunk) = chunks.next().await {
                people.extend(chunk?);
                if people.len() > MAX_TARGETS {
                    return Err(OpsError::Invalid(format!("More than {MAX_TARGETS} people match: narrow the filters first.")));
                }
            }
            Ok(people)
        }
    }
}

/// How many people the targets name now: what a confirmation states.
pub async fn count(state: &App, org: OrgId, targets: &Targets) -> Result<u64, OpsError> {
    match targets {
        Targets::Selected(ids) => Ok(ids.len() as u64),
        Targets::Matching(filter) => Ok(state.store.search_people(org, &PersonQuery::new(filter.clone(), 0, 1)).await?.total.unwrap_or(0)),
    }
}

/// Apply `action` to the targets in one plan. With `at_most`, nothing is done when more people
/// match now than the admin confirmed.
pub async fn run(
    state: &App,
    org: OrgId,
    acting: &Acting,
    targets: &Targets,
    action: &BulkAction,
    at_most: Option<u64>,
) -> Result<BulkOutcome, OpsError> {
    let people = resolve(state, org, targets).await?;
    if let Some(limit) = at_most {
        if people.len() as u64 > limit {
            return Err(OpsError::Unconfirmed(format!(
                "{} people match now, more than the {limit} you confirmed: nothing was changed. Look again and confirm.",
                people.len()
            )));
        }
    }
    if let BulkAction::AddToTeam(team) = action {
        state.store.team(org, *team).await?.ok_or_else(|| OpsError::Invalid("That team does not exist.".into()))?;
    }
    let manager = match action {
        BulkAction::SetManager(id) => Some(state.store.person(org, *id).await?.ok_or_else(|| OpsError::Invalid("That manager is not here.".into()))?),
        _ => None,
    };
    // The new manager's chain upwards: nobody in it may report to them.
    let mut above = std::collections::HashSet::new();
    let mut cursor = manager.as_ref().map(|m| m.id);
    while let Some(current) = cursor.filter(|c| above.insert(*c) && above.len() < 10_000) {
        cursor = state.store.person(org, current).await?.and_then(|p| p.manager);
    }
    let active_owners = people_owners(state, org).await?;
    let mut outcome = BulkOutcome::default();
    let mut plan = Plan::new(org, acting.actor.clone());
    let mut owners_left = active_owners;
    for person in &people {
        if manager.is_some() && above.contains(&person.id) && manager.as_ref().is_some_and(|m| m.id != person.id) {
            *outcome.skipped.entry("that would make a manager loop").or_default() += 1;
            continue;
        }
        match decide(acting, person, action, manager.as_ref(), &mut owners_left) {
            Ok(Some(change)) => {
                plan.changes.push(change);
                outcome.changed += 1;
            }
            Ok(None) => *outcome.skipped.entry("nothing to change").or_default() += 1,
            Err(reason) => *outcome.skipped.entry(reason).or_default() += 1,
        }
    }
    match action {
        BulkAction::Deactivate => plan.report.deactivated = outcome.changed as usize,
        BulkAction::Reactivate => plan.report.reactivated = outcome.changed as usize,
        _ => plan.report.updated = outcome.changed as usize,
    }
    apply(state, &plan).await?;
    Ok(outcome)
}

async fn people_owners(state: &App, org: OrgId) -> Result<u64, OpsError> {
    let owners = PersonFilter::And(vec![PersonFilter::Role(Role::Owner), PersonFilter::Not(Box::new(PersonFilter::Status(Status::Deactivated)))]);
    Ok(state.store.search_people(org, &PersonQuery::new(Some(owners), 0, 1)).await?.total.unwrap_or(0))
}

/// The change `action` makes to `person`, None when there is nothing to change, or why it is
/// not for them. The same rules as the single actions.
fn decide(
    acting: &Acting,
    person: &Person,
    action: &BulkAction,
    manager: Option<&Person>,
    owners_left: &mut u64,
) -> Result<Option<Change>, &'static str> {
    let id = person.id;
    let not_owner = acting.role.is_some_and(|r| r != Role::Owner);
    if person.role == Role::Owner && not_owner && !matches!(action, BulkAction::Invite) {
        return Err("only an owner changes an owner");
    }
    let acting_self = matches!(&acting.actor, roster_core::Actor::Person { id: me } if *me == id);
    Ok(match action {
        BulkAction::Invite => {
            if person.status == Status::Deactivated || person.activated {
                return Err("already signs in, or deactivated");
            }
            Some(Change::Invite { id, email: person.email.clone(), name: person.display_name() })
        }
        BulkAction::Deactivate => {
            if person.status == Status::Deactivated {
                return Ok(None);
            }
            if acting_self {
                return Err("you cannot deactivate yourself");
            }
            if person.role == Role::Owner {
                if *owners_left <= 1 {
                    return Err("the organisation keeps an active owner");
                }
                *owners_left -= 1;
            }
            Some(Change::SetStatus { id, before: person.status, after: Status::Deactivated })
        }
        BulkAction::Reactivate => {
            if person.status != Status::Deactivated {
                return Ok(None);
            }
            let after = if person.activated { Status::Active } else { Status::Invited };
            Some(Change::SetStatus { id, before: person.status, after })
        }
        BulkAction::AddToTeam(team) => {
            if person.source.is_some() {
                return Err("a connection provisions them");
            }
            if person.primary_team == Some(*team) || person.secondary_teams.contains(team) {
                return Ok(None);
            }
            Some(Change::AddSecondaryTeam { id, team: *team })
        }
        BulkAction::SetManager(_) => {
            let manager = manager.ok_or("no manager")?;
            if person.source.is_some() {
                return Err("a connection provisions them");
            }
            if manager.id == id {
                return Err("nobody manages themself");
            }
            if person.manager == Some(manager.id) {
                return Ok(None);
            }
            Some(Change::SetManager { id, before: person.manager, after: Some(manager.id) })
        }
    })
}
