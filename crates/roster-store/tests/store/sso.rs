//! Sign-in requests redeemed once, identity links, refusals and the password policy.

use crate::support::*;
use chrono::Duration;
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, OrgId};
use roster_store::{SsoRefusal, SsoRequest, Store, StoreError};
use std::sync::Arc;
use uuid::Uuid;

async fn oidc_connection(store: &dyn Store, org: OrgId) -> ConnectionId {
    let connection = Connection {
        id: ConnectionId::from_uuid(Uuid::now_v7()),
        org,
        kind: ConnectionKind::Oidc,
        name: "Okta".into(),
        enabled: true,
        settings: serde_json::json!({}),
        sealed: Default::default(),
        created_at: now(),
        updated_at: now(),
    };
    store.create_connection(&connection, &Actor::Cli).await.unwrap();
    connection.id
}

fn request(org: OrgId, connection: ConnectionId, digest: &str) -> SsoRequest {
    SsoRequest {
        state_digest: digest.into(),
        org,
        connection,
        purpose: roster_store::SsoPurpose::Oidc { nonce: format!("nonce-{digest}"), sealed_verifier: vec![7; 40] },
        created_at: now(),
        expires_at: now() + Duration::minutes(10),
    }
}

pub async fn sign_in_requests_are_redeemed_once_in_their_org_before_expiry(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let other = new_org(store.as_ref(), "other").await;
    let connection = oidc_connection(store.as_ref(), org).await;
    store.create_sso_request(&request(org, connection, "s1")).await.unwrap();
    assert!(matches!(
        store.create_sso_request(&request(org, connection, "s1")).await,
        Err(StoreError::Conflict { unique: roster_store::Unique::Key, .. })
    ));

    assert_eq!(store.consume_sso_request(other, "s1", now()).await.unwrap(), None, "another org's state is unknown here");
    // Concurrent callbacks with one state: exactly one wins.
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.consume_sso_request(org, "s1", now()).await.unwrap() })
    });
    let won: Vec<SsoRequest> = futures_join(attempts).await.into_iter().flatten().collect();
    assert_eq!(won.len(), 1);
    assert_eq!(won[0], request(org, connection, "s1"));

    store.create_sso_request(&request(org, connection, "s2")).await.unwrap();
    assert_eq!(store.consume_sso_request(org, "s2", now() + Duration::minutes(11)).await.unwrap(), None, "expired");
    assert_eq!(store.consume_sso_request(org, "unknown", now()).await.unwrap(), None);
}

async fn futures_join<T: Send + 'static>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

pub async fn identity_links_keep_their_person_and_refusals_are_logged(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let other = new_org(store.as_ref(), "other").await;
    let connection = oidc_connection(store.as_ref(), org).await;
    let ada = person_in(store.as_ref(), org, "ada@acme.example").await;
    let bob = person_in(store.as_ref(), org, "bob@acme.example").await;
    let stranger = person_in(store.as_ref(), other, "eve@other.example").await;

    assert_eq!(store.sso_linked_person(org, connection, "tid/oid-1").await.unwrap(), None);
    store.record_sso_link(org, connection, "tid/oid-1", ada.id, now()).await.unwrap();
    store.record_sso_link(org, connection, "tid/oid-1", bob.id, now() + Duration::minutes(1)).await.unwrap();
    assert_eq!(store.sso_linked_person(org, connection, "tid/oid-1").await.unwrap(), Some(ada.id), "a link keeps its person");
    assert_eq!(store.sso_linked_person(other, connection, "tid/oid-1").await.unwrap(), None);
    let cross = store.record_sso_link(org, connection, "tid/oid-2", stranger.id, now()).await;
    assert!(matches!(cross, Err(StoreError::NotFound(_))), "a link cannot reach another org's person: {cross:?}");

    for (i, reason) in ["no person has the address x@acme.example", "the ID token's audience is y"].iter().enumerate() {
        let refusal = SsoRefusal {
            id: Uuid::now_v7(),
            org,
            connection: Some(connection),
            at: now() + Duration::seconds(i as i64),
            reason: (*reason).into(),
            subject: Some("s".into()),
            claimed_email: None,
        };
        store.log_sso_refusal(&refusal).await.unwrap();
    }
    let log = store.sso_refusals(org, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>(),
        ["the ID token's audience is y", "no person has the address x@acme.example"]
    );
    assert!(store.sso_refusals(other, 10).await.unwrap().is_empty());
}

pub async fn password_sign_in_is_on_until_turned_off_and_the_change_is_audited(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let other = new_org(store.as_ref(), "other").await;
    assert!(store.password_sign_in_allowed(org).await.unwrap());
    store.set_password_sign_in(org, false, &Actor::Cli, now()).await.unwrap();
    assert!(!store.password_sign_in_allowed(org).await.unwrap());
    assert!(store.password_sign_in_allowed(other).await.unwrap());
    store.set_password_sign_in(org, true, &Actor::Cli, now()).await.unwrap();
    assert!(store.password_sign_in_allowed(org).await.unwrap());
    let audit = store.recent_audit(org, 10).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "sign_in.password_policy").count(), 2);
}

pub async fn a_saml_assertion_is_used_once_and_expired_sign_ins_are_purged(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let other = new_org(store.as_ref(), "other").await;
    let until = now() + Duration::minutes(5);
    // Two concurrent posts of one assertion: one session at most.
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.first_use_of_saml_assertion(org, "https://idp.example", "_a1", until, now()).await.unwrap() })
    });
    let firsts = futures_join(attempts).await.into_iter().filter(|first| *first).count();
    assert_eq!(firsts, 1, "exactly one use of an assertion counts as the first");
    assert!(!store.first_use_of_saml_assertion(org, "https://idp.example", "_a1", until, now() + Duration::minutes(1)).await.unwrap());
    assert!(store.first_use_of_saml_assertion(org, "https://other-idp.example", "_a1", until, now()).await.unwrap(), "IDs are per provider");
    assert!(store.first_use_of_saml_assertion(other, "https://idp.example", "_a1", until, now()).await.unwrap(), "and per organisation");

    let connection = oidc_connection(store.as_ref(), org).await;
    store.create_sso_request(&request(org, connection, "old")).await.unwrap();
    let purged = store.purge_expired_sign_ins(now() + Duration::minutes(11)).await.unwrap();
    assert_eq!(purged, 4, "one request and three remembered assertions expired");
    assert_eq!(store.purge_expired_sign_ins(now() + Duration::minutes(11)).await.unwrap(), 0);
    // Once forgotten (the assertion long expired), the ID is free again.
    assert!(store
        .first_use_of_saml_assertion(org, "https://idp.example", "_a1", now() + Duration::minutes(20), now() + Duration::minutes(12))
        .await
        .unwrap());
}

/// Each purpose comes back as it went in: a sign-in flow decides on the purpose's kind and
/// fields, never on marks inside a nonce.
pub async fn every_request_purpose_round_trips(store: Arc<dyn Store>) {
    use roster_store::SsoPurpose;
    let org = new_org(store.as_ref(), "acme").await;
    let connection = oidc_connection(store.as_ref(), org).await;
    let person = uid();
    let purposes = [
        SsoPurpose::Oidc { nonce: "n".into(), sealed_verifier: vec![1, 2, 3] },
        SsoPurpose::Saml { browser_digest: "b".into(), test: false },
        SsoPurpose::Saml { browser_digest: "t".into(), test: true },
        SsoPurpose::SamlHandOver { person },
        SsoPurpose::EntraConsent { admin: person },
    ];
    for (i, purpose) in purposes.into_iter().enumerate() {
        let digest = format!("purpose-{i}");
        store.create_sso_request(&SsoRequest { purpose: purpose.clone(), ..request(org, connection, &digest) }).await.unwrap();
        let back = store.consume_sso_request(org, &digest, now()).await.unwrap().unwrap();
        assert_eq!(back.purpose, purpose);
    }
}
