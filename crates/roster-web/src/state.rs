//! What every handler can reach. Nothing here is process-local state that another process would
//! need: sessions, tokens and queues live in the store.

use crate::clock::Clock;
use crate::config::WebConfig;
use crate::crypto::MasterKey;
use metrics_exporter_prometheus::PrometheusHandle;
use roster_store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<WebConfig>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Option<PrometheusHandle>,
    /// Seals the secrets integrations store (tenant ids, client secrets, keys).
    pub master_key: MasterKey,
    /// The SCIM request log's writer (a queue in front of the store; the log itself is stored).
    pub scim_log: crate::scim::LogQueue,
    /// Each organisation's share of the server's work (process-local: it bounds this process).
    pub fairness: crate::guard::Fairness,
}
