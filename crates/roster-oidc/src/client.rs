//! The network side: discovery and key sets fetched and cached per provider, and the code
//! exchange. Redirects are never followed (a provider endpoint that redirects elsewhere is an
//! error, not a hop), and every call has a timeout.

use crate::error::SsoError;
use crate::metadata::{ClientAuth, ProviderMetadata};
use crate::validate::{find_key, parse_key_set, read_header, validate_id_token, Expectations, IdTokenClaims};
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long discovery documents and key sets are trusted before they are fetched again.
const CACHE_FOR: Duration = Duration::from_secs(3600);
/// An unknown `kid` refetches the key set at most this often per provider, so forged tokens
/// cannot make Roster hammer the provider.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A reqwest client fit for talking to providers: no redirects, a timeout.
pub fn http_client() -> Result<reqwest::Client, SsoError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| SsoError::Discovery { url: String::new(), reason: e.to_string() })
}

struct Cached<T> {
    value: T,
    fetched: Instant,
}

#[derive(Default)]
struct ProviderEntry {
    metadata: Option<Cached<ProviderMetadata>>,
    keys: Option<Cached<Arc<Vec<Jwk>>>>,
    last_forced_refetch: Option<Instant>,
}

/// Discovery documents and key sets of every provider this process talks to, keyed by
/// discovery URL. Shared by all requests; nothing in it is needed by another process.
#[derive(Clone)]
pub struct Providers {
    http: reqwest::Client,
    entries: Arc<Mutex<HashMap<String, ProviderEntry>>>,
}

impl Providers {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http, entries: Arc::default() }
    }

    fn with_entry<T>(&self, url: &str, f: impl FnOnce(&mut ProviderEntry) -> T) -> T {
        // A poisoned lock only means another request panicked mid-update; the cache is still
        // a cache.
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        f(entries.entry(url.to_owned()).or_default())
    }

    async fn get_json(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self.http.get(url).header("accept", "application/json").send().await.map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        response.bytes().await.map(|b| b.to_vec()).map_err(|e| e.without_url().to_string())
    }

    /// The provider's metadata, from the cache when fresh.
    pub async fn metadata(&self, discovery_url: &str) -> Result<ProviderMetadata, SsoError> {
        let cached = self.with_entry(discovery_url, |e| e.metadata.as_ref().filter(|c| c.fetched.elapsed() < CACHE_FOR).map(|c| c.value.clone()));
        if let Some(metadata) = cached {
            return Ok(metadata);
        }
        self.refresh_metadata(discovery_url).await
    }

    /// The provider's metadata fetched now, whatever the cache holds (for checking a connection
    /// as it is saved); the cache keeps what was fetched.
    pub async fn refresh_metadata(&self, discovery_url: &str) -> Result<ProviderMetadata, SsoError> {
        crate::metadata::check_endpoint("discovery", discovery_url)?;
        let body = self.get_json(discovery_url).await.map_err(|reason| SsoError::Discovery { url: discovery_url.to_owned(), reason })?;
        let metadata = ProviderMetadata::from_document(discovery_url, &body)?;
        self.with_entry(discovery_url, |e| e.metadata = Some(Cached { value: metadata.clone(), fetched: Instant::now() }));
        Ok(metadata)
    }

    async fn fetch_keys(&self, discovery_url: &str, jwks_uri: &str) -> Result<Arc<Vec<Jwk>>, SsoError> {
        let body = self.get_json(jwks_uri).await.map_err(|reason| SsoError::Jwks { url: jwks_uri.to_owned(), reason })?;
        let document: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| SsoError::Jwks { url: jwks_uri.to_owned(), reason: "not JSON".into() })?;
        let keys = Arc::new(parse_key_set(&document));
        self.with_entry(discovery_url, |e| e.keys = Some(Cached { value: keys.clone(), fetched: Instant::now() }));
        Ok(keys)
    }

    async fn keys(&self, discovery_url: &str, jwks_uri: &str) -> Result<Arc<Vec<Jwk>>, SsoError> {
        let cached = self.with_entry(discovery_url, |e| e.keys.as_ref().filter(|c| c.fetched.elapsed() < CACHE_FOR).map(|c| c.value.clone()));
        match cached {
            Some(keys) => Ok(keys),
            None => self.fetch_keys(discovery_url, jwks_uri).await,
        }
    }

    /// Whether an unknown `kid` may refetch the key set now; notes the refetch when it may.
    fn may_refetch(&self, discovery_url: &str) -> bool {
        self.with_entry(discovery_url, |e| {
            let allowed = e.last_forced_refetch.is_none_or(|t| t.elapsed() >= REFETCH_AT_MOST_EVERY);
            if allowed {
                e.last_forced_refetch = Some(Instant::now());
            }
            allowed
        })
    }

    /// Validate an ID token against the provider's keys. An unknown `kid` (keys roll without
    /// notice) refetches the key set once, rate-limited, and tries again.
    pub async fn validate(
        &self,
        discovery_url: &str,
        metadata: &ProviderMetadata,
        id_token: &str,
        expect: &Expectations<'_>,
    ) -> Result<IdTokenClaims, SsoError> {
        let header = read_header(id_token)?;
        let keys = self.keys(discovery_url, &metadata.jwks_uri).await?;
        let keys = match find_key(&keys, &header) {
            Err(SsoError::UnknownKey { .. }) if self.may_refetch(discovery_url) => {
                tracing::info!(kid = %header.key_id, "unknown signing key; fetching the provider's key set again");
                self.fetch_keys(discovery_url, &metadata.jwks_uri).await?
            }
            _ => keys,
        };
        let key = find_key(&keys, &header)?;
        validate_id_token(id_token, key, &header, expect)
    }

    /// Exchange the code for tokens and return the ID token.
    pub async fn exchange_code(&self, metadata: &ProviderMetadata, exchange: &CodeExchange<'_>) -> Result<String, SsoError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", exchange.code),
            ("redirect_uri", exchange.redirect_uri),
            ("code_verifier", exchange.pkce_verifier),
        ];
        let body = self.post_token(metadata, exchange.client_id, exchange.client_secret, &mut form).await?;
        let tokens: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| SsoError::TokenResponse("the answer is not a token response".into()))?;
        tokens.id_token.ok_or_else(|| SsoError::TokenResponse("the answer has no id_token (was the openid scope granted?)".into()))
    }

    /// Asks the token endpoint for a client-credentials token, only to learn whether it takes
    /// the client ID and secret; the token, if any, is dropped. `scope` is what the provider
    /// needs for the grant (Microsoft's `.../.default`).
    pub async fn try_client_credentials(
        &self,
        metadata: &ProviderMetadata,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> ClientCheck {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        match self.post_token(metadata, client_id, client_secret, &mut form).await {
            Ok(_) => ClientCheck::Accepted,
            Err(SsoError::TokenEndpoint { error, description }) => ClientCheck::Refused { error, description },
            Err(other) => ClientCheck::Unreachable(other.to_string()),
        }
    }

    /// POSTs `form` to the token endpoint with the client's credentials; the body of a success.
    async fn post_token<'a>(
        &self,
        metadata: &ProviderMetadata,
        client_id: &'a str,
        client_secret: &'a str,
        form: &mut Vec<(&'a str, &'a str)>,
    ) -> Result<Vec<u8>, SsoError> {
        let mut request = self.http.post(&metadata.token_endpoint).header("accept", "application/json");
        match metadata.client_auth() {
            ClientAuth::Basic => {
                // RFC 6749 §2.3.1: form-encode both parts before Basic encoding.
                let id: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
                let secret: String = url::form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
                request = request.basic_auth(id, Some(secret));
            }
            ClientAuth::Post => {
                form.push(("client_id", client_id));
                form.push(("client_secret", client_secret));
            }
        }
        let response = request.form(&form).send().await.map_err(|e| SsoError::TokenResponse(e.without_url().to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| SsoError::TokenResponse(e.without_url().to_string()))?;
        if !status.is_success() {
            // An error body that is not OAuth's JSON still fails, named by its status.
            let error: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            return Err(SsoError::TokenEndpoint {
                error: if error.error.is_empty() { format!("HTTP {status}") } else { short(&error.error) },
                description: error.error_description.map(|d| format!(" ({})", short(&d))).unwrap_or_default(),
            });
        }
        Ok(body.to_vec())
    }
}

/// What the token endpoint said of a client's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCheck {
    /// It issued a token.
    Accepted,
    /// It answered with an OAuth error (`invalid_client`, `unauthorized_client`, ...).
    Refused { error: String, description: String },
    /// It could not be asked (network, or an answer that is not OAuth's).
    Unreachable(String),
}

/// What a code exchange sends. Debug never shows the secret or the verifier.
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub pkce_verifier: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    error_description: Option<String>,
}

/// Provider messages are shown to admins; keep them to a sane length.
fn short(text: &str) -> String {
    text.chars().take(300).collect()
}
