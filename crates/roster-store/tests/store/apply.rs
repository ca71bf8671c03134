//! `apply`: all or nothing, each change audited and published, secrets kept out of both.

use crate::support::*;
use roster_core::{Actor, Change, ConnectionId, Profile, Role, SourceLink, Status, TeamName};
use roster_store::{OutgoingEmail, SessionRecord, Store, StoreError, TokenPurpose, Unique};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

async fn nothing_written(store: &dyn Store, org: roster_core::OrgId, people_before: usize) {
    let snapshot = store.snapshot(org).await.unwrap();
    assert_eq!(snapshot.people.len(), people_before, "people were written");
    assert!(snapshot.teams.is_empty(), "teams were written");
    assert_eq!(store.recent_audit(org, 100).await.unwrap().len(), people_before, "audit rows were written");
    assert_eq!(store.events(org, 0, 100).await.unwrap().len(), people_before, "events were written");
    assert!(store.emails(org, 100).await.unwrap().is_empty(), "e-mails were queued");
}

pub async fn a_failing_change_rolls_back_the_whole_plan(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    person_in(store, org, "taken@acme.example").await;

    let team = tid();
    let mut fresh = new_person("fresh@acme.example", "Fresh", "Person");
    fresh.primary_team = Some(team);
    let clash = new_person("taken@acme.example", "Clash", "Person");
    let doomed = plan(org, vec![create_team(team, "Sales"), create(&fresh), invite(&fresh), create(&clash)]);
    let error = store.apply(&doomed, now()).await.unwrap_err();
    let StoreError::Conflict { unique: Unique::Email, message } = &error else { panic!("expected a conflict, got {error:?}") };
    assert!(message.contains("taken@acme.example"), "the message names the address: {message}");
    nothing_written(store, org, 1).await;
    assert!(store.emails(org, 10).await.unwrap().is_empty(), "no invitation was queued");

    // The same address twice within one plan is named too.
    let twice = new_person("twice@acme.example", "A", "B");
    let again = new_person("twice@acme.example", "C", "D");
    let error = store.apply(&plan(org, vec![create(&twice), create(&again)]), now()).await.unwrap_err();
    assert!(matches!(&error, StoreError::Conflict { unique: Unique::Email, message: m } if m.contains("twice@acme.example")), "{error:?}");
    nothing_written(store, org, 1).await;
}

pub async fn a_late_single_change_conflict_rolls_back_earlier_bulk_writes(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let taken = person_in(store, org, "taken@acme.example").await;
    let other = person_in(store, org, "other@acme.example").await;
    let team = tid();
    let fresh = new_person("fresh@acme.example", "Fresh", "Person");
    let changes = vec![
        create_team(team, "Sales"),
        create(&fresh),
        Change::ChangeEmail { id: other.id, before: other.email.clone(), after: taken.email.clone() },
        Change::SetRole { id: taken.id, before: Role::Learner, after: Role::Admin },
    ];
    let error = store.apply(&plan(org, changes), now()).await.unwrap_err();
    assert!(matches!(&error, StoreError::Conflict { unique: Unique::Email, message: m } if m.contains("taken@acme.example")), "{error:?}");
    nothing_written(store, org, 2).await;
    assert_eq!(store.person(org, taken.id).await.unwrap().unwrap().role, Role::Learner);

    // A link to an external id another person holds is a conflict as well.
    let connection = ConnectionId::from_uuid(Uuid::now_v7());
    let link = SourceLink { connection, external_id: "ext-1".into() };
    apply(store, org, vec![Change::LinkSource { id: taken.id, link: link.clone() }]).await;
    let error = store.apply(&plan(org, vec![Change::LinkSource { id: other.id, link }]), now()).await.unwrap_err();
    assert!(matches!(&error, StoreError::Conflict { unique: Unique::SourceLink, message: m } if m.contains("external id")), "{error:?}");
}

pub async fn every_change_is_audited_and_published_without_secrets(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let mut ada = new_person("ada@acme.example", "Ada", "Lovelace");
    ada.profile.custom_fields = BTreeMap::from([("employee_id".to_owned(), "E-1".to_owned())]);
    let connection = ConnectionId::from_uuid(Uuid::now_v7());
    let mut plan = plan(org, vec![create(&ada), invite(&ada), Change::SetRole { id: ada.id, before: Role::Learner, after: Role::Manager }]);
    plan.actor = Actor::Connection { id: connection };
    let run = store.apply(&plan, now()).await.unwrap();

    let audit = store.recent_audit(org, 10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["user.role_changed", "user.invited", "user.created"], "newest first, one per change");
    for entry in &audit {
        assert_eq!(entry.actor, format!("connection:{connection}"));
        assert_eq!(entry.run, Some(run));
        assert_eq!(entry.person, Some(ada.id));
        assert_eq!(entry.at, now());
        assert!(!entry.detail.to_string().contains("token"), "no token in the audit log: {}", entry.detail);
    }
    assert_eq!(audit[2].detail["person"]["profile"]["custom_fields"]["employee_id"], "E-1");
    assert_eq!(audit[0].detail["after"], "manager");
    assert_eq!(store.audit_for_person(org, ada.id, 2).await.unwrap().len(), 2, "the limit holds");

    let events = store.events(org, 0, 10).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["user.created", "user.invited", "user.role_changed"], "oldest first");
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "seq increases");
    assert!(events.iter().all(|e| !e.data.to_string().contains("token") && e.org == org));
    let after_first = store.events(org, events[0].seq, 10).await.unwrap();
    assert_eq!(after_first.len(), 2, "the feed resumes after a sequence number");
    let later = person_in(store, org, "later@acme.example").await;
    let next = store.events(org, events[2].seq, 10).await.unwrap();
    assert_eq!(next.iter().map(|e| e.data["person"]["id"].as_str()).collect::<Vec<_>>(), [Some(later.id.to_string().as_str())]);

    // No link exists until the e-mail is sent: the queued e-mail names the person, no token.
    let emails = store.emails(org, 10).await.unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].email, OutgoingEmail::Invitation { to: ada.email.clone(), name: "Ada Lovelace".into(), person: Some(ada.id) });

    // Inviting again voids the link of the earlier invitation (minted when it was sent).
    let sent = roster_store::NewToken {
        org,
        person: ada.id,
        purpose: TokenPurpose::Invitation,
        digest: "sent-link".into(),
        expires_at: now() + chrono::Duration::days(14),
    };
    store.issue_token(&sent, now(), None).await.unwrap();
    apply(store, org, vec![invite(&ada)]).await;
    assert_eq!(store.peek_token(org, TokenPurpose::Invitation, "sent-link", now()).await.unwrap(), None);
    assert_eq!(store.emails(org, 10).await.unwrap().len(), 2, "a second e-mail waits");
}

pub async fn updates_of_each_kind_are_applied(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let (sales, support) = (tid(), tid());
    apply(store, org, vec![create_team(sales, "Sales"), create_team(support, "Support")]).await;
    let boss = person_in(store, org, "boss@acme.example").await;
    let people: Vec<_> = (0..5).map(|i| new_person(&format!("p{i}@acme.example"), &format!("P{i}"), "Person")).collect();
    apply(store, org, people.iter().map(create).collect()).await;

    let richer = Profile {
        first_name: "Zoë".into(),
        last_name: "Ångström".into(),
        job_title: Some("Engineer".into()),
        department: Some("Support".into()),
        location: Some("Oslo".into()),
        language: Some("nb".into()),
        hire_date: chrono::NaiveDate::from_ymd_opt(2020, 2, 29),
        custom_fields: BTreeMap::from([("badge".to_owned(), "42".to_owned())]),
    };
    let link = SourceLink { connection: ConnectionId::from_uuid(Uuid::now_v7()), external_id: "ext-9".into() };
    let mut changes = Vec::new();
    for p in &people {
        changes.push(Change::SetManager { id: p.id, before: None, after: Some(boss.id) });
    }
    for p in &people {
        changes.push(Change::SetPrimaryTeam { id: p.id, before: None, after: Some(sales) });
    }
    changes.extend([
        Change::UpdateProfile { id: people[0].id, before: Box::new(people[0].profile.clone()), after: Box::new(richer.clone()) },
        Change::SetStatus { id: people[1].id, before: Status::Invited, after: Status::Active },
        Change::SetRole { id: people[1].id, before: Role::Learner, after: Role::Admin },
        // A second update of the same person in one run: the later one wins.
        Change::SetPrimaryTeam { id: people[2].id, before: Some(sales), after: Some(support) },
        Change::SetPrimaryTeam { id: people[2].id, before: Some(support), after: None },
        Change::AddSecondaryTeam { id: people[3].id, team: support },
        Change::AddSecondaryTeam { id: people[3].id, team: sales },
        Change::AddSecondaryTeam { id: people[4].id, team: support },
        Change::RemoveSecondaryTeam { id: people[4].id, team: support },
        Change::ChangeEmail { id: people[4].id, before: people[4].email.clone(), after: email("renamed@acme.example") },
        Change::LinkSource { id: people[4].id, link: link.clone() },
        Change::SetManager { id: people[4].id, before: Some(boss.id), after: None },
    ]);
    let count = changes.len();
    apply(store, org, changes).await;
    assert_eq!(store.recent_audit(org, 1000).await.unwrap().len(), count + 1 + 5 + 2);

    let get = |i: usize| store.person(org, people[i].id);
    let p0 = get(0).await.unwrap().unwrap();
    assert_eq!(p0.profile, richer);
    assert_eq!((p0.manager, p0.primary_team), (Some(boss.id), Some(sales)));
    let p1 = get(1).await.unwrap().unwrap();
    assert_eq!((p1.status, p1.role), (Status::Active, Role::Admin));
    assert_eq!(get(2).await.unwrap().unwrap().primary_team, None);
    let mut p3_teams = get(3).await.unwrap().unwrap().secondary_teams;
    let mut expected = vec![sales, support];
    p3_teams.sort();
    expected.sort();
    assert_eq!(p3_teams, expected);
    let p4 = get(4).await.unwrap().unwrap();
    assert_eq!((p4.email.as_str(), p4.source.as_ref(), p4.manager), ("renamed@acme.example", Some(&link), None));
    assert!(p4.secondary_teams.is_empty());
    assert!(store.person_by_email(org, &people[4].email).await.unwrap().is_none());
    assert_eq!(store.person_by_email(org, &email("renamed@acme.example")).await.unwrap().map(|p| p.id), Some(people[4].id));

    // The new name is what search finds and sorts by.
    let found = store
        .search_people(org, &roster_core::query::PersonQuery::new(Some(roster_core::query::PersonFilter::TextPrefix("ÅNGST".into())), 0, 10))
        .await
        .unwrap();
    assert_eq!(found.people.iter().map(|p| p.id).collect::<Vec<_>>(), [people[0].id]);
}

pub async fn teams_are_renamed_moved_and_kept_acyclic(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let (top, middle, leaf) = (tid(), tid(), tid());
    apply(store, org, vec![create_team(top, "Top"), create_team(middle, "Middle"), create_team(leaf, "Leaf")]).await;
    apply(
        store,
        org,
        vec![
            Change::SetTeamParent { id: middle, before: None, after: Some(top) },
            Change::SetTeamParent { id: leaf, before: None, after: Some(middle) },
            Change::RenameTeam { id: leaf, before: TeamName::parse("Leaf").unwrap(), after: TeamName::parse("Leaves").unwrap() },
        ],
    )
    .await;
    let leaf_now = store.team(org, leaf).await.unwrap().unwrap();
    assert_eq!((leaf_now.name.as_str(), leaf_now.parent), ("Leaves", Some(middle)));

    let cycle = store.apply(&plan(org, vec![Change::SetTeamParent { id: top, before: None, after: Some(leaf) }]), now()).await;
    assert!(matches!(cycle, Err(StoreError::Invalid(_))), "{cycle:?}");
    let own = store.apply(&plan(org, vec![Change::SetTeamParent { id: top, before: None, after: Some(top) }]), now()).await;
    assert!(matches!(own, Err(StoreError::Invalid(_))), "{own:?}");
    assert_eq!(store.team(org, top).await.unwrap().unwrap().parent, None);

    // Team names are unique without regard to case.
    let dup = store.apply(&plan(org, vec![create_team(tid(), "top")]), now()).await;
    assert!(matches!(&dup, Err(e @ StoreError::Conflict { unique: Unique::TeamName, .. }) if e.is_team_race()), "{dup:?}");
    let rename_dup = store
        .apply(
            &plan(org, vec![Change::RenameTeam { id: middle, before: TeamName::parse("Middle").unwrap(), after: TeamName::parse("TOP").unwrap() }]),
            now(),
        )
        .await;
    assert!(matches!(rename_dup, Err(StoreError::Conflict { unique: Unique::TeamName, .. })), "{rename_dup:?}");
    let names: Vec<String> = store.teams(org).await.unwrap().into_iter().map(|t| t.team.name.to_string()).collect();
    assert_eq!(names, ["Leaves", "Middle", "Top"], "sorted by name");
}

pub async fn deactivation_signs_the_person_out(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let ada = person_in(store, org, "ada@acme.example").await;
    let bob = person_in(store, org, "bob@acme.example").await;
    for (digest, person) in [("s-ada-1", ada.id), ("s-ada-2", ada.id), ("s-bob", bob.id)] {
        let session =
            SessionRecord { digest: digest.into(), org, person, csrf: "c".into(), created_at: now(), expires_at: now() + chrono::Duration::hours(8) };
        store.create_session(&session).await.unwrap();
    }
    apply(store, org, vec![Change::SetStatus { id: ada.id, before: Status::Invited, after: Status::Deactivated }]).await;
    assert!(store.session("s-ada-1", now()).await.unwrap().is_none());
    assert!(store.session("s-ada-2", now()).await.unwrap().is_none());
    assert!(store.session("s-bob", now()).await.unwrap().is_some());
    assert_eq!(store.recent_audit(org, 1).await.unwrap()[0].action, "user.deactivated");
    apply(store, org, vec![Change::SetStatus { id: ada.id, before: Status::Deactivated, after: Status::Invited }]).await;
    assert_eq!(store.events(org, 0, 100).await.unwrap().last().map(|e| e.kind.clone()), Some("user.reactivated".into()));
}
