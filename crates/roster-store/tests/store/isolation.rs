//! One organisation's calls never see or change another's rows.

use crate::support::*;
use roster_core::query::{PersonFilter, PersonQuery};
use roster_core::{Change, Role, Status};
use roster_store::{NewApiKey, NewToken, SessionRecord, Store, StoreError, TokenPurpose};
use std::sync::Arc;

pub async fn one_org_never_sees_another_orgs_people_or_teams(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let a = new_org(store, "alpha").await;
    let b = new_org(store, "beta").await;
    let team = tid();
    let mut ada = new_person("ada@shared.example", "Ada", "Lovelace");
    ada.primary_team = Some(team);
    apply(store, a, vec![create_team(team, "Research"), create(&ada)]).await;

    assert!(store.person(a, ada.id).await.unwrap().is_some());
    assert!(store.person(b, ada.id).await.unwrap().is_none());
    assert!(store.person_by_email(b, &ada.email).await.unwrap().is_none());
    assert!(store.team(b, team).await.unwrap().is_none());
    assert!(store.teams(b).await.unwrap().is_empty());
    let snapshot = store.snapshot(b).await.unwrap();
    assert!(snapshot.people.is_empty() && snapshot.teams.is_empty());
    assert_eq!(store.count_people(b).await.unwrap().total, 0);
    for filter in [None, Some(PersonFilter::TextPrefix("ada".into())), Some(PersonFilter::Team(team)), Some(PersonFilter::EmailIs(ada.email.clone()))]
    {
        let page = store.search_people(b, &PersonQuery::new(filter.clone(), 0, 50)).await.unwrap();
        assert!(page.people.is_empty(), "org B found A's people with {filter:?}");
        assert_eq!(page.total, Some(0));
    }
    assert!(store.recent_audit(b, 10).await.unwrap().is_empty());
    assert!(store.audit_for_person(b, ada.id, 10).await.unwrap().is_empty());
    assert!(store.events(b, 0, 10).await.unwrap().is_empty());

    // The same address may exist once in each organisation.
    let other_ada = new_person("ada@shared.example", "Ada", "Other");
    apply(store, b, vec![create(&other_ada)]).await;
    assert_eq!(store.person_by_email(a, &ada.email).await.unwrap().map(|p| p.id), Some(ada.id));
    assert_eq!(store.person_by_email(b, &ada.email).await.unwrap().map(|p| p.id), Some(other_ada.id));
    assert_eq!(store.audit_for_person(a, ada.id, 10).await.unwrap().len(), 1, "A's own trail");
}

pub async fn plans_cannot_reach_into_another_org(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let a = new_org(store, "alpha").await;
    let b = new_org(store, "beta").await;
    let team_a = tid();
    apply(store, a, vec![create_team(team_a, "Research")]).await;
    let ada = person_in(store, a, "ada@a.example").await;
    let bob = person_in(store, b, "bob@b.example").await;

    let mut into_a_team = new_person("carl@b.example", "Carl", "B");
    into_a_team.primary_team = Some(team_a);
    let foreign_changes = vec![
        Change::SetStatus { id: ada.id, before: Status::Invited, after: Status::Deactivated },
        Change::SetRole { id: ada.id, before: Role::Learner, after: Role::Admin },
        Change::UpdateProfile { id: ada.id, before: Box::new(ada.profile.clone()), after: Box::new(profile("Hacked", "Name")) },
        Change::ChangeEmail { id: ada.id, before: ada.email.clone(), after: email("hacked@b.example") },
        Change::SetPrimaryTeam { id: bob.id, before: None, after: Some(team_a) },
        Change::SetManager { id: bob.id, before: None, after: Some(ada.id) },
        Change::AddSecondaryTeam { id: bob.id, team: team_a },
        Change::RemoveSecondaryTeam { id: ada.id, team: team_a },
        Change::RenameTeam {
            id: team_a,
            before: roster_core::TeamName::parse("Research").unwrap(),
            after: roster_core::TeamName::parse("Hacked").unwrap(),
        },
        Change::SetTeamParent { id: team_a, before: None, after: None },
        create(&into_a_team),
        invite(&ada),
    ];
    for change in foreign_changes {
        let action = change.action();
        let result = store.apply(&plan(b, vec![change]), now()).await;
        assert!(matches!(result, Err(StoreError::NotFound(_))), "{action} into another org gave {result:?}");
    }

    let ada_now = store.person(a, ada.id).await.unwrap().unwrap();
    assert_eq!((ada_now.status, ada_now.role, ada_now.profile.first_name.as_str()), (Status::Invited, Role::Learner, "Test"));
    assert_eq!(store.team(a, team_a).await.unwrap().unwrap().name.as_str(), "Research");
    let bob_now = store.person(b, bob.id).await.unwrap().unwrap();
    assert_eq!((bob_now.primary_team, bob_now.manager, bob_now.secondary_teams.len()), (None, None, 0));
    assert!(store.person_by_email(b, &into_a_team.email).await.unwrap().is_none());
    assert!(store.emails(b, 10).await.unwrap().is_empty() && store.emails(a, 10).await.unwrap().is_empty());
    assert_eq!(store.recent_audit(b, 100).await.unwrap().len(), 1, "only bob's creation");
}

pub async fn credentials_tokens_sessions_and_keys_stay_in_their_org(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let a = new_org(store, "alpha").await;
    let b = new_org(store, "beta").await;
    let ada = person_in(store, a, "ada@a.example").await;
    person_in(store, b, "bob@b.example").await;

    assert!(store.credentials(b, &ada.email).await.unwrap().is_none());
    assert!(matches!(store.set_password(b, ada.id, "hash", now()).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.credentials(a, &ada.email).await.unwrap().unwrap().password_hash, None);

    let token = NewToken {
        org: a,
        person: ada.id,
        purpose: TokenPurpose::PasswordReset,
        digest: "digest-a".into(),
        expires_at: now() + chrono::Duration::hours(1),
    };
    store.issue_token(&token, now(), None).await.unwrap();
    assert_eq!(store.peek_token(b, TokenPurpose::PasswordReset, "digest-a", now()).await.unwrap(), None);
    assert_eq!(store.consume_token(b, TokenPurpose::PasswordReset, "digest-a", now()).await.unwrap(), None);
    assert_eq!(store.peek_token(a, TokenPurpose::PasswordReset, "digest-a", now()).await.unwrap(), Some(ada.id), "B's attempt used nothing up");
    let cross = NewToken { org: b, person: ada.id, digest: "digest-cross".into(), ..token.clone() };
    assert!(matches!(store.issue_token(&cross, now(), None).await, Err(StoreError::NotFound(_))));

    let session = SessionRecord {
        digest: "session-a".into(),
        org: a,
        person: ada.id,
        csrf: "csrf".into(),
        created_at: now(),
        expires_at: now() + chrono::Duration::hours(1),
    };
    store.create_session(&session).await.unwrap();
    let cross_session = SessionRecord { digest: "session-cross".into(), org: b, ..session.clone() };
    assert!(matches!(store.create_session(&cross_session).await, Err(StoreError::NotFound(_))));
    store.delete_sessions_of(b, ada.id).await.unwrap();
    assert_eq!(store.session("session-a", now()).await.unwrap().map(|s| s.org), Some(a), "B cannot sign A's people out");

    let key = store
        .create_api_key(&NewApiKey {
            org: a,
            name: "ci".into(),
            scopes: roster_store::ApiScope::ALL.to_vec(),
            digest: "key-a".into(),
            prefix: "rk_a".into(),
            created_by: Some(ada.id),
            created_at: now(),
        })
        .await
        .unwrap();
    assert!(store.api_keys(b).await.unwrap().is_empty());
    assert!(!store.revoke_api_key(b, key.id, &roster_core::Actor::Cli, now()).await.unwrap());
    assert_eq!(store.api_key("key-a", now()).await.unwrap().map(|k| k.org), Some(a), "still valid after B's revoke");
    assert_eq!(store.api_keys(a).await.unwrap().len(), 1);
}
