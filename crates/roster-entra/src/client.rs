//! The HTTP core: token cache, retries that honour Retry-After, one token refresh on a 401,
//! and request counters.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use crate::config::{parse_retry_after, GraphConfig};
use crate::error::{graph_error_parts, token_error, GraphError};

/// A bearer token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

struct CachedToken {
    token: AccessToken,
    refresh_at: Instant,
}

/// Counts for the benchmark and the run history.
#[derive(Debug, Default)]
struct Counters {
    graph_requests: AtomicU64,
    token_requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestStats {
    /// HTTP requests sent to Graph (a `$batch` counts once).
    pub graph_requests: u64,
    pub token_requests: u64,
    /// Requests sent again after a 429, 5xx, 401 or network error.
    pub retries: u64,
    /// 429 answers received (inner `$batch` ones included).
    pub throttled: u64,
}

/// A finished HTTP exchange that was not retried further.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub attempts: u32,
}

impl Reply {
    pub fn json(&self) -> Result<Value, GraphError> {
        serde_json::from_slice(&self.body).map_err(|e| GraphError::InvalidResponse(format!("body is not JSON: {e}")))
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// What a call was for, so a failure can name the permission or object involved.
#[derive(Debug, Clone)]
pub(crate) struct Purpose {
    pub permission: &'static str,
    pub action: &'static str,
    /// Set when a 404 means "this group does not exist".
    pub group_id: Option<String>,
    pub what: &'static str,
}

impl Purpose {
    /// Turns a final non-2xx reply into the error an admin can act on.
    pub fn error(&self, reply: &Reply) -> GraphError {
        let (code, message) = graph_error_parts(&reply.body);
        match reply.status {
            403 => GraphError::MissingPermission { needed: self.permission.into(), action: self.action.into() },
            404 => match &self.group_id {
                Some(group_id) => GraphError::GroupNotFound { group_id: group_id.clone() },
                None => GraphError::NotFound { what: self.what.into() },
            },
            401 => GraphError::Unauthorized { code },
            429 => GraphError::Throttled { attempts: reply.attempts },
            500 | 502 | 503 | 504 => GraphError::Unavailable { status: reply.status, attempts: reply.attempts },
            status => GraphError::Rejected { status, code, message },
        }
    }
}

pub(crate) struct Inner {
    pub config: GraphConfig,
    http: reqwest::Client,
    token: Mutex<Option<CachedToken>>,
    counters: Counters,
}

/// Microsoft Graph client for one tenant and app registration. Cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient").field("config", &self.inner.config).finish()
    }
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or("the server").to_string()
}

impl GraphClient {
    pub fn new(config: GraphConfig) -> Result<GraphClient, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .user_agent(concat!("Roster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Config(format!("HTTP client: {e}")))?;
        Ok(GraphClient { inner: Arc::new(Inner { config, http, token: Mutex::new(None), counters: Counters::default() }) })
    }

    pub fn config(&self) -> &GraphConfig {
        &self.inner.config
    }

    pub fn stats(&self) -> RequestStats {
        let c = &self.inner.counters;
        RequestStats {
            graph_requests: c.graph_requests.load(Ordering::Relaxed),
            token_requests: c.token_requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
        }
    }

    /// "Graph requests made", for the benchmark.
    pub fn graph_requests(&self) -> u64 {
        self.inner.counters.graph_requests.load(Ordering::Relaxed)
    }

    pub(crate) fn count_throttled(&self, n: u64) {
        self.inner.counters.throttled.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn count_retry(&self) {
        self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// `graph_base` + path segments (each escaped) + query.
    pub(crate) fn graph_url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url, GraphError> {
        let mut url = self.inner.config.graph_base.clone();
        url.path_segments_mut().map_err(|()| GraphError::Config("the Graph base URL cannot take a path".into()))?.pop_if_empty().extend(segments);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// A nextLink is followed only on the Graph host, so the token never goes anywhere else.
    pub(crate) fn check_link(&self, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|e| GraphError::InvalidResponse(format!("bad nextLink: {e}")))?;
        if url.origin() != self.inner.config.graph_base.origin() {
            return Err(GraphError::InvalidResponse(format!("nextLink points at another host ({})", host_of(&url))));
        }
        Ok(url)
    }

    /// A valid token from the cache, or a new one.
    pub async fn access_token(&self) -> Result<AccessToken, GraphError> {
        let mut cached = self.inner.token.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let (token, lifetime) = self.fetch_token().await?;
        let margin = self.inner.config.retry.token_refresh_margin.min(lifetime / 2);
        *cached = Some(CachedToken { token: token.clone(), refresh_at: Instant::now() + lifetime.saturating_sub(margin) });
        Ok(token)
    }

    /// Drops the cached token if it is still the one that was just refused.
    async fn invalidate(&self, stale: &AccessToken) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == stale) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<(AccessToken, Duration), GraphError> {
        let cfg = &self.inner.config;
        let mut url = cfg.login_base.clone();
        url.path_segments_mut().map_err(|()| GraphError::Config("the login base URL cannot take a path".into()))?.pop_if_empty().extend([
            cfg.tenant.as_str(),
            "oauth2",
            "v2.0",
            "token",
        ]);
        let form = [
            ("client_id", cfg.client_id.as_str()),
            ("scope", &cfg.scope()),
            ("client_secret", cfg.client_secret.as_str()),
            ("grant_type", "client_credentials"),
        ];
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.inner.counters.token_requests.fetch_add(1, Ordering::Relaxed);
            let sent = self.inner.http.post(url.clone()).form(&form).send().await;
            let wait = match sent {
                Err(e) => {
                    let err = GraphError::Network { host: host_of(&url), detail: e.without_url().to_string() };
                    (attempt, err, None)
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
                    let body = resp.bytes().await.map_err(|e| GraphError::Network { host: host_of(&url), detail: e.to_string() })?;
                    if status == 200 {
                        return parse_token(&body);
                    }
                    let err = if status == 429 || status >= 500 {
                        GraphError::Unavailable { status, attempts: attempt }
                    } else {
                        return Err(token_error(&body, status, &cfg.tenant, &cfg.client_id));
                    };
                    (attempt, err, retry_after)
                }
            };
            let (attempt, err, retry_after) = wait;
            let policy = &cfg.retry;
            let delay = policy.scaled(retry_after.unwrap_or_else(|| policy.backoff(attempt)));
            if attempt >= policy.max_attempts || started.elapsed() + delay > policy.total_budget {
                return Err(err);
            }
            self.count_retry();
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends one Graph request, retrying 429/503/504 (and a few 500/502s and network errors)
    /// within the policy, and refreshing the token once on a 401. Final answers, including
    /// 4xx, come back as a [`Reply`] for the caller to interpret.
    pub(crate) async fn send(&self, method: Method, url: Url, headers: &[(&'static str, &str)], body: Option<&Value>) -> Result<Reply, GraphError> {
        let policy = &self.inner.config.retry;
        let started = Instant::now();
        let (mut attempt, mut server_errors, mut refreshed) = (0u32, 0u32, false);
        loop {
            attempt += 1;
            let token = self.access_token().await?;
            let mut req = self.inner.http.request(method.clone(), url.clone()).bearer_auth(token.secret());
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            self.inner.counters.graph_requests.fetch_add(1, Ordering::Relaxed);
            let delay = match req.send().await {
                Err(e) => {
                    let err = GraphError::Network { host: host_of(&url), detail: e.without_url().to_string() };
                    tracing::debug!(path = url.path(), attempt, "graph request failed to send");
                    let delay = policy.scaled(policy.backoff(attempt));
                    if attempt >= policy.max_attempts || started.elapsed() + delay > policy.total_budget {
                        return Err(err);
                    }
                    delay
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let resp_headers = resp.headers().clone();
                    let body =
                        resp.bytes().await.map_err(|e| GraphError::Network { host: host_of(&url), detail: e.without_url().to_string() })?.to_vec();
                    tracing::debug!(path = url.path(), status, attempt, "graph request");
                    let reply = Reply { status, headers: resp_headers, body, attempts: attempt };
                    let retry_after = reply.headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
                    match status {
                        401 if !refreshed => {
                            // The token expired or was revoked early: one fresh token, at once.
                            refreshed = true;
                            self.invalidate(&token).await;
                            self.count_retry();
                            continue;
                        }
                        429 | 503 | 504 => {
                            if status == 429 {
                                self.count_throttled(1);
                            }
                            let delay = policy.scaled(retry_after.unwrap_or_else(|| policy.backoff(attempt)));
                            if attempt >= policy.max_attempts || started.elapsed() + delay > policy.total_budget {
                                return Ok(reply);
                            }
                            delay
                        }
                        500 | 502 => {
                            server_errors += 1;
                            let delay = policy.scaled(retry_after.unwrap_or_else(|| policy.backoff(attempt)));
                            if server_errors > policy.max_server_error_retries
                                || attempt >= policy.max_attempts
                                || started.elapsed() + delay > policy.total_budget
                            {
                                return Ok(reply);
                            }
                            delay
                        }
                        _ => return Ok(reply),
                    }
                }
            };
            self.count_retry();
            tokio::time::sleep(delay).await;
        }
    }

    /// GET a JSON resource; non-2xx answers become errors worded by `purpose`.
    pub(crate) async fn get_json(&self, url: Url, eventual: bool, purpose: &Purpose) -> Result<Value, GraphError> {
        let headers: &[(&'static str, &str)] = if eventual { &[("ConsistencyLevel", "eventual")] } else { &[] };
        let reply = self.send(Method::GET, url, headers, None).await?;
        if !reply.ok() {
            return Err(purpose.error(&reply));
        }
        reply.json()
    }

    /// Follows `@odata.nextLink` to the end, through empty pages, sending ConsistencyLevel on
    /// every page when asked (Graph does not carry it in the link). Hands each page's values to
    /// `on_page` as it arrives and returns the first page's `@odata.count`.
    pub(crate) async fn get_all_pages(
        &self,
        first: Url,
        eventual: bool,
        purpose: &Purpose,
        mut on_page: impl FnMut(Vec<Value>),
    ) -> Result<Option<u64>, GraphError> {
        const MAX_PAGES: usize = 1_000_000;
        let mut url = first;
        let mut count = None;
        for page in 0..MAX_PAGES {
            let mut body = self.get_json(url, eventual, purpose).await?;
            if page == 0 {
                count = body.get("@odata.count").and_then(Value::as_u64);
            }
            match body.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => on_page(items),
                _ => return Err(GraphError::InvalidResponse("a page has no value array".into())),
            }
            match body.get("@odata.nextLink").and_then(Value::as_str) {
                Some(link) => url = self.check_link(link)?,
                None => return Ok(count),
            }
        }
        Err(GraphError::InvalidResponse("paging did not end".into()))
    }
}

fn parse_token(body: &[u8]) -> Result<(AccessToken, Duration), GraphError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| GraphError::InvalidResponse(format!("token answer: {e}")))?;
    let token =
        v.get("access_token").and_then(Value::as_str).ok_or_else(|| GraphError::InvalidResponse("token answer has no access_token".into()))?;
    // expires_in is a number, but some proxies turn it into a string.
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    // Without a readable lifetime, Microsoft's usual hour: a token that lapses sooner is
    // refreshed on its 401.
    .unwrap_or(3599);
    Ok((AccessToken(token.to_string()), Duration::from_secs(expires_in)))
}
