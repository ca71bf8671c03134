//! Small builders for plans; fresh databases come from `roster_store::testing`.

use chrono::{DateTime, TimeZone, Utc};
use roster_core::plan::NewPerson;
use roster_core::{Actor, Change, Email, Org, OrgId, OrgSlug, Plan, Profile, Role, Status, TeamId, TeamName, UserId};
use roster_store::Store;
use uuid::Uuid;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("a valid time")
}

pub fn email(s: &str) -> Email {
    Email::parse(s).expect("a valid address")
}

pub fn uid() -> UserId {
    UserId::from_uuid(Uuid::now_v7())
}

pub fn tid() -> TeamId {
    TeamId::from_uuid(Uuid::now_v7())
}

pub async fn new_org(store: &dyn Store, slug: &str) -> OrgId {
    let org = Org { id: OrgId::from_uuid(Uuid::now_v7()), slug: OrgSlug::parse(slug).expect("slug"), name: slug.to_uppercase(), created_at: now() };
    store.create_org(&org).await.expect("create org");
    org.id
}

pub fn profile(first: &str, last: &str) -> Profile {
    Profile { first_name: first.into(), last_name: last.into(), ..Profile::default() }
}

pub fn new_person(address: &str, first: &str, last: &str) -> NewPerson {
    NewPerson {
        id: uid(),
        email: email(address),
        profile: profile(first, last),
        role: Role::Learner,
        status: Status::Invited,
        primary_team: None,
        source: None,
    }
}

pub fn create(person: &NewPerson) -> Change {
    Change::CreatePerson { person: Box::new(person.clone()) }
}

pub fn create_team(id: TeamId, name: &str) -> Change {
    Change::CreateTeam { id, name: TeamName::parse(name).expect("team name") }
}

pub fn invite(person: &NewPerson) -> Change {
    Change::Invite { id: person.id, email: person.email.clone(), name: person.profile.display_name() }
}

pub fn plan(org: OrgId, changes: Vec<Change>) -> Plan {
    let mut plan = Plan::new(org, Actor::System);
    plan.changes = changes;
    plan
}

/// Apply a plan that must succeed.
pub async fn apply(store: &dyn Store, org: OrgId, changes: Vec<Change>) {
    store.apply(&plan(org, changes), now()).await.expect("the plan applies");
}

/// Create one person in `org` and return them.
pub async fn person_in(store: &dyn Store, org: OrgId, address: &str) -> NewPerson {
    let person = new_person(address, "Test", address);
    apply(store, org, vec![create(&person)]).await;
    person
}
