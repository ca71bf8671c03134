//! The write API: people and teams created, changed and removed with the pages' rules; a
//! retried request with the same `Idempotency-Key` creates one person; a stale `If-Match` is
//! refused and changes nothing; scopes are enforced; webhook endpoints are managed too.

use crate::on_both_backends;
use crate::support::TestApp;
use reqwest::Method;
use roster_store::ApiScope;
use serde_json::{json, Value};

struct Api<'a> {
    app: &'a TestApp,
    key: String,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn etag(&self) -> String {
        self.headers["etag"].to_str().unwrap().to_owned()
    }
}

impl Api<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.app.client().request(method, self.app.url("acme", path)).bearer_auth(&self.key);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status >= 400 {
            assert_eq!(headers["content-type"], "application/problem+json", "{path}: {body}");
        }
        Answer { status, headers, body }
    }
}

async fn api_with<'a>(app: &'a TestApp, scopes: &[ApiScope]) -> Api<'a> {
    let org = app.state.store.org_by_slug("acme").await.unwrap().unwrap();
    let key = roster_app::admin::create_scoped_api_key(&app.state, org.id, "platform", None, scopes).await.unwrap().raw;
    Api { app, key }
}

async fn people_created_changed_and_removed(app: &TestApp) {
    let acme = app.org("acme").await;
    let api = api_with(app, &ApiScope::ALL).await;
    let team = api.send(Method::POST, "/api/v1/teams", Some(json!({ "name": "Sales" })), &[]).await;
    assert_eq!(team.status, 201, "{}", team.body);
    let sales = team.body["id"].as_str().unwrap().to_owned();
    let created = api
        .send(
            Method::POST,
            "/api/v1/users",
            Some(json!({ "email": "Ana@Acme.example", "first_name": "Ana", "last_name": "Lima", "job_title": "Rep", "primary_team_id": sales, "role": "manager" })),
            &[],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["email"], "ana@acme.example");
    assert_eq!(created.body["status"], "invited");
    assert_eq!(created.body["role"], "manager");
    assert_eq!(created.body["primary_team_id"], sales.as_str());
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(created.headers["location"].to_str().unwrap().ends_with(&format!("/api/v1/users/{id}")));
    let read = api.send(Method::GET, &format!("/api/v1/users/{id}"), None, &[]).await;
    assert_eq!(read.etag(), created.etag(), "the same version has the same tag");

    // The same address again is a conflict; a bad field is named; an owner is not made by a key.
    let again = api.send(Method::POST, "/api/v1/users", Some(json!({ "email": "ana@acme.example", "first_name": "Ana" })), &[]).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let typo = api.send(Method::POST, "/api/v1/users", Some(json!({ "email": "bo@acme.example", "firstname": "Bo" })), &[]).await;
    assert_eq!(typo.status, 422, "well-formed JSON, not the fields asked for");
    assert!(typo.body["detail"].as_str().unwrap().contains("firstname"), "{}", typo.body);
    let owner = api.send(Method::POST, "/api/v1/users", Some(json!({ "email": "bo@acme.example", "first_name": "Bo", "role": "owner" })), &[]).await;
    assert_eq!(owner.status, 400, "{}", owner.body);
    let bo = api.send(Method::POST, "/api/v1/users", Some(json!({ "email": "bo@acme.example", "first_name": "Bo", "manager_id": id })), &[]).await;
    assert_eq!(bo.status, 201, "{}", bo.body);
    assert_eq!(bo.body["manager_id"], id.as_str());

    // A change based on the current version applies; null clears; left-out fields stay.
    let path = format!("/api/v1/users/{id}");
    let changed = api.send(Method::PATCH, &path, Some(json!({ "department": "EMEA", "job_title": null })), &[("if-match", &read.etag())]).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["department"], "EMEA");
    assert_eq!(changed.body["job_title"], Value::Null);
    assert_eq!(changed.body["last_name"], "Lima");
    assert_ne!(changed.etag(), read.etag());
    // One based on the old version is refused and changes nothing.
    let stale = api.send(Method::PATCH, &path, Some(json!({ "first_name": "Anna" })), &[("if-match", &read.etag())]).await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    let now = api.send(Method::GET, &path, None, &[]).await;
    assert_eq!(now.body["first_name"], "Ana");
    assert_eq!(now.etag(), changed.etag());
    // A loop of managers is refused, as in the pages.
    let looped = api.send(Method::PATCH, &path, Some(json!({ "manager_id": bo.body["id"] })), &[]).await;
    assert_eq!(looped.status, 400, "{}", looped.body);
    // A refused part refuses the whole request: the valid part is not applied either.
    let mixed = api.send(Method::PATCH, &path, Some(json!({ "first_name": "Anna", "primary_team_id": uuid::Uuid::nil() })), &[]).await;
    assert_eq!(mixed.status, 400, "{}", mixed.body);
    assert_eq!(api.send(Method::GET, &path, None, &[]).await.body["first_name"], "Ana");

    let off = api.send(Method::POST, &format!("{path}/deactivate"), None, &[]).await;
    assert_eq!((off.status, off.body["status"].as_str()), (200, Some("deactivated")));
    let on = api.send(Method::POST, &format!("{path}/reactivate"), None, &[]).await;
    assert_eq!((on.status, on.body["status"].as_str()), (200, Some("invited")));
    let owner_id = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse(&acme.owner_email).unwrap()).await.unwrap().unwrap().id;
    let owner_off = api.send(Method::POST, &format!("/api/v1/users/{owner_id}/deactivate"), None, &[]).await;
    assert_eq!(owner_off.status, 400, "only an owner deactivates an owner: {}", owner_off.body);

    let unlinked = api.send(Method::POST, &format!("/api/v1/users/{}/unlink", bo.body["id"].as_str().unwrap()), None, &[]).await;
    assert_eq!(unlinked.status, 200, "nobody provisions Bo: nothing to do: {}", unlinked.body);
    let erased = api.send(Method::POST, &format!("/api/v1/users/{}/erase", bo.body["id"].as_str().unwrap()), None, &[]).await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_ne!(erased.body["email"], "bo@acme.example");

    // Every write is in the feed, named after the key.
    let feed = api.send(Method::GET, "/api/v1/events?limit=1000", None, &[]).await;
    let events = feed.body["data"].as_array().unwrap();
    let of = |kind: &str| events.iter().filter(|e| e["type"] == kind && e["actor"] == "api key:platform").count();
    // Each event carries the person as they were just after the change, in the API's shape.
    let about = |kind: &str| events.iter().rfind(|e| e["type"] == kind && e["data"]["resource"]["id"] == id.as_str()).unwrap().clone();
    assert_eq!(about("user.created")["data"]["resource"], created.body);
    assert_eq!(about("user.updated")["data"]["resource"], changed.body);
    assert_eq!(about("user.reactivated")["data"]["resource"], on.body);
    assert_eq!(of("user.created"), 2);
    assert_eq!(of("user.deactivated"), 1);
    assert_eq!(of("user.erased"), 1);
}
on_both_backends!(people_created_changed_and_removed_, people_created_changed_and_removed);

async fn a_retried_create_makes_one_person(app: &TestApp) {
    let acme = app.org("acme").await;
    let api = api_with(app, &[ApiScope::Write]).await;
    let body = json!({ "email": "cy@acme.example", "first_name": "Cy" });
    let key = [("idempotency-key", "5a4c2f8e-create-cy")];
    let first = api.send(Method::POST, "/api/v1/users", Some(body.clone()), &key).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retry = api.send(Method::POST, "/api/v1/users", Some(body.clone()), &key).await;
    assert_eq!(retry.status, 201, "the first answer again, not a conflict: {}", retry.body);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.etag(), first.etag());
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    let found = app.state.store.search_people(acme.org.id, &roster_core::query::PersonQuery::new(None, 0, 50)).await.unwrap();
    assert_eq!(found.total, Some(2), "the owner and Cy, once");

    // The key with another request is refused; a malformed key too.
    let other = api.send(Method::POST, "/api/v1/users", Some(json!({ "email": "di@acme.example", "first_name": "Di" })), &key).await;
    assert_eq!(other.status, 422, "{}", other.body);
    let blank = api.send(Method::POST, "/api/v1/users", Some(body.clone()), &[("idempotency-key", " ")]).await;
    assert_eq!(blank.status, 400, "{}", blank.body);

    // A refusal that depends on the moment is not kept: after the conflict is gone, the same
    // key may succeed.
    let dup_key = [("idempotency-key", "dup-1")];
    let conflict = api.send(Method::POST, "/api/v1/users", Some(body.clone()), &dup_key).await;
    assert_eq!(conflict.status, 409);
    let cy = first.body["id"].as_str().unwrap();
    let renamed = api.send(Method::PATCH, &format!("/api/v1/users/{cy}"), Some(json!({ "email": "cy.old@acme.example" })), &[]).await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let now_free = api.send(Method::POST, "/api/v1/users", Some(body.clone()), &dup_key).await;
    assert_eq!(now_free.status, 201, "{}", now_free.body);

    // Another key's Idempotency-Key is another key.
    let second = api_with(app, &[ApiScope::Write]).await;
    let fresh = second.send(Method::POST, "/api/v1/users", Some(json!({ "email": "ed@acme.example", "first_name": "Ed" })), &key).await;
    assert_eq!(fresh.status, 201, "{}", fresh.body);

    // Two requests racing with one key: one claims it, the other is told to wait.
    let org = acme.org.id;
    let now = chrono::Utc::now();
    let old = now - chrono::Duration::seconds(60);
    let store = &app.state.store;
    assert_eq!(store.claim_idempotency_key(org, "c", "k", "f", now, old).await.unwrap(), roster_store::IdempotencyClaim::Claimed);
    assert_eq!(store.claim_idempotency_key(org, "c", "k", "f", now, old).await.unwrap(), roster_store::IdempotencyClaim::InFlight);
    // A claim whose request died is taken over, once.
    let later = now + chrono::Duration::seconds(120);
    let stale = later - chrono::Duration::seconds(60);
    assert_eq!(store.claim_idempotency_key(org, "c", "k", "f", later, stale).await.unwrap(), roster_store::IdempotencyClaim::Claimed);
    assert_eq!(store.claim_idempotency_key(org, "c", "k", "f", later, stale).await.unwrap(), roster_store::IdempotencyClaim::InFlight);
    assert_eq!(store.purge_idempotency_keys(later + chrono::Duration::seconds(1)).await.unwrap(), 4, "every key, kept or claimed");
}
on_both_backends!(a_retried_create_makes_one_person_, a_retried_create_makes_one_person);

async fn scopes_are_enforced(app: &TestApp) {
    app.org("acme").await;
    let reader = api_with(app, &[ApiScope::Read]).await;
    let refused = reader.send(Method::POST, "/api/v1/users", Some(json!({ "email": "x@acme.example", "first_name": "X" })), &[]).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body["detail"].as_str().unwrap().contains("'write' scope"), "{}", refused.body);
    let team = reader.send(Method::POST, "/api/v1/teams", Some(json!({ "name": "X" })), &[]).await;
    assert_eq!(team.status, 403);
    let hooks = reader.send(Method::GET, "/api/v1/webhooks", None, &[]).await;
    assert_eq!(hooks.status, 403);
    let writer = api_with(app, &[ApiScope::Write]).await;
    assert_eq!(writer.send(Method::GET, "/api/v1/users", None, &[]).await.status, 403, "writing is not reading");
    let wrong_method = writer.send(Method::PUT, "/api/v1/users", None, &[]).await;
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.body);
    let not_json = writer.app.client().post(app.url("acme", "/api/v1/users")).bearer_auth(&writer.key).body("email=x").send().await.unwrap();
    assert_eq!(not_json.status().as_u16(), 415);
    assert_eq!(not_json.headers()["content-type"], "application/problem+json");
}
on_both_backends!(scopes_are_enforced_, scopes_are_enforced);

async fn teams_through_the_api(app: &TestApp) {
    app.org("acme").await;
    let api = api_with(app, &ApiScope::ALL).await;
    let post = |name: &str, parent: Option<&str>| json!({ "name": name, "parent_id": parent });
    let emea = api.send(Method::POST, "/api/v1/teams", Some(post("EMEA", None)), &[]).await;
    let emea_id = emea.body["id"].as_str().unwrap().to_owned();
    let uk = api.send(Method::POST, "/api/v1/teams", Some(post("UK", Some(&emea_id))), &[]).await;
    assert_eq!((uk.status, uk.body["parent_id"].as_str()), (201, Some(emea_id.as_str())), "{}", uk.body);
    let uk_id = uk.body["id"].as_str().unwrap().to_owned();
    assert_eq!(api.send(Method::POST, "/api/v1/teams", Some(post("emea", None)), &[]).await.status, 409, "names are unique, whatever the case");
    let looped = api.send(Method::PATCH, &format!("/api/v1/teams/{emea_id}"), Some(json!({ "parent_id": uk_id })), &[]).await;
    assert_eq!(looped.status, 400, "{}", looped.body);

    let renamed =
        api.send(Method::PATCH, &format!("/api/v1/teams/{uk_id}"), Some(json!({ "name": "United Kingdom" })), &[("if-match", &uk.etag())]).await;
    assert_eq!((renamed.status, renamed.body["name"].as_str()), (200, Some("United Kingdom")), "{}", renamed.body);
    assert_eq!(renamed.body["parent_id"], emea_id.as_str(), "left out, kept");
    let stale = api.send(Method::PATCH, &format!("/api/v1/teams/{uk_id}"), Some(json!({ "name": "GB" })), &[("if-match", &uk.etag())]).await;
    assert_eq!(stale.status, 412);

    let lead = api
        .send(Method::POST, "/api/v1/users", Some(json!({ "email": "lead@acme.example", "first_name": "Lee", "primary_team_id": uk_id })), &[])
        .await;
    let managers = api.send(Method::PUT, &format!("/api/v1/teams/{uk_id}/managers"), Some(json!({ "manager_ids": [lead.body["id"]] })), &[]).await;
    assert_eq!(managers.status, 200, "{}", managers.body);
    assert_eq!(managers.body["manager_ids"], json!([lead.body["id"]]));

    let refused = api.send(Method::DELETE, &format!("/api/v1/teams/{uk_id}"), None, &[]).await;
    assert_eq!(refused.status, 400, "a team with people is merged, not dropped: {}", refused.body);
    let feed = api.send(Method::GET, "/api/v1/events?types=team.renamed,team.managers_changed", None, &[]).await;
    let events = feed.body["data"].as_array().unwrap();
    assert_eq!(events[0]["data"]["resource"], renamed.body, "the team as it was just after the change");
    assert_eq!(events[1]["data"]["resource"], managers.body);
    let merged = api.send(Method::DELETE, &format!("/api/v1/teams/{uk_id}?into={emea_id}"), None, &[]).await;
    assert_eq!(merged.status, 204, "{}", merged.body);
    let moved = api.send(Method::GET, &format!("/api/v1/users/{}", lead.body["id"].as_str().unwrap()), None, &[]).await;
    assert_eq!(moved.body["primary_team_id"], emea_id.as_str());
    assert_eq!(api.send(Method::GET, &format!("/api/v1/teams/{uk_id}"), None, &[]).await.status, 404);
}
on_both_backends!(teams_through_the_api_, teams_through_the_api);

async fn webhooks_through_the_api(app: &TestApp) {
    app.org("acme").await;
    let api = api_with(app, &[ApiScope::Events]).await;
    let loopback = api.send(Method::POST, "/api/v1/webhooks", Some(json!({ "url": "http://127.0.0.1:9/hook" })), &[]).await;
    assert_eq!(loopback.status, 400, "loopback is refused unless the operator allows it: {}", loopback.body);
    let bad_type =
        api.send(Method::POST, "/api/v1/webhooks", Some(json!({ "url": "https://hooks.acme.example/in", "types": ["User Created"] })), &[]).await;
    assert_eq!(bad_type.status, 400, "{}", bad_type.body);
    assert!(api.send(Method::GET, "/api/v1/webhooks", None, &[]).await.body["data"].as_array().unwrap().is_empty(), "nothing was added");
}
on_both_backends!(webhooks_through_the_api_, webhooks_through_the_api);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_are_managed_through_the_api() {
    for backend in [roster_store::testing::Backend::Sqlite, roster_store::testing::Backend::Postgres] {
        let Some(app) = TestApp::start_with(backend, |c| c.webhook_allow_private = true).await else { continue };
        app.org("acme").await;
        let api = api_with(&app, &[ApiScope::Events]).await;
        let created =
            api.send(Method::POST, "/api/v1/webhooks", Some(json!({ "url": "http://127.0.0.1:9/hook", "types": ["user.created"] })), &[]).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let secret = created.body["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        let id = created.body["id"].as_str().unwrap().to_owned();
        let listed = api.send(Method::GET, "/api/v1/webhooks", None, &[]).await;
        assert_eq!(listed.body["data"][0]["types"], json!(["user.created"]));
        assert!(listed.body["data"][0].get("secret").is_none(), "the secret is answered once");
        let rotated = api.send(Method::POST, &format!("/api/v1/webhooks/{id}/rotate-secret"), None, &[]).await;
        assert_eq!(rotated.status, 200);
        assert_ne!(rotated.body["secret"], secret.as_str());
        let rewound = api.send(Method::POST, &format!("/api/v1/webhooks/{id}/redeliver"), Some(json!({ "after": "not-a-cursor" })), &[]).await;
        assert_eq!(rewound.status, 400, "{}", rewound.body);
        let everything = api.send(Method::POST, &format!("/api/v1/webhooks/{id}/redeliver"), None, &[]).await;
        assert_eq!((everything.status, everything.body["cursor"].as_str()), (200, Some(roster_core::feed::cursor_of(0).as_str())));
        assert_eq!(api.send(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None, &[]).await.status, 204);
        assert_eq!(api.send(Method::GET, &format!("/api/v1/webhooks/{id}"), None, &[]).await.status, 404);
        app.finish().await;
    }
}
