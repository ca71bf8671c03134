//! Tokens, passwords, sessions and API keys.

use crate::support::*;
use chrono::Duration;
use roster_core::Status;
use roster_store::{NewApiKey, NewToken, SessionRecord, Store, StoreError, TokenPurpose, Unique};
use std::sync::Arc;

pub async fn tokens_are_single_use_even_under_concurrency(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let ada = person_in(store.as_ref(), org, "ada@acme.example").await;
    let token = |digest: &str, expires_in: Duration| NewToken {
        org,
        person: ada.id,
        purpose: TokenPurpose::PasswordReset,
        digest: digest.into(),
        expires_at: now() + expires_in,
    };
    store.issue_token(&token("once", Duration::hours(1)), now(), None).await.unwrap();
    assert!(matches!(
        store.issue_token(&token("once", Duration::hours(1)), now(), None).await,
        Err(StoreError::Conflict { unique: Unique::Key, .. })
    ));

    assert_eq!(store.peek_token(org, TokenPurpose::PasswordReset, "once", now()).await.unwrap(), Some(ada.id));
    assert_eq!(store.peek_token(org, TokenPurpose::Invitation, "once", now()).await.unwrap(), None, "purposes are distinct");
    assert_eq!(store.consume_token(org, TokenPurpose::Invitation, "once", now()).await.unwrap(), None);
    assert_eq!(store.consume_token(org, TokenPurpose::PasswordReset, "once", now()).await.unwrap(), Some(ada.id));
    assert_eq!(store.consume_token(org, TokenPurpose::PasswordReset, "once", now()).await.unwrap(), None);
    assert_eq!(store.peek_token(org, TokenPurpose::PasswordReset, "once", now()).await.unwrap(), None);

    store.issue_token(&token("short", Duration::minutes(5)), now(), None).await.unwrap();
    let later = now() + Duration::minutes(6);
    assert_eq!(store.peek_token(org, TokenPurpose::PasswordReset, "short", later).await.unwrap(), None, "expired");
    assert_eq!(store.consume_token(org, TokenPurpose::PasswordReset, "short", later).await.unwrap(), None);

    // Many rounds of two racing consumers: exactly one wins each time.
    for round in 0..20 {
        let digest = format!("race-{round}");
        store.issue_token(&token(&digest, Duration::hours(1)), now(), None).await.unwrap();
        let (first, second) = (store.clone(), store.clone());
        let (d1, d2) = (digest.clone(), digest.clone());
        let one = tokio::spawn(async move { first.consume_token(org, TokenPurpose::PasswordReset, &d1, now()).await });
        let two = tokio::spawn(async move { second.consume_token(org, TokenPurpose::PasswordReset, &d2, now()).await });
        let results = [one.await.unwrap().unwrap(), two.await.unwrap().unwrap()];
        assert_eq!(results.iter().filter(|r| **r == Some(ada.id)).count(), 1, "round {round}: {results:?}");
        assert_eq!(results.iter().filter(|r| r.is_none()).count(), 1);
    }
}

pub async fn passwords_activate_invited_people_and_are_audited(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let ada = person_in(store, org, "ada@acme.example").await;
    let before = store.credentials(org, &ada.email).await.unwrap().unwrap();
    assert_eq!((before.person, before.status, before.password_hash), (ada.id, Status::Invited, None));

    store.set_password(org, ada.id, "$argon2id$hash", now()).await.unwrap();
    let after = store.credentials(org, &ada.email).await.unwrap().unwrap();
    assert_eq!((after.status, after.password_hash.as_deref()), (Status::Active, Some("$argon2id$hash")));
    let person = store.person(org, ada.id).await.unwrap().unwrap();
    assert!(person.activated);
    let audit = store.audit_for_person(org, ada.id, 1).await.unwrap();
    assert_eq!((audit[0].action.as_str(), audit[0].actor.clone()), ("user.password_set", format!("person:{}", ada.id)));
    assert!(!audit[0].detail.to_string().contains("argon2"), "no hash in the audit log");

    // A deactivated person stays deactivated when their password changes.
    let bob = person_in(store, org, "bob@acme.example").await;
    apply(store, org, vec![roster_core::Change::SetStatus { id: bob.id, before: Status::Invited, after: Status::Deactivated }]).await;
    store.set_password(org, bob.id, "h", now()).await.unwrap();
    assert_eq!(store.credentials(org, &bob.email).await.unwrap().unwrap().status, Status::Deactivated);
    assert!(matches!(store.set_password(org, uid(), "h", now()).await, Err(StoreError::NotFound(_))));
}

pub async fn sessions_expire_and_can_be_ended(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let ada = person_in(store, org, "ada@acme.example").await;
    let session = |digest: &str| SessionRecord {
        digest: digest.into(),
        org,
        person: ada.id,
        csrf: format!("csrf-{digest}"),
        created_at: now(),
        expires_at: now() + Duration::hours(1),
    };
    store.create_session(&session("one")).await.unwrap();
    store.create_session(&session("two")).await.unwrap();
    store.create_session(&session("three")).await.unwrap();
    assert_eq!(store.session("one", now()).await.unwrap(), Some(session("one")));
    assert_eq!(store.session("one", now() + Duration::minutes(59)).await.unwrap().map(|s| s.csrf), Some("csrf-one".into()));
    assert_eq!(store.session("one", now() + Duration::hours(1)).await.unwrap(), None, "expired at its expiry time");
    assert_eq!(store.session("unknown", now()).await.unwrap(), None);

    store.delete_session("one").await.unwrap();
    assert_eq!(store.session("one", now()).await.unwrap(), None);
    assert!(store.session("two", now()).await.unwrap().is_some());
    store.delete_sessions_of(org, ada.id).await.unwrap();
    assert_eq!(store.session("two", now()).await.unwrap(), None);
    assert_eq!(store.session("three", now()).await.unwrap(), None);
}

pub async fn api_keys_record_use_and_stop_working_when_revoked(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let new_key = |name: &str, digest: &str| NewApiKey {
        org,
        name: name.into(),
        scopes: vec![roster_store::ApiScope::Read],
        digest: digest.into(),
        prefix: format!("rk_{name}"),
        created_by: None,
        created_at: now(),
    };
    let ci = store.create_api_key(&new_key("ci", "digest-ci")).await.unwrap();
    let hr = store.create_api_key(&new_key("hr", "digest-hr")).await.unwrap();
    assert!(matches!(store.create_api_key(&new_key("dup", "digest-ci")).await, Err(StoreError::Conflict { unique: Unique::Key, .. })));
    assert_eq!(ci.last_used_at, None);

    let used = store.api_key("digest-ci", now()).await.unwrap().unwrap();
    assert_eq!((used.id, used.name.as_str(), used.last_used_at), (ci.id, "ci", Some(now())));
    // Within a minute the recorded use is left as it is; later it moves on.
    let soon = now() + Duration::seconds(30);
    assert_eq!(store.api_key("digest-ci", soon).await.unwrap().unwrap().last_used_at, Some(now()));
    let later = now() + Duration::minutes(5);
    store.api_key("digest-ci", later).await.unwrap();
    let listed = store.api_keys(org).await.unwrap();
    assert_eq!(listed.iter().find(|k| k.id == ci.id).and_then(|k| k.last_used_at), Some(later));
    assert_eq!(listed.len(), 2);

    assert!(store.revoke_api_key(org, ci.id, &roster_core::Actor::Cli, later).await.unwrap());
    assert!(!store.revoke_api_key(org, ci.id, &roster_core::Actor::Cli, later).await.unwrap(), "already revoked");
    assert_eq!(store.api_key("digest-ci", later).await.unwrap(), None);
    assert!(store.api_key("digest-hr", later).await.unwrap().is_some());
    let listed = store.api_keys(org).await.unwrap();
    assert_eq!(listed.iter().find(|k| k.id == ci.id).and_then(|k| k.revoked_at), Some(later));
    assert_eq!(listed.iter().find(|k| k.id == hr.id).and_then(|k| k.revoked_at), None);
}
