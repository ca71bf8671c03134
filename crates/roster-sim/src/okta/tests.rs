//! The management API's rules, checked through the router.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::*;

pub(super) const HOST: &str = "acme.sim.test";

pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<u64> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
    }

    pub fn links(&self) -> Vec<String> {
        self.headers.get_all("link").iter().filter_map(|v| v.to_str().ok().map(str::to_string)).collect()
    }

    /// The `rel="next"` URL, made relative again for `oneshot`.
    pub fn next(&self) -> Option<String> {
        let link = self.links().into_iter().find(|l| l.ends_with("rel=\"next\""))?;
        let url = link.strip_prefix('<')?.split_once('>')?.0.to_string();
        Some(url.strip_prefix(&format!("http://{HOST}")).expect("absolute next link on the request's host").to_string())
    }

    pub fn error_code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or_default()
    }
}

pub(super) async fn get_with(sim: &OktaSim, uri: &str, authorization: Option<&str>) -> Reply {
    let mut req = Request::get(uri).header("host", HOST);
    if let Some(auth) = authorization {
        req = req.header("authorization", auth);
    }
    let resp = sim.router().oneshot(req.body(Body::empty()).expect("request")).await.expect("router answers");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

pub(super) async fn get(sim: &OktaSim, uri: &str) -> Reply {
    get_with(sim, uri, Some(&format!("SSWS {}", sim.api_token()))).await
}

pub(super) fn sim(users: usize, assigned_share: f64) -> OktaSim {
    OktaSim::generate(OktaSpec { users, assigned_share, seed: 7 })
}

/// Follows `next` links from `first`, returning every row and the number of pages.
async fn walk(sim: &OktaSim, first: &str) -> (Vec<Value>, usize) {
    let (mut rows, mut pages, mut uri) = (Vec::new(), 0, Some(first.to_string()));
    while let Some(u) = uri {
        let reply = get(sim, &u).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(reply.links().iter().any(|l| l.ends_with("rel=\"self\"")), "every page has a self link");
        rows.extend(reply.body.as_array().cloned().unwrap_or_default());
        pages += 1;
        uri = reply.next();
    }
    (rows, pages)
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect()
}

#[tokio::test]
async fn generation_is_deterministic_and_has_every_status() {
    let (a, b) = (sim(80, 0.5), sim(80, 0.5));
    assert_eq!(a.api_token(), b.api_token());
    assert_eq!(a.app_id(), b.app_id());
    assert_eq!(a.assigned_user_ids(), b.assigned_user_ids());
    assert!(a.app_id().starts_with("0oa") && a.app_id().len() == 20);
    assert_ne!(a.api_token(), OktaSim::generate(OktaSpec { seed: 8, ..OktaSpec::default() }).api_token());
    assert_eq!(a.assigned_user_ids().len(), 40, "half of 80 people");
    let admin = a.with(|s| s.org.admin_id.clone());
    let people: Vec<String> = a.with(|s| s.org.users.keys().filter(|id| **id != admin).cloned().collect());
    let statuses: Vec<String> = people.iter().filter_map(|id| a.user(id)).filter_map(|u| u["status"].as_str().map(str::to_string)).collect();
    let distinct: HashSet<&str> = statuses.iter().map(String::as_str).collect();
    for status in ["STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED"] {
        assert!(distinct.contains(status), "{status} occurs");
    }
    assert!(statuses.iter().filter(|s| *s == "ACTIVE").count() * 2 > statuses.len(), "most are ACTIVE");
}

#[tokio::test]
async fn paging_walks_every_assigned_user_once() {
    let sim = sim(1200, 0.9);
    let app = sim.app_id();
    let expected = sim.assigned_user_ids();
    assert_eq!(expected.len(), 1080);
    for (query, pages) in [("?limit=500", 3), ("", 22), ("?limit=5000", 3)] {
        let (rows, walked) = walk(&sim, &format!("/api/v1/apps/{app}/users{query}")).await;
        assert_eq!(walked, pages, "pages for {query:?}");
        let got = ids(&rows);
        assert_eq!(got.len(), got.iter().collect::<HashSet<_>>().len(), "nobody twice");
        assert_eq!(got, expected, "everybody, in the stable order");
    }
    let first = get(&sim, &format!("/api/v1/apps/{app}/users?limit=500")).await;
    let next = first.links().into_iter().find(|l| l.ends_with("rel=\"next\"")).expect("next link");
    assert!(next.starts_with(&format!("<http://{HOST}/api/v1/apps/{app}/users?limit=500&after=00u")), "{next}");
    assert!(first.links().contains(&format!("<http://{HOST}/api/v1/apps/{app}/users?limit=500>; rel=\"self\"")));
}

#[tokio::test]
async fn paging_survives_changes_between_pages() {
    let sim = sim(30, 1.0);
    let app = sim.app_id();
    let first = get(&sim, &format!("/api/v1/apps/{app}/users?limit=10")).await;
    let seen = ids(first.body.as_array().expect("rows"));
    // Someone already listed leaves; the rest of the walk still sees everyone else once.
    sim.unassign(&seen[0]).expect("unassign");
    let (rest, _) = walk(&sim, &first.next().expect("more")).await;
    let all: Vec<String> = seen.iter().cloned().chain(ids(&rest)).collect();
    assert_eq!(all.len(), 30);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 30);
}

#[tokio::test]
async fn app_users_show_assignments_and_expand_embeds_the_user() {
    let sim = sim(20, 1.0);
    let app = sim.app_id();
    let plain = get(&sim, &format!("/api/v1/apps/{app}/users?limit=3")).await;
    let row = &plain.body[0];
    assert!(row.get("_embedded").is_none());
    for field in ["id", "externalId", "created", "lastUpdated", "status", "statusChanged", "syncState", "profile", "_links"] {
        assert!(row.get(field).is_some(), "AppUser has {field}");
    }
    assert_eq!(row["scope"], "USER");
    let user_id = row["id"].as_str().expect("id").to_string();
    // The embedded user is exactly what GET /api/v1/users/{id} answers on the same host.
    let user = get(&sim, &format!("/api/v1/users/{user_id}")).await.body;
    assert_eq!(row["profile"]["email"], user["profile"]["email"]);
    assert_eq!(row["profile"]["given_name"], user["profile"]["firstName"]);
    assert_eq!(row["profile"]["family_name"], user["profile"]["lastName"]);

    let expanded = get(&sim, &format!("/api/v1/apps/{app}/users?limit=3&expand=user")).await;
    assert_eq!(expanded.body[0]["_embedded"]["user"], user);
    let one = get(&sim, &format!("/api/v1/apps/{app}/users/{user_id}?expand=user")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["_embedded"]["user"]["id"], user_id.as_str());
}

#[tokio::test]
async fn unknown_things_are_404_e0000007() {
    let sim = sim(20, 0.5);
    let app = sim.app_id();
    let unassigned = sim.with(|s| s.org.users.keys().find(|id| !s.org.assignments.contains_key(*id)).cloned()).expect("someone unassigned");
    for uri in [
        "/api/v1/apps/0oaNOPE0000000000000/users".to_string(),
        format!("/api/v1/apps/{app}/users/{unassigned}"),
        "/api/v1/users/00uNOPE0000000000000".to_string(),
    ] {
        let reply = get(&sim, &uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(reply.error_code(), "E0000007");
        assert!(reply.body["errorSummary"].as_str().unwrap_or_default().starts_with("Not found: Resource not found:"));
        assert_eq!(reply.body["errorCauses"], serde_json::json!([]));
    }
}

#[tokio::test]
async fn users_are_found_by_id_or_login() {
    let sim = sim(10, 0.5);
    let id = sim.assigned_user_ids()[0].clone();
    let by_id = get(&sim, &format!("/api/v1/users/{id}")).await;
    assert_eq!(by_id.status, StatusCode::OK);
    for field in ["id", "status", "created", "activated", "statusChanged", "lastLogin", "lastUpdated", "passwordChanged", "type", "profile", "_links"]
    {
        assert!(by_id.body.get(field).is_some(), "user has {field}");
    }
    for field in ["login", "email", "firstName", "lastName", "title", "department", "manager", "managerId", "employeeNumber"] {
        assert!(by_id.body["profile"].get(field).is_some(), "profile has {field}");
    }
    let login = by_id.body["profile"]["login"].as_str().expect("login").to_uppercase().replace('@', "%40");
    let by_login = get(&sim, &format!("/api/v1/users/{login}")).await;
    assert_eq!(by_login.body["id"], id.as_str());
    assert_eq!(sim.user_id_by_login(&login.replace("%40", "@")), Some(id));
}

#[tokio::test]
async fn bad_tokens_are_401_e0000011() {
    let sim = sim(5, 1.0);
    let token = sim.api_token();
    for auth in [None, Some("SSWS wrong".to_string()), Some(format!("Bearer {token}")), Some(format!("SSWS {token}x"))] {
        let reply = get_with(&sim, "/api/v1/users/anyone", auth.as_deref()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(reply.error_code(), "E0000011");
        assert_eq!(reply.body["errorSummary"], "Invalid token provided");
        assert_eq!(reply.body["errorLink"], "E0000011");
        assert!(reply.body["errorId"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(reply.header("x-rate-limit-remaining").is_some(), "401s carry rate-limit headers too");
    }
}

fn epoch_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[tokio::test]
async fn rate_limits_count_down_then_429_then_reset() {
    let sim = sim(5, 1.0);
    let uri = format!("/api/v1/apps/{}/users", sim.app_id());
    let default = get(&sim, &uri).await;
    assert_eq!(default.header("x-rate-limit-limit"), Some(100));
    let reset = default.header("x-rate-limit-reset").expect("reset");
    assert!(reset >= epoch_secs() + 55 && reset <= epoch_secs() + 61, "about a minute ahead: {reset}");

    sim.faults().set_rate_limit(5, Duration::from_secs(1));
    for remaining in (0..5).rev() {
        let reply = get(&sim, &uri).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!((reply.header("x-rate-limit-limit"), reply.header("x-rate-limit-remaining")), (Some(5), Some(remaining)));
    }
    let limited = get(&sim, &uri).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error_code(), "E0000047");
    assert_eq!(limited.header("x-rate-limit-remaining"), Some(0));
    // The users bucket is separate.
    assert_eq!(get(&sim, &format!("/api/v1/users/{}", sim.assigned_user_ids()[0])).await.status, StatusCode::OK);
    // Waiting until Reset is enough.
    let reset = limited.header("x-rate-limit-reset").expect("reset");
    let wait = UNIX_EPOCH + Duration::from_secs(reset);
    tokio::time::sleep(wait.duration_since(SystemTime::now()).unwrap_or_default() + Duration::from_millis(20)).await;
    let after = get(&sim, &uri).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.header("x-rate-limit-remaining"), Some(4));
}

#[tokio::test]
async fn injected_faults_fire_in_order_then_clear() {
    let sim = sim(5, 1.0);
    let uri = format!("/api/v1/apps/{}/users", sim.app_id());
    let faults = sim.faults();
    faults.fail_next(1, 500);
    faults.fail_next(1, 503);
    faults.rate_limit_next(1, Duration::from_secs(30));
    faults.concurrency_limit_next(1);
    let statuses = [(500, "E0000009"), (503, "E0000010"), (429, "E0000047"), (429, "E0000047"), (200, "")];
    let mut replies = Vec::new();
    for (status, code) in statuses {
        let reply = get(&sim, &uri).await;
        assert_eq!((reply.status.as_u16(), reply.error_code()), (status, code));
        replies.push(reply);
    }
    assert!(replies[2].header("x-rate-limit-reset").expect("reset") >= epoch_secs() + 29);
    assert_eq!((replies[3].header("x-rate-limit-limit"), replies[3].header("x-rate-limit-remaining")), (Some(0), Some(0)), "concurrency 429 is 0/0");

    faults.storm(Duration::from_millis(300));
    for _ in 0..3 {
        assert_eq!(get(&sim, &uri).await.status, StatusCode::TOO_MANY_REQUESTS);
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(get(&sim, &uri).await.status, StatusCode::OK, "the storm passed");

    let log = sim.requests();
    assert_eq!(log.len(), 9);
    assert!(log.iter().all(|r| r.method == "GET" && r.path == uri));
    assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), vec![500, 503, 429, 429, 200, 429, 429, 429, 200]);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn bad_limits_and_methods_are_refused() {
    let sim = sim(5, 1.0);
    let app = sim.app_id();
    let reply = get(&sim, &format!("/api/v1/apps/{app}/users?limit=0")).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "E0000001"));
    let req = Request::delete(format!("/api/v1/users/{}", sim.assigned_user_ids()[0]))
        .header("authorization", format!("SSWS {}", sim.api_token()))
        .body(Body::empty())
        .expect("request");
    let resp = sim.router().oneshot(req).await.expect("answer");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}
