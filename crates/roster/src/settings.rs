//! Settings: defaults, then an optional TOML file, then `ROSTER_*` environment variables, then
//! command-line flags. The README has the table of every setting.

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use roster_store::Location;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Serialize, Deserialize)]
pub struct Settings {
    /// SQLite lives in this directory (the embedded default).
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    pub listen: String,
    /// The address people use; links in e-mails start with it.
    pub public_url: Option<String>,
    /// Serve organisations on subdomains of this domain.
    pub base_domain: Option<String>,
    /// The learning platform's address, linked from a learner's own page; `{org}` becomes the
    /// organisation's slug.
    pub learning_url: Option<String>,
    /// How many days the events feed keeps events.
    pub event_retention_days: u32,
    /// Let webhooks post to loopback and private addresses (a deliberate choice of the operator).
    pub webhook_allow_private_addresses: bool,
    /// Base64 of 32 bytes. Without it, `master_key_file` (or `<data_dir>/master.key`) is used.
    pub master_key: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_from: String,
    /// `starttls` (default), `tls` or `plain`.
    pub smtp_security: String,
    /// A tracing filter, e.g. `info` or `roster_web=debug`.
    pub log: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Roster's own multi-tenant Microsoft app (admin consent); its redirect URI is
    /// `<public_url>/entra/consent`.
    pub entra_app_client_id: Option<String>,
    pub entra_app_client_secret: Option<String>,
    /// After SIGTERM, how long background work (a sync in hand) may take to finish before it
    /// is given back to another process.
    pub shutdown_grace_seconds: u64,
}

/// Secrets (the master key, the SMTP password, the Entra app's secret) never reach a log.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|_| "<redacted: may hold a password>"))
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("base_domain", &self.base_domain)
            .field("learning_url", &self.learning_url)
            .field("event_retention_days", &self.event_retention_days)
            .field("webhook_allow_private_addresses", &self.webhook_allow_private_addresses)
            .field("master_key", &hidden(&self.master_key))
            .field("master_key_file", &self.master_key_file)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &hidden(&self.smtp_password))
            .field("smtp_from", &self.smtp_from)
            .field("smtp_security", &self.smtp_security)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("entra_app_client_id", &self.entra_app_client_id)
            .field("entra_app_client_secret", &hidden(&self.entra_app_client_secret))
            .field("shutdown_grace_seconds", &self.shutdown_grace_seconds)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: None,
            database_url: None,
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            base_domain: None,
            learning_url: None,
            event_retention_days: roster_app::config::DEFAULT_EVENT_RETENTION_DAYS,
            webhook_allow_private_addresses: false,
            master_key: None,
            master_key_file: None,
            smtp_host: None,
            smtp_port: 25,
            smtp_username: None,
            smtp_password: None,
            smtp_from: "Roster <roster@localhost>".into(),
            smtp_security: "starttls".into(),
            log: "info,sqlx=warn".into(),
            log_format: "text".into(),
            entra_app_client_id: None,
            entra_app_client_secret: None,
            shutdown_grace_seconds: roster_app::jobs::supervisor::GRACE.as_secs(),
        }
    }
}

impl Settings {
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = config_file {
            if !file.exists() {
                bail!("the configuration file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment.merge(Env::prefixed("ROSTER_")).extract().context("reading settings")
    }

    /// Where the data is. PostgreSQL when a URL is set; otherwise SQLite in the data directory.
    pub fn location(&self) -> Location {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => Location::Postgres(url.clone()),
            _ => Location::DataDir(self.data_dir.clone().unwrap_or_else(|| PathBuf::from("roster-data"))),
        }
    }

    pub fn public_url(&self) -> anyhow::Result<url::Url> {
        let raw = self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen));
        url::Url::parse(&raw).with_context(|| format!("public_url '{raw}' is not a URL"))
    }
}
