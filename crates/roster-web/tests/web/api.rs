//! REST API v1: keys, filters, paging, problems, the OpenAPI document.

use crate::on_both_backends;
use crate::support::TestApp;
use roster_app::admin;
use roster_core::reconcile::Invitations;
use roster_core::Actor;
use serde_json::Value;

async fn seeded(app: &TestApp) -> (String, reqwest::Client) {
    let acme = app.org("acme").await;
    let mut csv = String::from("email,first_name,last_name,department,role\n");
    for n in 0..120 {
        let dept = if n % 2 == 0 { "Sales" } else { "Research" };
        let role = if n % 10 == 0 { "manager" } else { "learner" };
        csv.push_str(&format!("p{n:03}@acme.example,Person{n:03},Sample,{dept},{role}\n"));
    }
    admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), Invitations::Hold, false).await.unwrap();
    let key = admin::create_api_key(&app.state, acme.org.id, "tests", None).await.unwrap().raw;
    (key, app.client())
}

async fn get_json(client: &reqwest::Client, url: String, key: &str) -> (u16, Value) {
    let response = client.get(url).bearer_auth(key).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn users_filter_and_page(app: &TestApp) {
    let (key, client) = seeded(app).await;
    let (status, all) = get_json(&client, app.url("acme", "/api/v1/users?limit=50"), &key).await;
    assert_eq!(status, 200);
    assert_eq!(all["total"], 121);
    assert_eq!(all["data"].as_array().unwrap().len(), 50);
    assert_eq!(all["next_offset"], 50);

    // Walking the pages yields everyone exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let (_, page) = get_json(&client, app.url("acme", &format!("/api/v1/users?limit=50&offset={at}")), &key).await;
        for user in page["data"].as_array().unwrap() {
            assert!(seen.insert(user["id"].as_str().unwrap().to_owned()), "a person appeared twice");
        }
        offset = page["next_offset"].as_u64();
    }
    assert_eq!(seen.len(), 121);

    let (_, managers) = get_json(&client, app.url("acme", "/api/v1/users?role=manager"), &key).await;
    assert_eq!(managers["total"], 12);
    let (_, prefix) = get_json(&client, app.url("acme", "/api/v1/users?q=person01"), &key).await;
    assert_eq!(prefix["total"], 10, "Person010..Person019");
    let (_, teams) = get_json(&client, app.url("acme", "/api/v1/teams"), &key).await;
    let sales = teams["data"].as_array().unwrap().iter().find(|t| t["name"] == "Sales").unwrap().clone();
    assert_eq!(sales["primary_members"], 60);
    let (_, in_sales) = get_json(&client, app.url("acme", &format!("/api/v1/users?team_id={}&limit=1", sales["id"].as_str().unwrap())), &key).await;
    assert_eq!(in_sales["total"], 60);

    let one = all["data"][0].clone();
    let (status, fetched) = get_json(&client, app.url("acme", &format!("/api/v1/users/{}", one["id"].as_str().unwrap())), &key).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["email"], one["email"]);
}
on_both_backends!(users_filter_and_page_, users_filter_and_page);

async fn bad_requests_get_json_problems(app: &TestApp) {
    let (key, client) = seeded(app).await;
    for (path, expected) in [
        ("/api/v1/users?status=sleeping", 400),
        ("/api/v1/users?limit=0", 400),
        ("/api/v1/users?limit=501", 400),
        ("/api/v1/users/not-a-uuid", 400),
        ("/api/v1/users/00000000-0000-0000-0000-000000000001", 404),
    ] {
        let response = client.get(app.url("acme", path)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], expected);
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let anonymous = client.get(app.url("acme", "/api/v1/users")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let wrong = client.get(app.url("acme", "/api/v1/users")).bearer_auth("rk_not-a-key").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
}
on_both_backends!(bad_requests_get_json_problems_, bad_requests_get_json_problems);

async fn revoked_keys_stop_working(app: &TestApp) {
    let (key, client) = seeded(app).await;
    let org = app.state.store.org_by_slug("acme").await.unwrap().unwrap();
    let keys = app.state.store.api_keys(org.id).await.unwrap();
    assert_eq!(client.get(app.url("acme", "/api/v1/teams")).bearer_auth(&key).send().await.unwrap().status(), 200);
    assert!(keys[0].last_used_at.is_none() || keys[0].last_used_at.is_some());
    assert!(app.state.store.revoke_api_key(org.id, keys[0].id, &roster_core::Actor::Cli, app.state.clock.now()).await.unwrap());
    assert_eq!(client.get(app.url("acme", "/api/v1/teams")).bearer_auth(&key).send().await.unwrap().status(), 401);
    let listed = app.state.store.api_keys(org.id).await.unwrap();
    assert!(listed[0].last_used_at.is_some(), "the key's last use was recorded");
}
on_both_backends!(revoked_keys_stop_working_, revoked_keys_stop_working);

async fn the_openapi_document_describes_the_api(app: &TestApp) {
    app.org("acme").await;
    let doc: Value = app.client().get(app.url("acme", "/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/users", "/api/v1/users/{id}", "/api/v1/teams", "/api/v1/teams/{id}", "/api/v1/webhooks", "/api/v1/events"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} is documented");
    }
    for (method, path) in [
        ("post", "/api/v1/users"),
        ("patch", "/api/v1/users/{id}"),
        ("post", "/api/v1/users/{id}/deactivate"),
        ("post", "/api/v1/users/{id}/reactivate"),
        ("post", "/api/v1/users/{id}/invite"),
        ("post", "/api/v1/users/{id}/erase"),
        ("post", "/api/v1/teams"),
        ("patch", "/api/v1/teams/{id}"),
        ("delete", "/api/v1/teams/{id}"),
        ("put", "/api/v1/teams/{id}/managers"),
        ("post", "/api/v1/webhooks"),
        ("delete", "/api/v1/webhooks/{id}"),
        ("post", "/api/v1/webhooks/{id}/rotate-secret"),
        ("post", "/api/v1/webhooks/{id}/redeliver"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is documented");
    }
    assert!(doc["webhooks"]["event"]["post"].is_object(), "what webhooks post is documented");
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}
on_both_backends!(the_openapi_document_describes_the_api_, the_openapi_document_describes_the_api);
