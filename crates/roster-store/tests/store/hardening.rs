//! What the security review asked of the store: links that die when a newer one, a new
//! password or a new address comes; failure counts shared by every process; runs whose process
//! died; owners' protection recorded; database files only the owner can read.

use crate::support::*;
use chrono::Duration;
use roster_core::{Actor, Change, Status};
use roster_store::{NewToken, RunEnd, RunStatus, SessionRecord, Store, SyncRun, ThrottleRule, TokenPurpose};
use std::sync::Arc;

async fn entra_connection(store: &dyn Store, org: roster_core::OrgId) -> roster_core::ConnectionId {
    let connection = roster_core::Connection {
        id: roster_core::ConnectionId::from_uuid(uuid::Uuid::now_v7()),
        org,
        kind: roster_core::ConnectionKind::Entra,
        name: "Contoso".into(),
        enabled: true,
        settings: serde_json::json!({}),
        sealed: std::collections::BTreeMap::new(),
        created_at: now(),
        updated_at: now(),
    };
    store.create_connection(&connection, &Actor::Cli).await.unwrap();
    connection.id
}

fn link(org: roster_core::OrgId, person: roster_core::UserId, purpose: TokenPurpose, digest: &str) -> NewToken {
    NewToken { org, person, purpose, digest: digest.into(), expires_at: now() + Duration::hours(1) }
}

fn session(org: roster_core::OrgId, person: roster_core::UserId, digest: &str) -> SessionRecord {
    SessionRecord { digest: digest.into(), org, person, csrf: "csrf".into(), created_at: now(), expires_at: now() + Duration::hours(8) }
}

pub async fn newer_links_new_passwords_and_new_addresses_void_the_old_ones(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let ada = person_in(store, org, "ada@acme.example").await;
    let reset = TokenPurpose::PasswordReset;

    // A newer reset link voids the older one, not the invitation.
    store.issue_token(&link(org, ada.id, reset, "reset-1"), now(), None).await.unwrap();
    store.issue_token(&link(org, ada.id, TokenPurpose::Invitation, "invite-1"), now(), None).await.unwrap();
    store.issue_token(&link(org, ada.id, reset, "reset-2"), now(), None).await.unwrap();
    assert_eq!(store.peek_token(org, reset, "reset-1", now()).await.unwrap(), None, "the older reset link is void");
    assert_eq!(store.peek_token(org, reset, "reset-2", now()).await.unwrap(), Some(ada.id));
    assert_eq!(store.peek_token(org, TokenPurpose::Invitation, "invite-1", now()).await.unwrap(), Some(ada.id));

    // Setting a password ends every session and voids every open link.
    store.create_session(&session(org, ada.id, "ada-laptop")).await.unwrap();
    store.set_password(org, ada.id, "$argon2id$x", now()).await.unwrap();
    assert!(store.session("ada-laptop", now()).await.unwrap().is_none(), "signed out everywhere");
    assert_eq!(store.peek_token(org, reset, "reset-2", now()).await.unwrap(), None);
    assert_eq!(store.peek_token(org, TokenPurpose::Invitation, "invite-1", now()).await.unwrap(), None);

    // A link handed over by hand is audited, without the link.
    store.issue_token(&link(org, ada.id, TokenPurpose::Invitation, "handed"), now(), Some(&Actor::Cli)).await.unwrap();
    let audit = store.audit_for_person(org, ada.id, 1).await.unwrap();
    assert_eq!((audit[0].action.as_str(), audit[0].actor.as_str()), ("user.link_handed_over", "cli"));
    assert!(!audit[0].detail.to_string().contains("handed"));

    // A new address ends the sessions and voids the links that went to the old one.
    store.create_session(&session(org, ada.id, "ada-phone")).await.unwrap();
    apply(store, org, vec![Change::ChangeEmail { id: ada.id, before: ada.email.clone(), after: email("ada@elsewhere.example") }]).await;
    assert!(store.session("ada-phone", now()).await.unwrap().is_none(), "a new address signs the person out");
    assert_eq!(store.peek_token(org, TokenPurpose::Invitation, "handed", now()).await.unwrap(), None);

    // Another person's session and links are untouched.
    let bob = person_in(store, org, "bob@acme.example").await;
    store.create_session(&session(org, bob.id, "bob-laptop")).await.unwrap();
    store.issue_token(&link(org, bob.id, reset, "bob-reset"), now(), None).await.unwrap();
    apply(store, org, vec![Change::SetStatus { id: ada.id, before: Status::Active, after: Status::Deactivated }]).await;
    assert!(store.session("bob-laptop", now()).await.unwrap().is_some());
    assert_eq!(store.peek_token(org, reset, "bob-reset", now()).await.unwrap(), Some(bob.id));
}

fn after_three(failures: u32) -> Option<Duration> {
    (failures >= 3).then(|| Duration::seconds(i64::from(failures)))
}

pub async fn failures_are_counted_per_key_within_their_window(store: Arc<dyn Store>) {
    let rule = ThrottleRule { window: Duration::minutes(15), delay: after_three };
    let key = "sign-in:acme:ada@acme.example";
    for expected in 1..=2 {
        let count = store.count_failure(key, &rule, now()).await.unwrap();
        assert_eq!((count.failures, count.blocked_until), (expected, None));
    }
    assert_eq!(store.blocked_until(&[key], now()).await.unwrap(), None);
    let third = store.count_failure(key, &rule, now()).await.unwrap();
    assert_eq!((third.failures, third.blocked_until), (3, Some(now() + Duration::seconds(3))));
    assert_eq!(store.blocked_until(&[key, "client:127.0.0.1"], now()).await.unwrap(), Some(now() + Duration::seconds(3)));
    assert_eq!(store.blocked_until(&[key], now() + Duration::seconds(3)).await.unwrap(), None, "the wait ends by itself");
    assert_eq!(store.blocked_until(&["client:127.0.0.1"], now()).await.unwrap(), None, "keys are apart");

    // Concurrent failures all count.
    let racers: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.count_failure("client:10.0.0.1", &rule, now()).await.unwrap() })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap();
    }
    assert_eq!(store.count_failure("client:10.0.0.1", &rule, now()).await.unwrap().failures, 11);

    // A new window starts over; clearing forgets; purging drops old windows only.
    let later = now() + Duration::minutes(16);
    assert_eq!(store.count_failure(key, &rule, later).await.unwrap().failures, 1);
    store.clear_throttle(key).await.unwrap();
    assert_eq!(store.count_failure(key, &rule, later).await.unwrap().failures, 1);
    assert_eq!(store.purge_throttle(now() + Duration::minutes(1), later).await.unwrap(), 1, "only the window begun at now() is old");
}

pub async fn a_run_whose_process_stopped_is_marked_failed(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let connection = entra_connection(store, org).await;
    let dead = SyncRun::queued(roster_core::RunId::from_uuid(uuid::Uuid::now_v7()), org, connection, "cli", now());
    let alive = SyncRun::queued(roster_core::RunId::from_uuid(uuid::Uuid::now_v7()), org, connection, "manual", now());
    let done = SyncRun::queued(roster_core::RunId::from_uuid(uuid::Uuid::now_v7()), org, connection, "manual", now());
    for run in [&dead, &alive, &done] {
        store.create_run(run).await.unwrap();
        assert!(store.start_run(org, run.id, now()).await.unwrap());
    }
    let end = RunEnd { status: RunStatus::Succeeded, report: None, error: None, graph_requests: 0, at: now() };
    store.finish_run(org, done.id, &end).await.unwrap();
    let later = now() + Duration::seconds(roster_store::RUN_ALIVE_SECONDS + 60);
    store.keep_run_alive(org, alive.id, later + Duration::minutes(5)).await.unwrap();

    assert_eq!(store.fail_abandoned_runs(now() + Duration::minutes(1)).await.unwrap(), 0, "young runs are alive");
    assert_eq!(store.fail_abandoned_runs(later).await.unwrap(), 1);
    let dead = store.sync_run(org, dead.id).await.unwrap().unwrap();
    assert_eq!((dead.status, dead.error.as_deref()), (RunStatus::Failed, Some(roster_store::RUN_ABANDONED)));
    assert_eq!(store.sync_run(org, alive.id).await.unwrap().unwrap().status, RunStatus::Running);
    assert_eq!(store.sync_run(org, done.id).await.unwrap().unwrap().status, RunStatus::Succeeded);
}

pub async fn owners_decide_whether_connections_manage_owners_and_admins(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let ada = person_in(store, org, "ada@acme.example").await;
    assert!(!store.person(org, ada.id).await.unwrap().unwrap().provisioning_allowed, "protected by default");
    let owner = Actor::Person { id: uid() };
    assert!(store.set_provisioning_allowed(org, ada.id, true, &owner, now()).await.unwrap());
    assert!(store.person(org, ada.id).await.unwrap().unwrap().provisioning_allowed);
    let audit = store.audit_for_person(org, ada.id, 1).await.unwrap();
    assert_eq!((audit[0].action.as_str(), &audit[0].detail["allowed"]), ("user.provisioning_allowed", &serde_json::json!(true)));
    let other = new_org(store, "globex").await;
    assert!(!store.set_provisioning_allowed(other, ada.id, false, &owner, now()).await.unwrap(), "another organisation's person is not found");
    assert!(store.person(org, ada.id).await.unwrap().unwrap().provisioning_allowed);
}

/// SQLite only: the database and its directory are the owner's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_are_created_for_the_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let store = roster_store::sqlite::SqliteStore::open(&dir).await.unwrap();
    roster_store::Store::migrate(&store).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("roster.db")), 0o600);
    assert_eq!(mode(&dir.join("roster.db-wal")), 0o600);

    // A database made before is narrowed when opened.
    std::fs::set_permissions(dir.join("roster.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(store);
    let _again = roster_store::sqlite::SqliteStore::open(&dir).await.unwrap();
    assert_eq!(mode(&dir.join("roster.db")), 0o600);
}
