//! The simulated Entra tenant behind one cloneable handle.

mod batch;
mod errors;
mod faults;
mod graph;
mod groups;
pub(crate) mod keys;
mod odata;
mod oidc;
mod oidc_token;
mod paging;
mod photo;
mod tenant;
mod throttle;
mod token;
mod users;

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

pub use faults::{Faults, ThrottleConfig};
pub use tenant::{Change, ChangeKind, NoPhotoStyle, ObjectKind, TenantInfo, TenantSpec};
pub use throttle::{request_cost, RetryAfter, RetryAfterStyle, TenantSize};

use faults::FaultState;
use tenant::{Photo, Tenant};
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
}

/// A simulated Entra tenant: login endpoints and Graph v1.0 over one shared state.
#[derive(Clone)]
pub struct EntraSim {
    state: Arc<Mutex<SimState>>,
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
        };
        EntraSim { state: Arc::new(Mutex::new(state)) }
    }

    fn with<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        let mut state = lock(&self.state);
        f(&mut state)
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
            .with_state(self.clone())
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

    pub fn add_member(&self, group_id: &str, member_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            if s.tenant.kind_of(member_id).is_none() {
                return Err(SimError::UnknownObject(member_id.into()));
            }
            let group = s.tenant.groups.get_mut(group_id).ok_or_else(|| SimError::UnknownGroup(group_id.into()))?;
            if !group.members.iter().any(|m| m == member_id) {
                group.members.push(member_id.to_string());
                s.tenant.record(group_id, ObjectKind::Group, ChangeKind::MemberAdded { member: member_id.into() });
            }
            Ok(())
        })
    }

    pub fn remove_member(&self, group_id: &str, member_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            let group = s.tenant.groups.get_mut(group_id).ok_or_else(|| SimError::UnknownGroup(group_id.into()))?;
            let before = group.members.len();
            group.members.retain(|m| m != member_id);
            if group.members.len() != before {
                s.tenant.record(group_id, ObjectKind::Group, ChangeKind::MemberRemoved { member: member_id.into() });
            }
            Ok(())
        })
    }

    /// Sets (or with `Value::Null` clears) a user property by its Graph name.
    pub fn set_user_property(&self, user_id: &str, name: &str, value: Value) -> Result<(), SimError> {
        self.with(|s| {
            let user = s.tenant.users.get_mut(user_id).ok_or_else(|| SimError::UnknownUser(user_id.into()))?;
            user.props.insert(name.to_string(), value);
            s.tenant.record(user_id, ObjectKind::User, ChangeKind::Updated { properties: vec![name.into()] });
            Ok(())
        })
    }

    pub fn disable_user(&self, user_id: &str) -> Result<(), SimError> {
        self.set_user_property(user_id, "accountEnabled", Value::Bool(false))
    }

    pub fn set_photo(&self, user_id: &str, bytes: Vec<u8>) -> Result<(), SimError> {
        self.with(|s| {
            let user = s.tenant.users.get_mut(user_id).ok_or_else(|| SimError::UnknownUser(user_id.into()))?;
            user.photo = Some(Photo::new(bytes));
            s.tenant.record(user_id, ObjectKind::User, ChangeKind::PhotoChanged);
            Ok(())
        })
    }

    pub fn remove_photo(&self, user_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            let user = s.tenant.users.get_mut(user_id).ok_or_else(|| SimError::UnknownUser(user_id.into()))?;
            if user.photo.take().is_some() {
                s.tenant.record(user_id, ObjectKind::User, ChangeKind::PhotoChanged);
            }
            Ok(())
        })
    }

    pub fn set_manager(&self, user_id: &str, manager_id: Option<&str>) -> Result<(), SimError> {
        self.with(|s| {
            if let Some(m) = manager_id {
                if !s.tenant.users.contains_key(m) {
                    return Err(SimError::UnknownUser(m.into()));
                }
            }
            let user = s.tenant.users.get_mut(user_id).ok_or_else(|| SimError::UnknownUser(user_id.into()))?;
            user.manager = manager_id.map(str::to_string);
            s.tenant.record(user_id, ObjectKind::User, ChangeKind::ManagerChanged);
            Ok(())
        })
    }

    /// Creates a user from Graph properties and returns its new id.
    pub fn create_user(&self, props: serde_json::Map<String, Value>) -> String {
        self.with(|s| {
            let id = uuid::Builder::from_random_bytes(s.rng.gen()).into_uuid().to_string();
            let user = tenant::User { id: id.clone(), props: props.into_iter().collect(), manager: None, photo: None };
            s.tenant.users.insert(id.clone(), user);
            s.tenant.user_order.push(id.clone());
            s.tenant.record(&id, ObjectKind::User, ChangeKind::Created);
            id
        })
    }
}

/// Serves the simulator until the process ends.
pub async fn serve(sim: EntraSim, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, sim.router()).await
}

/// A simulator running in the background on a loopback port (for tests and demos).
pub struct RunningSim {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:{port}`, the login base and the Graph host at once.
    pub base_url: String,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The simulator being served, for its credentials and test controls.
    pub sim: EntraSim,
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Binds 127.0.0.1 on a free port and serves `sim` on a background task.
pub async fn spawn_loopback(sim: EntraSim) -> std::io::Result<RunningSim> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let router = sim.router();
    let handle = tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(RunningSim { addr, base_url: format!("http://{addr}"), handle, sim })
}
