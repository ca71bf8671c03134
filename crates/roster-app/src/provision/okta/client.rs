//! The Okta management API as Roster reads it: the app's assigned users (paged with the `link`
//! header Okta sends, never with URLs built here), one user, one assignment. Every answer's
//! rate-limit headers pace the next request, and a 429 waits for the reset Okta names, so a
//! sync never spends the customer's whole Okta quota.

use serde::Deserialize;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The most users Okta sends in one page.
const PAGE: u32 = 500;
/// Keep this share of a bucket for the customer's other integrations: below it, wait for the reset.
const RESERVE_SHARE: f64 = 0.1;
/// Attempts of one request through 429s and 5xx answers.
const ATTEMPTS: u32 = 6;
/// The longest wait for a rate-limit reset (Okta's windows are about a minute).
const LONGEST_WAIT: Duration = Duration::from_secs(70);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum OktaError {
    #[error("Okta refused the API token ({0}): create a new one and save it")]
    Unauthorized(String),
    #[error("Okta has no {0}: check the app id")]
    NotFound(String),
    #[error("Okta answered {status}: {summary}")]
    Status { status: u16, summary: String },
    #[error("Okta could not be reached: {0}")]
    Transport(String),
    #[error("Okta sent an answer Roster cannot read: {0}")]
    Unreadable(String),
}

/// A user as `GET /api/v1/users/{id}` (or `_embedded.user`) shows them.
#[derive(Debug, Clone, Deserialize)]
pub struct OktaUser {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub profile: Value,
}

impl OktaUser {
    /// Suspended and deprovisioned people lose access; every other status keeps it (a locked
    /// out or expired password is a sign-in matter, not a leaver).
    pub fn has_access(&self) -> bool {
        !matches!(self.status.as_str(), "SUSPENDED" | "DEPROVISIONED")
    }

    /// The record the mapping reads: the Okta profile's fields under their Okta names, and `id`.
    pub fn record(&self) -> Value {
        let mut record = self.profile.as_object().cloned().unwrap_or_default();
        record.insert("id".into(), Value::String(self.id.clone()));
        record.insert("status".into(), Value::String(self.status.clone()));
        Value::Object(record)
    }
}

#[derive(Debug, Deserialize)]
struct AppUser {
    id: String,
    #[serde(default, rename = "_embedded")]
    embedded: Option<Embedded>,
}

#[derive(Debug, Deserialize)]
struct Embedded {
    user: OktaUser,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default, rename = "errorCode")]
    code: String,
    #[serde(default, rename = "errorSummary")]
    summary: String,
}

pub struct OktaClient {
    base: url::Url,
    token: String,
    http: reqwest::Client,
    requests: AtomicU64,
    /// The bucket's state after the last answer: remaining, limit, reset (epoch seconds).
    pacing: Mutex<Option<(u64, u64, i64)>>,
}

impl std::fmt::Debug for OktaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never shows.
        f.debug_struct("OktaClient").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl OktaClient {
    /// `base` is the Okta organisation's address (`https://acme.okta.com`).
    pub fn new(base: &str, token: &str) -> Result<Self, OktaError> {
        let base = url::Url::parse(base.trim()).map_err(|e| OktaError::Transport(format!("the Okta address is not a URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OktaError::Transport(e.to_string()))?;
        Ok(Self { base, token: token.trim().to_owned(), http, requests: AtomicU64::new(0), pacing: Mutex::new(None) })
    }

    /// Requests sent so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Every user assigned to the app, with their Okta user.
    pub async fn app_users(&self, app_id: &str) -> Result<Vec<OktaUser>, OktaError> {
        let mut url = self.base.join(&format!("api/v1/apps/{}/users", segment(app_id))).map_err(|e| OktaError::Transport(e.to_string()))?;
        url.query_pairs_mut().append_pair("limit", &PAGE.to_string()).append_pair("expand", "user");
        let mut users = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let (page, link) = self.get(url, &format!("app {app_id}")).await?;
            let rows: Vec<AppUser> = serde_json::from_value(page).map_err(|e| OktaError::Unreadable(e.to_string()))?;
            for row in rows {
                match row.embedded {
                    Some(embedded) => users.push(embedded.user),
                    // Without the embedded user (an older Okta), read them one by one.
                    None => users.push(self.user(&row.id).await?.ok_or_else(|| OktaError::NotFound(format!("user {}", row.id)))?),
                }
            }
            next = link;
        }
        Ok(users)
    }

    /// One user, or None when Okta has no such user.
    pub async fn user(&self, id: &str) -> Result<Option<OktaUser>, OktaError> {
        let url = self.base.join(&format!("api/v1/users/{}", segment(id))).map_err(|e| OktaError::Transport(e.to_string()))?;
        match self.get(url, &format!("user {id}")).await {
            Ok((body, _)) => serde_json::from_value(body).map(Some).map_err(|e| OktaError::Unreadable(e.to_string())),
            Err(OktaError::NotFound(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Is the user assigned to the app?
    pub async fn is_assigned(&self, app_id: &str, user_id: &str) -> Result<bool, OktaError> {
        let url = self
            .base
            .join(&format!("api/v1/apps/{}/users/{}", segment(app_id), segment(user_id)))
            .map_err(|e| OktaError::Transport(e.to_string()))?;
        match self.get(url, "assignment").await {
            Ok(_) => Ok(true),
            Err(OktaError::NotFound(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// One GET through pacing and retries: the body, and the `next` link if any.
    async fn get(&self, url: url::Url, what: &str) -> Result<(Value, Option<url::Url>), OktaError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let sent =
                self.http.get(url.clone()).header("authorization", format!("SSWS {}", self.token)).header("accept", "application/json").send().await;
            let response = match sent {
                Ok(response) => response,
                Err(error) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %error.without_url(), "Okta request failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(error) => return Err(OktaError::Transport(error.without_url().to_string())),
            };
            let status = response.status().as_u16();
            let reset = self.remember_limits(response.headers());
            if status == 429 && attempt < ATTEMPTS {
                tokio::time::sleep(until_reset(reset)).await;
                continue;
            }
            if status >= 500 && attempt < ATTEMPTS {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            let link = next_link(response.headers());
            let body = response.bytes().await.map_err(|e| OktaError::Transport(e.without_url().to_string()))?;
            if (200..300).contains(&status) {
                let value = serde_json::from_slice(&body).map_err(|e| OktaError::Unreadable(e.to_string()))?;
                return Ok((value, link));
            }
            let error: ErrorBody = serde_json::from_slice(&body).unwrap_or(ErrorBody { code: String::new(), summary: String::new() });
            return Err(match status {
                401 | 403 => OktaError::Unauthorized(format!("{} {}", error.code, error.summary).trim().to_owned()),
                404 => OktaError::NotFound(what.to_owned()),
                _ => OktaError::Status { status, summary: format!("{} {}", error.code, error.summary).trim().to_owned() },
            });
        }
    }

    /// Record the bucket the answer reports; returns its reset time.
    fn remember_limits(&self, headers: &reqwest::header::HeaderMap) -> Option<i64> {
        let number = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
        let reset = number("x-rate-limit-reset");
        if let (Some(limit), Some(remaining), Some(reset)) = (number("x-rate-limit-limit"), number("x-rate-limit-remaining"), reset) {
            if let Ok(mut pacing) = self.pacing.lock() {
                *pacing = Some((remaining.max(0) as u64, limit.max(0) as u64, reset));
            }
        }
        reset
    }

    /// Below the reserve of the bucket, wait for its reset before the next request.
    async fn pace(&self) {
        let state = self.pacing.lock().ok().and_then(|p| *p);
        if let Some((remaining, limit, reset)) = state {
            if limit > 0 && (remaining as f64) <= (limit as f64 * RESERVE_SHARE).floor() {
                tokio::time::sleep(until_reset(Some(reset))).await;
                if let Ok(mut pacing) = self.pacing.lock() {
                    *pacing = None;
                }
            }
        }
    }
}

/// A path segment from an id Okta gave (ids are alphanumeric; anything else is escaped).
fn segment(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6)))
}

/// How long until `reset` (epoch seconds), plus a little jitter; a missing or past reset waits a second.
fn until_reset(reset: Option<i64>) -> Duration {
    let now = chrono::Utc::now().timestamp_millis();
    let wait_ms = reset.map_or(1000, |r| (r * 1000 - now).max(0) + 100 + i64::from(rand::random::<u8>()));
    Duration::from_millis(u64::try_from(wait_ms).unwrap_or(1000)).min(LONGEST_WAIT)
}

/// The `rel="next"` URL of a `link` header (there may be several headers, or several links in one).
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<url::Url> {
    headers.get_all("link").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let is_next = params.split(';').any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| url::Url::parse(target.trim().trim_start_matches('<').trim_end_matches('>')).ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.append("link", "<https://acme.okta.com/api/v1/apps/0oa1/users?limit=500>; rel=\"self\"".parse().unwrap());
        headers.append("link", "<https://acme.okta.com/api/v1/apps/0oa1/users?limit=500&after=00u9>; rel=\"next\"".parse().unwrap());
        assert_eq!(next_link(&headers).unwrap().as_str(), "https://acme.okta.com/api/v1/apps/0oa1/users?limit=500&after=00u9");
        headers.clear();
        headers.append("link", "<https://a/self>; rel=\"self\", <https://a/next>; rel=\"next\"".parse().unwrap());
        assert_eq!(next_link(&headers).unwrap().as_str(), "https://a/next");
        headers.clear();
        assert!(next_link(&headers).is_none());
    }

    #[test]
    fn a_suspended_or_deprovisioned_user_has_no_access() {
        let user = |status: &str| OktaUser { id: "00u1".into(), status: status.into(), profile: Value::Null };
        for status in ["ACTIVE", "PROVISIONED", "STAGED", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"] {
            assert!(user(status).has_access(), "{status}");
        }
        assert!(!user("SUSPENDED").has_access());
        assert!(!user("DEPROVISIONED").has_access());
    }
}
