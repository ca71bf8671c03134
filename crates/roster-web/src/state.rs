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
    /// Each organisation's people counts, kept while its audit log has not moved.
    pub counts: PeopleCountsCache,
    /// Owns this process's background work (the SCIM log writer here; the binary starts the
    /// rest) and stops it on shutdown.
    pub supervisor: Supervisor,
}

impl AppState {
    /// The HTTP side of `app`, with metrics when the process exports them.
    pub fn new(app: App, metrics: Option<PrometheusHandle>) -> Self {
        let supervisor = Supervisor::new();
        AppState {
            app,
            metrics,
            scim_log: crate::scim::LogQueue::new(supervisor.clone()),
            fairness: Default::default(),
            counts: Default::default(),
            supervisor,
        }
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

/// The Individuals header's counts (by status) per organisation. Counting 100,000 people takes
/// about 10 ms; the audit log's newest sequence number, one index probe, says whether anything
/// changed since. Kept at most a minute whatever it says, so a write whose number committed
/// out of order is counted soon anyway.
#[derive(Clone, Default)]
pub struct PeopleCountsCache {
    entries: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<roster_core::OrgId, CountsAt>>>,
}

/// Counts, with the audit version and the moment they were taken at.
type CountsAt = (i64, std::time::Instant, roster_store::PeopleCounts);

impl PeopleCountsCache {
    const LONGEST: std::time::Duration = std::time::Duration::from_secs(60);

    pub async fn get(&self, store: &dyn roster_store::Store, org: roster_core::OrgId) -> roster_store::StoreResult<roster_store::PeopleCounts> {
        let version = store.audit_version(org).await?;
        let kept = self.entries.lock().ok().and_then(|e| e.get(&org).cloned());
        if let Some((at_version, when, counts)) = kept {
            if at_version == version && when.elapsed() < Self::LONGEST {
                return Ok(counts);
            }
        }
        let counts = store.count_people(org).await?;
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(org, (version, std::time::Instant::now(), counts));
        }
        Ok(counts)
    }
}
