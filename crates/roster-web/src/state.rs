//! What every handler can reach: the application (`roster_app::App`, which it dereferences to)
//! and what only the HTTP side needs. Nothing here is process-local state that another process
//! would need: sessions, tokens and queues live in the store.

use metrics_exporter_prometheus::PrometheusHandle;
use roster_app::jobs::supervisor::Supervisor;
use roster_app::App;
use std::ops::Deref;

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub metrics: Option<PrometheusHandle>,
    /// The SCIM request log's writer (a queue in front of the store; the log itself is stored).
    pub scim_log: crate::scim::LogQueue,
    /// Each organisation's share of the server's work (process-local: it bounds this process).
    pub fairness: crate::guard::Fairness,
    /// Owns this process's background work (the SCIM log writer here; the binary starts the
    /// rest) and stops it on shutdown.
    pub supervisor: Supervisor,
}

impl AppState {
    /// The HTTP side of `app`, with metrics when the process exports them.
    pub fn new(app: App, metrics: Option<PrometheusHandle>) -> Self {
        let supervisor = Supervisor::new();
        AppState { app, metrics, scim_log: crate::scim::LogQueue::new(supervisor.clone()), fairness: Default::default(), supervisor }
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}
