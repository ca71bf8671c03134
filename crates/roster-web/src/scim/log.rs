//! The SCIM request log: method, path, status, duration and the error detail of every request.
//! Bodies are never kept (they carry passwords Okta always sends); the path and query are kept
//! (a filter names a userName, never a secret; tokens travel only in the header).

use super::LoggedError;
use crate::routing::OrgCtx;
use crate::state::AppState;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use roster_app::jobs::supervisor::{Signals, Supervisor};
use roster_store::ScimRequestLog;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Entries waiting to be written; beyond this (the database stalled) new ones are dropped and
/// counted rather than held in memory.
const QUEUE: usize = 10_000;
/// The most entries written in one transaction.
const BATCH: usize = 500;

/// The log's writer: one task per process takes whatever has queued up and writes it in one
/// transaction, so under load many requests share one commit (on SQLite, one turn of the
/// single writer), and at rest each entry is written at once. The supervisor owns the task;
/// when the process stops, what is queued is written before it ends.
#[derive(Clone)]
pub struct LogQueue {
    sender: Arc<OnceLock<mpsc::Sender<ScimRequestLog>>>,
    supervisor: Supervisor,
}

impl LogQueue {
    pub fn new(supervisor: Supervisor) -> Self {
        LogQueue { sender: Arc::default(), supervisor }
    }

    fn push(&self, state: &AppState, entry: ScimRequestLog) {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            self.supervisor.spawn("scim request log", write_batches(state.store.clone(), receiver, self.supervisor.signals()));
            sender
        });
        if sender.try_send(entry).is_err() {
            metrics::counter!("roster_scim_log_dropped_total").increment(1);
        }
    }
}

async fn write_batches(store: Arc<dyn roster_store::Store>, mut receiver: mpsc::Receiver<ScimRequestLog>, signals: Signals) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = receiver.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    return;
                }
                write(store.as_ref(), &mut batch).await;
            }
            _ = signals.stopping.cancelled() => {
                // No request is served any more: write what is queued, then end.
                receiver.close();
                while receiver.recv_many(&mut batch, BATCH).await > 0 {
                    write(store.as_ref(), &mut batch).await;
                }
                return;
            }
        }
    }
}

async fn write(store: &dyn roster_store::Store, batch: &mut Vec<ScimRequestLog>) {
    if let Err(error) = store.log_scim_requests(batch).await {
        tracing::warn!(%error, entries = batch.len(), "could not record SCIM requests");
    }
    batch.clear();
}

/// The longest path (with its query) kept in the log.
const MAX_LOGGED_PATH: usize = 500;

/// Lets the bearer-token extractor tell the log which token made the request.
#[derive(Clone, Default)]
pub(crate) struct RequestNote(Arc<Mutex<Option<Uuid>>>);

impl RequestNote {
    pub(crate) fn set_token(&self, token: Uuid) {
        // A poisoned lock only means another holder panicked; an Option<Uuid> is never half-written.
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(token);
    }

    fn token(&self) -> Option<Uuid> {
        // A poisoned lock only means another holder panicked; an Option<Uuid> is never half-written.
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(crate) async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let at = state.clock.now();
    let org = request.extensions().get::<OrgCtx>().map(|ctx| ctx.org.id);
    let method = request.method().to_string();
    // Shown as the client addressed it on the organisation's host, without `/o/{slug}`.
    // The nested router sees the path without its prefix; the original names the endpoint.
    let uri = request.extensions().get::<OriginalUri>().map_or_else(|| request.uri().clone(), |o| o.0.clone());
    let full = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let path = match full.strip_prefix("/o/") {
        Some(rest) => rest.find('/').map_or(full.clone(), |i| rest[i..].to_owned()),
        None => full,
    };
    let note = RequestNote::default();
    request.extensions_mut().insert(note.clone());
    let response = next.run(request).await;
    let Some(org) = org else {
        return response;
    };
    let entry = ScimRequestLog {
        id: Uuid::now_v7(),
        org,
        token: note.token(),
        at,
        method,
        path: path.chars().take(MAX_LOGGED_PATH).collect(),
        status: response.status().as_u16(),
        // Saturates only after 292,000 years.
        duration_micros: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        error: response.extensions().get::<LoggedError>().map(|e| e.0.clone()),
    };
    // Written after the answer, so the log never slows a client down.
    state.scim_log.push(&state, entry);
    response
}
