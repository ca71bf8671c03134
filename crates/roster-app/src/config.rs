//! What the web surfaces need to know about where they are served.

use url::Url;

#[derive(Clone)]
pub struct Config {
    /// The address people reach Roster at, used in e-mailed links when no base domain is set.
    pub public_url: Url,
    /// With a base domain (`roster.example`), organisations live on subdomains
    /// (`acme.roster.example`); without one, under `/o/<slug>/`.
    pub base_domain: Option<String>,
    /// Mark cookies `Secure`. On whenever the public URL is HTTPS.
    pub secure_cookies: bool,
    pub smtp: Option<SmtpConfig>,
    /// Largest accepted request body, in bytes (CSV uploads are the largest).
    pub max_body_bytes: usize,
    /// Roster's own multi-tenant Microsoft app, for tenants that grant admin consent instead
    /// of registering an app of their own. Without it, only own app registrations work.
    pub entra_app: Option<EntraApp>,
    /// The learning platform's address for a person's own page; `{org}` is the slug.
    pub learning_url: Option<String>,
    /// How long the events feed keeps events, in days.
    pub event_retention_days: u32,
    /// Webhooks may post to loopback and private addresses (off: an admin could otherwise make
    /// Roster probe its own network).
    pub webhook_allow_private: bool,
}

/// Roster's multi-tenant app registration. Its redirect URI is `<public_url>/entra/consent`.
#[derive(Clone)]
pub struct EntraApp {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for EntraApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraApp").field("client_id", &self.client_id).field("client_secret", &"<redacted>").finish()
    }
}

/// The events feed's history, unless configured otherwise.
pub const DEFAULT_EVENT_RETENTION_DAYS: u32 = 30;

impl Config {
    pub fn local(public_url: Url) -> Self {
        let secure_cookies = public_url.scheme() == "https";
        Self {
            public_url,
            base_domain: None,
            secure_cookies,
            smtp: None,
            max_body_bytes: 64 * 1024 * 1024,
            entra_app: None,
            learning_url: None,
            event_retention_days: DEFAULT_EVENT_RETENTION_DAYS,
            webhook_allow_private: false,
        }
    }

    /// The learning platform's address for an organisation, when one is configured.
    pub fn learning_url_for(&self, slug: &str) -> Option<String> {
        self.learning_url.as_deref().filter(|u| !u.trim().is_empty()).map(|u| u.replace("{org}", slug))
    }

    /// Where Microsoft sends an admin back after admin consent: one address for the whole
    /// installation (registered once on Roster's app), the organisation carried in `state`.
    pub fn consent_redirect_uri(&self) -> String {
        format!("{}/entra/consent", self.public_url.as_str().trim_end_matches('/'))
    }

    /// The absolute address of a page of an organisation, for e-mails.
    pub fn org_url(&self, slug: &str, path: &str) -> String {
        match &self.base_domain {
            Some(domain) => {
                let port = self.public_url.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{slug}.{domain}{port}{path}", self.public_url.scheme())
            }
            None => format!("{}/o/{slug}{path}", self.public_url.as_str().trim_end_matches('/')),
        }
    }
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub security: SmtpSecurity,
}

/// How the connection to the SMTP server is protected. Mail carries sign-in links, so it goes
/// encrypted unless an operator asks otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Connect in the clear and upgrade with STARTTLS, which the server must offer (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    Plain,
}

impl std::str::FromStr for SmtpSecurity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(SmtpSecurity::StartTls),
            "tls" => Ok(SmtpSecurity::Tls),
            "plain" | "none" => Ok(SmtpSecurity::Plain),
            other => Err(format!("'{other}' is not an SMTP security: use starttls, tls or plain")),
        }
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("security", &self.security)
            .finish()
    }
}
