//! Storage for integrations: connections to identity providers. Secrets arrive sealed (see
//! `roster_app::secrets::seal`); the store never sees them in the clear.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, OrgId};

#[async_trait]
pub trait ConnectionStore {
    /// Store a new connection and audit it. `Conflict` when the organisation already has one of
    /// a kind it may have only once (one Entra tenant per organisation).
    async fn create_connection(&self, connection: &Connection, actor: &Actor) -> StoreResult<()>;
    /// Replace a connection's name, settings, sealed secrets and enabled flag; audited with the
    /// settings before and after (never the secrets).
    async fn update_connection(&self, connection: &Connection, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()>;
    async fn connection(&self, org: OrgId, id: ConnectionId) -> StoreResult<Option<Connection>>;
    /// The organisation's connections, oldest first.
    async fn connections(&self, org: OrgId) -> StoreResult<Vec<Connection>>;
    /// Delete a provisioning connection in one transaction: the people it provisions are
    /// unlinked and kept as they are (managed by hand from then on; each unlink audited), its
    /// runs go, and the deletion is audited. Returns how many people were unlinked.
    async fn delete_connection(&self, org: OrgId, id: ConnectionId, actor: &Actor, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Enabled connections of one kind across every organisation (for schedulers).
    async fn enabled_connections(&self, kind: ConnectionKind) -> StoreResult<Vec<Connection>>;
}
