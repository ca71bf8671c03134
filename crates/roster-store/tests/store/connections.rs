//! Connections: one Entra tenant per organisation, audited changes without secrets, isolation.

use crate::support::*;
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind};
use roster_store::{Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

fn connection(org: roster_core::OrgId, kind: ConnectionKind) -> Connection {
    Connection {
        id: ConnectionId::from_uuid(Uuid::now_v7()),
        org,
        kind,
        name: kind.label().into(),
        enabled: false,
        settings: serde_json::json!({ "group_id": "g-1" }),
        sealed: BTreeMap::from([("client_secret".to_owned(), vec![1, 2, 3])]),
        created_at: now(),
        updated_at: now(),
    }
}

pub async fn connections_are_one_tenant_per_org_and_audited_without_secrets(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let other = new_org(store.as_ref(), "other").await;
    let entra = connection(org, ConnectionKind::Entra);
    store.create_connection(&entra, &Actor::Cli).await.unwrap();
    let second = store.create_connection(&connection(org, ConnectionKind::Entra), &Actor::Cli).await;
    assert!(matches!(second, Err(StoreError::Conflict { unique: roster_store::Unique::OneConnection, .. })), "{second:?}");
    store.create_connection(&connection(org, ConnectionKind::Scim), &Actor::Cli).await.unwrap();
    store.create_connection(&connection(other, ConnectionKind::Entra), &Actor::Cli).await.unwrap();

    let mut changed = store.connection(org, entra.id).await.unwrap().unwrap();
    assert_eq!(changed.sealed, entra.sealed);
    assert!(!changed.enabled, "connections start disabled");
    changed.enabled = true;
    changed.sealed.insert("client_secret".into(), vec![9, 9, 9]);
    changed.settings = serde_json::json!({ "group_id": "g-2" });
    store.update_connection(&changed, &Actor::Cli, now()).await.unwrap();
    let read = store.connection(org, entra.id).await.unwrap().unwrap();
    assert!(read.enabled);
    assert_eq!(read.sealed["client_secret"], vec![9, 9, 9]);

    let audit = store.recent_audit(org, 10).await.unwrap();
    let update = audit.iter().find(|a| a.action == "connection.updated").unwrap();
    assert_eq!(update.detail["before"]["settings"]["group_id"], "g-1");
    assert_eq!(update.detail["after"]["settings"]["group_id"], "g-2");
    assert_eq!(update.detail["secrets_changed"], serde_json::json!(["client_secret"]));
    assert!(!update.detail.to_string().contains("[9,9,9]"), "sealed values stay out of the audit log");

    assert_eq!(store.connections(org).await.unwrap().len(), 2);
    assert!(store.connection(other, entra.id).await.unwrap().is_none(), "another org cannot read it");
    let mut foreign = entra.clone();
    foreign.org = other;
    assert!(matches!(store.update_connection(&foreign, &Actor::Cli, now()).await, Err(StoreError::NotFound(_))));
    let enabled = store.enabled_connections(ConnectionKind::Entra).await.unwrap();
    assert_eq!(enabled.iter().map(|c| c.id).collect::<Vec<_>>(), vec![entra.id]);
}

/// Deleting a connection unlinks its people (kept as they are, each unlink audited), removes its
/// runs and the connection, and touches nobody else; a second delete finds nothing.
pub async fn deleting_a_connection_unlinks_its_people_and_removes_its_runs(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let entra = connection(org, ConnectionKind::Entra);
    store.create_connection(&entra, &Actor::Cli).await.unwrap();
    let mut linked = new_person("linked@acme.example", "Linked", "Person");
    linked.source = Some(roster_core::SourceLink { connection: entra.id, external_id: "ext-1".into() });
    let by_hand = new_person("hand@acme.example", "By", "Hand");
    apply(store.as_ref(), org, vec![create(&linked), create(&by_hand)]).await;
    let run = roster_store::SyncRun::queued(roster_core::RunId::from_uuid(Uuid::now_v7()), org, entra.id, "manual", now());
    store.create_run(&run).await.unwrap();

    assert_eq!(store.delete_connection(org, entra.id, &Actor::Cli, now()).await.unwrap(), 1);
    assert!(store.connection(org, entra.id).await.unwrap().is_none());
    assert!(store.sync_run(org, run.id).await.unwrap().is_none(), "its runs go with it");
    let kept = store.person(org, linked.id).await.unwrap().expect("the person is kept");
    assert_eq!((kept.source, kept.status), (None, roster_core::Status::Invited), "unlinked, as they were");
    assert!(store.audit_for_person(org, linked.id, 10).await.unwrap().iter().any(|a| a.action == "user.unlinked" && a.actor == "cli"));
    assert!(store.audit_for_person(org, by_hand.id, 10).await.unwrap().iter().all(|a| a.action != "user.unlinked"));
    assert!(store.recent_audit(org, 10).await.unwrap().iter().any(|a| a.action == "connection.deleted"));
    let again = store.delete_connection(org, entra.id, &Actor::Cli, now()).await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
}
