//! The SCIM 2.0 server over HTTP: Okta's and Entra's documented request sequences, the
//! conformance checklist's route-layer items, isolation between organisations and concurrency.

use crate::on_both_backends;
use crate::support::{TestApp, BASE_DOMAIN};
use reqwest::header::HeaderMap;
use reqwest::Method;
use roster_app::admin::scim_tokens::create_token;
use roster_app::provision::scim::ScimSettings;
use roster_core::plan::NewPerson;
use roster_core::{Actor, Change, Connection, ConnectionId, ConnectionKind, Email, OrgId, Plan, Profile, Role, SourceLink, Status};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

struct Scim {
    client: reqwest::Client,
    base: String,
    token: String,
    org: OrgId,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Scim {
    async fn new(app: &TestApp, slug: &str) -> Scim {
        let org = app.org(slug).await.org;
        let token = create_token(&app.state, org.id, "tests", &Actor::Cli).await.unwrap().raw;
        Scim { client: app.client(), base: app.url(slug, "/scim/v2"), token, org: org.id }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(body.to_string());
        }
        answer(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body)).await
    }

    async fn patch(&self, path: &str, operations: Value) -> Answer {
        self.send(Method::PATCH, path, Some(json!({"schemas": [PATCH_OP], "Operations": operations}))).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }

    /// A POST whose declared length is over the limit, sending only its headers: the refusal
    /// comes from the length alone. (Writing the whole oversized body races the refusal, and the
    /// client may see the connection closed before it reads the answer.)
    async fn declare_too_large(&self, path: &str) -> Answer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let url = reqwest::Url::parse(&format!("{}{path}", self.base)).unwrap();
        let mut stream = tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).await.unwrap();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            url.path(),
            url.authority(),
            self.token,
            roster_web::scim::MAX_BODY_BYTES + 1
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = HeaderMap::new();
        for line in lines {
            let (name, value) = line.split_once(':').unwrap();
            headers.insert(reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(), value.trim().parse().unwrap());
        }
        let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
        Answer { status, headers, body }
    }

    async fn person(&self, app: &TestApp, email: &str) -> Option<roster_core::Person> {
        app.state.store.person_by_email(self.org, &Email::parse(email).unwrap()).await.unwrap()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Answer { status, headers, body }
}

fn okta_user(user_name: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": format!("{given} {family}"),
        "locale": "en-US",
        "externalId": format!("00u{}", user_name.len()),
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

fn assert_scim_error(answer: &Answer, status: u16, scim_type: Option<&str>) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["schemas"][0], ERROR);
    assert_eq!(answer.body["status"], status.to_string(), "status is a JSON string");
    assert_eq!(answer.body["scimType"].as_str(), scim_type);
    assert!(answer.headers["content-type"].to_str().unwrap().starts_with("application/scim+json"));
}

/// Okta: test connection, assign (filter miss, POST with a password, 409 on repeat), update
/// (GET then PUT), deactivate (PATCH without a path).
async fn okta_user_lifecycle(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    let test_connection = scim.get("/Users?startIndex=1&count=2").await;
    assert_eq!(test_connection.status, 200);
    assert!(test_connection.headers["content-type"].to_str().unwrap().starts_with("application/scim+json"));
    assert_eq!(test_connection.body["totalResults"], json!(0));
    assert_eq!(test_connection.body["startIndex"], json!(1));

    let miss = scim.get("/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100").await;
    assert_eq!((miss.status, miss.body["totalResults"].clone()), (200, json!(0)));

    let created = scim.post("/Users", okta_user("test.user@okta.local", "Test", "User")).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.headers["location"].to_str().unwrap(), format!("{}/Users/{id}", app.state.config.org_url("acme", "/scim/v2")));
    assert_eq!(created.body["externalId"], "00u20");
    assert_eq!(created.body["active"], true);
    assert!(created.body.get("password").is_none());
    assert_eq!(created.headers["etag"], created.body["meta"]["version"].as_str().unwrap());
    let stored = app.state.store.scim_resource(scim.org, roster_store::ScimResourceType::User, id.parse().unwrap()).await.unwrap().unwrap();
    assert!(!stored.document.to_string().contains("1mz050nq"), "the password is never stored");
    let person = scim.person(app, "test.user@okta.local").await.expect("a person was provisioned");
    assert_eq!((person.profile.first_name.as_str(), person.status), ("Test", Status::Invited));
    assert_eq!(person.source.as_ref().map(|s| s.external_id.as_str()), Some(id.as_str()));

    let again = scim.post("/Users", okta_user("TEST.User@okta.local", "Test", "User")).await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    let upper = scim.get("/Users?filter=userName%20eq%20%22TEST.USER%40OKTA.LOCAL%22").await;
    assert_eq!(upper.body["totalResults"], json!(1));
    assert_eq!(upper.body["Resources"][0]["id"], id.as_str());

    let fetched = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(fetched.status, 200);
    let mut full = fetched.body.clone();
    full["name"]["familyName"] = json!("Userton");
    full["title"] = json!("Engineer");
    full["id"] = json!("not-the-id");
    full["meta"] = json!({"version": "W/\"99\""});
    full["groups"] = json!([{"value": "x"}]);
    let put = scim.put(&format!("/Users/{id}"), full).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!((put.body["id"].as_str(), put.body["title"].as_str()), (Some(id.as_str()), Some("Engineer")));
    assert!(put.body.get("groups").is_none(), "PUT ignores groups");
    let person = scim.person(app, "test.user@okta.local").await.unwrap();
    assert_eq!((person.profile.last_name.as_str(), person.profile.job_title.as_deref()), ("Userton", Some("Engineer")));
    assert_scim_error(&scim.put(&format!("/Users/{}", uuid::Uuid::now_v7()), okta_user("x@okta.local", "X", "Y")).await, 404, None);

    let deactivated = scim.patch(&format!("/Users/{id}"), json!([{"op": "replace", "value": {"active": false}}])).await;
    assert_eq!((deactivated.status, deactivated.body["active"].clone()), (200, json!(false)));
    assert_eq!(scim.person(app, "test.user@okta.local").await.unwrap().status, Status::Deactivated);
    assert_eq!(scim.get(&format!("/Users/{id}")).await.body["active"], false, "a deactivated user is still GETtable");

    let bogus = scim.get("/Users/010ff8a1-0000-7000-8000-000000000000").await;
    assert_scim_error(&bogus, 404, None);
    assert!(bogus.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}
on_both_backends!(okta_user_lifecycle_over_scim, okta_user_lifecycle);

/// Okta's import: pages of 100 by startIndex yield each user exactly once.
async fn okta_import_paging(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    for n in 0..205 {
        let created = scim.post("/Users", okta_user(&format!("p{n:03}@acme.example"), "P", &format!("N{n:03}"))).await;
        assert_eq!(created.status, 201);
    }
    let mut seen = std::collections::HashSet::new();
    let mut start = 1;
    loop {
        let page = scim.get(&format!("/Users?startIndex={start}&count=100")).await;
        assert_eq!(page.body["totalResults"], json!(205));
        let resources = page.body["Resources"].as_array().unwrap();
        assert_eq!(page.body["itemsPerPage"], json!(resources.len()));
        if resources.is_empty() {
            break;
        }
        for r in resources {
            assert!(seen.insert(r["id"].as_str().unwrap().to_owned()), "a user appeared twice");
        }
        start += 100;
    }
    assert_eq!(seen.len(), 205);
    let zero = scim.get("/Users?startIndex=0&count=0").await;
    assert_eq!(
        (zero.body["totalResults"].clone(), zero.body["startIndex"].clone(), zero.body["itemsPerPage"].clone()),
        (json!(205), json!(1), json!(0))
    );
    let sorted = scim.get("/Users?sortBy=name.familyName&sortOrder=descending&count=1").await;
    assert_eq!(sorted.body["Resources"][0]["name"]["familyName"], "N204");
}
on_both_backends!(okta_import_pages_each_user_once, okta_import_paging);

/// Okta group push: create, add, remove by filter, rename repeating the id, replace with [],
/// delete. Members get a secondary team, never a primary one.
async fn okta_group_push(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    let a = scim.post("/Users", okta_user("a@acme.example", "A", "A")).await.body["id"].as_str().unwrap().to_owned();
    let b = scim.post("/Users", okta_user("b@acme.example", "B", "B")).await.body["id"].as_str().unwrap().to_owned();
    let group =
        scim.post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales", "members": []})).await;
    assert_eq!(group.status, 201, "{}", group.body);
    let gid = group.body["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{gid}");
    let found = scim.get("/Groups?filter=displayName%20eq%20%22sales%22").await;
    assert_eq!(found.body["Resources"][0]["id"], gid.as_str());

    let added = scim.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}])).await;
    assert_eq!(added.status, 200, "{}", added.body);
    let team = |p: roster_core::Person| (p.primary_team, p.secondary_teams.len());
    let a_person = scim.person(app, "a@acme.example").await.unwrap();
    assert_eq!(team(a_person), (None, 1), "a secondary membership, never the primary team");
    assert_eq!(scim.get(&format!("/Users/{a}")).await.body["groups"][0]["display"], "Sales");

    let ops = json!([
        {"op": "replace", "value": {"id": gid, "displayName": "Sales"}},
        {"op": "remove", "path": format!("members[value eq \"{a}\"]")}
    ]);
    assert_eq!(scim.patch(&path, ops).await.status, 200);
    assert_eq!(scim.person(app, "a@acme.example").await.unwrap().secondary_teams.len(), 0);
    assert_eq!(scim.person(app, "b@acme.example").await.unwrap().secondary_teams.len(), 1);

    let emptied = scim.patch(&path, json!([{"op": "replace", "path": "members", "value": []}])).await;
    assert_eq!(emptied.status, 200);
    assert!(emptied.body.get("members").is_none_or(|m| m.as_array().is_some_and(|m| m.is_empty())));
    assert_eq!(scim.person(app, "b@acme.example").await.unwrap().secondary_teams.len(), 0);

    scim.patch(&path, json!([{"op": "replace", "path": "members", "value": [{"value": b}]}])).await;
    assert_eq!(scim.delete(&path).await.status, 204);
    assert_eq!(scim.get(&path).await.status, 404);
    assert_eq!(scim.person(app, "b@acme.example").await.unwrap().secondary_teams.len(), 0, "deleting a group ends its memberships");
    let teams = app.state.store.teams(scim.org).await.unwrap();
    assert!(teams.iter().any(|t| t.team.name.as_str() == "Sales"), "and keeps the team");
}
on_both_backends!(okta_group_push_gives_secondary_teams, okta_group_push);

/// Entra: capitalised ops, string booleans, work e-mail through a value path, dotted keys,
/// manager as an array, Remove members with a value list, DELETE.
async fn entra_sequence(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    let body = json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "8aa1a0c0", "UserName": "kathy@acme.example", "active": "True", "displayName": "Kathy O'Malley",
        "title": null, "roles": [], "meta": {"resourceType": "User"},
        "emails": [{"Primary": true, "type": "work", "value": "kathy@acme.example"}],
        "name": {"formatted": "Kathy", "familyName": "O'Malley", "givenName": "Kathy"},
        ENTERPRISE: {"department": "Research"}
    });
    let kathy = scim.post("/Users", body).await;
    assert_eq!(kathy.status, 201, "{}", kathy.body);
    let kid = kathy.body["id"].as_str().unwrap().to_owned();
    let boss = scim.post("/Users", okta_user("boss@acme.example", "Big", "Boss")).await.body["id"].as_str().unwrap().to_owned();

    let lookup = scim.get("/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22KATHY%40acme.example%22").await;
    assert_eq!(lookup.body["totalResults"], json!(1), "{}", lookup.body);
    assert_eq!(scim.get("/Users?filter=externalId%20eq%20%228aa1a0c0%22").await.body["totalResults"], json!(1));

    let path = format!("/Users/{kid}");
    let off = scim.patch(&path, json!([{"op": "Replace", "path": "active", "value": "False"}])).await;
    assert_eq!((off.status, off.body["active"].clone()), (200, json!(false)));
    assert_eq!(scim.person(app, "kathy@acme.example").await.unwrap().status, Status::Deactivated);
    scim.patch(&path, json!([{"op": "Replace", "path": "active", "value": "True"}])).await;
    assert_eq!(scim.person(app, "kathy@acme.example").await.unwrap().status, Status::Invited);

    let ops = json!([
        {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "k@home.test"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "kathy.omalley@acme.example"},
        {"op": "replace", "value": {"name.givenName": "Kate", format!("{ENTERPRISE}:employeeNumber"): "E-7"}},
        {"op": "Add", "path": "manager", "value": [{"value": boss}]}
    ]);
    let patched = scim.patch(&path, ops).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let emails = patched.body["emails"].as_array().unwrap();
    assert!(emails.iter().any(|e| e["type"] == "work" && e["value"] == "kathy.omalley@acme.example"));
    assert!(emails.iter().any(|e| e["type"] == "home" && e["value"] == "k@home.test"), "only the work e-mail changed");
    assert_eq!(patched.body[ENTERPRISE]["employeeNumber"], "E-7");
    let kate = scim.person(app, "kathy@acme.example").await.unwrap();
    let boss_person = scim.person(app, "boss@acme.example").await.unwrap();
    assert_eq!((kate.profile.first_name.as_str(), kate.manager), ("Kate", Some(boss_person.id)));

    let group = scim.post("/Groups", json!({"displayName": "Research Leads", "members": [{"value": kid}, {"value": boss}]})).await;
    let gid = group.body["id"].as_str().unwrap().to_owned();
    let removed = scim.patch(&format!("/Groups/{gid}"), json!([{"op": "Remove", "path": "members", "value": [{"value": boss}]}])).await;
    assert_eq!(removed.status, 200);
    let members = scim.get(&format!("/Groups/{gid}")).await.body["members"].clone();
    assert_eq!(members.as_array().map(Vec::len), Some(1), "only the listed member was removed: {members}");
    let slim = scim.get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Research%20Leads%22").await;
    assert!(slim.body["Resources"][0].get("members").is_none());

    assert_eq!(scim.delete(&path).await.status, 204);
    assert_scim_error(&scim.get(&path).await, 404, None);
    assert_eq!(scim.person(app, "kathy@acme.example").await.unwrap().status, Status::Deactivated, "DELETE deactivates, keeping history");
    assert_eq!(scim.get(&format!("/Groups/{gid}")).await.body["members"].as_array().map(Vec::len).unwrap_or(0), 0);
}
on_both_backends!(entra_sequence_over_scim, entra_sequence);

/// The remaining route-layer items of the conformance checklist.
async fn conformance(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    let id = scim.post("/Users", okta_user("c@acme.example", "C", "C")).await.body["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");

    assert_scim_error(&scim.patch(&path, json!([{"op": "remove"}])).await, 400, Some("noTarget"));
    assert_scim_error(&scim.get("/Users?filter=userName%20zz%20%22x%22").await, 400, Some("invalidFilter"));
    assert_scim_error(&scim.get("/Users?filter=shoeSize%20eq%20%2242%22").await, 400, Some("invalidFilter"));
    let failing = json!([{"op": "replace", "path": "title", "value": "Changed"}, {"op": "remove", "path": "shoeSize"}]);
    assert_eq!(scim.patch(&path, failing).await.status, 400);
    assert!(scim.get(&path).await.body.get("title").is_none(), "a failing second operation changes nothing");
    assert!(scim.person(app, "c@acme.example").await.unwrap().profile.job_title.is_none());

    let bad_json = scim.client.post(format!("{}/Users", scim.base)).bearer_auth(&scim.token).body("{not json").send().await.unwrap();
    assert_scim_error(&answer(bad_json).await, 400, Some("invalidSyntax"));
    let plain_json =
        scim.client.post(format!("{}/Users", scim.base)).bearer_auth(&scim.token).json(&okta_user("j@acme.example", "J", "J")).send().await.unwrap();
    assert_eq!(plain_json.status(), 201, "application/json bodies are accepted");
    assert_scim_error(&scim.declare_too_large("/Users").await, 413, None);

    let only = scim.get(&format!("{path}?attributes=userName")).await;
    assert!(only.body.get("name").is_none() && only.body["id"] == id.as_str() && only.body["userName"] == "c@acme.example");
    let without = scim.get(&format!("{path}?excludedAttributes=emails,name")).await;
    assert!(without.body.get("emails").is_none() && without.body.get("userName").is_some());

    let current = scim.get(&path).await;
    let etag = current.headers["etag"].to_str().unwrap().to_owned();
    let stale = scim
        .client
        .patch(format!("{}{path}", scim.base))
        .bearer_auth(&scim.token)
        .header("if-match", "W/\"99\"")
        .json(&json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "T"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let fresh = scim
        .client
        .patch(format!("{}{path}", scim.base))
        .bearer_auth(&scim.token)
        .header("if-match", &etag)
        .json(&json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "T"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);

    let spc = scim.get("/ServiceProviderConfig").await;
    assert_eq!((spc.status, spc.body["patch"]["supported"].clone()), (200, json!(true)));
    assert_eq!(scim.get("/ResourceTypes").await.body["totalResults"], json!(2));
    assert_eq!(scim.get("/Schemas").await.status, 200);
    assert_eq!(scim.get(&format!("/Schemas/{USER}")).await.body["id"], USER);
    assert_scim_error(&scim.get("/Me").await, 501, None);
    let searched = scim.post("/Users/.search", json!({"filter": "userName eq \"C@ACME.EXAMPLE\"", "attributes": ["userName"]})).await;
    assert_eq!(searched.body["totalResults"], json!(1));
    assert_eq!(scim.post("/.search", json!({"startIndex": 1, "count": 10})).await.body["totalResults"], json!(2));

    let anonymous = answer(scim.client.get(format!("{}/Users", scim.base)).send().await.unwrap()).await;
    assert_scim_error(&anonymous, 401, None);
    let wrong = answer(scim.client.get(format!("{}/Users", scim.base)).bearer_auth("rsc_nope").send().await.unwrap()).await;
    assert_scim_error(&wrong, 401, None);

    // On the organisation's own host the same endpoints answer at /scim/v2.
    let host = format!("http://acme.{BASE_DOMAIN}:{}/scim/v2/Users?count=1", app.addr.port());
    assert_eq!(scim.client.get(host).bearer_auth(&scim.token).send().await.unwrap().status(), 200);

    // A token limited to one request a second gets a 429 with whole seconds to wait.
    let mut connection = scim_connection(app, scim.org).await;
    connection.settings["rate_limit_per_second"] = json!(1);
    app.state.store.update_connection(&connection, &Actor::Cli, app.state.clock.now()).await.unwrap();
    let limited = create_token(&app.state, scim.org, "limited", &Actor::Cli).await.unwrap().raw;
    let mut last = None;
    for _ in 0..4 {
        last = Some(answer(scim.client.get(format!("{}/Users?count=1", scim.base)).bearer_auth(&limited).send().await.unwrap()).await);
    }
    let last = last.unwrap();
    assert_scim_error(&last, 429, None);
    assert!(last.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);

    // Every request is in the log, without bodies.
    let mut log = Vec::new();
    for _ in 0..50 {
        log = app.state.store.scim_requests(scim.org, 500).await.unwrap();
        if log.iter().any(|e| e.status == 429) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(log.iter().any(|e| e.status == 409 || e.status == 412));
    assert!(log.iter().any(|e| e.method == "POST" && e.path == "/scim/v2/Users" && e.status == 201));
    assert!(log.iter().any(|e| e.status == 401 && e.token.is_none()));
    assert!(log.iter().all(|e| !format!("{e:?}").contains("1mz050nq") && !format!("{e:?}").contains(&scim.token)));
}
on_both_backends!(conformance_route_layer, conformance);

async fn scim_connection(app: &TestApp, org: OrgId) -> Connection {
    app.state.store.connections(org).await.unwrap().into_iter().find(|c| c.kind == ConnectionKind::Scim).unwrap()
}

/// A token of one organisation never reaches another's users, by URL or by id.
async fn isolation(app: &TestApp) {
    let acme = Scim::new(app, "acme").await;
    let other = Scim::new(app, "other").await;
    let theirs = other.post("/Users", okta_user("x@other.example", "X", "X")).await.body["id"].as_str().unwrap().to_owned();
    assert_scim_error(&acme.get(&format!("/Users/{theirs}")).await, 404, None);
    assert_scim_error(&acme.patch(&format!("/Users/{theirs}"), json!([{"op": "replace", "value": {"active": false}}])).await, 404, None);
    assert_scim_error(&acme.delete(&format!("/Users/{theirs}")).await, 404, None);
    let cross = answer(acme.client.get(format!("{}/Users/{theirs}", other.base)).bearer_auth(&acme.token).send().await.unwrap()).await;
    assert_scim_error(&cross, 401, None);
    assert_eq!(acme.get("/Users").await.body["totalResults"], json!(0));
    assert_eq!(other.person(app, "x@other.example").await.unwrap().status, Status::Invited);
}
on_both_backends!(a_token_never_reaches_another_org, isolation);

/// A person another connection provisions is refused, and nothing is written.
async fn refused_plan(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    let entra = Connection {
        id: ConnectionId::from_uuid(uuid::Uuid::now_v7()),
        org: scim.org,
        kind: ConnectionKind::Entra,
        name: "Entra".into(),
        enabled: true,
        settings: json!({}),
        sealed: BTreeMap::new(),
        created_at: app.state.clock.now(),
        updated_at: app.state.clock.now(),
    };
    app.state.store.create_connection(&entra, &Actor::Cli).await.unwrap();
    let person = NewPerson {
        id: roster_core::UserId::from_uuid(uuid::Uuid::now_v7()),
        email: Email::parse("taken@acme.example").unwrap(),
        profile: Profile { first_name: "Entra".into(), ..Profile::default() },
        role: Role::Learner,
        status: Status::Active,
        primary_team: None,
        source: Some(SourceLink { connection: entra.id, external_id: "aad-1".into() }),
    };
    let plan = Plan { changes: vec![Change::CreatePerson { person: Box::new(person) }], ..Plan::new(scim.org, Actor::Cli) };
    app.state.store.apply(&plan, app.state.clock.now()).await.unwrap();

    let refused = scim.post("/Users", okta_user("taken@acme.example", "Okta", "Person")).await;
    assert_scim_error(&refused, 409, Some("uniqueness"));
    assert_eq!(scim.get("/Users").await.body["totalResults"], json!(0), "no resource was stored");
    assert_eq!(scim.person(app, "taken@acme.example").await.unwrap().profile.first_name, "Entra");
}
on_both_backends!(a_refused_plan_changes_nothing, refused_plan);

/// Concurrent PATCHes of one user all land: none overwrites another.
async fn concurrent_patches(app: &TestApp) {
    let scim = std::sync::Arc::new(Scim::new(app, "acme").await);
    let id = scim.post("/Users", okta_user("busy@acme.example", "Busy", "B")).await.body["id"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let scim = scim.clone();
            let path = format!("/Users/{id}");
            tokio::spawn(async move {
                let op = json!([{"op": "add", "path": "phoneNumbers", "value": [{"value": format!("+1-555-000{n}"), "type": "work"}]}]);
                scim.patch(&path, op).await.status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let user = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(user.body["phoneNumbers"].as_array().map(Vec::len), Some(10), "no update was lost: {}", user.body);
    assert_eq!(user.body["meta"]["version"], "W/\"11\"");
}
on_both_backends!(concurrent_patches_lose_no_update, concurrent_patches);

/// Users created at once in a department nobody has yet: each plans the new team, one wins,
/// the others plan again with it and succeed.
async fn concurrent_creates(app: &TestApp) {
    let scim = std::sync::Arc::new(Scim::new(app, "acme").await);
    let tasks: Vec<_> = (0..12)
        .map(|n| {
            let scim = scim.clone();
            tokio::spawn(async move {
                let mut user = okta_user(&format!("new{n}@acme.example"), "New", &format!("Starter{n}"));
                user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({"department": "Brand New Department"});
                scim.post("/Users", user).await.status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    let teams = app.state.store.teams(scim.org).await.unwrap();
    let team = teams.iter().find(|t| t.team.name.as_str() == "Brand New Department").expect("the department's team");
    assert_eq!(teams.iter().filter(|t| t.team.name.key() == "brand new department").count(), 1);
    assert_eq!(team.primary_members, 12);
}
on_both_backends!(concurrent_creates_share_a_new_department, concurrent_creates);

/// A connection never adopts an owner (or, by default, an admin) by e-mail: a SCIM client that
/// posts the owner's address cannot then re-address or lock the owner out. An owner can allow it.
async fn protected_owners(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    let owner = scim.person(app, "owner@acme.example").await.unwrap();
    let refused = scim.post("/Users", okta_user("owner@acme.example", "Mallory", "Takeover")).await;
    assert_scim_error(&refused, 403, None);
    assert!(refused.body["detail"].as_str().unwrap().contains("owner"), "{}", refused.body);
    let unchanged = scim.person(app, "owner@acme.example").await.unwrap();
    assert_eq!((unchanged.source.clone(), unchanged.profile.clone(), unchanged.status), (None, owner.profile.clone(), owner.status));

    app.state.store.set_provisioning_allowed(scim.org, owner.id, true, &Actor::Person { id: owner.id }, app.state.clock.now()).await.unwrap();
    let adopted = scim.post("/Users", okta_user("owner@acme.example", "Olive", "Owner")).await;
    assert_eq!(adopted.status, 201, "{}", adopted.body);
    let linked = scim.person(app, "owner@acme.example").await.unwrap();
    assert!(linked.source.is_some());
    let audit = app.state.store.audit_for_person(scim.org, owner.id, 20).await.unwrap();
    let link = audit.iter().find(|a| a.action == "user.linked").expect("the adoption is audited");
    assert!(link.actor.starts_with("connection:"), "with the connection that did it: {}", link.actor);
}
on_both_backends!(a_connection_never_takes_over_an_owner, protected_owners);

/// Control characters, over-long strings, too many values and non-JSON bodies are refused with
/// a SCIM error and change nothing, the same on both backends.
async fn bad_input(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    let mut nul = okta_user("nul@acme.example", "Nu\u{0}l", "Char");
    assert_scim_error(&scim.post("/Users", nul.clone()).await, 400, Some("invalidValue"));
    nul["name"]["givenName"] = json!("Nul");
    nul["displayName"] = json!("x".repeat(5_000));
    assert_scim_error(&scim.post("/Users", nul.clone()).await, 400, Some("invalidValue"));
    nul["displayName"] = json!("Nul Char");
    nul["phoneNumbers"] = Value::Array((0..150).map(|i| json!({"value": format!("+1 555 {i:04}"), "type": "work"})).collect());
    assert_scim_error(&scim.post("/Users", nul.clone()).await, 400, Some("invalidValue"));
    assert!(scim.person(app, "nul@acme.example").await.is_none(), "nothing was created");

    let filter = scim.get("/Users?filter=userName%20eq%20%22a%00b%22").await;
    assert_eq!(filter.status, 400, "{}", filter.body);
    assert_eq!(filter.body["schemas"][0], ERROR);

    let wrong_type = scim
        .client
        .post(format!("{}/Users", scim.base))
        .bearer_auth(&scim.token)
        .header("content-type", "text/plain")
        .body(okta_user("t@acme.example", "T", "T").to_string())
        .send()
        .await
        .unwrap();
    assert_scim_error(&answer(wrong_type).await, 415, None);
    assert!(scim.person(app, "t@acme.example").await.is_none());
}
on_both_backends!(bad_input_gets_a_scim_error_and_changes_nothing, bad_input);

/// A client that looks several Users up in one request builds a long `or` chain.
async fn long_filters(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    for i in 0..3 {
        assert_eq!(scim.post("/Users", okta_user(&format!("u{i}@acme.example"), "U", &format!("{i}"))).await.status, 201);
    }
    let terms: Vec<String> = (0..100).map(|i| format!("userName eq \"u{i}@acme.example\"")).collect();
    let filter = url::form_urlencoded::byte_serialize(terms.join(" or ").as_bytes()).collect::<String>();
    let found = scim.get(&format!("/Users?filter={filter}")).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalResults"], 3);
}
on_both_backends!(a_hundred_term_or_filter_works, long_filters);

/// PATCHes that once took minutes of CPU each (20,000 e-mails, de-duplicated pairwise) are
/// refused at once, and the server keeps answering everyone meanwhile.
async fn heavy_patches(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    let created = scim.post("/Users", okta_user("big@acme.example", "Big", "Patch")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let emails: Vec<Value> = (0..20_000).map(|i| json!({"value": format!("alias{i}@acme.example"), "type": "other"})).collect();
    let operations = json!([{"op": "add", "path": "emails", "value": emails}]);
    let patches: Vec<_> = (0..2)
        .map(|_| {
            let (client, url, token, body) = (
                scim.client.clone(),
                format!("{}/Users/{id}", scim.base),
                scim.token.clone(),
                json!({"schemas": [PATCH_OP], "Operations": operations}),
            );
            tokio::spawn(async move {
                client
                    .patch(url)
                    .bearer_auth(token)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let health = format!("http://{}/healthz", app.addr);
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..10 {
        let started = std::time::Instant::now();
        assert_eq!(reqwest::get(&health).await.unwrap().status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    for patch in patches {
        assert_eq!(patch.await.unwrap(), 400, "too many values for one attribute");
    }
    // Generous for a loaded test machine; before, /healthz took seconds.
    assert!(slowest < std::time::Duration::from_millis(500), "/healthz took {slowest:?} during the PATCHes");
    let person = scim.person(app, "big@acme.example").await.unwrap();
    assert_eq!(person.profile.first_name, "Big", "nothing changed");
}
on_both_backends!(heavy_patches_never_stall_the_server, heavy_patches);

/// A SCIM client deactivating many people at once (an app unassigned from everyone): every
/// request is answered as usual, but beyond the guard the deactivations wait for an admin, who
/// applies or discards them from the SCIM page. Fewer than ten never wait.
async fn deactivation_burst(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    let mut ids = Vec::new();
    for n in 0..25 {
        let created = scim.post("/Users", okta_user(&format!("burst{n}@okta.local"), "Burst", &format!("Person{n}"))).await;
        assert_eq!(created.status, 201, "{}", created.body);
        ids.push(created.body["id"].as_str().unwrap().to_owned());
    }
    for id in &ids[..12] {
        let answer = scim.patch(&format!("/Users/{id}"), json!([{"op": "replace", "value": {"active": false}}])).await;
        assert_eq!((answer.status, answer.body["active"].clone()), (200, json!(false)), "the client is answered as usual: {}", answer.body);
    }
    // DELETE is a deactivation too.
    assert_eq!(scim.delete(&format!("/Users/{}", ids[12])).await.status, 204);
    let scim = &scim;
    let status = |n: usize| async move { scim.person(app, &format!("burst{n}@okta.local")).await.unwrap().status };
    for n in 0..9 {
        assert_eq!(status(n).await, Status::Deactivated, "the first nine pass");
    }
    for n in 9..13 {
        assert_ne!(status(n).await, Status::Deactivated, "beyond the guard they wait");
    }
    assert_eq!(scim.get(&format!("/Users/{}", ids[10])).await.body["active"], json!(false), "the client reads back what it wrote");
    let waiting = app.state.store.pending_deactivations(scim.org).await.unwrap();
    assert_eq!(waiting.len(), 4);
    let notices = app.state.store.emails(scim.org, 100).await.unwrap();
    let notices: Vec<_> = notices.iter().filter(|e| matches!(e.email, roster_store::OutgoingEmail::DeactivationsWaiting { .. })).collect();
    assert_eq!(notices.len(), 1, "the owner hears once, when the first deactivation waits");

    // Active again before anyone decides: that one no longer waits.
    let back = scim.patch(&format!("/Users/{}", ids[11]), json!([{"op": "replace", "value": {"active": true}}])).await;
    assert_eq!(back.status, 200);
    assert_eq!(app.state.store.pending_deactivations(scim.org).await.unwrap().len(), 3);

    // The owner sees them on the SCIM page and deactivates them.
    let owner = app
        .state
        .store
        .search_people(scim.org, &roster_core::query::PersonQuery::new(Some(roster_core::query::PersonFilter::Role(Role::Owner)), 0, 5))
        .await
        .unwrap()
        .people;
    let password = roster_app::admin::reset_password(&app.state, scim.org, owner[0].id).await.unwrap();
    let client = app.signed_in("acme", owner[0].email.as_str(), &password).await;
    let page = client.get(app.url("acme", "/settings/scim")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"waiting-deactivations\"") && page.contains("burst9@okta.local"), "{page}");
    let csrf = crate::support::form_token(&page);
    let unconfirmed = client.post(app.url("acme", "/settings/scim/waiting/apply")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(unconfirmed.status(), 400);
    let applied =
        client.post(app.url("acme", "/settings/scim/waiting/apply")).form(&[("_csrf", csrf.as_str()), ("confirm", "yes")]).send().await.unwrap();
    assert_eq!(applied.status(), 303);
    for n in [9, 10, 12] {
        assert_eq!(status(n).await, Status::Deactivated, "applied by the admin");
    }
    assert_ne!(status(11).await, Status::Deactivated);
    assert!(app.state.store.pending_deactivations(scim.org).await.unwrap().is_empty());
    let person = scim.person(app, "burst9@okta.local").await.unwrap();
    let trail = app.state.store.audit_for_person(scim.org, person.id, 20).await.unwrap();
    assert!(trail.iter().any(|a| a.action == "user.deactivated" && a.actor == format!("person:{}", owner[0].id)), "the admin's change");
    assert!(trail.iter().any(|a| a.action == "user.deactivation_applied"));
}
on_both_backends!(a_scim_deactivation_burst_waits_for_an_admin, deactivation_burst);

/// The SCIM page sets the tokens' rate limit, and deletes the connection keeping or
/// deactivating the people it provisioned; a deleted connection's tokens stop working.
async fn rate_limit_and_deletion(app: &TestApp) {
    let scim = Scim::new(app, "acme").await;
    for name in ["ada", "bob"] {
        assert_eq!(scim.post("/Users", okta_user(&format!("{name}@okta.local"), name, "Person")).await.status, 201);
    }
    let owner = &app
        .state
        .store
        .search_people(scim.org, &roster_core::query::PersonQuery::new(Some(roster_core::query::PersonFilter::Role(Role::Owner)), 0, 5))
        .await
        .unwrap()
        .people[0];
    let password = roster_app::admin::reset_password(&app.state, scim.org, owner.id).await.unwrap();
    let client = app.signed_in("acme", owner.email.as_str(), &password).await;
    let page = client.get(app.url("acme", "/settings/scim")).send().await.unwrap().text().await.unwrap();
    let csrf = crate::support::form_token(&page);
    let post = |path: &str, form: Vec<(&'static str, String)>| client.post(app.url("acme", path)).form(&form).send();

    let refused = post("/settings/scim/rate", vec![("_csrf", csrf.clone()), ("rate", "0".into())]).await.unwrap();
    assert!(refused.text().await.unwrap().contains("Give a rate between 1 and 10000"));
    let saved = post("/settings/scim/rate", vec![("_csrf", csrf.clone()), ("rate", "50".into())]).await.unwrap();
    assert_eq!(saved.status(), 303);
    let connection = scim_connection(app, scim.org).await;
    assert_eq!(ScimSettings::from_connection(&connection).unwrap().rate_per_second(), 50.0);
    assert!(connection.settings.get("guard").is_some() || connection.settings.get("invitations").is_some(), "the other settings stay");

    // Revoking a token asks for confirmation too.
    let token = app.state.store.scim_tokens(scim.org).await.unwrap()[0].id;
    let unticked = post(&format!("/settings/scim/tokens/{token}/revoke"), vec![("_csrf", csrf.clone())]).await.unwrap();
    assert_eq!(unticked.status(), 400);
    assert_eq!(scim.get("/Users").await.status, 200, "the token still works");

    // Deleting asks for confirmation, then keeps the people, unlinked; the token is dead.
    let unticked = post("/settings/scim/delete", vec![("_csrf", csrf.clone()), ("people", "keep".into())]).await.unwrap();
    assert_eq!(unticked.status(), 400);
    let deleted = post("/settings/scim/delete", vec![("_csrf", csrf.clone()), ("people", "keep".into()), ("confirm", "yes".into())]).await.unwrap();
    assert_eq!(deleted.headers()["location"], "/o/acme/settings/scim?deleted=keep");
    assert_eq!(scim.get("/Users").await.status, 401, "its tokens stop working");
    let ada = scim.person(app, "ada@okta.local").await.unwrap();
    assert!(ada.source.is_none() && ada.status != Status::Deactivated, "kept, managed by hand");

    // A new connection provisions again; deleting it with its people deactivates them.
    let again = Scim { token: create_token(&app.state, scim.org, "again", &Actor::Cli).await.unwrap().raw, ..scim };
    assert_eq!(again.post("/Users", okta_user("cy@okta.local", "Cy", "Person")).await.status, 201);
    let deleted =
        post("/settings/scim/delete", vec![("_csrf", csrf.clone()), ("people", "deactivate".into()), ("confirm", "yes".into())]).await.unwrap();
    assert_eq!(deleted.status(), 303);
    assert_eq!(again.person(app, "cy@okta.local").await.unwrap().status, Status::Deactivated);
    assert_ne!(again.person(app, "ada@okta.local").await.unwrap().status, Status::Deactivated, "people it never provisioned stay");
}
on_both_backends!(scim_rate_limit_and_deletion, rate_limit_and_deletion);
