//! `POST /v1.0/$batch`: up to 20 requests, answered in any order, each on its own terms.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::seq::SliceRandom;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

use super::errors::{graph_error, Body, GraphResponse};
use super::graph::{process, Call, Caller};
use super::SimState;

pub const MAX_REQUESTS: usize = 20;

fn batch_error(message: &str) -> GraphResponse {
    graph_error(400, "BadRequest", message)
}

fn inner_error(id: &str, status: u16, code: &str, message: &str) -> Value {
    json!({"id": id, "status": status, "headers": {"Content-Type": "application/json"},
        "body": {"error": {"code": code, "message": message}}})
}

/// Turns an inner answer into its `$batch` form; binary bodies are base64, as Graph sends them.
fn render(id: &str, resp: GraphResponse) -> Value {
    let mut headers = Map::new();
    for (name, value) in &resp.headers {
        headers.insert(name.clone(), json!(value));
    }
    let body = match resp.body {
        Body::Empty => Value::Null,
        Body::Json(v) => {
            headers.insert("Content-Type".into(), json!("application/json; odata.metadata=minimal; charset=utf-8"));
            v
        }
        Body::Binary { content_type, bytes } => {
            headers.insert("Content-Type".into(), json!(content_type));
            json!(STANDARD.encode(bytes))
        }
    };
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("status".into(), json!(resp.status));
    out.insert("headers".into(), Value::Object(headers));
    out.insert("body".into(), body);
    Value::Object(out)
}

pub fn handle(s: &mut SimState, outer: &Call, caller: &Caller, body: &[u8]) -> GraphResponse {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return batch_error("Invalid batch payload format.");
    };
    let Some(requests) = parsed.get("requests").and_then(Value::as_array) else {
        return batch_error("Invalid batch payload format.");
    };
    if requests.is_empty() {
        return batch_error("Invalid batch payload format.");
    }
    if requests.len() > MAX_REQUESTS {
        return batch_error(&format!("The number of requests in a batch exceeds the maximum of {MAX_REQUESTS}."));
    }
    let mut ids = Vec::with_capacity(requests.len());
    for req in requests {
        let id = match req.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return batch_error("Invalid batch payload format: every request needs an id."),
        };
        if ids.contains(&id) {
            return batch_error(&format!("Batch request contains duplicate id '{id}'."));
        }
        if req.get("method").and_then(Value::as_str).is_none() || req.get("url").and_then(Value::as_str).is_none() {
            return batch_error(&format!("Request '{id}' must have a method and a url."));
        }
        ids.push(id);
    }

    let mut statuses: BTreeMap<String, u16> = BTreeMap::new();
    let mut responses = Vec::with_capacity(requests.len());
    for (req, id) in requests.iter().zip(&ids) {
        let depends: Vec<String> = match req.get("dependsOn") {
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        if let Some(unknown) = depends.iter().find(|d| !statuses.contains_key(*d)) {
            return batch_error(&format!("Request '{id}' depends on '{unknown}', which does not come before it."));
        }
        if depends.iter().any(|d| statuses.get(d).is_some_and(|st| *st >= 400)) {
            statuses.insert(id.clone(), 424);
            responses.push(inner_error(id, 424, "FailedDependency", "The request depends on a request that failed."));
            continue;
        }
        let method = req.get("method").and_then(Value::as_str).unwrap_or("GET");
        let url = req.get("url").and_then(Value::as_str).unwrap_or("");
        if url.contains("://") {
            statuses.insert(id.clone(), 400);
            responses.push(inner_error(id, 400, "BadRequest", "Batch request URLs must be relative."));
            continue;
        }
        let relative = url.trim_start_matches('/');
        let relative = relative.strip_prefix("v1.0/").unwrap_or(relative);
        let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
        let headers: Vec<(String, String)> = match req.get("headers") {
            Some(Value::Object(h)) => h.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.to_ascii_lowercase(), v.to_string()))).collect(),
            _ => Vec::new(),
        };
        let mut call = Call::new(method, path, query, headers, outer.base.clone(), true);
        call.body = req.get("body").cloned();
        let resp = if call.segments.first().is_some_and(|s| s == "$batch") {
            batch_error("A batch cannot contain another batch.")
        } else {
            process(s, &call, caller)
        };
        statuses.insert(id.clone(), resp.status);
        responses.push(render(id, resp));
    }
    // Graph answers in any order; clients must match on id.
    responses.shuffle(&mut s.rng);
    GraphResponse::json(200, json!({"responses": responses}))
}
