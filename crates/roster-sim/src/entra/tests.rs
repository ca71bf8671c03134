//! The simulator's own rules, checked through its router.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use base64::Engine;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;

pub(super) const HOST: &str = "sim.test";

pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) bytes: Vec<u8>,
}

impl Reply {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    pub(super) fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_string()
    }
}

pub(super) async fn send(sim: &EntraSim, req: Request<Body>) -> Reply {
    let resp = sim.router().oneshot(req).await.expect("router answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body").to_vec();
    Reply { status, headers, bytes }
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

async fn token_request(sim: &EntraSim, tenant: &str, pairs: &[(&str, &str)]) -> Reply {
    let req = Request::post(format!("/{tenant}/oauth2/v2.0/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form(pairs)))
        .expect("request");
    send(sim, req).await
}

pub(super) async fn token(sim: &EntraSim) -> String {
    let (id, secret) = (sim.client_id(), sim.client_secret());
    let reply = token_request(
        sim,
        &sim.tenant_id(),
        &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret), ("scope", "https://graph.microsoft.com/.default")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    reply.json()["access_token"].as_str().expect("token").to_string()
}

pub(super) async fn get(sim: &EntraSim, token: &str, path_and_query: &str, headers: &[(&str, &str)]) -> Reply {
    let uri = path_and_query.strip_prefix(&format!("http://{HOST}")).unwrap_or(path_and_query);
    let mut req = Request::get(uri).header("host", HOST).header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(sim, req.body(Body::empty()).expect("request")).await
}

pub(super) fn sim(users: usize) -> EntraSim {
    EntraSim::generate(TenantSpec { users, seed: 7, ..TenantSpec::default() })
}

#[tokio::test]
async fn generation_is_deterministic() {
    let (a, b) = (sim(30).info(), sim(30).info());
    assert_eq!(a.tenant_id, b.tenant_id);
    assert_eq!(a.member_user_ids, b.member_user_ids);
    assert_eq!(a.client_secret, b.client_secret);
    assert_ne!(a.tenant_id, EntraSim::generate(TenantSpec { seed: 8, ..TenantSpec::default() }).tenant_id());
}

#[tokio::test]
async fn token_success_shape() {
    let sim = sim(10);
    let (id, secret) = (sim.client_id(), sim.client_secret());
    let reply = token_request(
        &sim,
        &sim.info().domain,
        &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret), ("scope", "https://graph.microsoft.com/.default")],
    )
    .await;
    let body = reply.json();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body.get("refresh_token").is_none());
}

/// Tenant, form overrides, then the expected status, `error` and AADSTS code.
type TokenCase = (String, Vec<(&'static str, String)>, u16, &'static str, u64);

#[tokio::test]
async fn token_errors_have_their_codes_and_statuses() {
    let sim = sim(10);
    let (id, secret, tid) = (sim.client_id(), sim.client_secret(), sim.tenant_id());
    let scope = "https://graph.microsoft.com/.default";
    let cases: Vec<TokenCase> = vec![
        (tid.clone(), vec![("client_secret", "wrong".into())], 401, "invalid_client", 7000215),
        ("00000000-0000-0000-0000-000000000001".into(), vec![], 400, "invalid_request", 90002),
        ("nowhere.example.com".into(), vec![], 400, "invalid_request", 90002),
        ("not a tenant!".into(), vec![], 400, "invalid_request", 900023),
        ("common".into(), vec![], 400, "invalid_request", 9001023),
        (tid.clone(), vec![("client_id", "11111111-2222-3333-4444-555555555555".into())], 400, "unauthorized_client", 700016),
        (tid.clone(), vec![("scope", "User.Read.All".into())], 400, "invalid_scope", 1002012),
        (tid.clone(), vec![("grant_type", "password".into())], 400, "unsupported_grant_type", 70003),
    ];
    for (tenant, overrides, status, error, code) in cases {
        let mut pairs: Vec<(&str, String)> =
            vec![("grant_type", "client_credentials".into()), ("client_id", id.clone()), ("client_secret", secret.clone()), ("scope", scope.into())];
        for (k, v) in overrides {
            if let Some(p) = pairs.iter_mut().find(|(pk, _)| *pk == k) {
                p.1 = v;
            }
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = token_request(&sim, &urlencode_path(&tenant), &borrowed).await;
        let body = reply.json();
        assert_eq!(reply.status.as_u16(), status, "{tenant}: {body}");
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(body["error_codes"], json!([code]), "{body}");
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(description.starts_with(&format!("AADSTS{code}: ")), "{description}");
        assert!(description.contains("\r\nTrace ID: ") && description.contains("\r\nCorrelation ID: "));
    }
    sim.faults().expire_secret();
    let reply =
        token_request(&sim, &tid, &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret), ("scope", scope)]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["error_codes"], json!([7000222]));
}

fn urlencode_path(s: &str) -> String {
    s.replace(' ', "%20").replace('!', "%21")
}

#[tokio::test]
async fn tokens_are_checked_on_every_graph_call() {
    let sim = sim(10);
    let reply = get(&sim, "bogus", "/v1.0/users", &[]).await;
    assert_eq!((reply.status, reply.code().as_str()), (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"));
    let t = token(&sim).await;
    assert_eq!(get(&sim, &t, "/v1.0/users", &[]).await.status, StatusCode::OK);
    sim.faults().expire_tokens_now();
    let reply = get(&sim, &t, "/v1.0/users", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.bytes.windows(7).any(|w| w == b"expired"));
}

#[tokio::test]
async fn default_property_set_versus_select() {
    let sim = sim(10);
    let t = token(&sim).await;
    let uid = sim.info().member_user_ids[0].clone();
    let plain = get(&sim, &t, &format!("/v1.0/users/{uid}"), &[]).await.json();
    assert!(plain.get("accountEnabled").is_none() && plain.get("department").is_none(), "{plain}");
    assert!(plain.get("userPrincipalName").is_some() && plain.get("businessPhones").is_some());
    let selected = get(&sim, &t, &format!("/v1.0/users/{uid}?$select=id,accountEnabled,department"), &[]).await.json();
    assert_eq!(selected["accountEnabled"], true);
    assert!(selected.get("userPrincipalName").is_none(), "$select replaces the default set");
    let bad = get(&sim, &t, &format!("/v1.0/users/{uid}?$select=id,shoeSize"), &[]).await;
    assert_eq!((bad.status, bad.code().as_str()), (StatusCode::BAD_REQUEST, "Request_BadRequest"));
}

#[tokio::test]
async fn top_limits_and_missing_permission() {
    let sim = sim(10);
    let t = token(&sim).await;
    let g = sim.info().top_group_id;
    for top in ["0", "1000"] {
        let reply = get(&sim, &t, &format!("/v1.0/groups/{g}/members?$top={top}"), &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }
    sim.faults().revoke_permission("GroupMember.Read.All");
    let reply = get(&sim, &t, &format!("/v1.0/groups/{g}/members"), &[]).await;
    assert_eq!((reply.status, reply.code().as_str()), (StatusCode::FORBIDDEN, "Authorization_RequestDenied"));
}

/// Walks a list to its end, returning every value and the number of pages.
pub(super) async fn walk(sim: &EntraSim, t: &str, first: &str, headers: &[(&str, &str)]) -> (Vec<Value>, usize) {
    let (mut values, mut pages, mut next) = (Vec::new(), 0, Some(first.to_string()));
    while let Some(url) = next {
        let reply = get(sim, t, &url, headers).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {:?}", reply.json());
        let body = reply.json();
        pages += 1;
        values.extend(body["value"].as_array().cloned().unwrap_or_default());
        next = body["@odata.nextLink"].as_str().map(str::to_string);
    }
    (values, pages)
}

#[tokio::test]
async fn transitive_members_flatten_nested_groups_with_a_cycle() {
    let sim = sim(60);
    let t = token(&sim).await;
    let info = sim.info();
    let (values, pages) = walk(&sim, &t, &format!("/v1.0/groups/{}/transitiveMembers?$top=7&$select=id", info.top_group_id), &[]).await;
    assert!(pages > 5);
    let users: Vec<&str> = values.iter().filter(|v| v["@odata.type"] == "#microsoft.graph.user").filter_map(|v| v["id"].as_str()).collect();
    let mut unique = users.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), users.len(), "each user once");
    let mut expected: Vec<&str> = info.member_user_ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(unique, expected);
    let groups = values.iter().filter(|v| v["@odata.type"] == "#microsoft.graph.group").count();
    assert_eq!(groups, 3, "nested groups are listed too, the root is not");
}

#[tokio::test]
async fn direct_members_are_mixed_and_unflattened() {
    let sim = sim(20);
    let t = token(&sim).await;
    let info = sim.info();
    let (values, _) = walk(&sim, &t, &format!("/v1.0/groups/{}/members", info.top_group_id), &[]).await;
    let types: std::collections::BTreeSet<&str> = values.iter().filter_map(|v| v["@odata.type"].as_str()).collect();
    assert!(types.contains("#microsoft.graph.group") && types.contains("#microsoft.graph.orgContact"), "{types:?}");
    assert!(values.len() < info.member_user_ids.len() + 3);
}

#[tokio::test]
async fn advanced_cast_needs_header_and_count_on_every_page() {
    let sim = sim(30);
    let t = token(&sim).await;
    let g = sim.info().top_group_id;
    let base = format!("/v1.0/groups/{g}/transitiveMembers/microsoft.graph.user?$top=5");
    let reply = get(&sim, &t, &base, &[]).await;
    assert_eq!((reply.status, reply.code().as_str()), (StatusCode::BAD_REQUEST, "Request_UnsupportedQuery"));
    let url = format!("{base}&$count=true");
    let eventual = [("ConsistencyLevel", "eventual")];
    let first = get(&sim, &t, &url, &eventual).await.json();
    assert_eq!(first["@odata.count"], 30);
    let next = first["@odata.nextLink"].as_str().expect("more pages").to_string();
    let without = get(&sim, &t, &next, &[]).await;
    assert_eq!(without.status, StatusCode::BAD_REQUEST, "the header is not carried by the nextLink");
    let with = get(&sim, &t, &next, &eventual).await.json();
    assert!(with.get("@odata.count").is_none(), "count on page 1 only");
    let (values, _) = walk(&sim, &t, &url, &eventual).await;
    assert_eq!(values.len(), 30);
    assert!(values.iter().all(|v| v["@odata.type"] == "#microsoft.graph.user"));
    let bogus = get(&sim, &t, &format!("/v1.0/groups/{g}/members/microsoft.graph.printer"), &[]).await;
    assert_eq!(bogus.code(), "Request_UnsupportedQuery");
}

#[tokio::test]
async fn forced_empty_pages_still_link_on() {
    let sim = sim(12);
    let t = token(&sim).await;
    let (plain, plain_pages) = walk(&sim, &t, "/v1.0/users?$top=5&$select=id", &[]).await;
    sim.faults().empty_pages(true);
    let (values, pages) = walk(&sim, &t, "/v1.0/users?$top=5&$select=id", &[]).await;
    assert_eq!(values, plain, "the same users, empty pages in between");
    assert_eq!(pages, plain_pages * 2 - 1);
}

#[tokio::test]
async fn manager_and_photo_answers() {
    let sim = sim(20);
    let t = token(&sim).await;
    let info = sim.info();
    let boss = &info.member_user_ids[0];
    let reply = get(&sim, &t, &format!("/v1.0/users/{boss}/manager"), &[]).await;
    assert_eq!((reply.status, reply.code().as_str()), (StatusCode::NOT_FOUND, "Request_ResourceNotFound"));
    let report = &info.member_user_ids[1];
    let reply = get(&sim, &t, &format!("/v1.0/users/{report}/manager?$select=id"), &[]).await.json();
    assert_eq!(reply["id"].as_str(), sim.manager_of(report).as_deref());

    sim.set_photo(boss, vec![1, 2, 3]).expect("photo");
    let meta = get(&sim, &t, &format!("/v1.0/users/{boss}/photo"), &[]).await.json();
    let etag = meta["@odata.mediaEtag"].as_str().unwrap_or_default().to_string();
    assert!(etag.starts_with('"') && etag.len() == 10, "{etag}");
    let value = get(&sim, &t, &format!("/v1.0/users/{boss}/photo/$value"), &[]).await;
    assert_eq!(value.bytes, vec![1, 2, 3]);
    assert_eq!(value.headers["content-type"], "image/jpeg");
    sim.set_photo(boss, vec![4, 5, 6]).expect("photo");
    let meta = get(&sim, &t, &format!("/v1.0/users/{boss}/photo"), &[]).await.json();
    assert_ne!(meta["@odata.mediaEtag"].as_str(), Some(etag.as_str()), "etag follows the photo");
    sim.remove_photo(boss).expect("photo");
    for path in ["photo", "photo/$value"] {
        let reply = get(&sim, &t, &format!("/v1.0/users/{boss}/{path}"), &[]).await;
        assert_eq!((reply.status, reply.code().as_str()), (StatusCode::NOT_FOUND, "ImageNotFound"));
    }
}

async fn post_batch(sim: &EntraSim, t: &str, body: Value) -> Reply {
    let req = Request::post("/v1.0/$batch")
        .header("host", HOST)
        .header("authorization", format!("Bearer {t}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    send(sim, req).await
}

#[tokio::test]
async fn batch_rules() {
    let sim = sim(20);
    let t = token(&sim).await;
    let users = sim.info().member_user_ids;
    let many: Vec<Value> = (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users?$top=1"})).collect();
    assert_eq!(post_batch(&sim, &t, json!({"requests": many})).await.status, StatusCode::BAD_REQUEST);
    let dup = json!({"requests": [{"id": "1", "method": "GET", "url": "/users"}, {"id": "1", "method": "GET", "url": "/users"}]});
    assert_eq!(post_batch(&sim, &t, dup).await.status, StatusCode::BAD_REQUEST);

    sim.set_photo(&users[2], vec![9, 9, 9]).expect("photo");
    sim.faults().throttle_next(2, RetryAfter::Fractional(0.25));
    let requests: Vec<Value> = users[..10]
        .iter()
        .enumerate()
        .map(|(i, u)| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{u}/manager?$select=id")}))
        .chain([
            json!({"id": "photo", "method": "GET", "url": format!("/users/{}/photo/$value", users[2])}),
            json!({"id": "after", "method": "GET", "url": "/users?$top=1", "dependsOn": ["0"]}),
        ])
        .collect();
    let reply = post_batch(&sim, &t, json!({"requests": requests})).await;
    assert_eq!(reply.status, StatusCode::OK);
    let responses = reply.json()["responses"].as_array().cloned().unwrap_or_default();
    assert_eq!(responses.len(), 12);
    let order: Vec<&str> = responses.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_ne!(
        order,
        (0..10).map(|i| i.to_string()).chain(["photo".into(), "after".into()]).collect::<Vec<_>>().iter().map(String::as_str).collect::<Vec<_>>(),
        "shuffled"
    );
    let by_id = |id: &str| responses.iter().find(|r| r["id"] == id).cloned().unwrap_or(Value::Null);
    assert_eq!(by_id("0")["status"], 429, "the first inner requests are throttled on their own");
    assert_eq!(by_id("0")["headers"]["Retry-After"], "0.250");
    assert_eq!(by_id("1")["status"], 429);
    assert_eq!(by_id("after")["status"], 424, "a failed dependency");
    let photo = by_id("photo");
    assert_eq!(photo["status"], 200);
    let decoded = base64::engine::general_purpose::STANDARD.decode(photo["body"].as_str().unwrap_or_default()).expect("base64");
    assert_eq!(decoded, vec![9, 9, 9]);
}

#[tokio::test]
async fn ru_bucket_throttles_with_headers() {
    let sim = sim(10);
    let t = token(&sim).await;
    let g = sim.info().top_group_id;
    sim.faults().enable_throttling_with_limit(10, RetryAfterStyle::Fractional);
    let url = format!("/v1.0/groups/{g}/transitiveMembers");
    for _ in 0..2 {
        let ok = get(&sim, &t, &url, &[]).await;
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(ok.headers["x-ms-resource-unit"], "5");
    }
    let throttled = get(&sim, &t, &url, &[]).await;
    assert_eq!((throttled.status, throttled.code().as_str()), (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"));
    let retry: f64 = throttled.headers["retry-after"].to_str().unwrap_or_default().parse().expect("fractional");
    assert!(retry > 0.0);
    assert!(throttled.headers["x-ms-throttle-scope"].to_str().unwrap_or_default().starts_with("Tenant_Application/"));
    assert_eq!(throttled.headers["x-ms-throttle-information"], "ResourceUnitLimitExceeded");
    assert_eq!(throttled.json()["error"]["innerError"]["status"], "429");
}

#[tokio::test]
async fn admin_consent_redirects() {
    let sim = EntraSim::generate(TenantSpec { consented: false, ..TenantSpec::default() });
    let (id, tid) = (sim.client_id(), sim.tenant_id());
    let secret = sim.client_secret();
    let pairs = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    assert_eq!(token_request(&sim, &tid, &pairs).await.json()["error_codes"], json!([700016]), "not installed before consent");
    sim.set_admin_decision(AdminDecision::Deny);
    let uri = format!("/common/adminconsent?client_id={id}&state=xyz&redirect_uri=http%3A%2F%2Fapp.test%2Fcb");
    let reply = send(&sim, Request::get(&uri).body(Body::empty()).expect("req")).await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let location = reply.headers["location"].to_str().unwrap_or_default().to_string();
    assert!(location.contains("error=permission_denied") && location.contains("state=xyz"), "{location}");
    sim.set_admin_decision(AdminDecision::Approve);
    let reply = send(&sim, Request::get(&uri).body(Body::empty()).expect("req")).await;
    let location = reply.headers["location"].to_str().unwrap_or_default().to_string();
    assert!(location.contains(&format!("tenant={tid}")) && location.contains("admin_consent=True"), "{location}");
    assert_eq!(token_request(&sim, &tid, &pairs).await.status, StatusCode::OK);
}

#[tokio::test]
async fn members_without_user_permission_carry_ids_only() {
    let sim = sim(10);
    let t = token(&sim).await;
    sim.faults().revoke_permission("User.Read.All");
    let g = sim.info().top_group_id;
    let body = get(&sim, &t, &format!("/v1.0/groups/{g}/members?$select=id,userPrincipalName"), &[]).await.json();
    let user = body["value"].as_array().and_then(|v| v.iter().find(|m| m["@odata.type"] == "#microsoft.graph.user")).cloned().unwrap_or(Value::Null);
    assert!(user["id"].is_string(), "{user}");
    assert!(user["userPrincipalName"].is_null(), "{user}");
}

#[tokio::test]
async fn expand_manager_is_omitted_when_absent() {
    let sim = sim(10);
    let t = token(&sim).await;
    let info = sim.info();
    let body = get(&sim, &t, "/v1.0/users?$select=id&$expand=manager($select=id)&$top=999", &[]).await.json();
    let values = body["value"].as_array().cloned().unwrap_or_default();
    let first = values.iter().find(|u| u["id"] == info.member_user_ids[0].as_str()).cloned().unwrap_or(Value::Null);
    assert!(first.get("manager").is_none(), "{first}");
    let second = values.iter().find(|u| u["id"] == info.member_user_ids[1].as_str()).cloned().unwrap_or(Value::Null);
    assert_eq!(second["manager"]["id"].as_str(), sim.manager_of(&info.member_user_ids[1]).as_deref());
}

#[tokio::test]
async fn groups_are_found_by_words_of_their_name_with_the_advanced_query_header() {
    let sim = sim(10);
    let token = token(&sim).await;
    let search = "/v1.0/groups?$search=%22displayName:sta%22&$select=id,displayName";
    let refused = get(&sim, &token, search, &[]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["error"]["code"], "Request_UnsupportedQuery");
    let found = get(&sim, &token, search, &[("ConsistencyLevel", "eventual")]).await;
    assert_eq!(found.status, StatusCode::OK);
    let names: Vec<String> = found.json()["value"].as_array().unwrap().iter().map(|g| g["displayName"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["All Staff (Roster)"], "a word's start matches; the middle of one does not");
    let unquoted = get(&sim, &token, "/v1.0/groups?$search=displayName:sta", &[("ConsistencyLevel", "eventual")]).await;
    assert_eq!(unquoted.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_users_groups_include_those_it_is_in_through_nesting() {
    let sim = sim(30);
    let info = sim.info();
    let token = token(&sim).await;
    let user = info.users_in_two_groups.first().cloned().expect("the tenant has users in nested groups");
    let direct = get(&sim, &token, &format!("/v1.0/users/{user}/memberOf"), &[]).await.json();
    let transitive = get(&sim, &token, &format!("/v1.0/users/{user}/transitiveMemberOf"), &[]).await.json();
    let ids = |v: &Value| v["value"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(!ids(&direct).contains(&info.top_group_id), "not a direct member of the top group");
    assert!(ids(&transitive).contains(&info.top_group_id), "but in it through a nested group");
    assert_eq!(transitive["value"][0]["@odata.type"], "#microsoft.graph.group");
}
