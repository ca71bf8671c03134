//! Subscriptions over real HTTP: a simulator on loopback and a tiny receiver that answers the
//! validation requests (correctly or not) and records what it is sent.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};

use super::*;

/// How the receiver answers a validation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Echo {
    #[default]
    Correct,
    WrongBody,
    WrongType,
    Status(u16),
}

#[derive(Default)]
pub(super) struct Inbox {
    /// Decoded validation tokens, and the raw query they came in.
    pub validations: Vec<(String, String)>,
    /// Notification POSTs: (path, body).
    pub posts: Vec<(String, Value)>,
    pub echo: Echo,
    /// Delay before answering a validation request.
    pub validation_delay: Option<Duration>,
    /// Statuses for the next notification POSTs; 202 once empty.
    pub statuses: VecDeque<u16>,
    /// Answer every notification POST with this status (after `statuses` run out).
    pub always: Option<u16>,
    /// Delay before answering every notification POST.
    pub delay: Option<Duration>,
}

pub(super) type Shared = Arc<Mutex<Inbox>>;

async fn receive(State(inbox): State<Shared>, uri: Uri, Query(query): Query<HashMap<String, String>>, body: Bytes) -> Response {
    if let Some(token) = query.get("validationToken") {
        let (echo, delay) = {
            let mut inbox = inbox.lock().expect("inbox");
            inbox.validations.push((token.clone(), uri.query().unwrap_or_default().to_string()));
            (inbox.echo, inbox.validation_delay)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        return match echo {
            Echo::Correct => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], token.clone()).into_response(),
            Echo::WrongBody => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], format!("{token}x")).into_response(),
            Echo::WrongType => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], token.clone()).into_response(),
            Echo::Status(code) => StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response(),
        };
    }
    let (status, delay) = {
        let mut inbox = inbox.lock().expect("inbox");
        inbox.posts.push((uri.path().to_string(), serde_json::from_slice(&body).unwrap_or(Value::Null)));
        let status = inbox.statuses.pop_front().or(inbox.always).unwrap_or(202);
        (status, inbox.delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED).into_response()
}

/// A receiver on loopback: `http://127.0.0.1:{port}` (any path) and what it got.
pub(super) async fn receiver() -> (String, Shared) {
    let inbox = Shared::default();
    let app = Router::new().route("/{*path}", post(receive)).with_state(Arc::clone(&inbox));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), inbox)
}

/// A Graph client of a running simulator.
pub(super) struct Client {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
    sim: EntraSim,
}

impl Client {
    pub async fn new(running: &RunningSim) -> Client {
        let http = reqwest::Client::builder().no_proxy().build().expect("client");
        let sim = &running.sim;
        let form = [
            ("grant_type", "client_credentials".to_string()),
            ("client_id", sim.client_id()),
            ("client_secret", sim.client_secret()),
            ("scope", "https://graph.microsoft.com/.default".to_string()),
        ];
        let url = format!("{}/{}/oauth2/v2.0/token", running.base_url, sim.tenant_id());
        let body: Value = http.post(url).form(&form).send().await.expect("token").json().await.expect("json");
        let token = body["access_token"].as_str().expect("access token").to_string();
        Client { base: running.base_url.clone(), token, http, sim: sim.clone() }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}/v1.0{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("graph answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates a subscription; the status and body as Graph answered.
    pub async fn subscribe(&self, resource: &str, url: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({
            "changeType": "updated,deleted",
            "notificationUrl": url,
            "resource": resource,
            "expirationDateTime": self.in_minutes(60),
            "clientState": "s3cret",
        });
        if let (Some(obj), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            obj.extend(extra.clone());
        }
        self.call("POST", "/subscriptions", Some(body)).await
    }

    /// An expiry this many minutes after now on the simulator's clock.
    pub fn in_minutes(&self, minutes: i64) -> String {
        (self.sim.now() + TimeDelta::minutes(minutes)).to_rfc3339()
    }
}

pub(super) async fn running(users: usize) -> (RunningSim, Client) {
    let sim = EntraSim::generate(TenantSpec { users, seed: 11, ..TenantSpec::default() });
    let running = spawn_loopback(sim).await.expect("serve");
    let client = Client::new(&running).await;
    (running, client)
}

#[tokio::test]
async fn creation_validates_both_urls_then_answers_201() {
    let (running, client) = running(10).await;
    let (url, inbox) = receiver().await;
    let (status, body) = client.subscribe("users", &format!("{url}/hook"), json!({"lifecycleNotificationUrl": format!("{url}/lifecycle")})).await;
    assert_eq!(status, 201, "{body}");
    for field in ["id", "expirationDateTime", "creatorId"] {
        assert!(body[field].is_string(), "{field}: {body}");
    }
    assert_eq!(body["resource"], "users");
    assert_eq!(body["changeType"], "updated,deleted");
    assert_eq!(body["clientState"], "s3cret");
    assert_eq!(body["notificationUrl"], format!("{url}/hook"));
    assert_eq!(body["lifecycleNotificationUrl"], format!("{url}/lifecycle"));
    assert_eq!(body["applicationId"], running.sim.client_id());
    {
        let inbox = inbox.lock().expect("inbox");
        assert_eq!(inbox.validations.len(), 2, "both URLs are validated");
        let (token, raw) = &inbox.validations[0];
        assert!(token.contains(' ') && token.contains('+'), "a token that needs encoding: {token}");
        assert!(raw.contains("%2B") && !raw.contains(' '), "sent URL-encoded: {raw}");
    }
    let id = body["id"].as_str().unwrap_or_default().to_string();
    let (status, one) = client.call("GET", &format!("/subscriptions/{id}"), None).await;
    assert_eq!((status, one["id"].as_str()), (200, Some(id.as_str())));
    let (_, all) = client.call("GET", "/subscriptions", None).await;
    assert_eq!(all["value"].as_array().map(Vec::len), Some(1));
    let listed = running.sim.subscriptions();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].client_state.as_deref(), Some("s3cret"));
    assert_eq!(listed[0].lifecycle_notification_url, Some(format!("{url}/lifecycle")));
    assert_eq!(client.call("POST", &format!("/subscriptions/{id}/reauthorize"), None).await.0, 204);
    assert_eq!(client.call("POST", "/subscriptions/00000000-0000-0000-0000-000000000000/reauthorize", None).await.0, 404);
}

#[tokio::test]
async fn failed_validation_refuses_the_subscription() {
    let (running, client) = running(10).await;
    let (url, inbox) = receiver().await;
    for echo in [Echo::WrongBody, Echo::WrongType, Echo::Status(500)] {
        inbox.lock().expect("inbox").echo = echo;
        let (status, body) = client.subscribe("users", &format!("{url}/hook"), json!({})).await;
        assert_eq!(status, 400, "{echo:?}");
        assert_eq!(
            body["error"],
            json!({"code": "ValidationError", "message": "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.", "innerError": body["error"]["innerError"]})
        );
    }
    // The lifecycle URL is validated too.
    inbox.lock().expect("inbox").echo = Echo::Correct;
    let closed = "http://127.0.0.1:9/nobody";
    let (status, body) = client.subscribe("users", &format!("{url}/hook"), json!({"lifecycleNotificationUrl": closed})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("ValidationError")));
    running.sim.set_notification_config(NotificationConfig { validation_timeout: Duration::from_millis(100), ..NotificationConfig::default() });
    inbox.lock().expect("inbox").validation_delay = Some(Duration::from_millis(500));
    let (status, body) = client.subscribe("users", &format!("{url}/hook"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("InvalidRequest")));
    assert_eq!(body["error"]["message"], "Subscription validation request timed out.");
    let (status, _) = client.subscribe("users", "http://example.com/hook", json!({})).await;
    assert_eq!(status, 400, "plain http only to loopback");
    assert!(running.sim.subscriptions().is_empty());
}

#[tokio::test]
async fn lifetimes_renewal_and_deletion() {
    let (running, client) = running(10).await;
    let (url, _inbox) = receiver().await;
    let hook = format!("{url}/hook");
    for too_far in [client.in_minutes(41_761), client.in_minutes(-1)] {
        let (status, body) = client.subscribe("groups", &hook, json!({"expirationDateTime": too_far})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("InvalidRequest")), "{body}");
    }
    let (status, body) = client.subscribe("groups", &hook, json!({"expirationDateTime": client.in_minutes(41_759)})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap_or_default().to_string();
    let path = format!("/subscriptions/{id}");
    let renewed = client.in_minutes(41_000);
    let (status, body) = client.call("PATCH", &path, Some(json!({"expirationDateTime": renewed}))).await;
    assert_eq!(status, 200, "{body}");
    let expiry = running.sim.subscriptions()[0].expiration;
    assert!((expiry - (Utc::now() + TimeDelta::minutes(41_000))).num_seconds().abs() < 5, "{expiry}");
    let (status, _) = client.call("PATCH", &path, Some(json!({"expirationDateTime": client.in_minutes(50_000)}))).await;
    assert_eq!(status, 400);
    let (status, _) = client.call("PATCH", &path, Some(json!({"lifecycleNotificationUrl": hook}))).await;
    assert_eq!(status, 400, "a lifecycle URL cannot be added later");
    let (status, body) =
        client.call("PATCH", "/subscriptions/00000000-0000-0000-0000-000000000000", Some(json!({"expirationDateTime": renewed}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("ResourceNotFound")));
    assert_eq!(client.call("DELETE", &path, None).await.0, 204);
    assert_eq!(client.call("GET", &path, None).await.0, 404);
    assert_eq!(client.call("DELETE", &path, None).await.0, 404);
}

#[tokio::test]
async fn expired_and_lost_subscriptions_vanish_silently() {
    let (running, client) = running(10).await;
    let (url, inbox) = receiver().await;
    let sim = &running.sim;
    let (_, body) = client.subscribe("users", &format!("{url}/hook"), json!({})).await;
    let expiring = body["id"].as_str().unwrap_or_default().to_string();
    sim.advance_clock(Duration::from_secs(61 * 60));
    assert_eq!(client.call("GET", &format!("/subscriptions/{expiring}"), None).await.0, 404);
    assert!(sim.subscriptions().is_empty());
    let user = sim.info().member_user_ids[0].clone();
    sim.set_user_property(&user, "jobTitle", json!("After expiry")).expect("edit");

    let (_, body) = client.subscribe("users", &format!("{url}/hook"), json!({})).await;
    let lost = body["id"].as_str().unwrap_or_default().to_string();
    client.subscribe("groups", &format!("{url}/hook"), json!({})).await;
    assert_eq!(sim.subscriptions().len(), 2);
    sim.lose_subscription(&lost).expect("known");
    assert_eq!(client.call("GET", &format!("/subscriptions/{lost}"), None).await.0, 404);
    assert_eq!(sim.lose_subscription(&lost), Err(SimError::UnknownSubscription(lost.clone())));
    assert_eq!(sim.lose_all_subscriptions(), 1);
    sim.set_user_property(&user, "jobTitle", json!("Nobody hears")).expect("edit");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(inbox.lock().expect("inbox").posts.is_empty(), "nothing is delivered for them");
    assert_eq!(sim.pending_notifications(), 0);
}

#[tokio::test]
async fn quota_permissions_and_bad_requests() {
    let (running, client) = running(10).await;
    let (url, _inbox) = receiver().await;
    let hook = format!("{url}/hook");
    let user = running.sim.info().member_user_ids[0].clone();
    let group = running.sim.info().top_group_id;
    let cases = [
        ("devices", json!({}), 400),
        ("users/00000000-0000-0000-0000-000000000000", json!({}), 404),
        ("users", json!({"changeType": "created,updated"}), 400),
        ("users", json!({"clientState": "x".repeat(129)}), 400),
        ("users", json!({"expirationDateTime": "tomorrow"}), 400),
    ];
    for (resource, extra, expected) in cases {
        assert_eq!(client.subscribe(resource, &hook, extra.clone()).await.0, expected, "{resource} {extra}");
    }
    for resource in [format!("users/{user}"), format!("groups/{group}"), format!("groups/{group}/members")] {
        assert_eq!(client.subscribe(&resource, &hook, json!({})).await.0, 201, "{resource}");
    }
    running.sim.faults().revoke_permission("GroupMember.Read.All");
    let (status, body) = client.subscribe("groups", &hook, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
    running.sim.faults().grant_permission("Directory.Read.All");
    assert_eq!(client.subscribe("groups", &hook, json!({})).await.0, 201);
    while running.sim.subscriptions().len() < 100 {
        let (status, body) = client.subscribe("users", &hook, json!({})).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, _) = client.subscribe("users", &hook, json!({})).await;
    assert_eq!(status, 403, "at most 100 per app");
}
