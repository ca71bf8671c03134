//! The simulated Entra tenant behind one cloneable handle.

mod batch;
mod clock;
mod control;
mod control_client;
mod delivery;
mod delta;
mod delta_groups;
mod delta_users;
mod directory;
mod errors;
mod faults;
mod graph;
mod groups;
pub(crate) mod keys;
mod notify;
mod odata;
mod oidc;
mod oidc_token;
mod paging;
mod photo;
mod subscription_create;
mod subscriptions;
mod tenant;
mod throttle;
mod token;
mod users;

#[cfg(test)]
mod control_tests;
#[cfg(test)]
mod delivery_tests;
#[cfg(test)]
mod delta_tests;
#[cfg(test)]
mod subscription_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::routing::{any, get, post};
use axum::Router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

pub use control_client::{ControlClient, ControlError};
pub use delivery::{DeliveryOutcome, DeliveryRecord, NotificationConfig};
pub use faults::{Faults, ThrottleConfig};
pub use subscriptions::SubscriptionInfo;
pub use tenant::{Change, ChangeKind, NoPhotoStyle, ObjectKind, TenantInfo, TenantSpec};
pub use throttle::{request_cost, RetryAfter, RetryAfterStyle, TenantSize};

use faults::FaultState;
use tenant::Tenant;
use throttle::RuBucket;

/// What the simulated admin answers on the consent screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminDecision {
    Approve,
    Deny,
}

/// One Graph request as the simulator saw it, for assertions in tests.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub consistency_level: Option<String>,
    /// Whether the request arrived inside a `$batch`.
    pub in_batch: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub client_id: String,
    pub tenant_id: String,
    pub expires_at: Instant,
}

pub(crate) struct SimState {
    pub tenant: Tenant,
    pub tokens: HashMap<String, IssuedToken>,
    pub faults: FaultState,
    pub buckets: HashMap<(String, String), RuBucket>,
    pub rng: StdRng,
    pub requests: Vec<RequestRecord>,
    /// Keys the skiptokens, so clients cannot read or forge them.
    pub page_key: [u8; 32],
    pub admin_decision: AdminDecision,
    /// Sign-in with Microsoft: signing keys, pending sign-ins and codes.
    pub oidc: oidc::OidcState,
    /// "Now" for token ages, subscription expiry and retry schedules.
    pub clock: clock::SimClock,
    pub delta: delta::DeltaSettings,
    pub subs: subscriptions::Subscriptions,
    pub notify: delivery::NotifyState,
}

/// A poisoned lock only means a test panicked mid-request; the state is still usable.
pub(crate) fn lock(state: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Errors of the test-facing mutation methods.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("no user with id {0}")]
    UnknownUser(String),
    #[error("no group with id {0}")]
    UnknownGroup(String),
    #[error("no directory object with id {0}")]
    UnknownObject(String),
    #[error("{member} is not a direct member of group {group}")]
    NotAMember { group: String, member: String },
    #[error("user {0} is not deleted")]
    NotDeleted(String),
    #[error("no subscription with id {0}")]
    UnknownSubscription(String),
}

/// A simulated Entra tenant: login endpoints and Graph v1.0 over one shared state.
#[derive(Clone)]
pub struct EntraSim {
    state: Arc<Mutex<SimState>>,
    /// Sends subscription validation requests and notifications.
    http: reqwest::Client,
    /// Wakes the delivery task when notifications were queued or the clock moved.
    wake: Arc<tokio::sync::Notify>,
}

const MAX_RECORDS: usize = 50_000;

impl EntraSim {
    pub fn generate(spec: TenantSpec) -> EntraSim {
        let tenant = Tenant::generate(&spec);
        let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x5eed_5eed);
        let page_key = rng.gen();
        let state = SimState {
            tenant,
            tokens: HashMap::new(),
            faults: FaultState::default(),
            buckets: HashMap::new(),
            rng,
            requests: Vec::new(),
            page_key,
            admin_decision: AdminDecision::Approve,
            oidc: oidc::OidcState::new(spec.seed),
            clock: clock::SimClock::default(),
            delta: delta::DeltaSettings::default(),
            subs: subscriptions::Subscriptions::default(),
            notify: delivery::NotifyState::default(),
        };
        // No proxy: receivers are on loopback, which a proxy from the environment would break.
        let http =
            reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_else(|_| reqwest::Client::new());
        EntraSim { state: Arc::new(Mutex::new(state)), http, wake: Arc::new(tokio::sync::Notify::new()) }
    }

    /// Runs `f` on the state, then queues the notifications for any change it made.
    fn with<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        let mut state = lock(&self.state);
        let out = f(&mut state);
        let queued = notify::fanout(&mut state);
        drop(state);
        if queued {
            self.wake.notify_one();
        }
        out
    }

    /// Routes: `POST /{tenant}/oauth2/v2.0/token`, `GET /{tenant}/adminconsent`, `/v1.0/...`,
    /// and sign-in: discovery, `/{tenant}/oauth2/v2.0/authorize` and the JWKS.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(oidc_token::token_endpoint))
            .route("/{tenant}/v2.0/.well-known/openid-configuration", get(oidc::discovery))
            .route("/{tenant}/oauth2/v2.0/authorize", get(oidc::authorize).post(oidc::sign_in))
            .route("/{tenant}/discovery/v2.0/keys", get(oidc::jwks))
            .route("/{tenant}/adminconsent", get(token::admin_consent))
            .route("/v1.0/{*rest}", any(graph::entry))
            .merge(control::routes())
            .with_state(self.clone())
    }

    /// The simulator's "now": the wall clock plus every [`EntraSim::advance_clock`].
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.with(|s| s.clock.now())
    }

    /// Moves the simulator's clock forward: delta tokens age, subscriptions expire and
    /// notification retries come due as if that much time had passed.
    pub fn advance_clock(&self, by: Duration) {
        self.with(|s| s.clock.advance(by));
        self.wake.notify_one();
    }

    /// Objects per delta page (200 by default).
    pub fn set_delta_page_size(&self, objects: usize) {
        self.with(|s| s.delta.page_size = objects.max(1));
    }

    /// Members per `members@delta` list before a group is split over pages (100 by default).
    pub fn set_delta_member_chunk(&self, members: usize) {
        self.with(|s| s.delta.member_chunk = members.max(1));
    }

    pub fn faults(&self) -> Faults {
        Faults { state: Arc::clone(&self.state) }
    }

    pub fn info(&self) -> TenantInfo {
        self.with(|s| {
            let mut info = s.tenant.info.clone();
            info.client_secret = s.tenant.app.client_secret.clone();
            info
        })
    }

    pub fn tenant_id(&self) -> String {
        self.with(|s| s.tenant.id.clone())
    }

    pub fn client_id(&self) -> String {
        self.with(|s| s.tenant.app.client_id.clone())
    }

    pub fn client_secret(&self) -> String {
        self.with(|s| s.tenant.app.client_secret.clone())
    }

    /// Issues a new secret (the old one stops working) and clears its expiry.
    pub fn rotate_secret(&self) -> String {
        self.with(|s| {
            let fresh: String = (0..40).map(|_| char::from(s.rng.gen_range(b'a'..=b'z'))).collect();
            s.tenant.app.client_secret = fresh.clone();
            s.tenant.app.secret_expired = false;
            fresh
        })
    }

    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.with(|s| s.tenant.token_lifetime = lifetime);
    }

    pub fn set_admin_decision(&self, decision: AdminDecision) {
        self.with(|s| s.admin_decision = decision);
    }

    pub fn is_consented(&self) -> bool {
        self.with(|s| s.tenant.app.consented)
    }

    pub fn granted_permissions(&self) -> Vec<String> {
        self.with(|s| s.tenant.app.granted.iter().cloned().collect())
    }

    /// Every Graph request served so far (inner `$batch` requests included), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.with(|s| s.requests.clone())
    }

    pub fn clear_requests(&self) {
        self.with(|s| s.requests.clear());
    }

    /// Current change-log version; every mutation adds one.
    pub fn version(&self) -> u64 {
        self.with(|s| s.tenant.version)
    }

    pub fn changes_since(&self, version: u64) -> Vec<Change> {
        self.with(|s| s.tenant.changes.iter().filter(|c| c.version > version).cloned().collect())
    }

    /// The current photo's mediaEtag, if the user has a photo.
    pub fn photo_etag(&self, user_id: &str) -> Option<String> {
        self.with(|s| s.tenant.users.get(user_id).and_then(|u| u.photo.as_ref()).map(|p| p.etag.clone()))
    }

    pub fn group_property(&self, group_id: &str, name: &str) -> Option<Value> {
        self.with(|s| s.tenant.groups.get(group_id).and_then(|g| g.props.get(name).cloned()))
    }

    pub fn user_property(&self, user_id: &str, name: &str) -> Option<Value> {
        self.with(|s| s.tenant.users.get(user_id).and_then(|u| u.props.get(name).cloned()))
    }

    pub fn manager_of(&self, user_id: &str) -> Option<String> {
        self.with(|s| s.tenant.users.get(user_id).and_then(|u| u.manager.clone()))
    }
}

/// Aborts a background task when dropped, so `serve` stops delivering when it stops serving.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves the simulator, and delivers its change notifications, until the process ends.
/// Peers' addresses reach the handlers, so the control API can refuse non-loopback callers.
pub async fn serve(sim: EntraSim, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let _delivery = AbortOnDrop(delivery::spawn(sim.clone()));
    axum::serve(listener, sim.router().into_make_service_with_connect_info::<SocketAddr>()).await
}

/// A simulator running in the background on a loopback port (for tests and demos); the server
/// and the notification delivery stop when it is dropped.
pub struct RunningSim {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:{port}`, the login base and the Graph host at once.
    pub base_url: String,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The simulator being served, for its credentials and test controls.
    pub sim: EntraSim,
    delivery: tokio::task::JoinHandle<()>,
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.handle.abort();
        self.delivery.abort();
    }
}

/// Binds 127.0.0.1 on a free port, serves `sim` and delivers its notifications in the background.
pub async fn spawn_loopback(sim: EntraSim) -> std::io::Result<RunningSim> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let service = sim.router().into_make_service_with_connect_info::<SocketAddr>();
    let handle = tokio::spawn(async move { axum::serve(listener, service).await });
    let delivery = delivery::spawn(sim.clone());
    Ok(RunningSim { addr, base_url: format!("http://{addr}"), handle, sim, delivery })
}
