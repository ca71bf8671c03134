//! Entra in real time against the simulator: subscriptions made when the connection is
//! enabled, Graph's notifications checked and answered at once, a delta round applying what
//! changed, and the ways it must not go wrong (forged notifications, duplicates, an expired
//! delta link, a lost subscription, a burst that empties the group).

use crate::support::{sim_setup, TestApp};
use roster_app::jobs::entra_live::{EntraDelta, EntraSubscriptions};
use roster_app::provision::entra::{enqueue_sync, save_setup, set_enabled};
use roster_core::{Actor, Status};
use roster_sim::{spawn_loopback, EntraSim, RunningSim, TenantSpec};
use roster_store::testing::Backend;
use roster_store::{AuditQuery, RunStatus};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn live_app(backend: Backend) -> Option<TestApp> {
    // Graph posts to the public address: the plain one, not an organisation's subdomain.
    TestApp::start_with(backend, |config| config.base_domain = None).await
}

async fn run_rounds(app: &TestApp) -> usize {
    roster_app::jobs::run_due::<EntraDelta>(&app.state, &CancellationToken::new()).await.unwrap()
}

/// Wait for the simulator's notification to reach Roster and its debounced round to fall due,
/// then run it. Returns how many rounds ran.
async fn notified_round(app: &TestApp) -> usize {
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ran = run_rounds(app).await;
        if ran > 0 {
            return ran;
        }
    }
    0
}

struct Live {
    running: RunningSim,
    org: roster_core::OrgId,
    connection: roster_core::Connection,
}

impl Live {
    fn sim(&self) -> &EntraSim {
        &self.running.sim
    }
}

async fn connected(app: &TestApp, users: usize) -> Live {
    let acme = app.org("acme").await;
    let running = spawn_loopback(EntraSim::generate(TenantSpec { users, seed: 11, ..TenantSpec::default() })).await.unwrap();
    let setup = roster_app::provision::entra::EntraSetup { manage_managers: true, ..sim_setup(&running) };
    let connection = save_setup(&app.state, acme.org.id, &Actor::Cli, &setup).await.unwrap();
    let connection = set_enabled(&app.state, &connection, &Actor::Cli, true).await.unwrap();
    // Enabling subscribes: Graph checks the notification address first.
    assert_eq!(roster_app::jobs::run_due::<EntraSubscriptions>(&app.state, &CancellationToken::new()).await.unwrap(), 1);
    let held = app.state.store.entra_subscriptions(acme.org.id, connection.id).await.unwrap();
    assert_eq!(held.iter().map(|s| s.resource.as_str()).collect::<Vec<_>>(), ["groups", "users"], "one on users, one on groups");
    assert_eq!(running.sim.subscriptions().len(), 2);
    enqueue_sync(&app.state, &connection, "manual").await.unwrap();
    assert_eq!(roster_app::jobs::entra_sync::run_due_jobs(&app.state).await.unwrap(), 1);
    let connection = app.state.store.connection(acme.org.id, connection.id).await.unwrap().unwrap();
    assert!(app.state.store.entra_live(acme.org.id, connection.id).await.unwrap().links.is_some(), "the full sync recorded where rounds start");
    Live { running, org: acme.org.id, connection }
}

async fn person_of(app: &TestApp, live: &Live, user_id: &str) -> Option<roster_core::Person> {
    let keys = roster_store::SnapshotKeys { emails: Vec::new(), external_ids: Some((live.connection.id, vec![user_id.to_owned()])) };
    app.state
        .store
        .snapshot_for(live.org, &keys)
        .await
        .unwrap()
        .people
        .into_iter()
        .find(|p| p.source.as_ref().is_some_and(|s| s.external_id == user_id))
}

async fn changes_arrive_through_notifications_and_delta_rounds(app: &TestApp) {
    let live = connected(app, 40).await;
    let info = live.sim().info();
    let member = info.member_user_ids[1].clone();
    assert_eq!(person_of(app, &live, &member).await.unwrap().status, Status::Invited);

    // An edit: one notification, one round, the change applied and the audit naming it.
    live.sim().set_user_property(&member, "jobTitle", serde_json::json!("Chief Listener")).unwrap();
    live.sim().clear_requests();
    assert_eq!(notified_round(app).await, 1);
    let person = person_of(app, &live, &member).await.unwrap();
    assert_eq!(person.profile.job_title.as_deref(), Some("Chief Listener"));
    let graph_calls = live.sim().requests().len();
    assert!(graph_calls <= 3, "one change costs at most 3 Graph requests, made {graph_calls}");
    let audit = app.state.store.audit_log(live.org, &AuditQuery { person: Some(person.id), limit: 5, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(audit[0].detail["trigger"], "notification", "{:?}", audit[0].detail);

    // Added to a nested group: created. Removed from it: deactivated. Back: reactivated.
    let newcomer = live.sim().create_user(
        serde_json::json!({"givenName": "Nia", "surname": "Okoro", "displayName": "Nia Okoro", "userPrincipalName": "nia@sim.example",
                           "mail": "nia@sim.example", "accountEnabled": true})
        .as_object()
        .cloned()
        .unwrap(),
    );
    let nested = info.nested_group_ids[2].clone();
    live.sim().add_member(&nested, &newcomer).unwrap();
    assert_eq!(notified_round(app).await, 1);
    assert_eq!(person_of(app, &live, &newcomer).await.map(|p| p.profile.display_name()), Some("Nia Okoro".to_owned()));
    live.sim().remove_member(&nested, &newcomer).unwrap();
    assert_eq!(notified_round(app).await, 1);
    assert_eq!(person_of(app, &live, &newcomer).await.unwrap().status, Status::Deactivated, "left the group through a nested group");
    live.sim().add_member(&nested, &newcomer).unwrap();
    assert_eq!(notified_round(app).await, 1);
    assert_ne!(person_of(app, &live, &newcomer).await.unwrap().status, Status::Deactivated, "back in the group");

    // Disabled, deleted, restored.
    live.sim().disable_user(&member).unwrap();
    assert_eq!(notified_round(app).await, 1);
    assert_eq!(person_of(app, &live, &member).await.unwrap().status, Status::Deactivated);
    live.sim().enable_user(&member).unwrap();
    assert_eq!(notified_round(app).await, 1);
    assert_ne!(person_of(app, &live, &member).await.unwrap().status, Status::Deactivated);
    live.sim().delete_user(&member).unwrap();
    assert_eq!(notified_round(app).await, 1);
    assert_eq!(person_of(app, &live, &member).await.unwrap().status, Status::Deactivated, "a soft-deleted user leaves");
    live.sim().restore_user(&member).unwrap();
    assert_eq!(notified_round(app).await, 1);
    assert_ne!(person_of(app, &live, &member).await.unwrap().status, Status::Deactivated, "a restored user comes back");

    // Delivered twice and out of order: the same result, once.
    live.sim().faults().duplicate_notifications(true);
    live.sim().faults().reorder_notifications(true);
    live.sim().set_user_property(&member, "department", serde_json::json!("Research")).unwrap();
    live.sim().set_user_property(&member, "department", serde_json::json!("Field Research")).unwrap();
    assert!(notified_round(app).await >= 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    run_rounds(app).await;
    assert_eq!(person_of(app, &live, &member).await.unwrap().profile.department.as_deref(), Some("Field Research"), "the last edit stands");
    let person = person_of(app, &live, &member).await.unwrap();
    let audit = app.state.store.audit_log(live.org, &AuditQuery { person: Some(person.id), limit: 50, ..AuditQuery::default() }).await.unwrap();
    let department_edits = audit.iter().filter(|a| a.detail.to_string().contains("Field Research")).count();
    assert_eq!(department_edits, 1, "a duplicate changes nothing twice");
}

async fn forged_and_foreign_notifications_change_nothing(app: &TestApp) {
    let live = connected(app, 20).await;
    let url = app.url("acme", &format!("/entra/notifications/{}", live.connection.id));
    let subscription = app.state.store.entra_subscriptions(live.org, live.connection.id).await.unwrap()[0].id.clone();
    let body = |sub: &str, state: &str| {
        serde_json::json!({"value": [{"subscriptionId": sub, "clientState": state, "changeType": "updated", "resource": "Users/x",
            "tenantId": "t", "resourceData": {"id": "x"}}]})
    };
    let client = reqwest::Client::new();
    let wrong_state = client.post(&url).json(&body(&subscription, "guessed")).send().await.unwrap();
    assert_eq!(wrong_state.status(), 403);
    let foreign = client.post(&url).json(&body("another-connections-subscription", "guessed")).send().await.unwrap();
    assert_eq!(foreign.status(), 403);
    // Another organisation's connection, subscribed with its own secret: its genuine
    // notifications are refused at this connection's address.
    let globex = app.org("globex").await;
    let other_sim = spawn_loopback(EntraSim::generate(TenantSpec { users: 5, seed: 12, ..TenantSpec::default() })).await.unwrap();
    let other = save_setup(&app.state, globex.org.id, &Actor::Cli, &sim_setup(&other_sim)).await.unwrap();
    let other = set_enabled(&app.state, &other, &Actor::Cli, true).await.unwrap();
    assert_eq!(roster_app::jobs::run_due::<EntraSubscriptions>(&app.state, &CancellationToken::new()).await.unwrap(), 1);
    let other = app.state.store.connection(globex.org.id, other.id).await.unwrap().unwrap();
    let other_state = roster_app::provision::entra::live::subscriptions::client_state(&app.state, &other).unwrap();
    let other_subscription = app.state.store.entra_subscriptions(globex.org.id, other.id).await.unwrap()[0].id.clone();
    let theirs = client.post(&url).json(&body(&other_subscription, &other_state)).send().await.unwrap();
    assert_eq!(theirs.status(), 403, "another connection's subscription is refused here");
    let own_state = roster_app::provision::entra::live::subscriptions::client_state(&app.state, &live.connection).unwrap();
    let mixed = client.post(&url).json(&body(&other_subscription, &own_state)).send().await.unwrap();
    assert_eq!(mixed.status(), 403, "this connection's secret does not make another's subscription its own");
    let garbage = client.post(&url).body("not json").send().await.unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(app.state.store.entra_live(live.org, live.connection.id).await.unwrap().notified_at, None, "nothing was noted");
    assert_eq!(run_rounds(app).await, 0, "no round was asked for");
    // The genuine one is taken.
    let genuine = client.post(&url).json(&body(&subscription, &own_state)).send().await.unwrap();
    assert_eq!(genuine.status(), 202);
    assert!(app.state.store.entra_live(live.org, live.connection.id).await.unwrap().notified_at.is_some());
    // The handshake echoes the token, decoded, as plain text.
    let echoed = client.post(format!("{url}?validationToken=a%2Bb%20c")).send().await.unwrap();
    assert_eq!(echoed.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(echoed.text().await.unwrap(), "a+b c");
}

async fn an_expired_link_falls_back_to_a_full_sync_and_a_lost_subscription_comes_back(app: &TestApp) {
    let live = connected(app, 30).await;
    let member = live.sim().info().member_user_ids[2].clone();
    live.sim().faults().pause_notifications(true);
    live.sim().advance_clock(Duration::from_secs(8 * 24 * 3600));
    live.sim().set_user_property(&member, "jobTitle", serde_json::json!("Returned")).unwrap();
    roster_app::jobs::enqueue(
        &app.state,
        live.org,
        &EntraDelta { connection: live.connection.id, via: roster_core::Via::DeltaRound },
        app.state.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(run_rounds(app).await, 1);
    assert!(app.state.store.entra_live(live.org, live.connection.id).await.unwrap().links.is_none(), "the expired link is forgotten");
    assert_eq!(roster_app::jobs::entra_sync::run_due_jobs(&app.state).await.unwrap(), 1, "a full sync was queued");
    assert_eq!(person_of(app, &live, &member).await.unwrap().profile.job_title.as_deref(), Some("Returned"), "it converged");
    let runs = app.state.store.sync_runs(live.org, live.connection.id, 5).await.unwrap();
    assert_eq!((runs[0].trigger.as_str(), runs[0].status), ("resync", RunStatus::Succeeded));
    assert!(app.state.store.entra_live(live.org, live.connection.id).await.unwrap().links.is_some(), "rounds start again");

    // Graph lost the subscriptions: the upkeep subscribes again.
    live.sim().lose_all_subscriptions();
    for s in app.state.store.entra_subscriptions(live.org, live.connection.id).await.unwrap() {
        roster_app::provision::entra::live::subscriptions::due_now(&app.state, &s, app.state.clock.now()).await.unwrap();
    }
    roster_app::jobs::enqueue(&app.state, live.org, &EntraSubscriptions { connection: live.connection.id }, app.state.clock.now()).await.unwrap();
    live.sim().faults().pause_notifications(false);
    assert_eq!(roster_app::jobs::run_due::<EntraSubscriptions>(&app.state, &CancellationToken::new()).await.unwrap(), 1);
    assert_eq!(live.sim().subscriptions().len(), 2, "subscribed again");
    let held = app.state.store.entra_subscriptions(live.org, live.connection.id).await.unwrap();
    assert!(held.iter().all(|s| live.sim().subscriptions().iter().any(|g| g.id == s.id)), "Roster keeps the new ids");

    // Graph asks for a reauthorization: answered 202, and the upkeep renews the subscription.
    let asked = held[0].clone();
    live.sim().advance_clock(Duration::from_secs(20 * 24 * 3600));
    let answer = live.sim().send_lifecycle(&asked.id, "reauthorizationRequired").await.unwrap();
    assert!(answer.outcome.is_success(), "{answer:?}");
    assert!(app.state.store.entra_subscription(&asked.id).await.unwrap().unwrap().expires_at <= app.state.clock.now());
    assert_eq!(roster_app::jobs::run_due::<EntraSubscriptions>(&app.state, &CancellationToken::new()).await.unwrap(), 1);
    let renewed = app.state.store.entra_subscription(&asked.id).await.unwrap().unwrap();
    assert_eq!(renewed.expires_at, live.sim().subscriptions().iter().find(|s| s.id == asked.id).unwrap().expiration, "renewed at Graph, same id");
    assert!(renewed.expires_at > app.state.clock.now() + chrono::Duration::days(14), "pushed out");

    // Disabling deletes them at Graph.
    let connection = app.state.store.connection(live.org, live.connection.id).await.unwrap().unwrap();
    set_enabled(&app.state, &connection, &Actor::Cli, false).await.unwrap();
    assert_eq!(roster_app::jobs::run_due::<EntraSubscriptions>(&app.state, &CancellationToken::new()).await.unwrap(), 1);
    assert!(live.sim().subscriptions().is_empty());
    assert!(app.state.store.entra_subscriptions(live.org, live.connection.id).await.unwrap().is_empty());
}

async fn a_burst_that_empties_the_group_is_held(app: &TestApp) {
    let live = connected(app, 60).await;
    let info = live.sim().info();
    let before = app.state.store.count_people(live.org).await.unwrap();
    live.sim().empty_group(&info.top_group_id).unwrap();
    for nested in &info.nested_group_ids {
        live.sim().empty_group(nested).unwrap();
    }
    assert!(notified_round(app).await >= 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    run_rounds(app).await;
    let runs = app.state.store.sync_runs(live.org, live.connection.id, 5).await.unwrap();
    assert_eq!((runs[0].trigger.as_str(), runs[0].status), ("notification", RunStatus::Held), "{runs:?}");
    assert_eq!(app.state.store.count_people(live.org).await.unwrap(), before, "nobody was deactivated");
    // While held, rounds wait for the admin.
    live.sim().set_user_property(&info.member_user_ids[0], "jobTitle", serde_json::json!("Waiting")).unwrap();
    notified_round(app).await;
    assert_eq!(app.state.store.sync_runs(live.org, live.connection.id, 5).await.unwrap().len(), runs.len());
}

async fn a_notification_racing_a_full_sync_is_not_lost(app: &TestApp) {
    let live = connected(app, 30).await;
    let member = live.sim().info().member_user_ids[3].clone();
    // The full sync holds the connection; the notification's round finds it busy and leaves
    // the notification noted, and the sync queues a round as it ends.
    let lock = roster_app::provision::entra::live::lock_connection(&app.state, live.connection.id, Duration::ZERO).await.unwrap().unwrap();
    live.sim().set_user_property(&member, "jobTitle", serde_json::json!("Raced")).unwrap();
    assert_eq!(notified_round(app).await, 1);
    assert_ne!(person_of(app, &live, &member).await.unwrap().profile.job_title.as_deref(), Some("Raced"), "nothing applied while busy");
    lock.release(&app.state).await;
    enqueue_sync(&app.state, &live.connection, "manual").await.unwrap();
    assert_eq!(roster_app::jobs::entra_sync::run_due_jobs(&app.state).await.unwrap(), 1);
    assert_eq!(run_rounds(app).await, 1, "the sync queued the round the notification asked for");
    assert_eq!(person_of(app, &live, &member).await.unwrap().profile.job_title.as_deref(), Some("Raced"));
    assert_eq!(app.state.store.entra_live(live.org, live.connection.id).await.unwrap().notified_at, None);
}

macro_rules! live_test {
    ($name:ident) => {
        mod $name {
            use roster_store::testing::Backend;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = super::live_app(Backend::Sqlite).await {
                    super::$name(&app).await;
                    app.finish().await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = super::live_app(Backend::Postgres).await {
                    super::$name(&app).await;
                    app.finish().await;
                }
            }
        }
    };
}

live_test!(changes_arrive_through_notifications_and_delta_rounds);
live_test!(forged_and_foreign_notifications_change_nothing);
live_test!(an_expired_link_falls_back_to_a_full_sync_and_a_lost_subscription_comes_back);
live_test!(a_burst_that_empties_the_group_is_held);
live_test!(a_notification_racing_a_full_sync_is_not_lost);
