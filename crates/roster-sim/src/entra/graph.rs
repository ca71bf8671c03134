//! Graph v1.0 entry point: authentication, injected faults, throttling, then routing. `$batch`
//! sends each inner request through the same pipeline, so each one is throttled on its own.
//! Creating a subscription is the one call that lets go of the state midway: it waits for the
//! client's endpoints to answer the validation requests.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::delta::{self, DeltaKind};
use super::errors::{graph_error, server_error, too_many_requests, unauthorized, Body, GraphResponse};
use super::odata::{percent_decode, Query};
use super::throttle::{request_cost, Charge, RetryAfter, RetryAfterStyle, RuBucket, TenantSize};
use super::{batch, groups, lock, photo, subscription_create, subscriptions, users, EntraSim, RequestRecord, SimState, MAX_RECORDS};

pub const USER_READ: &[&str] = &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
pub const GROUP_MEMBER_READ: &[&str] =
    &["GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"];

pub fn has_any(s: &SimState, permissions: &[&str]) -> bool {
    permissions.iter().any(|p| s.tenant.app.granted.contains(*p))
}

/// One Graph call, parsed.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// Path below `/v1.0`, e.g. `/groups/{id}/members`.
    pub path: String,
    pub segments: Vec<String>,
    pub query: Query,
    pub raw_query: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// `http://host:port/v1.0`, for links.
    pub base: String,
    pub in_batch: bool,
    /// The JSON body, if any (`Some(Null)` when it is not JSON).
    pub body: Option<serde_json::Value>,
}

impl Call {
    pub fn new(method: &str, path: &str, raw_query: &str, headers: Vec<(String, String)>, base: String, in_batch: bool) -> Call {
        let segments: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
        let path = format!("/{}", segments.join("/"));
        Call {
            method: method.to_ascii_uppercase(),
            path,
            segments,
            query: Query::parse(raw_query),
            raw_query: raw_query.to_string(),
            headers,
            base,
            in_batch,
            body: None,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `ConsistencyLevel: eventual`, which advanced queries need on every request.
    pub fn eventual(&self) -> bool {
        self.header("consistencylevel").is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
    }
}

/// Who is calling, from the bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
    pub tenant_id: String,
}

pub async fn entry(State(sim): State<EntraSim>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let pairs: Vec<(String, String)> =
        headers.iter().filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_ascii_lowercase(), v.to_string()))).collect();
    let path = uri.path().strip_prefix("/v1.0").unwrap_or(uri.path());
    let mut call = Call::new(method.as_str(), path, uri.query().unwrap_or(""), pairs, format!("http://{host}/v1.0"), false);
    if !body.is_empty() {
        call.body = Some(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
    }
    if subscriptions::is_create(&call) {
        return into_response(subscription_create::create(&sim, &call).await);
    }
    let mut s = lock(&sim.state);
    expire_if_due(&mut s);
    let response = match authenticate(&s, &call) {
        Err(denied) => {
            record(&mut s, &call, denied.status);
            denied
        }
        Ok(caller) if call.segments.len() == 1 && call.segments[0] == "$batch" => {
            if call.method != "POST" {
                method_not_allowed()
            } else {
                let outer = batch::handle(&mut s, &call, &caller, &body);
                record(&mut s, &call, outer.status);
                outer
            }
        }
        Ok(caller) => process(&mut s, &call, &caller),
    };
    into_response(response)
}

fn expire_if_due(s: &mut SimState) {
    match s.faults.expire_tokens_after {
        Some(0) => {
            s.faults.expire_tokens_after = None;
            let now = Instant::now();
            for token in s.tokens.values_mut() {
                token.expires_at = token.expires_at.min(now);
            }
        }
        Some(n) => s.faults.expire_tokens_after = Some(n - 1),
        None => {}
    }
}

fn authenticate(s: &SimState, call: &Call) -> Result<Caller, GraphResponse> {
    let Some(auth) = call.header("authorization") else {
        return Err(unauthorized("Access token is empty."));
    };
    let Some(token) = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")) else {
        return Err(unauthorized("Access token is empty."));
    };
    let Some(issued) = s.tokens.get(token.trim()) else {
        return Err(unauthorized("IDX14100: JWT is not well formed, there are no dots (.)."));
    };
    if issued.expires_at <= Instant::now() {
        return Err(unauthorized("Lifetime validation failed, the token is expired."));
    }
    if issued.tenant_id != s.tenant.id || issued.client_id != s.tenant.app.client_id {
        return Err(unauthorized("Access token validation failure. Invalid audience."));
    }
    Ok(Caller { client_id: issued.client_id.clone(), tenant_id: issued.tenant_id.clone() })
}

pub fn record(s: &mut SimState, call: &Call, status: u16) {
    if s.requests.len() >= MAX_RECORDS {
        s.requests.drain(..MAX_RECORDS / 2);
    }
    s.requests.push(RequestRecord {
        method: call.method.clone(),
        path: call.path.clone(),
        query: call.raw_query.clone(),
        status,
        consistency_level: call.header("consistencylevel").map(str::to_string),
        in_batch: call.in_batch,
    });
}

fn with_retry_after(resp: GraphResponse, retry_after: RetryAfter) -> GraphResponse {
    match retry_after.header_value() {
        Some(v) => resp.with_header("Retry-After", v),
        None => resp,
    }
}

/// Faults, throttling and routing for one (possibly inner) request; records the outcome.
pub fn process(s: &mut SimState, call: &Call, caller: &Caller) -> GraphResponse {
    let response = pipeline(s, call, caller);
    record(s, call, response.status);
    response
}

fn pipeline(s: &mut SimState, call: &Call, caller: &Caller) -> GraphResponse {
    let extra_headers = match admit(s, call, caller) {
        Ok(headers) => headers,
        Err(refused) => return refused,
    };
    let mut resp = route(s, call);
    resp.headers.extend(extra_headers);
    resp
}

/// Authentication, injected faults and throttling for a call served outside [`process`] (one
/// that must release the lock midway); a refusal is recorded here.
pub fn admit_direct(s: &mut SimState, call: &Call) -> Result<Vec<(String, String)>, GraphResponse> {
    expire_if_due(s);
    let outcome = authenticate(s, call).and_then(|caller| admit(s, call, &caller));
    if let Err(refused) = &outcome {
        record(s, call, refused.status);
    }
    outcome
}

/// Injected faults, then the RU bucket: the refusal to answer, or the headers to add.
fn admit(s: &mut SimState, call: &Call, caller: &Caller) -> Result<Vec<(String, String)>, GraphResponse> {
    if let Some((status, retry_after)) = s.faults.next.pop_front() {
        return Err(with_retry_after(server_error(status), retry_after));
    }
    if call.query.has("skiptoken") {
        if let Some(status) = s.faults.next_page.pop_front() {
            return Err(server_error(status));
        }
    }
    let mut extra_headers = Vec::new();
    let throttling = s.faults.throttling;
    if throttling.enabled {
        let segments: Vec<&str> = call.segments.iter().map(String::as_str).collect();
        let top = call.query.top().ok().flatten();
        let cost = request_cost(&segments, call.query.has("select"), call.query.has("expand"), top);
        let limit = throttling.limit_override.unwrap_or_else(|| TenantSize::for_users(s.tenant.user_count()).ru_per_window());
        let now = Instant::now();
        let bucket =
            s.buckets.entry((caller.client_id.clone(), caller.tenant_id.clone())).or_insert_with(|| RuBucket::new(limit, throttling.window, now));
        extra_headers.push(("x-ms-resource-unit".to_string(), cost.to_string()));
        match bucket.charge(cost, now) {
            Charge::Throttled { retry_after, usage } => {
                let secs = retry_after.as_secs_f64();
                let ra = match throttling.retry_after {
                    RetryAfterStyle::Integer => RetryAfter::Integer(secs.ceil().max(1.0) as u64),
                    RetryAfterStyle::Fractional => RetryAfter::Fractional(secs.max(0.001)),
                    RetryAfterStyle::Missing => RetryAfter::Missing,
                };
                let mut resp = with_retry_after(too_many_requests(), ra)
                    .with_header("x-ms-throttle-scope", format!("Tenant_Application/ReadWrite/{}/{}", caller.client_id, caller.tenant_id))
                    .with_header("x-ms-throttle-information", "ResourceUnitLimitExceeded")
                    .with_header("x-ms-throttle-limit-percentage", format!("{:.1}", usage.clamp(0.8, 1.8)));
                resp.headers.extend(extra_headers);
                return Err(resp);
            }
            Charge::Allowed { usage } => {
                if usage > 0.8 {
                    extra_headers.push(("x-ms-throttle-limit-percentage".into(), format!("{:.1}", usage.min(1.8))));
                }
            }
        }
    }
    Ok(extra_headers)
}

fn method_not_allowed() -> GraphResponse {
    graph_error(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

fn route(s: &mut SimState, call: &Call) -> GraphResponse {
    if call.segments.first().is_some_and(|p| p.eq_ignore_ascii_case("subscriptions")) {
        return subscriptions::route(s, call);
    }
    if call.method != "GET" {
        return method_not_allowed();
    }
    let segs: Vec<String> = call.segments.clone();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.as_slice() {
        ["organization"] => organization(s),
        ["users"] => users::list_users(s, call),
        ["users", "delta"] => delta::handle(s, call, DeltaKind::Users),
        ["users", _] => users::get_user(s, call, &segs[1]),
        ["users", _, "manager"] => users::get_manager(s, call, &segs[1]),
        ["users", _, "memberof"] => groups::list_member_of(s, call, &segs[1], false),
        ["users", _, "transitivememberof"] => groups::list_member_of(s, call, &segs[1], true),
        ["users", _, "photo"] => photo::photo_meta(s, call, &segs[1]),
        ["users", _, "photo", "$value"] => photo::photo_value(s, &segs[1]),
        ["groups"] => groups::list_groups(s, call),
        ["groups", "delta"] => delta::handle(s, call, DeltaKind::Groups),
        ["groups", _] => groups::get_group(s, call, &segs[1]),
        ["groups", _, "members"] => groups::list_members(s, call, &segs[1], false, None),
        ["groups", _, "members", _] => groups::list_members(s, call, &segs[1], false, Some(&segs[3])),
        ["groups", _, "transitivemembers"] => groups::list_members(s, call, &segs[1], true, None),
        ["groups", _, "transitivemembers", _] => groups::list_members(s, call, &segs[1], true, Some(&segs[3])),
        _ => graph_error(400, "BadRequest", &format!("Resource not found for the segment '{}'.", segs.last().map_or("", String::as_str))),
    }
}

/// `GET /organization`: the tenant, for apps granted Organization.Read.All or Directory.Read.All.
fn organization(s: &SimState) -> GraphResponse {
    if !has_any(s, &["Organization.Read.All", "Directory.Read.All"]) {
        return super::errors::forbidden();
    }
    let tenant = &s.tenant;
    let body = serde_json::json!({ "value": [{
        "id": tenant.id,
        "displayName": tenant.display_name(),
        "verifiedDomains": [{ "name": tenant.domain, "isDefault": true, "isInitial": true }],
    }]});
    GraphResponse::json(200, body)
}

pub fn into_response(resp: GraphResponse) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = match resp.body {
        Body::Empty => status.into_response(),
        Body::Json(value) => (status, axum::Json(value)).into_response(),
        Body::Binary { content_type, bytes } => (status, [(axum::http::header::CONTENT_TYPE, content_type)], Bytes::from(bytes)).into_response(),
    };
    for (name, value) in resp.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(&value)) {
            out.headers_mut().append(n, v);
        }
    }
    out
}
