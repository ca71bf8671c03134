//! Microsoft Entra in real time. Graph announces changes to users and groups (change
//! notifications, `notifications`), each announcement starts a delta round for its connection
//! (`round`), and the subscriptions behind them are kept alive (`subscriptions`). A full sync
//! records where the rounds start (`baseline`) and stays the periodic reconciliation, since
//! Graph does not announce the notifications it missed for users and groups.
//!
//! One run per connection at a time: full syncs, delta rounds and provisioning on demand take
//! the connection's lock, and each reads Graph after taking it, so a slower run never applies
//! an older view of someone over a newer one.

pub mod baseline;
pub mod notifications;
pub mod round;
pub mod scope;
pub mod subscriptions;

use crate::App;
use chrono::Duration;
use roster_core::ConnectionId;
use roster_store::StoreError;

/// How long a lock is held without renewal; a holder that dies frees it after this.
const LOCK_SECONDS: i64 = 60;
const LOCK_RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(20);

/// One run's hold on a connection. Renewed while held; released by `release` (or, for a run
/// whose process died, when it lapses).
pub struct ConnectionLock {
    app: App,
    name: String,
    holder: String,
    renewal: tokio::task::JoinHandle<()>,
    released: bool,
}

fn lock_name(connection: ConnectionId) -> String {
    format!("entra.connection:{connection}")
}

/// Take the connection's lock, waiting up to `wait` for the run holding it to end. `None` when
/// it is still held then.
pub async fn lock_connection(app: &App, connection: ConnectionId, wait: std::time::Duration) -> Result<Option<ConnectionLock>, StoreError> {
    let name = lock_name(connection);
    let holder = uuid::Uuid::now_v7().to_string();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let now = app.clock.now();
        if app.store.try_lease(&name, &holder, now, now + Duration::seconds(LOCK_SECONDS)).await? {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let renewal = tokio::spawn({
        let (app, name, holder) = (app.clone(), name.clone(), holder.clone());
        async move {
            loop {
                tokio::time::sleep(LOCK_RENEW_EVERY).await;
                let now = app.clock.now();
                if let Err(error) = app.store.try_lease(&name, &holder, now, now + Duration::seconds(LOCK_SECONDS)).await {
                    tracing::warn!(%error, "could not renew a connection's lock");
                }
            }
        }
    });
    Ok(Some(ConnectionLock { app: app.clone(), name, holder, renewal, released: false }))
}

async fn free(app: &App, name: &str, holder: &str) {
    let now = app.clock.now();
    // Held by us, the lease may be moved into the past: the next contender takes it.
    if let Err(error) = app.store.try_lease(name, holder, now, now - Duration::seconds(1)).await {
        tracing::warn!(%error, "could not release a connection's lock; it lapses by itself");
    }
}

impl ConnectionLock {
    /// Free the connection for the next run.
    pub async fn release(mut self, app: &App) {
        self.renewal.abort();
        self.released = true;
        free(app, &self.name, &self.holder).await;
    }
}

impl Drop for ConnectionLock {
    /// A run given back when its process stops is dropped here: free the lock at once, as
    /// far as the process still can, so the process taking the run over need not wait.
    fn drop(&mut self) {
        self.renewal.abort();
        if self.released {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (app, name, holder) = (self.app.clone(), std::mem::take(&mut self.name), std::mem::take(&mut self.holder));
            runtime.spawn(async move { free(&app, &name, &holder).await });
        }
    }
}
