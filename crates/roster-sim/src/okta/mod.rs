//! A simulated Okta org: the Users/Apps management API Roster pulls from, and the event hooks
//! Okta pushes, behind one cloneable handle.
//!
//! The behaviours follow `scim-okta-sso.md` §4 and §5: SSWS tokens, Okta error objects, cursor
//! paging with `link` headers, per-bucket rate limits, and best-effort, unordered, at-least-once
//! hook delivery with a 3 s timeout and at most one retry.

mod admin;
mod api;
mod control;
mod errors;
mod hooks;
mod limits;
mod oidc;
mod oidc_page;
mod oidc_token;
mod org;
mod syslog;

#[cfg(test)]
mod hook_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::routing::any;
use axum::Router;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;

pub use hooks::{HookAttempt, HookOptions, HookOutcome, HookReport};
pub use limits::OktaFaults;

use hooks::HookState;
use limits::{FaultState, RateLimits};
use org::Org;

/// What to generate.
#[derive(Debug, Clone)]
pub struct OktaSpec {
    /// People in the org (the admin who makes changes comes on top).
    pub users: usize,
    /// Share (0.0..=1.0) of those people assigned to the app.
    pub assigned_share: f64,
    pub seed: u64,
}

impl Default for OktaSpec {
    fn default() -> Self {
        Self { users: 40, assigned_share: 0.75, seed: 1 }
    }
}

/// One management API request as the simulator saw it, for assertions in tests.
#[derive(Debug, Clone)]
pub struct OktaRequest {
    pub method: String,
    /// Path and query, as sent: `/api/v1/apps/0oa.../users?limit=500`.
    pub path: String,
    pub status: u16,
    pub at: DateTime<Utc>,
}

/// Errors of the admin-side methods (the changes an admin makes in Okta) and of hook setup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OktaSimError {
    #[error("no user with id or login {0}")]
    UnknownUser(String),
    #[error("user {0} is not assigned to the app")]
    NotAssigned(String),
    /// Okta refuses lifecycle operations from the wrong status (e.g. suspending a STAGED user).
    #[error("cannot {operation} user {user_id} in status {status}")]
    InvalidTransition { user_id: String, operation: &'static str, status: String },
    /// Okta does not update DEPROVISIONED profiles unless an org option allows it.
    #[error("user {0} is deactivated; its profile cannot be updated")]
    Deprovisioned(String),
    #[error("event hook verification failed: {0}")]
    HookVerification(String),
}

pub(crate) struct OrgState {
    pub org: Org,
    /// Where the org is served, for `_links` and the hook `source` outside a request.
    pub org_url: String,
    pub limits: RateLimits,
    pub faults: FaultState,
    pub requests: Vec<OktaRequest>,
    /// Every System Log event recorded, eligible for hooks or not, oldest first.
    pub system_log: Vec<Value>,
    pub hooks: HookState,
    /// Sign-in with Okta (OpenID Connect): the client secret, signing keys, sign-ins and codes.
    pub oidc: oidc::OidcState,
    /// Runtime ids (new users, event uuids, challenges), seeded so a run can be replayed.
    pub rng: StdRng,
}

/// A poisoned lock only means a test panicked mid-request; the state is still usable.
pub(crate) fn lock(state: &Mutex<OrgState>) -> MutexGuard<'_, OrgState> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const MAX_RECORDS: usize = 50_000;

/// A simulated Okta org: the management API, a `/_sim/` control API and event hook delivery.
#[derive(Clone)]
pub struct OktaSim {
    state: Arc<Mutex<OrgState>>,
    /// Sends hook verification and deliveries.
    http: reqwest::Client,
}

impl OktaSim {
    pub fn generate(spec: OktaSpec) -> OktaSim {
        let org = Org::generate(&spec);
        let org_url = format!("https://{}.okta.com", org.subdomain);
        let state = OrgState {
            org,
            org_url,
            limits: RateLimits::default(),
            faults: FaultState::default(),
            requests: Vec::new(),
            system_log: Vec::new(),
            hooks: HookState::default(),
            oidc: oidc::OidcState::new(spec.seed),
            rng: StdRng::seed_from_u64(spec.seed ^ 0x0c7a_5eed),
        };
        // No proxy: hooks go to loopback receivers, which a proxy from the environment would break.
        let http =
            reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_else(|_| reqwest::Client::new());
        OktaSim { state: Arc::new(Mutex::new(state)), http }
    }

    fn with<R>(&self, f: impl FnOnce(&mut OrgState) -> R) -> R {
        let mut state = lock(&self.state);
        f(&mut state)
    }

    /// Routes: `/api/v1/...` (SSWS auth, rate limits, faults), sign-in through the org
    /// authorization server (`/.well-known/openid-configuration`, `/oauth2/v1/...`) and the
    /// unauthenticated `/_sim/...`.
    pub fn router(&self) -> Router {
        Router::new().route("/api/v1/{*rest}", any(api::entry)).merge(oidc::routes()).merge(control::routes()).with_state(self.clone())
    }

    /// The valid API token, sent as `Authorization: SSWS <token>`.
    pub fn api_token(&self) -> String {
        self.with(|s| s.org.api_token.clone())
    }

    /// The id of the app whose assignments Roster reads (`0oa...`).
    pub fn app_id(&self) -> String {
        self.with(|s| s.org.app_id.clone())
    }

    /// The OpenID Connect client id for sign-in: in Okta, the app's id (`0oa...`).
    pub fn oidc_client_id(&self) -> String {
        self.app_id()
    }

    /// The app's client secret, for `client_secret_basic` or `client_secret_post`.
    pub fn oidc_client_secret(&self) -> String {
        self.with(|s| s.oidc.client_secret.clone())
    }

    pub fn faults(&self) -> OktaFaults {
        OktaFaults { state: Arc::clone(&self.state) }
    }

    /// Every management API request served so far, oldest first (the `/_sim/` API is not logged).
    pub fn requests(&self) -> Vec<OktaRequest> {
        self.with(|s| s.requests.clone())
    }

    pub fn clear_requests(&self) {
        self.with(|s| s.requests.clear());
    }

    /// The user as `GET /api/v1/users/{id}` shows it; takes an id or a login.
    pub fn user(&self, id: &str) -> Option<Value> {
        self.with(|s| s.org.find_user(id).map(|u| org::user_json(u, &s.org, &s.org_url)))
    }

    /// Logins match case-insensitively, as in Okta.
    pub fn user_id_by_login(&self, login: &str) -> Option<String> {
        self.with(|s| s.org.user_by_login(login).map(|u| u.id.clone()))
    }

    /// Assigned users in the order the API lists them.
    pub fn assigned_user_ids(&self) -> Vec<String> {
        self.with(|s| s.org.assignments.keys().cloned().collect())
    }

    /// Every System Log event recorded so far (eligible for hooks or not), oldest first.
    pub fn system_log(&self) -> Vec<Value> {
        self.with(|s| s.system_log.clone())
    }

    /// Event types waiting for the next hook delivery, in the order they happened.
    pub fn queued_event_types(&self) -> Vec<String> {
        self.with(|s| s.hooks.queue.iter().filter_map(|e| e["eventType"].as_str().map(str::to_string)).collect())
    }

    /// Serves `_links`, hook `source` and the like from this URL outside a request.
    fn set_org_url(&self, url: String) {
        self.with(|s| s.org_url = url);
    }
}

/// How often a served simulator delivers queued events on its own.
const DELIVERY_INTERVAL: Duration = Duration::from_millis(100);

fn spawn_delivery(sim: OktaSim) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DELIVERY_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sim.deliver_pending_hooks().await;
        }
    })
}

/// Aborts a background task when dropped, so `serve` stops delivering when it stops serving.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves the simulator and delivers hooks until the process ends.
pub async fn serve(sim: OktaSim, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    sim.set_org_url(format!("http://{}", listener.local_addr()?));
    let _delivery = AbortOnDrop(spawn_delivery(sim.clone()));
    axum::serve(listener, sim.router()).await
}

/// A simulator running in the background on a loopback port; its tasks stop when it is dropped.
pub struct RunningOktaSim {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:{port}`, the org URL.
    pub base_url: String,
    /// The simulator being served, for its token, app id and test controls.
    pub sim: OktaSim,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    delivery: tokio::task::JoinHandle<()>,
}

impl Drop for RunningOktaSim {
    fn drop(&mut self) {
        self.server.abort();
        self.delivery.abort();
    }
}

/// Binds 127.0.0.1 on a free port, serves `sim` and delivers queued hook events every ~100 ms.
pub async fn spawn_loopback(sim: OktaSim) -> std::io::Result<RunningOktaSim> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    sim.set_org_url(base_url.clone());
    let router = sim.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let delivery = spawn_delivery(sim.clone());
    Ok(RunningOktaSim { addr, base_url, sim, server, delivery })
}
