//! The `/_sim/` control API, through the same client the command line uses.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use super::tests::send;
use super::*;

async fn control() -> (RunningSim, ControlClient) {
    let sim = EntraSim::generate(TenantSpec { users: 30, seed: 3, ..TenantSpec::default() });
    let running = spawn_loopback(sim).await.expect("serve");
    let client = ControlClient::new(&running.base_url);
    (running, client)
}

fn refused(result: Result<Value, ControlError>) -> (u16, String) {
    match result {
        Err(ControlError::Refused { status, message }) => (status, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn members(sim: &EntraSim, group: &str) -> Vec<String> {
    sim.with(|s| s.tenant.groups.get(group).map(|g| g.members.clone()).unwrap_or_default())
}

#[tokio::test]
async fn info_and_user_lifecycle() {
    let (running, client) = control().await;
    let sim = &running.sim;
    let info = client.call("GET", "info", None).await.expect("info");
    assert_eq!(info["tenantId"], sim.tenant_id());
    assert_eq!(info["clientId"], sim.client_id());
    assert_eq!(info["topGroupId"], sim.info().top_group_id);
    assert_eq!(info["nestedGroupIds"].as_array().map(Vec::len), Some(3));
    let users_before = info["counts"]["users"].as_u64().unwrap_or_default();

    let top = sim.info().top_group_id;
    let created = client.call("POST", "users", Some(&json!({"givenName": "Ada", "surname": "Lovelace", "group": top}))).await.expect("created");
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let upn = created["userPrincipalName"].as_str().unwrap_or_default().to_string();
    assert!(upn.starts_with("ada.lovelace@"), "{upn}");
    assert_eq!(sim.user_property(&id, "displayName"), Some(json!("Ada Lovelace")));
    assert!(members(sim, &top).contains(&id));
    let again = client.call("POST", "users", Some(&json!({"givenName": "Ada", "surname": "Lovelace"}))).await.expect("second Ada");
    assert_ne!(again["userPrincipalName"], json!(upn), "a free UPN");
    assert_eq!(refused(client.call("POST", "users", Some(&json!({"userPrincipalName": upn}))).await).0, 400);

    let edited = client.call("PATCH", &format!("users/{upn}"), Some(&json!({"jobTitle": "Analyst", "mobilePhone": null}))).await.expect("edit");
    assert_eq!(edited["id"], json!(id));
    assert_eq!(sim.user_property(&id, "jobTitle"), Some(json!("Analyst")));
    let (status, message) = refused(client.call("PATCH", &format!("users/{id}"), Some(&json!({"shoeSize": 9}))).await);
    assert_eq!(status, 400);
    assert!(message.contains("shoeSize"), "{message}");

    client.call("POST", &format!("users/{id}/disable"), None).await.expect("disable");
    assert_eq!(sim.user_property(&id, "accountEnabled"), Some(json!(false)));
    client.call("POST", &format!("users/{id}/enable"), None).await.expect("enable");
    assert_eq!(sim.user_property(&id, "accountEnabled"), Some(json!(true)));
    client.call("POST", &format!("users/{upn}/delete"), None).await.expect("delete");
    assert!(sim.is_soft_deleted(&id) && !members(sim, &top).contains(&id));
    assert_eq!(refused(client.call("POST", &format!("users/{id}/delete"), None).await).0, 404, "already deleted");
    client.call("POST", &format!("users/{upn}/restore"), None).await.expect("restore by UPN");
    assert!(!sim.is_soft_deleted(&id) && members(sim, &top).contains(&id), "back in its group");
    assert_eq!(refused(client.call("POST", &format!("users/{id}/restore"), None).await).0, 400, "not deleted");
    client.call("POST", &format!("users/{id}/purge"), None).await.expect("purge");
    assert_eq!(sim.find_user_id(&id), None);
    assert_eq!(refused(client.call("POST", &format!("users/{id}/enable"), None).await).0, 404);
    assert_eq!(refused(client.call("POST", &format!("users/{}/fly", sim.info().member_user_ids[0]), None).await).0, 404);

    let counts = client.call("GET", "info", None).await.expect("info")["counts"].clone();
    assert_eq!(counts["users"].as_u64(), Some(users_before + 1), "one Ada left");
}

#[tokio::test]
async fn groups_moves_and_the_clock() {
    let (running, client) = control().await;
    let sim = &running.sim;
    let info = sim.info();
    let (top, sales) = (info.top_group_id.clone(), info.nested_group_ids[1].clone());
    let mover = members(sim, &top).into_iter().find(|m| info.member_user_ids.contains(m)).expect("a user in the top group");
    client.call("POST", &format!("users/{mover}/move"), Some(&json!({"from": top, "to": "Sales"}))).await.expect("move by group name");
    assert!(!members(sim, &top).contains(&mover) && members(sim, &sales).contains(&mover));
    let (status, _) = refused(client.call("POST", &format!("users/{mover}/move"), Some(&json!({"from": top, "to": sales}))).await);
    assert_eq!(status, 400, "not in the group it should leave");

    let added = client.call("PUT", &format!("groups/{top}/members/{mover}"), None).await.expect("add");
    assert_eq!(added["added"], true);
    client.call("DELETE", &format!("groups/{top}/members/{mover}"), None).await.expect("remove");
    assert_eq!(refused(client.call("DELETE", &format!("groups/{top}/members/{mover}"), None).await).0, 404);
    assert_eq!(refused(client.call("PUT", &format!("groups/{top}/members/nobody"), None).await).0, 404);

    let count = members(sim, &sales).len();
    let emptied = client.call("POST", &format!("groups/{sales}/empty"), None).await.expect("empty");
    assert_eq!(emptied["removed"], count);
    assert!(members(sim, &sales).is_empty());
    assert_eq!(refused(client.call("POST", "groups/nothing-like-it/empty", None).await).0, 404);

    let before = sim.now();
    let moved = client.call("POST", "clock", Some(&json!({"advance_seconds": 3600}))).await.expect("clock");
    assert!(moved["now"].is_string());
    assert!(sim.now() - before >= chrono::TimeDelta::seconds(3600));
    assert_eq!(refused(client.call("POST", "clock", Some(&json!({"advance_seconds": -5}))).await).0, 400);
    let subs = client.call("GET", "subscriptions", None).await.expect("subscriptions");
    assert_eq!(subs["value"], json!([]));
}

#[tokio::test]
async fn only_loopback_callers_are_answered() {
    let sim = EntraSim::generate(TenantSpec { users: 5, ..TenantSpec::default() });
    let mut far = Request::get("/_sim/info").body(Body::empty()).expect("request");
    far.extensions_mut().insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 10], 40_000))));
    let reply = send(&sim, far).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.json()["error"].is_string());
    let mut near = Request::get("/_sim/info").body(Body::empty()).expect("request");
    near.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    assert_eq!(send(&sim, near).await.status, StatusCode::OK);
    let graph = send(&sim, Request::get("/v1.0/_sim/info").body(Body::empty()).expect("request")).await;
    assert_eq!(graph.status, StatusCode::UNAUTHORIZED, "not part of Graph");
}
