//! `snapshot_for`: the narrow read a SCIM write plans from. For `Scope::Partial` it must plan
//! exactly what the whole organisation's snapshot would, in every case the reconciler knows.

use crate::support::*;
use roster_core::ids::SequentialIds;
use roster_core::reconcile::{reconcile, DesiredPerson, Invitations, ManagerField, ManagerRef, PlanContext, Policy, Scope, Snapshot};
use roster_core::{Actor, Change, ConnectionId, OrgId, Person, Plan, Profile, RandomIds, SourceLink};
use roster_store::{SnapshotKeys, Store};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

const LINKED: usize = 1990;

fn address(i: usize) -> String {
    format!("person.{i}@big.example")
}

fn ext(i: usize) -> String {
    format!("ext-{i:05}")
}

fn wanted(address: &str, external: Option<&str>, department: Option<&str>, manager: ManagerField) -> DesiredPerson {
    DesiredPerson {
        record: format!("record {address}"),
        external_id: external.map(str::to_owned),
        email: email(address),
        profile: Profile { first_name: "First".into(), last_name: address.into(), department: department.map(str::to_owned), ..Profile::default() },
        active: true,
        role: None,
        manager,
    }
}

fn manager_ext(id: &str) -> ManagerField {
    ManagerField::Set(ManagerRef::ExternalId(id.into()))
}

/// 1,990 people linked to `connection` with managers and departments, five people nobody
/// provisions, five of another connection, and a secondary team: 2,000 in all.
async fn big_org(store: &dyn Store, connection: ConnectionId, other: ConnectionId) -> OrgId {
    let org = new_org(store, "narrow").await;
    let desired: Vec<DesiredPerson> = (0..LINKED)
        .map(|i| {
            let manager = if i == 0 { ManagerField::Untouched } else { manager_ext(&ext(i / 7)) };
            let department = format!("Department {}", i % 20);
            wanted(&address(i), Some(&ext(i)), (i % 10 != 0).then_some(department.as_str()), manager)
        })
        .collect();
    let policy = Policy {
        connection: Some(connection),
        scope: Scope::Full,
        invitations: Invitations::Hold,
        manage_managers: true,
        ownership: roster_core::ownership::Ownership::everything(),
    };
    let mut ids = RandomIds;
    let mut ctx = PlanContext { now: now(), ids: &mut ids };
    let plan = reconcile(org, Actor::Connection { id: connection }, &store.snapshot(org).await.unwrap(), &desired, &policy, &mut ctx);
    assert!(plan.report.issues.is_empty(), "{:?}", plan.report.issues);
    store.apply(&plan, now()).await.unwrap();

    let mut changes = Vec::new();
    for i in 0..5 {
        changes.push(create(&new_person(&format!("plain.{i}@big.example"), "Plain", "Person")));
        let mut theirs = new_person(&format!("other.{i}@big.example"), "Other", "Person");
        theirs.source = Some(SourceLink { connection: other, external_id: ext(i) });
        changes.push(create(&theirs));
    }
    let guild = tid();
    changes.push(create_team(guild, "Guild"));
    apply(store, org, changes).await;
    let someone = store.person_by_email(org, &email(&address(10))).await.unwrap().unwrap();
    apply(store, org, vec![Change::AddSecondaryTeam { id: someone.id, team: guild }]).await;
    org
}

/// The records a SCIM client might send, one case of the reconciler each.
fn cases() -> Vec<DesiredPerson> {
    let mut out = vec![
        // A linked person updated, with a manager by external id.
        wanted(&address(10), Some(&ext(10)), Some("Department 3"), manager_ext(&ext(2))),
        // Matched by e-mail and linked; their department is a new team.
        wanted("plain.0@big.example", Some("new-a"), Some("Brand New Department"), ManagerField::Clear),
        // New, in an existing team named in another case.
        wanted("new.b@big.example", Some("new-b"), Some("department 5"), manager_ext(&ext(3))),
        // New, reporting to the new person of the case before (only when run together).
        wanted("new.c@big.example", Some("new-c"), None, manager_ext("new-b")),
        // Provisioned by another connection: refused.
        wanted("other.0@big.example", Some("x-1"), None, ManagerField::Untouched),
        // An e-mail change to an address someone else holds: refused.
        wanted(&address(21), Some(&ext(20)), None, ManagerField::Untouched),
        // An e-mail change to a free address.
        wanted("renamed.22@big.example", Some(&ext(22)), Some("Department 2"), manager_ext(&ext(3))),
        // A manager outside the directory: reported.
        wanted(&address(40), Some(&ext(40)), None, manager_ext("nobody")),
        // Their own manager: reported.
        wanted(&address(41), Some(&ext(41)), None, manager_ext(&ext(41))),
        // The e-mail of a person linked to another identity of this connection: refused.
        wanted(&address(50), Some("imposter"), None, ManagerField::Untouched),
        // A manager by e-mail.
        wanted(&address(60), Some(&ext(60)), Some("Department 0"), ManagerField::Set(ManagerRef::Email(email(&address(61))))),
        // Unknown and disabled: skipped.
        wanted("gone@big.example", Some("gone"), None, ManagerField::Clear),
    ];
    // Deactivated.
    let mut leaving = wanted(&address(30), Some(&ext(30)), Some("Department 10"), manager_ext(&ext(4)));
    leaving.active = false;
    out.push(leaving);
    if let Some(gone) = out.iter_mut().find(|d| d.external_id.as_deref() == Some("gone")) {
        gone.active = false;
    }
    out
}

fn plan_with(org: OrgId, connection: ConnectionId, snapshot: &Snapshot, desired: &[DesiredPerson]) -> Plan {
    let policy = Policy {
        connection: Some(connection),
        scope: Scope::Partial,
        invitations: Invitations::Immediately,
        manage_managers: true,
        ownership: roster_core::ownership::Ownership::everything(),
    };
    let mut ids = SequentialIds::default();
    let mut ctx = PlanContext { now: now(), ids: &mut ids };
    reconcile(org, Actor::Connection { id: connection }, snapshot, desired, &policy, &mut ctx)
}

pub async fn partial_plans_from_the_narrow_snapshot_match_the_whole_one(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (connection, other) = (ConnectionId::from_uuid(Uuid::now_v7()), ConnectionId::from_uuid(Uuid::now_v7()));
    let org = big_org(store, connection, other).await;
    let full = store.snapshot(org).await.unwrap();
    assert_eq!(full.people.len(), 2000);
    let by_id: HashMap<_, &Person> = full.people.iter().map(|p| (p.id, p)).collect();

    let cases = cases();
    // One record at a time, as SCIM writes them, then all of them in one run.
    let runs: Vec<&[DesiredPerson]> = cases.chunks(1).chain(std::iter::once(cases.as_slice())).collect();
    let mut refused = 0;
    for desired in runs {
        let keys = SnapshotKeys::of(desired, Some(connection));
        let narrow = store.snapshot_for(org, &keys).await.unwrap();
        assert!(narrow.people.len() <= keys.emails.len() + keys.external_ids.as_ref().map_or(0, |(_, ids)| ids.len()));
        assert_eq!(narrow.teams, full.teams);
        for person in &narrow.people {
            assert_eq!(Some(&person), by_id.get(&person.id), "{} reads differently in the narrow snapshot", person.email);
        }
        let (expected, got) = (plan_with(org, connection, &full, desired), plan_with(org, connection, &narrow, desired));
        assert_eq!(got, expected, "the plans for {:?} differ", desired.iter().map(|d| &d.record).collect::<Vec<_>>());
        refused += usize::from(desired.len() == 1 && !expected.report.issues.is_empty());
    }
    // The cases do reach the refusals and notes they are there for.
    assert_eq!(refused, 6);

    // The secondary team of a person is read with them.
    let keys = SnapshotKeys { emails: vec![email(&address(10))], external_ids: None };
    let narrow = store.snapshot_for(org, &keys).await.unwrap();
    assert_eq!(narrow.people.len(), 1);
    assert_eq!(narrow.people[0].secondary_teams.len(), 1);

    // External ids of another connection match nobody of this one, and no keys read nobody.
    let keys = SnapshotKeys { emails: vec![], external_ids: Some((other, vec![ext(10), ext(11)])) };
    assert!(store.snapshot_for(org, &keys).await.unwrap().people.is_empty());
    let keys = SnapshotKeys { emails: vec![], external_ids: Some((connection, vec![ext(10), ext(11)])) };
    assert_eq!(store.snapshot_for(org, &keys).await.unwrap().people.len(), 2);
    let none = store.snapshot_for(org, &SnapshotKeys::default()).await.unwrap();
    assert!(none.people.is_empty());
    assert_eq!(none.teams, full.teams);

    // Another organisation's people with the same keys stay out.
    let elsewhere = new_org(store, "elsewhere").await;
    let keys = SnapshotKeys { emails: vec![email(&address(10))], external_ids: Some((connection, vec![ext(10)])) };
    let theirs = store.snapshot_for(elsewhere, &keys).await.unwrap();
    assert!(theirs.people.is_empty() && theirs.teams.is_empty());

    // More keys than one statement takes are read in several, each person once.
    let keys = SnapshotKeys {
        emails: (0..1200).map(|i| email(&address(i))).collect(),
        external_ids: Some((connection, (800..LINKED + 50).map(ext).collect())),
    };
    assert_eq!(store.snapshot_for(org, &keys).await.unwrap().people.len(), LINKED);
}
