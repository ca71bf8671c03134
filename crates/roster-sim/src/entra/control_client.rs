//! A small client of the `/_sim/` control API, for `roster sim entra <subcommand>`: the
//! command line changes a simulator running in another process through it.

use serde_json::Value;

/// Why a control call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("could not reach the simulator at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The control API refused, with its `{"error": …}` message.
    #[error("{message} (HTTP {status})")]
    Refused { status: u16, message: String },
    #[error("unknown HTTP method {0}")]
    Method(String),
}

#[derive(Debug, Clone)]
pub struct ControlClient {
    base: String,
    http: reqwest::Client,
}

impl ControlClient {
    /// `base` is the simulator's address, e.g. `http://127.0.0.1:9100`.
    pub fn new(base: &str) -> ControlClient {
        let http = reqwest::Client::builder().no_proxy().build().unwrap_or_else(|_| reqwest::Client::new());
        ControlClient { base: base.trim_end_matches('/').to_string(), http }
    }

    /// `method` on `/_sim/{path}` with an optional JSON body; the JSON answer on a 2xx.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ControlError> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| ControlError::Method(method.to_string()))?;
        let url = format!("{}/_sim/{}", self.base, path.trim_start_matches('/'));
        let mut request = self.http.request(method, &url).timeout(std::time::Duration::from_secs(30));
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |e: reqwest::Error| ControlError::Unreachable { url: url.clone(), reason: e.to_string() };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unreachable)?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(json)
        } else {
            let message = json.get("error").and_then(Value::as_str).map_or_else(|| text.trim().to_string(), str::to_string);
            Err(ControlError::Refused { status, message })
        }
    }
}
