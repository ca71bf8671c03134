//! Where delta rounds start: a full sync reads the tenant's group memberships (the initial
//! groups round) and a users link from now, before it lists the group, and stores them once
//! its plan is applied. Changes made while it runs are replayed by the first round, and a
//! round's entries are merged by id, so replaying them is harmless.

use super::scope::RoundMemberships;
use roster_entra::{DeltaFrom, GraphClient, GraphError};
use roster_store::{DeltaLinks, MembershipChanges, Store, StoreResult};

#[derive(Debug, Clone)]
pub struct Baseline {
    links: DeltaLinks,
    memberships: MembershipChanges,
}

pub async fn read_baseline(client: &GraphClient, extras: &[&str]) -> Result<Baseline, GraphError> {
    let groups = client.groups_delta(DeltaFrom::Start).await?;
    let users = client.users_delta(DeltaFrom::Now, extras).await?;
    Ok(Baseline {
        links: DeltaLinks { users: users.delta_link, groups: groups.delta_link },
        memberships: RoundMemberships::from_round(&groups.groups).baseline(),
    })
}

pub async fn save_baseline(
    store: &dyn Store,
    connection: &roster_core::Connection,
    baseline: &Baseline,
    at: chrono::DateTime<chrono::Utc>,
) -> StoreResult<()> {
    store.save_entra_round(connection.org, connection.id, &baseline.links, &baseline.memberships, at).await
}
