//! Event hooks against a real loopback receiver, and admin changes as the API and hooks show them.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::tests::{get as api_get, sim as new_sim};
use super::*;

const SECRET: &str = "Basic cm9zdGVyOnMzY3JldA==";

#[derive(Default)]
struct Inbox {
    /// Verification GETs: (challenge, authorization).
    gets: Vec<(String, String)>,
    /// POSTs: (authorization, content type, body).
    posts: Vec<(String, String, Value)>,
    wrong_echo: bool,
    /// Statuses for the next POSTs; 200 once empty.
    statuses: VecDeque<u16>,
    /// Delays before answering the next POSTs.
    delays: VecDeque<Duration>,
}

type Shared = Arc<Mutex<Inbox>>;

fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

async fn verify(State(inbox): State<Shared>, headers: HeaderMap) -> Json<Value> {
    let challenge = header(&headers, "x-okta-verification-challenge");
    let mut inbox = inbox.lock().expect("inbox");
    inbox.gets.push((challenge.clone(), header(&headers, "authorization")));
    let echo = if inbox.wrong_echo { format!("{challenge}-not") } else { challenge };
    Json(json!({ "verification": echo }))
}

async fn receive(State(inbox): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    let (status, delay) = {
        let mut inbox = inbox.lock().expect("inbox");
        inbox.posts.push((header(&headers, "authorization"), header(&headers, "content-type"), body));
        (inbox.statuses.pop_front().unwrap_or(200), inbox.delays.pop_front())
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

/// A hook endpoint on loopback; returns its URL and what it received.
async fn receiver() -> (String, Shared) {
    let inbox = Shared::default();
    let app = Router::new().route("/hook", get(verify).post(receive)).with_state(Arc::clone(&inbox));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), inbox)
}

async fn hooked(users: usize) -> (OktaSim, Shared) {
    let sim = new_sim(users, 0.5);
    let (url, inbox) = receiver().await;
    sim.register_event_hook(&url, SECRET).await.expect("verified");
    (sim, inbox)
}

fn events(inbox: &Shared) -> Vec<Value> {
    let inbox = inbox.lock().expect("inbox");
    inbox.posts.iter().flat_map(|(_, _, body)| body["data"]["events"].as_array().cloned().unwrap_or_default()).collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().filter_map(|e| e["eventType"].as_str().map(str::to_string)).collect()
}

#[tokio::test]
async fn verification_get_is_made_once_and_a_wrong_echo_refuses_the_hook() {
    let (sim, inbox) = hooked(5).await;
    {
        let inbox = inbox.lock().expect("inbox");
        assert_eq!(inbox.gets.len(), 1);
        assert!(!inbox.gets[0].0.is_empty(), "a challenge is sent");
        assert_eq!(inbox.gets[0].1, SECRET);
    }
    let verified = sim.system_log().into_iter().filter(|e| e["eventType"] == "event_hook.verified").count();
    assert_eq!(verified, 1);
    assert!(sim.queued_event_types().is_empty(), "event_hook.* is not eligible");

    let refused = new_sim(5, 0.5);
    let (url, inbox) = receiver().await;
    inbox.lock().expect("inbox").wrong_echo = true;
    let err = refused.register_event_hook(&url, SECRET).await;
    assert!(matches!(err, Err(OktaSimError::HookVerification(_))), "{err:?}");
    refused.create_user("new.person@example.com", "New", "Person");
    assert!(refused.queued_event_types().is_empty());
    assert_eq!(refused.deliver_pending_hooks().await, HookReport::default());
    assert!(inbox.lock().expect("inbox").posts.is_empty(), "no deliveries without verification");
}

#[tokio::test]
async fn each_change_shows_in_the_api_and_queues_its_event() {
    let (sim, inbox) = hooked(12).await;
    let app = sim.app_id();
    let id = sim.create_user("Ada.Lovelace@example.com", "Ada", "Lovelace");
    assert_eq!(sim.user(&id).expect("user")["status"], "ACTIVE");
    assert_eq!(sim.user_id_by_login("ada.lovelace@example.com").as_deref(), Some(id.as_str()));
    assert!(!sim.assigned_user_ids().contains(&id));
    assert_eq!(sim.queued_event_types(), vec!["user.lifecycle.create", "user.lifecycle.activate"]);

    let mut expected: Vec<&str> = vec!["user.lifecycle.create", "user.lifecycle.activate"];
    let mut step = |sim: &OktaSim, event: &'static str| {
        expected.push(event);
        assert_eq!(sim.queued_event_types().last().map(String::as_str), Some(event));
    };
    sim.assign(&id).expect("assign");
    step(&sim, "application.user_membership.add");
    assert_eq!(api_get(&sim, &format!("/api/v1/apps/{app}/users/{id}")).await.status, StatusCode::OK);

    let before = sim.user(&id).expect("user")["lastUpdated"].clone();
    tokio::time::sleep(Duration::from_millis(5)).await;
    sim.update_profile(&id, "title", json!("Analyst")).expect("update");
    step(&sim, "user.account.update_profile");
    let user = api_get(&sim, &format!("/api/v1/users/{id}")).await.body;
    assert_eq!(user["profile"]["title"], "Analyst");
    assert_ne!(user["lastUpdated"], before);

    let manager = sim.assigned_user_ids().into_iter().find(|m| *m != id).expect("a colleague");
    sim.set_manager(&id, Some(&manager)).expect("manager");
    step(&sim, "user.account.update_profile");
    let profile = sim.user(&id).expect("user")["profile"].clone();
    assert_eq!(profile["managerId"], manager.as_str());
    assert_eq!(profile["manager"], sim.user(&manager).expect("manager")["profile"]["login"]);

    type Change = fn(&OktaSim, &str) -> Result<(), OktaSimError>;
    let lifecycle: [(Change, &str, &str, &str); 5] = [
        (OktaSim::suspend, "user.lifecycle.suspend", "SUSPENDED", "SUSPENDED"),
        (OktaSim::unsuspend, "user.lifecycle.unsuspend", "ACTIVE", "ACTIVE"),
        (OktaSim::deactivate, "user.lifecycle.deactivate", "DEPROVISIONED", "INACTIVE"),
        (OktaSim::reactivate, "user.lifecycle.activate", "PROVISIONED", "ACTIVE"),
        // Okta's reactivate of a PROVISIONED user (a new activation email): same status.
        (OktaSim::reactivate, "user.lifecycle.reactivate", "PROVISIONED", "ACTIVE"),
    ];
    for (change, event, status, app_status) in lifecycle {
        let before = sim.user(&id).expect("user");
        tokio::time::sleep(Duration::from_millis(5)).await;
        change(&sim, &id).expect(event);
        step(&sim, event);
        let user = sim.user(&id).expect("user");
        assert_eq!(user["status"], status);
        assert_ne!(user["lastUpdated"], before["lastUpdated"], "{event} moves lastUpdated");
        let moved = user["statusChanged"] != before["statusChanged"];
        assert_eq!(moved, before["status"] != status, "{event} moves statusChanged only with the status");
        assert_eq!(api_get(&sim, &format!("/api/v1/apps/{app}/users/{id}")).await.body["status"], app_status);
    }
    let refused = sim.suspend(&id);
    assert!(matches!(refused, Err(OktaSimError::InvalidTransition { operation: "suspend", .. })), "{refused:?}");

    sim.unassign(&id).expect("unassign");
    step(&sim, "application.user_membership.remove");
    assert_eq!(api_get(&sim, &format!("/api/v1/apps/{app}/users/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(sim.unassign(&id), Err(OktaSimError::NotAssigned(id.clone())));
    sim.deactivate(&id).expect("deactivate");
    step(&sim, "user.lifecycle.deactivate");
    assert_eq!(sim.update_profile(&id, "title", json!("x")), Err(OktaSimError::Deprovisioned(id.clone())));

    let report = sim.deliver_pending_hooks().await;
    assert_eq!((report.events, report.batches, report.delivered, report.attempts), (expected.len(), 1, 1, 1));
    let delivered = events(&inbox);
    assert_eq!(types(&delivered), expected);
    let membership = delivered.iter().find(|e| e["eventType"] == "application.user_membership.add").expect("add");
    let targets = membership["target"].as_array().expect("targets");
    let by_type = |t: &str| targets.iter().find(|x| x["type"] == t).cloned().unwrap_or(Value::Null);
    assert_eq!(by_type("User")["id"], id.as_str());
    assert_eq!(by_type("User")["alternateId"], "Ada.Lovelace@example.com");
    assert_eq!(by_type("AppInstance")["id"], app.as_str());
}

#[tokio::test]
async fn deliveries_have_okta_headers_and_payload() {
    let (sim, inbox) = hooked(5).await;
    let id = sim.create_user("grace@example.com", "Grace", "Hopper");
    sim.deliver_pending_hooks().await;
    let inbox = inbox.lock().expect("inbox");
    let (auth, content_type, body) = &inbox.posts[0];
    assert_eq!(auth, SECRET);
    assert!(content_type.starts_with("application/json"));
    assert_eq!(body["eventType"], "com.okta.event_hook");
    assert_eq!(
        (&body["eventTypeVersion"], &body["cloudEventsVersion"], &body["contentType"]),
        (&json!("1.0"), &json!("0.1"), &json!("application/json"))
    );
    assert!(body["source"].as_str().is_some_and(|s| s.contains("/api/v1/eventHooks/who")));
    assert!(body["eventId"].as_str().is_some_and(|e| uuid::Uuid::parse_str(e).is_ok()));
    assert!(body["eventTime"].as_str().is_some_and(|t| t.ends_with('Z')));
    let event = &body["data"]["events"][0];
    for field in ["uuid", "published", "eventType", "version", "displayMessage", "severity"] {
        assert!(event[field].is_string(), "LogEvent has {field}");
    }
    assert_eq!(event["actor"]["type"], "User");
    assert!(event["actor"]["alternateId"].is_string() && event["actor"]["displayName"].is_string());
    assert_eq!(
        event["target"][0],
        json!({"id": id, "type": "User", "alternateId": "grace@example.com", "displayName": "Grace Hopper", "detailEntry": null})
    );
    assert_eq!(event["outcome"]["result"], "SUCCESS");
}

async fn one_failing_batch(statuses: &[u16], delays: &[Duration]) -> (OktaSim, Shared, HookReport) {
    let (sim, inbox) = hooked(5).await;
    {
        let mut inbox = inbox.lock().expect("inbox");
        inbox.statuses.extend(statuses);
        inbox.delays.extend(delays);
    }
    sim.assign(&sim.with(|s| s.org.admin_id.clone())).expect("assign");
    let report = sim.deliver_pending_hooks().await;
    (sim, inbox, report)
}

fn outcomes(sim: &OktaSim) -> Vec<HookOutcome> {
    sim.hook_deliveries().into_iter().map(|a| a.outcome).collect()
}

#[tokio::test]
async fn a_5xx_is_retried_exactly_once() {
    let (sim, inbox, report) = one_failing_batch(&[500, 500, 500], &[]).await;
    assert_eq!((report.attempts, report.delivered, report.failed), (2, 0, 1));
    assert_eq!(outcomes(&sim), vec![HookOutcome::Status(500), HookOutcome::Status(500)]);
    {
        let inbox = inbox.lock().expect("inbox");
        assert_eq!(inbox.posts.len(), 2);
        assert_eq!(inbox.posts[0].2["eventId"], inbox.posts[1].2["eventId"], "the retry is the same delivery");
    }
    assert!(sim.system_log().iter().any(|e| e["eventType"] == "event_hook.delivery" && e["outcome"]["result"] == "FAILURE"));

    let (sim, _, report) = one_failing_batch(&[503], &[]).await;
    assert_eq!((report.attempts, report.delivered), (2, 1));
    assert_eq!(outcomes(&sim), vec![HookOutcome::Status(503), HookOutcome::Status(200)]);
}

#[tokio::test]
async fn a_4xx_is_not_retried() {
    let (sim, inbox, report) = one_failing_batch(&[400], &[]).await;
    assert_eq!((report.attempts, report.delivered, report.failed), (1, 0, 1));
    assert_eq!(outcomes(&sim), vec![HookOutcome::Status(400)]);
    assert_eq!(inbox.lock().expect("inbox").posts.len(), 1);
}

#[tokio::test]
async fn a_receiver_slower_than_3s_is_retried_once() {
    let (sim, inbox, report) = one_failing_batch(&[], &[Duration::from_millis(3_400)]).await;
    assert_eq!((report.attempts, report.delivered), (2, 1));
    assert_eq!(outcomes(&sim), vec![HookOutcome::TimedOut, HookOutcome::Status(200)]);
    assert_eq!(inbox.lock().expect("inbox").posts.len(), 2);
}

#[tokio::test]
async fn batches_can_be_split_reversed_duplicated_and_lost() {
    let (sim, inbox) = hooked(10).await;
    let assignable: Vec<String> = sim.with(|s| s.org.users.keys().filter(|id| !s.org.assignments.contains_key(*id)).take(5).cloned().collect());
    sim.hook_options(HookOptions { batch_size: 2, duplicate_every_batch: true, reverse_each_batch: true, drop_next: 1 });
    for id in &assignable {
        sim.assign(id).expect("assign");
    }
    let report = sim.deliver_pending_hooks().await;
    assert_eq!((report.events, report.dropped, report.batches, report.delivered), (5, 1, 4, 4), "three batches: one lost, two sent twice");
    let inbox = inbox.lock().expect("inbox");
    let bodies: Vec<&Value> = inbox.posts.iter().map(|(_, _, b)| b).collect();
    assert_eq!(bodies[0]["eventId"], bodies[1]["eventId"], "a duplicate repeats the eventId");
    assert_ne!(bodies[1]["eventId"], bodies[2]["eventId"]);
    let user_of = |e: &Value| e["target"].as_array().and_then(|t| t.iter().find(|x| x["type"] == "User")).map(|u| u["id"].clone());
    let second: Vec<Value> = bodies[0]["data"]["events"].as_array().expect("events").iter().filter_map(user_of).collect();
    assert_eq!(second, vec![json!(assignable[3]), json!(assignable[2])], "the first batch was lost; the next is newest first");
    assert_eq!(bodies[2]["data"]["events"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_served_sim_delivers_by_itself_and_links_work_over_http() {
    let running = spawn_loopback(new_sim(30, 1.0)).await.expect("spawn");
    let (url, inbox) = receiver().await;
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let hook = http
        .post(format!("{}/_sim/event-hooks", running.base_url))
        .json(&json!({"url": url, "authorization": SECRET}))
        .send()
        .await
        .expect("register");
    assert_eq!(hook.status(), 200);
    let created = http
        .post(format!("{}/_sim/users", running.base_url))
        .json(&json!({"login": "kat@example.com", "firstName": "Kat", "lastName": "Johnson"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let assigned = http.post(format!("{}/_sim/users/{id}/assign", running.base_url)).send().await.expect("assign");
    assert_eq!(assigned.status(), 200);
    for _ in 0..40 {
        if types(&events(&inbox)).len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(types(&events(&inbox)), vec!["user.lifecycle.create", "user.lifecycle.activate", "application.user_membership.add"]);

    let mut next = Some(format!("{}/api/v1/apps/{}/users?limit=7", running.base_url, running.sim.app_id()));
    let mut seen = 0;
    while let Some(url) = next.take() {
        let page = http.get(&url).header("authorization", format!("SSWS {}", running.sim.api_token())).send().await.expect("page");
        let links: Vec<String> = page.headers().get_all("link").iter().filter_map(|v| v.to_str().ok().map(str::to_string)).collect();
        next = links.iter().find(|l| l.ends_with("rel=\"next\"")).and_then(|l| l.strip_prefix('<')?.split_once('>').map(|(u, _)| u.to_string()));
        seen += page.json::<Value>().await.expect("rows").as_array().map_or(0, Vec::len);
    }
    assert_eq!(seen, 31);
}
