//! The one owner of background work. Every loop (mail delivery, Entra syncs, the daily
//! schedule, purges, the SCIM request-log writer) is started here and told when to stop:
//!
//! 1. `stopping`: claim nothing new, finish what is in hand;
//! 2. after the grace period, `released`: give back what is still in hand (a sync's job lease,
//!    so another process takes it at once) and return.
//!
//! `shutdown` does both and waits for every task, so SIGTERM ends a process cleanly.

use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long tasks get to finish what they hold before they must give it back. Orchestrators
/// usually allow 30 s between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(20);

/// Cheap to clone: every clone starts tasks into the same set and shares the same signals.
#[derive(Clone, Default)]
pub struct Supervisor {
    tasks: TaskTracker,
    stopping: CancellationToken,
    released: CancellationToken,
}

/// What a task watches: whether to stop claiming, and whether to give back what it holds.
#[derive(Clone)]
pub struct Signals {
    pub stopping: CancellationToken,
    pub released: CancellationToken,
}

impl Signals {
    /// Sleep for `period`, or less if the process is stopping. False when it is.
    pub async fn pause(&self, period: Duration) -> bool {
        tokio::select! {
            _ = self.stopping.cancelled() => false,
            _ = tokio::time::sleep(period) => true,
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }
}

impl Supervisor {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn signals(&self) -> Signals {
        Signals { stopping: self.stopping.clone(), released: self.released.clone() }
    }

    /// Start a task; it is awaited at shutdown.
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tracing::debug!(task = name, "starting a background task");
        self.tasks.spawn(async move {
            task.await;
            tracing::debug!(task = name, "background task ended");
        });
    }

    /// Stop every task: no new work, `grace` to finish, then give back what is left, and wait.
    pub async fn shutdown(&self, grace: Duration) {
        self.tasks.close();
        self.stopping.cancel();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            tracing::warn!(?grace, "background work still running after the grace period; giving it back");
            self.released.cancel();
            self.tasks.wait().await;
        }
        tracing::info!("background work stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn tasks_finish_within_the_grace_or_are_told_to_give_back() {
        let supervisor = Supervisor::new();
        let finished = Arc::new(AtomicUsize::new(0));
        let gave_back = Arc::new(AtomicUsize::new(0));
        // A loop that stops claiming at once.
        let signals = supervisor.signals();
        supervisor.spawn("loop", async move { while signals.pause(Duration::from_millis(5)).await {} });
        // Work that finishes within the grace.
        let (signals, done) = (supervisor.signals(), finished.clone());
        supervisor.spawn("short", async move {
            signals.stopping.cancelled().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            done.fetch_add(1, Ordering::SeqCst);
        });
        // Work that would outlast it: it gives back when released.
        let (signals, back) = (supervisor.signals(), gave_back.clone());
        supervisor.spawn("long", async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                _ = signals.released.cancelled() => { back.fetch_add(1, Ordering::SeqCst); }
            }
        });
        let started = std::time::Instant::now();
        supervisor.shutdown(Duration::from_millis(200)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!((finished.load(Ordering::SeqCst), gave_back.load(Ordering::SeqCst)), (1, 1));
    }
}
