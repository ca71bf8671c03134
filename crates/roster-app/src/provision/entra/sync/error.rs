//! Why a sync did not apply, in words the admin can act on. Never carries a secret.

use roster_entra::GraphError;
use roster_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Microsoft Entra or Graph refused or failed; the message says what to fix.
    #[error("{0}")]
    Graph(#[from] GraphError),
    #[error("the directory could not be read or written: {0}")]
    Store(#[from] StoreError),
    /// The connection's settings are incomplete or unreadable.
    #[error("the connection is not set up correctly: {0}")]
    Settings(String),
}

impl SyncError {
    /// Whether the same run may pass if tried again later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Graph(e) => e.is_transient(),
            SyncError::Store(StoreError::Conflict { .. } | StoreError::Database(_)) => true,
            SyncError::Store(e) if e.is_transient() => true,
            SyncError::Store(_) | SyncError::Settings(_) => false,
        }
    }
}
