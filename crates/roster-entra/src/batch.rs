//! JSON batching: up to 20 requests per round trip. Saves round trips, not throttle budget:
//! each inner request is throttled on its own, so inner 429s are retried alone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::calls::user_purpose;
use crate::client::{GraphClient, Purpose, Reply};
use crate::config::parse_retry_after;
use crate::model::PhotoMeta;
use crate::GraphError;

/// Graph's limit per `$batch`.
pub const MAX_BATCH: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    pub id: String,
    /// Relative to the version root, e.g. `/users/{id}/manager?$select=id`.
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl BatchRequest {
    pub fn get(id: impl Into<String>, url: impl Into<String>) -> Self {
        Self { id: id.into(), url: url.into(), headers: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    pub id: String,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl BatchResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Binary bodies (`$value`) arrive base64-encoded inside the batch.
    pub fn binary_body(&self) -> Option<Vec<u8>> {
        STANDARD.decode(self.body.as_str()?).ok()
    }

    pub(crate) fn error(&self, purpose: &Purpose, attempts: u32) -> GraphError {
        let reply = Reply { status: self.status, headers: HeaderMap::new(), body: self.body.to_string().into_bytes(), attempts };
        purpose.error(&reply)
    }
}

fn parse_response(v: &Value) -> Option<BatchResponse> {
    let id = match v.get("id")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let status = u16::try_from(v.get("status")?.as_u64()?).ok()?;
    let headers = v
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| h.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default();
    Some(BatchResponse { id, status, headers, body: v.get("body").cloned().unwrap_or(Value::Null) })
}

impl GraphClient {
    /// Runs the requests in `$batch`es of 20 and returns every answer by id. Inner 429, 503
    /// and 504 answers are sent again alone after their own Retry-After, within the policy;
    /// what is still failing after that is returned as it stands.
    pub async fn batch(&self, requests: &[BatchRequest]) -> Result<BTreeMap<String, BatchResponse>, GraphError> {
        let mut out = BTreeMap::new();
        for chunk in requests.chunks(MAX_BATCH) {
            self.batch_chunk(chunk, &mut out).await?;
        }
        Ok(out)
    }

    async fn batch_chunk(&self, chunk: &[BatchRequest], out: &mut BTreeMap<String, BatchResponse>) -> Result<(), GraphError> {
        let policy = self.config().retry.clone();
        let purpose = Purpose { permission: "User.Read.All", action: "send batched requests", group_id: None, what: "batch" };
        let started = Instant::now();
        let mut pending: Vec<&BatchRequest> = chunk.iter().collect();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            attempt += 1;
            let requests: Vec<Value> = pending
                .iter()
                .map(|r| {
                    let headers: serde_json::Map<String, Value> = r.headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                    json!({"id": r.id, "method": "GET", "url": r.url, "headers": headers})
                })
                .collect();
            let url = self.graph_url(&["$batch"], &[])?;
            let reply = self.send(Method::POST, url, &[], Some(&json!({ "requests": requests }))).await?;
            if !reply.ok() {
                return Err(purpose.error(&reply));
            }
            let body = reply.json()?;
            let answers: Vec<BatchResponse> = body
                .get("responses")
                .and_then(Value::as_array)
                .ok_or_else(|| GraphError::InvalidResponse("a $batch answer has no responses".into()))?
                .iter()
                // An unreadable answer is dropped here and its request then fails below as unanswered.
                .filter_map(parse_response)
                .collect();
            let mut retry = Vec::new();
            let mut wait: Option<Duration> = None;
            let mut throttled = 0;
            for req in &pending {
                let answer = answers
                    .iter()
                    .find(|a| a.id == req.id)
                    .ok_or_else(|| GraphError::InvalidResponse(format!("$batch answer lacks request '{}'", req.id)))?;
                if matches!(answer.status, 429 | 503 | 504) {
                    throttled += u64::from(answer.status == 429);
                    let ra = answer.header("Retry-After").and_then(parse_retry_after);
                    wait = wait.max(ra).or(ra);
                    retry.push(*req);
                }
                out.insert(req.id.clone(), answer.clone());
            }
            self.count_throttled(throttled);
            if retry.is_empty() {
                break;
            }
            let delay = policy.scaled(wait.unwrap_or_else(|| policy.backoff(attempt)));
            if attempt >= policy.max_attempts || started.elapsed() + delay > policy.total_budget {
                break;
            }
            self.count_retry();
            tokio::time::sleep(delay).await;
            pending = retry;
        }
        Ok(())
    }

    /// Runs one GET per user in `$batch`es and keeps only what `read` makes of each answer, a
    /// batch at a time: raw answers (JSON bodies, headers) of 100,000 users never sit in memory
    /// together.
    pub(crate) async fn per_user<T>(
        &self,
        user_ids: &[String],
        path: impl Fn(&str) -> String,
        mut read: impl FnMut(&BatchResponse) -> Result<T, GraphError>,
    ) -> Result<BTreeMap<String, T>, GraphError> {
        let mut out = BTreeMap::new();
        let mut answers = BTreeMap::new();
        for chunk in user_ids.chunks(MAX_BATCH) {
            let requests: Vec<BatchRequest> = chunk.iter().enumerate().map(|(i, u)| BatchRequest::get(i.to_string(), path(u))).collect();
            self.batch_chunk(&requests, &mut answers).await?;
            for (i, user) in chunk.iter().enumerate() {
                let answer = answers.get(&i.to_string()).ok_or_else(|| GraphError::InvalidResponse("missing batch answer".into()))?;
                out.insert(user.clone(), read(answer)?);
            }
            answers.clear();
        }
        Ok(out)
    }

    /// Managers of many users in batches: `None` for users without one.
    pub async fn managers(&self, user_ids: &[String]) -> Result<BTreeMap<String, Option<String>>, GraphError> {
        let purpose = user_purpose("read users' managers", "manager");
        let attempts = self.config().retry.max_attempts;
        self.per_user(
            user_ids,
            |u| format!("/users/{u}/manager?$select=id"),
            |answer| match answer.status {
                404 => Ok(None),
                _ if answer.ok() => Ok(answer.body.get("id").and_then(Value::as_str).map(str::to_string)),
                _ => Err(answer.error(&purpose, attempts)),
            },
        )
        .await
    }

    /// How users appear to an admin: "display name <UPN>", or `None` for users
    /// that no longer exist. For naming people a report mentions (managers outside the group).
    pub async fn display_names(&self, user_ids: &[String]) -> Result<BTreeMap<String, Option<String>>, GraphError> {
        let purpose = user_purpose("read users' names", "name");
        let attempts = self.config().retry.max_attempts;
        self.per_user(
            user_ids,
            |u| format!("/users/{u}?$select=id,displayName,userPrincipalName"),
            |answer| match answer.status {
                404 => Ok(None),
                _ if answer.ok() => {
                    let text = |key: &str| answer.body.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
                    Ok(match (text("displayName"), text("userPrincipalName")) {
                        (Some(name), Some(upn)) => Some(format!("{name} <{upn}>")),
                        (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
                        (None, None) => None,
                    })
                }
                _ => Err(answer.error(&purpose, attempts)),
            },
        )
        .await
    }

    /// Photo metadata of many users in batches: `None` for users without a photo.
    pub async fn photo_metas(&self, user_ids: &[String]) -> Result<BTreeMap<String, Option<PhotoMeta>>, GraphError> {
        let purpose = user_purpose("read profile photos", "photo");
        let attempts = self.config().retry.max_attempts;
        self.per_user(
            user_ids,
            |u| format!("/users/{u}/photo"),
            |answer| match answer.status {
                404 => Ok(None),
                _ if answer.ok() => Ok(PhotoMeta::from_json(&answer.body)),
                _ => Err(answer.error(&purpose, attempts)),
            },
        )
        .await
    }
}
