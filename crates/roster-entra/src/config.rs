//! Connection settings. Base URLs are settings so national clouds and the simulator work the
//! same way as the public cloud.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::GraphError;

#[derive(Clone)]
pub struct GraphConfig {
    /// `https://login.microsoftonline.com/` (or a national cloud, or the simulator).
    pub login_base: Url,
    /// `https://graph.microsoft.com/v1.0/`
    pub graph_base: Url,
    /// Directory (tenant) ID or a verified domain.
    pub tenant: String,
    /// Application (client) ID.
    pub client_id: String,
    /// The secret's Value. Never logged: `Debug` redacts it.
    pub client_secret: String,
    pub retry: RetryPolicy,
    /// Per HTTP request.
    pub request_timeout: Duration,
    /// `$top` for listings, 1..=999. The maximum means the fewest requests.
    pub page_size: u16,
}

impl fmt::Debug for GraphConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphConfig")
            .field("login_base", &self.login_base.as_str())
            .field("graph_base", &self.graph_base.as_str())
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("retry", &self.retry)
            .finish()
    }
}

impl GraphConfig {
    pub fn new(login_base: &str, graph_base: &str, tenant: &str, client_id: &str, client_secret: &str) -> Result<GraphConfig, GraphError> {
        let parse = |name: &str, raw: &str| Url::parse(raw).map_err(|e| GraphError::Config(format!("{name} '{raw}' is not a URL: {e}")));
        Ok(GraphConfig {
            login_base: parse("login base", login_base)?,
            graph_base: parse("Graph base", graph_base)?,
            tenant: tenant.trim().to_string(),
            client_id: client_id.trim().to_string(),
            client_secret: client_secret.to_string(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            page_size: 999,
        })
    }

    /// The global (public) cloud.
    pub fn public_cloud(tenant: &str, client_id: &str, client_secret: &str) -> Result<GraphConfig, GraphError> {
        Self::new("https://login.microsoftonline.com/", "https://graph.microsoft.com/v1.0/", tenant, client_id, client_secret)
    }

    /// `{graph origin}/.default`: app-only tokens always ask for every granted permission.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.graph_base.origin().ascii_serialization())
    }
}

/// How hard to try before giving up. `time_scale` multiplies every wait (tests use ~0.001).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Extra attempts after a 500 or 502 (which are less likely to pass on retry than a 503).
    pub max_server_error_retries: u32,
    /// Wall-clock budget for one request including its waits; a Retry-After beyond it fails fast.
    pub total_budget: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub time_scale: f64,
    /// Refresh a cached token this long before it expires.
    pub token_refresh_margin: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            max_server_error_retries: 2,
            total_budget: Duration::from_secs(180),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            time_scale: 1.0,
            token_refresh_margin: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    pub(crate) fn scaled(&self, wait: Duration) -> Duration {
        wait.mul_f64(self.time_scale.max(0.0))
    }

    /// Exponential backoff with jitter, for answers without a Retry-After.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        use rand::Rng;
        let exp = self.base_backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_backoff);
        capped.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

/// Parses `Retry-After` in seconds, integer or fractional ("2.128"). Anything else counts as
/// absent, so the caller falls back to its own backoff.
pub fn parse_retry_after(raw: &str) -> Option<Duration> {
    let secs: f64 = raw.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3_600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after(" 2.128 "), Some(Duration::from_millis(2128)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("NaN"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert!(p.backoff(1) <= Duration::from_secs(1) && p.backoff(1) >= Duration::from_millis(500));
        assert!(p.backoff(4) >= Duration::from_secs(4));
        assert!(p.backoff(30) <= Duration::from_secs(60));
    }

    #[test]
    fn debug_redacts_the_secret() {
        let c = GraphConfig::public_cloud("contoso.onmicrosoft.com", "id", "s3cr3t~value").expect("config");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(c.scope(), "https://graph.microsoft.com/.default");
    }
}
