//! Each kind of store error comes from a real violation, the same on both backends, so callers
//! can decide on kinds and never on wording.

use crate::support::*;
use roster_core::{Change, Org, OrgSlug, SourceLink};
use roster_store::{Store, StoreError, Unique};
use std::sync::Arc;

fn kind(result: Result<roster_core::RunId, StoreError>) -> Option<Unique> {
    result.err().and_then(|e| e.unique())
}

pub async fn uniqueness_rules_are_named_by_kind(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    let again = Org {
        id: roster_core::OrgId::from_uuid(uuid::Uuid::now_v7()),
        slug: OrgSlug::parse("acme").unwrap(),
        name: "Again".into(),
        created_at: now(),
    };
    assert_eq!(store.create_org(&again).await.err().and_then(|e| e.unique()), Some(Unique::OrgSlug));

    let ada = person_in(store, org, "ada@acme.example").await;
    let twin = new_person("ada@acme.example", "Ada", "Twin");
    assert_eq!(kind(store.apply(&plan(org, vec![create(&twin)]), now()).await), Some(Unique::Email));

    let team = tid();
    apply(store, org, vec![create_team(team, "Research")]).await;
    let clash = store.apply(&plan(org, vec![create_team(tid(), "RESEARCH")]), now()).await;
    assert!(clash.as_ref().is_err_and(StoreError::is_team_race), "{clash:?}");

    let connection = roster_core::ConnectionId::from_uuid(uuid::Uuid::now_v7());
    let link = SourceLink { connection, external_id: "ext-1".into() };
    apply(store, org, vec![Change::LinkSource { id: ada.id, link: link.clone() }]).await;
    let bob = person_in(store, org, "bob@acme.example").await;
    assert_eq!(kind(store.apply(&plan(org, vec![Change::LinkSource { id: bob.id, link }]), now()).await), Some(Unique::SourceLink));

    // A reference into nothing is NotFound; a team made its own ancestor is Invalid.
    let ghost = Change::SetManager { id: bob.id, before: None, after: Some(uid()) };
    assert!(matches!(store.apply(&plan(org, vec![ghost]), now()).await, Err(StoreError::NotFound(_))));
    let own = Change::SetTeamParent { id: team, before: None, after: Some(team) };
    assert!(matches!(store.apply(&plan(org, vec![own]), now()).await, Err(StoreError::Invalid(_))));
}

/// An unreachable database is `Unavailable`, which callers may retry, on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pg = roster_store::postgres::PgStore::connect(&format!("postgres://postgres@127.0.0.1:{closed}/postgres")).await;
    let Err(error) = pg else { panic!("nothing listens there") };
    assert!(matches!(error, StoreError::Unavailable(_)) && error.is_transient(), "{error:?}");

    let file = tempfile::NamedTempFile::new().unwrap();
    let sqlite = roster_store::sqlite::SqliteStore::open(&file.path().join("data")).await;
    let Err(error) = sqlite else { panic!("a data directory inside a file cannot exist") };
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}
