//! The management API under `/api/v1`: rate limit, SSWS authentication, injected faults, then
//! routing. Every answer carries its bucket's rate-limit headers.

use std::ops::Bound;

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use chrono::Utc;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::errors::{invalid_token, method_not_allowed, not_found, validation_failed, OktaResponse};
use super::limits::{throttled, Bucket, RateHeaders};
use super::org::{app_user_json, user_json};
use super::{lock, OktaRequest, OktaSim, OrgState, MAX_RECORDS};

const DEFAULT_LIMIT: usize = 50;
/// §5: "`limit` max 500". A larger value is not an error: the page is capped at 500, as the
/// spec's `maximum` means, and the links keep the limit the client asked for.
const MAX_LIMIT: usize = 500;

/// One API call, parsed.
struct Call {
    method: Method,
    /// Decoded segments below `/api/v1`.
    segments: Vec<String>,
    path: String,
    query: Vec<(String, String)>,
    /// `http://host[:port]`, from the request's Host, for links.
    origin: String,
}

impl Call {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// This request's URL with `after` replaced, or without it for `None`.
    fn url_with_after(&self, after: Option<&str>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.query.iter().filter(|(k, _)| k != "after") {
            query.append_pair(k, v);
        }
        if let Some(cursor) = after {
            query.append_pair("after", cursor);
        }
        let query = query.finish();
        if query.is_empty() {
            format!("{}{}", self.origin, self.path)
        } else {
            format!("{}{}?{query}", self.origin, self.path)
        }
    }
}

/// Path segments arrive percent-encoded (`%40` in a login); `+` stays `+`, unlike in a query.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn entry(State(sim): State<OktaSim>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let rest = uri.path().strip_prefix("/api/v1").unwrap_or(uri.path());
    let call = Call {
        method: method.clone(),
        segments: rest.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect(),
        path: uri.path().to_string(),
        query: url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect(),
        origin: format!("http://{host}"),
    };
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let mut s = lock(&sim.state);
    let resp = handle(&mut s, &call, authorization);
    if s.requests.len() >= MAX_RECORDS {
        s.requests.drain(..MAX_RECORDS / 2);
    }
    let path = uri.path_and_query().map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
    s.requests.push(OktaRequest { method: method.to_string(), path, status: resp.status, at: Utc::now() });
    drop(s);
    resp.into_response()
}

fn handle(s: &mut OrgState, call: &Call, authorization: Option<&str>) -> OktaResponse {
    // Every request counts against its bucket, refused ones included.
    let (bucket_headers, allowed) = s.limits.charge(Bucket::for_path(&call.path));
    let resp = if !allowed {
        throttled(bucket_headers)
    } else if !authorized(&s.org.api_token, authorization) {
        invalid_token()
    } else if let Some(fault) = s.faults.take(bucket_headers) {
        fault
    } else {
        route(s, call)
    };
    let rate: RateHeaders = resp.rate.unwrap_or(bucket_headers);
    rate.pairs().into_iter().fold(resp, |r, (name, value)| r.with_header(name, value))
}

/// `Authorization: SSWS <token>`, compared in constant time.
fn authorized(token: &str, header: Option<&str>) -> bool {
    let Some((scheme, presented)) = header.and_then(|h| h.trim().split_once(' ')) else { return false };
    scheme.eq_ignore_ascii_case("SSWS") && bool::from(presented.trim().as_bytes().ct_eq(token.as_bytes()))
}

fn route(s: &OrgState, call: &Call) -> OktaResponse {
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let known = matches!(segs.as_slice(), ["apps", _, "users"] | ["apps", _, "users", _] | ["users", _]);
    if !known {
        return not_found(&call.path, "Resource");
    }
    if call.method != Method::GET {
        return method_not_allowed();
    }
    match segs.as_slice() {
        ["apps", app_id, "users"] => list_app_users(s, call, app_id),
        ["apps", app_id, "users", user_id] => get_app_user(s, call, app_id, user_id),
        ["users", id] => get_user(s, call, id),
        _ => not_found(&call.path, "Resource"),
    }
}

fn expand_user(call: &Call) -> bool {
    call.param("expand").is_some_and(|e| e.split(',').any(|part| part.trim() == "user"))
}

/// `GET /api/v1/apps/{appId}/users`: AppUsers in user-id order. The `after` cursor is the last
/// id of the previous page (as in the reference's example), so the walk stays stable while
/// users are assigned or removed between pages.
fn list_app_users(s: &OrgState, call: &Call, app_id: &str) -> OktaResponse {
    if app_id != s.org.app_id {
        return not_found(app_id, "AppInstance");
    }
    let limit = match call.param("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_LIMIT),
            _ => return validation_failed("limit", "must be a number between 1 and 500"),
        },
    };
    let start = call.param("after").map_or(Bound::Unbounded, |after| Bound::Excluded(after.to_string()));
    let mut page: Vec<(&String, &super::org::Assignment)> = s.org.assignments.range((start, Bound::Unbounded)).take(limit + 1).collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let expand = expand_user(call);
    let rows: Vec<Value> =
        page.iter().filter_map(|(id, a)| s.org.users.get(*id).map(|u| app_user_json(u, a, &s.org, &call.origin, expand))).collect();
    let mut resp = OktaResponse::json(200, Value::Array(rows));
    let self_url = call.url_with_after(call.param("after"));
    resp = resp.with_header("link", format!("<{self_url}>; rel=\"self\""));
    if let (true, Some((last, _))) = (more, page.last()) {
        resp = resp.with_header("link", format!("<{}>; rel=\"next\"", call.url_with_after(Some(last))));
    }
    resp
}

fn get_app_user(s: &OrgState, call: &Call, app_id: &str, user_id: &str) -> OktaResponse {
    if app_id != s.org.app_id {
        return not_found(app_id, "AppInstance");
    }
    match (s.org.users.get(user_id), s.org.assignments.get(user_id)) {
        (Some(user), Some(a)) => OktaResponse::json(200, app_user_json(user, a, &s.org, &call.origin, expand_user(call))),
        _ => not_found(user_id, "AppUser"),
    }
}

fn get_user(s: &OrgState, call: &Call, id: &str) -> OktaResponse {
    match s.org.find_user(id) {
        Some(user) => OktaResponse::json(200, user_json(user, &s.org, &call.origin)),
        None => not_found(id, "User"),
    }
}
