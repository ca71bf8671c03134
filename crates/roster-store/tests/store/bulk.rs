//! A realistic import end to end: reconcile, apply, read back, reconcile again.

use crate::support::*;
use roster_core::reconcile::{reconcile, DesiredPerson, Invitations, ManagerField, ManagerRef, PlanContext, Policy, Scope};
use roster_core::{Actor, Change, ConnectionId, Person, Profile, RandomIds, Role, Status, Team};
use roster_store::Store;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

fn desired_people(count: usize) -> Vec<DesiredPerson> {
    (0..count)
        .map(|i| DesiredPerson {
            record: format!("line {}", i + 2),
            external_id: Some(format!("ext-{i:05}")),
            email: email(&format!("Person.{i}@Big.Example")),
            profile: Profile {
                first_name: format!("First{}", i % 97),
                last_name: format!("Lást{i}"),
                job_title: (i % 3 == 0).then(|| "Engineer".to_owned()),
                department: (i % 10 != 0).then(|| format!("Department {}", i % 20)),
                location: Some("Zürich".into()),
                language: (i % 2 == 0).then(|| "de".to_owned()),
                hire_date: chrono::NaiveDate::from_ymd_opt(2000 + i32::try_from(i % 25).unwrap(), 1 + u32::try_from(i % 12).unwrap(), 1),
                custom_fields: if i % 4 == 0 { BTreeMap::from([("employee_id".to_owned(), format!("E{i}"))]) } else { BTreeMap::new() },
            },
            active: true,
            role: None,
            // Everyone but the first reports to someone earlier in the list.
            manager: if i == 0 { ManagerField::Untouched } else { ManagerField::Set(ManagerRef::ExternalId(format!("ext-{:05}", i / 7))) },
        })
        .collect()
}

/// The people and teams a plan describes, as a snapshot would show them.
fn planned(plan: &roster_core::Plan) -> (HashMap<roster_core::UserId, Person>, Vec<Team>) {
    let mut people = HashMap::new();
    let mut teams = Vec::new();
    for change in &plan.changes {
        match change {
            Change::CreateTeam { id, name } => teams.push(Team { id: *id, org: plan.org, name: name.clone(), parent: None }),
            Change::CreatePerson { person } => {
                people.insert(
                    person.id,
                    Person {
                        id: person.id,
                        org: plan.org,
                        email: person.email.clone(),
                        profile: person.profile.clone(),
                        status: person.status,
                        role: person.role,
                        primary_team: person.primary_team,
                        secondary_teams: vec![],
                        manager: None,
                        avatar_url: None,
                        source: person.source.clone(),
                        activated: false,
                        provisioning_allowed: false,
                        created_at: now(),
                        updated_at: now(),
                    },
                );
            }
            Change::SetManager { id, after, .. } => {
                if let Some(person) = people.get_mut(id) {
                    person.manager = *after;
                }
            }
            Change::Invite { .. } => {}
            other => panic!("an import of new people planned {other:?}"),
        }
    }
    (people, teams)
}

pub async fn a_two_thousand_person_import_round_trips_and_replans_to_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "big").await;
    let connection = ConnectionId::from_uuid(Uuid::now_v7());
    let policy = Policy {
        connection: Some(connection),
        scope: Scope::Full,
        invitations: Invitations::Immediately,
        manage_managers: true,
        ownership: roster_core::ownership::Ownership::everything(),
    };
    let desired = desired_people(2000);
    let mut ids = RandomIds;
    let mut ctx = PlanContext { now: now(), ids: &mut ids };
    let start = store.snapshot(org).await.unwrap();
    let plan = reconcile(org, Actor::Connection { id: connection }, &start, &desired, &policy, &mut ctx);
    assert_eq!((plan.report.created, plan.report.invited, plan.report.teams_created), (2000, 2000, 18));
    assert!(plan.report.issues.is_empty(), "{:?}", plan.report.issues);

    store.apply(&plan, now()).await.unwrap();

    let (expected_people, mut expected_teams) = planned(&plan);
    let snapshot = store.snapshot(org).await.unwrap();
    assert_eq!(snapshot.people.len(), 2000);
    for person in &snapshot.people {
        assert_eq!(Some(person), expected_people.get(&person.id), "person {} read back differently", person.email);
    }
    let mut teams = snapshot.teams.clone();
    teams.sort_by_key(|t| t.id);
    expected_teams.sort_by_key(|t| t.id);
    assert_eq!(teams, expected_teams);

    assert_eq!(store.recent_audit(org, 10_000).await.unwrap().len(), plan.changes.len());
    assert_eq!(store.events(org, 0, 10_000).await.unwrap().len(), plan.changes.len());
    assert_eq!(store.emails(org, 10_000).await.unwrap().len(), 2000);
    assert_eq!(store.count_people(org).await.unwrap().invited, 2000);

    let mut ctx = PlanContext { now: now(), ids: &mut ids };
    let again = reconcile(org, Actor::Connection { id: connection }, &snapshot, &desired, &policy, &mut ctx);
    assert!(again.is_empty(), "the second run planned {} changes, first: {:?}", again.changes.len(), again.changes.first());
    assert_eq!(again.report.unchanged, 2000);

    // Leaving the group deactivates, in bulk, with the same result read back.
    let mut ctx = PlanContext { now: now(), ids: &mut ids };
    let shrink = reconcile(org, Actor::Connection { id: connection }, &snapshot, &desired[..1500], &policy, &mut ctx);
    assert_eq!(shrink.deactivations(), 500);
    store.apply(&shrink, now()).await.unwrap();
    let counts = store.count_people(org).await.unwrap();
    assert_eq!((counts.invited, counts.deactivated, counts.total), (1500, 500, 2000));
}

pub async fn counts_and_team_summaries_add_up(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let (sales, support, empty) = (tid(), tid(), tid());
    let mut changes = vec![create_team(sales, "sales"), create_team(support, "Support"), create_team(empty, "Archive")];
    let mut people = Vec::new();
    for (i, status) in [Status::Active, Status::Active, Status::Invited, Status::Deactivated, Status::Active].into_iter().enumerate() {
        let mut person = new_person(&format!("p{i}@acme.example"), "P", &i.to_string());
        person.status = status;
        person.role = if i == 0 { Role::Owner } else { Role::Learner };
        person.primary_team = if i < 3 { Some(sales) } else { Some(support) };
        changes.push(create(&person));
        people.push(person);
    }
    changes.push(Change::AddSecondaryTeam { id: people[0].id, team: support });
    changes.push(Change::AddSecondaryTeam { id: people[1].id, team: support });
    changes.push(Change::AddSecondaryTeam { id: people[1].id, team: support });
    apply(store, org, changes).await;

    let counts = store.count_people(org).await.unwrap();
    assert_eq!((counts.total, counts.active, counts.invited, counts.deactivated), (5, 3, 1, 1));
    let summary: Vec<(String, u64, u64)> =
        store.teams(org).await.unwrap().into_iter().map(|t| (t.team.name.to_string(), t.primary_members, t.secondary_members)).collect();
    assert_eq!(summary, [("Archive".to_owned(), 0, 0), ("sales".to_owned(), 3, 0), ("Support".to_owned(), 2, 2)]);
    let listed: Vec<String> = store.team_list(org).await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert_eq!(listed, ["Archive", "sales", "Support"], "the plain list has the same teams in the same order");
}
