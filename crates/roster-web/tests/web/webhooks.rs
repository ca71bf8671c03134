//! Webhooks: every event after the endpoint was added reaches it (each person's in commit order), signed as
//! Standard Webhooks defines (verified here with a plain HMAC, independently of the signer),
//! after a failed attempt too; a rotation signs with both secrets; a redelivery sends it all
//! again; another organisation's dead endpoint delays nobody; loopback is refused by default.

use crate::support::TestApp;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use roster_core::Actor;
use roster_store::testing::Backend;
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a receiver got: headers, body, and the status it answered.
type Received = Arc<Mutex<Vec<(HeaderMap, String, u16)>>>;

/// A receiver on loopback that answers 500 to its first `failures` requests, then 204.
async fn receiver(failures: usize) -> (String, Received) {
    slow_receiver(failures, Duration::ZERO).await
}

/// A receiver that also takes `delay` over each request.
async fn slow_receiver(failures: usize, delay: Duration) -> (String, Received) {
    let got: Received = Arc::default();
    let route = move |State(got): State<Received>, headers: HeaderMap, body: String| async move {
        tokio::time::sleep(delay).await;
        let mut got = got.lock().unwrap();
        let status = if got.len() < failures { 500 } else { 204 };
        got.push((headers, body, status));
        StatusCode::from_u16(status).unwrap()
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(route)).with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Does one of the `v1,` signatures in the header verify with this secret?
fn verifies(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let signed = format!("{}.{}.{body}", headers["webhook-id"].to_str().unwrap(), headers["webhook-timestamp"].to_str().unwrap());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    headers["webhook-signature"].to_str().unwrap().split(' ').any(|s| s == expected)
}

/// Each person's (or team's) events were first received in commit order; different people's
/// may interleave.
fn in_order_per_subject(events: &[roster_store::OutboundEvent], received: &[(HeaderMap, String, u16)]) {
    let subject = |e: &roster_store::OutboundEvent| {
        ["/id", "/person/id", "/connection_id"].iter().find_map(|p| e.data.pointer(p).map(|v| v.to_string())).unwrap_or_else(|| e.kind.clone())
    };
    let first_ok = |id: uuid::Uuid| received.iter().position(|r| r.2 / 100 == 2 && r.0["webhook-id"] == id.to_string().as_str()).unwrap();
    for (i, earlier) in events.iter().enumerate() {
        for later in events[i + 1..].iter().filter(|later| subject(later) == subject(earlier)) {
            assert!(first_ok(earlier.id) < first_ok(later.id), "{} ({}) arrived after {} ({})", earlier.kind, earlier.seq, later.kind, later.seq);
        }
    }
    let subjects: std::collections::HashSet<String> = events.iter().map(subject).collect();
    assert!(subjects.len() > 1, "the test needs events about several subjects");
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 20 s");
}

async fn every_event_arrives_in_order_signed(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.webhook_allow_private = true).await else { return };
    let acme = app.org("acme").await;
    let globex = app.org("globex").await;
    let (url, got) = receiver(1).await;
    let hook = roster_app::webhooks::add(&app.state, acme.org.id, &Actor::Cli, &url, &[]).await.unwrap();
    // Another organisation's endpoint that never answers: it must delay nobody.
    let dead = roster_app::webhooks::add(&app.state, globex.org.id, &Actor::Cli, "http://127.0.0.1:9/hook", &[]).await.unwrap();
    let supervisor = roster_app::jobs::supervisor::Supervisor::new();
    supervisor.spawn("webhooks", roster_app::webhooks::deliver::deliver_forever(app.state.app.clone(), supervisor.signals()));

    let csv = "email,first_name,last_name,department\nana@acme.example,Ana,A,Sales\nben@acme.example,Ben,B,Sales\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    roster_app::admin::import_csv(
        &app.state,
        globex.org.id,
        Actor::Cli,
        csv.replace("acme", "globex").as_bytes(),
        roster_core::reconcile::Invitations::Hold,
        false,
    )
    .await
    .unwrap();
    let events = app.state.store.event_feed(acme.org.id, hook.endpoint.cursor_seq, &[], 100).await.unwrap();
    assert!(events.len() >= 3, "{events:?}");
    // The first attempt fails; after the back-off (5 s) everything arrives, in order.
    let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    until("every event delivered", || {
        let got = got.lock().unwrap();
        ids.iter().all(|id| got.iter().any(|r| r.2 == 204 && r.0["webhook-id"] == id.as_str()))
    })
    .await;
    let received = got.lock().unwrap().clone();
    assert_eq!(received[0].2, 500);
    let failed = received[0].0["webhook-id"].clone();
    assert!(received.iter().any(|r| r.2 == 204 && r.0["webhook-id"] == failed), "the failed event is sent again");
    in_order_per_subject(&events, &received);
    for (headers, body, _) in &received {
        assert!(verifies(&hook.secret, headers, body), "signature of {body}");
        let payload: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(payload["type"].is_string() && payload["data"]["cursor"].as_str().unwrap().starts_with("ev1_"), "{payload}");
    }
    let log = app.state.store.webhook_deliveries(acme.org.id, hook.endpoint.id, 100).await.unwrap();
    assert_eq!(log.iter().filter(|d| d.status == Some(500)).count(), 1);
    // Each event's delivery is logged (one delivered beside the failed one is sent again: at least once).
    assert!(events.iter().all(|e| log.iter().any(|d| d.event == e.id && d.status == Some(204))), "{log:?}");
    // The dead endpoint was tried and is waiting to retry, its failure logged.
    let dead_now = app.state.store.webhook(globex.org.id, dead.endpoint.id).await.unwrap().unwrap();
    assert!(dead_now.failing_since.is_some() && dead_now.disabled_at.is_none(), "{dead_now:?}");
    assert!(app.state.store.webhook_deliveries(globex.org.id, dead.endpoint.id, 5).await.unwrap()[0].error.is_some());

    // A rotation: the next delivery verifies with the new secret and the old one.
    let new_secret = roster_app::webhooks::rotate_secret(&app.state, acme.org.id, &Actor::Cli, hook.endpoint.id).await.unwrap();
    let before = got.lock().unwrap().len();
    roster_app::admin::create_team(&app.state, acme.org.id, Actor::Cli, "Research", None).await.unwrap();
    until("the next event", || got.lock().unwrap().len() > before).await;
    let (headers, body, _) = got.lock().unwrap()[before].clone();
    assert!(verifies(&new_secret, &headers, &body) && verifies(&hook.secret, &headers, &body), "both secrets during the overlap");

    // Redelivery from the start sends everything again.
    let count = got.lock().unwrap().len();
    roster_app::webhooks::redeliver(&app.state, acme.org.id, &Actor::Cli, hook.endpoint.id, None).await.unwrap();
    until("the redelivery", || got.lock().unwrap().len() > count + events.len()).await;
    supervisor.shutdown(Duration::from_secs(1)).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_order_signed_on_sqlite() {
    every_event_arrives_in_order_signed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_order_signed_on_postgresql() {
    every_event_arrives_in_order_signed(Backend::Postgres).await;
}

/// By default a webhook cannot point at this machine or a private network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_and_private_addresses_are_refused_by_default() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else { return };
    let acme = app.org("acme").await;
    for url in ["http://127.0.0.1:8080/hook", "http://10.0.0.5/hook", "http://[::1]/x", "file:///etc/passwd"] {
        let refused = roster_app::webhooks::add(&app.state, acme.org.id, &Actor::Cli, url, &[]).await;
        assert!(matches!(&refused, Err(roster_app::admin::OpsError::Invalid(m)) if m.contains("refused")), "{url}");
    }
    assert!(app.state.store.webhooks(acme.org.id).await.unwrap().is_empty());
    app.finish().await;
}

/// The Webhooks settings page: adding shows the secret once after a redirect (a reload adds
/// nothing), a refused address is explained, rotating and deleting need the ticked box, and the
/// delivery log has its page. API keys show their key once the same way.
async fn the_settings_page_manages_endpoints(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.webhook_allow_private = true).await else { return };
    let acme = app.org("acme").await;
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", "/settings/webhooks")).send().await.unwrap().text().await.unwrap();
    let csrf = crate::support::form_token(&page);
    let (url, _) = receiver(0).await;
    let added = owner
        .post(app.url("acme", "/settings/webhooks"))
        .form(&[("_csrf", csrf.as_str()), ("url", url.as_str()), ("types", "user.created, user.deactivated")])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303, "Post/Redirect/Get");
    let shown = crate::support::read_through(&owner, added).await;
    assert!(shown.contains("id=\"new-secret\"") && shown.contains("whsec_") && shown.contains("user.created, user.deactivated"), "{shown}");
    let again = owner.get(app.url("acme", "/settings/webhooks")).send().await.unwrap().text().await.unwrap();
    assert!(!again.contains("whsec_"), "the secret is shown once");
    let hooks = app.state.store.webhooks(acme.org.id).await.unwrap();
    assert_eq!(hooks.len(), 1);
    let id = hooks[0].id;
    let bad = owner.post(app.url("acme", "/settings/webhooks")).form(&[("_csrf", csrf.as_str()), ("url", "ftp://x.example/")]).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("https://"));

    let unticked = owner.post(app.url("acme", &format!("/settings/webhooks/{id}/rotate"))).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(unticked.status(), 400);
    let rotated = owner
        .post(app.url("acme", &format!("/settings/webhooks/{id}/rotate")))
        .form(&[("_csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert!(crate::support::read_through(&owner, rotated).await.contains("whsec_"));
    let tested = owner.post(app.url("acme", &format!("/settings/webhooks/{id}/test"))).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(tested.status(), 303);
    let log = owner.get(app.url("acme", &format!("/settings/webhooks/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(log.contains("id=\"deliveries\"") && log.contains(&url) && log.contains("webhook.test") && log.contains(">204<"), "{log}");
    let deleted = owner
        .post(app.url("acme", &format!("/settings/webhooks/{id}/delete")))
        .form(&[("_csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 303);
    assert!(app.state.store.webhooks(acme.org.id).await.unwrap().is_empty());
    let audit = app.state.store.recent_audit(acme.org.id, 20).await.unwrap();
    for action in ["webhook.created", "webhook.secret_rotated", "webhook.deleted"] {
        assert!(audit.iter().any(|a| a.action == action), "{action}");
    }

    // An API key the same way: created, shown once after the redirect, not again.
    let key = owner
        .post(app.url("acme", "/settings/api-keys"))
        .form(&[("_csrf", csrf.as_str()), ("name", "platform"), ("scope_events", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), 303);
    assert!(crate::support::read_through(&owner, key).await.contains("id=\"new-key\""));
    assert!(!owner.get(app.url("acme", "/settings")).send().await.unwrap().text().await.unwrap().contains("id=\"new-key\""));
    let keys = app.state.store.api_keys(acme.org.id).await.unwrap();
    assert_eq!(keys.len(), 1, "one key");
    assert_eq!(keys[0].scopes, [roster_store::ApiScope::Events], "the ticked scopes only");
    // And a SCIM token.
    let token = owner.post(app.url("acme", "/settings/scim/tokens")).form(&[("_csrf", csrf.as_str()), ("name", "okta")]).send().await.unwrap();
    assert_eq!(token.status(), 303);
    assert!(crate::support::read_through(&owner, token).await.contains("id=\"new-scim-token\""));
    assert!(!owner.get(app.url("acme", "/settings/scim")).send().await.unwrap().text().await.unwrap().contains("id=\"new-scim-token\""));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_manages_endpoints_on_sqlite() {
    the_settings_page_manages_endpoints(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_manages_endpoints_on_postgresql() {
    the_settings_page_manages_endpoints(Backend::Postgres).await;
}

/// A redelivery asked for while a turn is in flight wins: the turn's progress, recorded after,
/// does not move the cursor back past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_wins_over_a_turn_in_flight() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::start_with(backend, |c| c.webhook_allow_private = true).await else { continue };
        let acme = app.org("acme").await;
        roster_app::admin::create_team(&app.state, acme.org.id, Actor::Cli, "Before", None).await.unwrap();
        let hook = roster_app::webhooks::add(&app.state, acme.org.id, &Actor::Cli, "http://127.0.0.1:9/hook", &[]).await.unwrap();
        let from = hook.endpoint.cursor_seq;
        assert!(from > 0, "a new endpoint starts after the newest event");
        let now = chrono::Utc::now();
        assert!(app.state.store.claim_webhooks(10, now, now + chrono::Duration::seconds(60)).await.unwrap().is_empty(), "nothing new: not due");
        roster_app::admin::create_team(&app.state, acme.org.id, Actor::Cli, "After", None).await.unwrap();
        let claimed = app.state.store.claim_webhooks(10, now, now + chrono::Duration::seconds(60)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(app.state.store.claim_webhooks(10, now, now + chrono::Duration::seconds(60)).await.unwrap().is_empty(), "leased once");
        roster_app::webhooks::redeliver(&app.state, acme.org.id, &Actor::Cli, hook.endpoint.id, None).await.unwrap();
        app.state.store.webhook_advanced(hook.endpoint.id, from, from + 5, now).await.unwrap();
        let after = app.state.store.webhook(acme.org.id, hook.endpoint.id).await.unwrap().unwrap();
        assert_eq!(after.cursor_seq, 0, "the redelivery stands");
        assert_eq!(
            app.state.store.claim_webhooks(10, now, now + chrono::Duration::seconds(60)).await.unwrap().len(),
            1,
            "the lease ended, events are waiting"
        );
        app.finish().await;
    }
}

/// A clock past the stopped worker's leases.
struct Later(chrono::DateTime<chrono::Utc>);

impl roster_app::clock::Clock for Later {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

/// Stopping the delivery worker in the middle of a burst loses nothing: a new worker (a
/// restarted process) delivers the rest, every event at least once and in order.
async fn a_restart_mid_delivery_loses_nothing(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.webhook_allow_private = true).await else { return };
    let acme = app.org("acme").await;
    // A receiver that takes 50 ms a request, so the burst is still going when the worker stops.
    let (url, got) = slow_receiver(0, Duration::from_millis(50)).await;
    let hook = roster_app::webhooks::add(&app.state, acme.org.id, &Actor::Cli, &url, &[]).await.unwrap();
    // Everyone created, then moved to a team and retitled: several events per person.
    for (header, extra) in [("", ""), (",department,job_title", ",Sales,Rep")] {
        let mut csv = format!("email,first_name,last_name{header}\n");
        for n in 0..60 {
            csv.push_str(&format!("p{n}@acme.example,P{n},Person{extra}\n"));
        }
        roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
            .await
            .unwrap();
    }
    let events = app.state.store.event_feed(acme.org.id, hook.endpoint.cursor_seq, &[], 1000).await.unwrap();

    let first = roster_app::jobs::supervisor::Supervisor::new();
    first.spawn("webhooks", roster_app::webhooks::deliver::deliver_forever(app.state.app.clone(), first.signals()));
    until("a few deliveries", || got.lock().unwrap().len() >= 5).await;
    first.shutdown(Duration::from_millis(10)).await;
    let at_stop = got.lock().unwrap().len();
    assert!(at_stop < events.len(), "stopped in the middle ({at_stop} of {})", events.len());
    // Nothing arrives once it has stopped.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(got.lock().unwrap().len(), at_stop, "the stopped worker sends nothing more");
    // Its lease runs out; a new process takes over from the stored cursor.
    let later = chrono::Utc::now() + chrono::Duration::seconds(120);
    let restarted_app = roster_app::App { clock: Arc::new(Later(later)), ..app.state.app.clone() };
    let second = roster_app::jobs::supervisor::Supervisor::new();
    second.spawn("webhooks", roster_app::webhooks::deliver::deliver_forever(restarted_app, second.signals()));
    let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    until("every event", || {
        let got = got.lock().unwrap();
        ids.iter().all(|id| got.iter().any(|r| r.0["webhook-id"] == id.as_str()))
    })
    .await;
    second.shutdown(Duration::from_secs(1)).await;
    in_order_per_subject(&events, &got.lock().unwrap());
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_delivery_loses_nothing_on_sqlite() {
    a_restart_mid_delivery_loses_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_delivery_loses_nothing_on_postgresql() {
    a_restart_mid_delivery_loses_nothing(Backend::Postgres).await;
}
