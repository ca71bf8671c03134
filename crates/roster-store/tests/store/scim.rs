//! The SCIM store: tokens, resources and their filters, optimistic writes, memberships, the log.

use crate::support::*;
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, OrgId, Plan};
use roster_scim::{parse_filter, AttrPath, Sort, SortOrder};
use roster_store::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

async fn scim_connection(store: &dyn Store, org: OrgId) -> ConnectionId {
    let connection = Connection {
        id: ConnectionId::from_uuid(Uuid::now_v7()),
        org,
        kind: ConnectionKind::Scim,
        name: "SCIM".into(),
        enabled: true,
        settings: json!({}),
        sealed: BTreeMap::new(),
        created_at: now(),
        updated_at: now(),
    };
    store.create_connection(&connection, &Actor::Cli).await.unwrap();
    connection.id
}

fn user(org: OrgId, connection: ConnectionId, user_name: &str, document: serde_json::Value) -> ScimResource {
    ScimResource {
        org,
        connection,
        resource_type: ScimResourceType::User,
        id: Uuid::now_v7(),
        external_id: document["externalId"].as_str().map(str::to_owned),
        user_name: Some(user_name.into()),
        display_name: document["displayName"].as_str().map(str::to_owned),
        document,
        version: 1,
        created_at: now(),
        updated_at: now(),
        person: None,
        team: None,
    }
}

fn empty_plan(org: OrgId) -> Plan {
    Plan::new(org, Actor::Cli)
}

async fn insert(store: &dyn Store, resource: &ScimResource) {
    let write = ScimWrite { resource: resource.clone(), expected_version: None, members: None, hold_deactivation: false };
    assert_eq!(store.scim_write(&write, &empty_plan(resource.org), now()).await.unwrap(), ScimWriteOutcome::Written);
}

async fn matching(store: &dyn Store, org: OrgId, filter: &str) -> Vec<String> {
    let filter = parse_filter(filter).unwrap();
    filter.validate(roster_scim::Schema::user()).unwrap();
    check_scim_filter(&filter, roster_scim::Schema::user()).unwrap();
    let query = ScimQuery { filter: Some(&filter), sort: None, offset: 0, count: 100 };
    let page = store.scim_list(org, ScimResourceType::User, &query).await.unwrap();
    assert_eq!(page.total, page.resources.len());
    page.resources.into_iter().filter_map(|r| r.user_name).collect()
}

pub async fn tokens_are_found_by_digest_until_revoked(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let connection = scim_connection(store.as_ref(), org).await;
    let token = NewScimToken {
        id: Uuid::now_v7(),
        org,
        connection,
        name: "Okta".into(),
        digest: "d1".into(),
        created_at: now(),
        created_by: roster_core::Actor::Cli,
    };
    store.create_scim_token(&token).await.unwrap();
    let found = store.scim_token("d1", now()).await.unwrap().unwrap();
    assert_eq!((found.org, found.connection), (org, connection));
    assert!(found.last_used_at.is_some(), "use is recorded");
    assert!(store.scim_token("nope", now()).await.unwrap().is_none());
    let other = new_org(store.as_ref(), "other").await;
    assert!(!store.revoke_scim_token(other, token.id, &roster_core::Actor::Cli, now()).await.unwrap(), "another org cannot revoke it");
    assert!(store.revoke_scim_token(org, token.id, &roster_core::Actor::Cli, now()).await.unwrap());
    assert!(store.scim_token("d1", now()).await.unwrap().is_none());
    assert_eq!(store.scim_tokens(org).await.unwrap().len(), 1);
}

pub async fn filters_compile_to_sql_with_json_fallbacks(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let connection = scim_connection(store.as_ref(), org).await;
    let ada = json!({"userName": "Ada@Example.com", "externalId": "okta-1", "active": true, "title": "Engineer",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}, {"value": "ada@home.test", "type": "home"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Research"}});
    let bob = json!({"userName": "bob@example.com", "externalId": "okta-2", "active": false,
        "name": {"givenName": "Bob", "familyName": "Babbage"}, "emails": [{"value": "bob@home.test", "type": "home"}]});
    insert(store.as_ref(), &user(org, connection, "Ada@Example.com", ada)).await;
    insert(store.as_ref(), &user(org, connection, "bob@example.com", bob)).await;
    let other = new_org(store.as_ref(), "other").await;
    let other_connection = scim_connection(store.as_ref(), other).await;
    insert(store.as_ref(), &user(other, other_connection, "ada@example.com", json!({"userName": "ada@example.com"}))).await;

    assert_eq!(matching(store.as_ref(), org, r#"userName eq "ADA@example.COM""#).await, ["Ada@Example.com"]);
    assert_eq!(matching(store.as_ref(), org, r#"userName eq "nobody@example.com""#).await, Vec::<String>::new());
    assert_eq!(matching(store.as_ref(), org, r#"externalId eq "okta-2""#).await, ["bob@example.com"]);
    assert_eq!(matching(store.as_ref(), org, r#"externalId eq "OKTA-2""#).await, Vec::<String>::new(), "externalId is case-exact");
    assert_eq!(matching(store.as_ref(), org, r#"emails[type eq "work"].value eq "ADA@example.com""#).await, ["Ada@Example.com"]);
    assert_eq!(matching(store.as_ref(), org, r#"emails co "home.test""#).await.len(), 2);
    assert_eq!(matching(store.as_ref(), org, "active eq false").await, ["bob@example.com"]);
    assert_eq!(matching(store.as_ref(), org, "title pr").await, ["Ada@Example.com"]);
    assert_eq!(matching(store.as_ref(), org, r#"not (title eq "Engineer")"#).await, ["bob@example.com"]);
    assert_eq!(matching(store.as_ref(), org, r#"title ne "Engineer""#).await, ["bob@example.com"]);
    assert_eq!(matching(store.as_ref(), org, r#"name.familyName sw "lov""#).await, ["Ada@Example.com"]);
    assert_eq!(matching(store.as_ref(), org, r#"department eq "research""#).await, ["Ada@Example.com"]);
    assert_eq!(matching(store.as_ref(), org, r#"userName ew ".com" and active eq true"#).await, ["Ada@Example.com"]);
    assert_eq!(matching(store.as_ref(), org, r#"meta.lastModified gt "2000-01-01T00:00:00Z""#).await.len(), 2);
    assert!(check_scim_filter(&parse_filter(r#"id sw "0""#).unwrap(), roster_scim::Schema::user()).is_err());

    let by_family = Sort { by: AttrPath::new(None, "name", Some("familyName")), order: SortOrder::Descending };
    let query = ScimQuery { filter: None, sort: Some(&by_family), offset: 0, count: 10 };
    let page = store.scim_list(org, ScimResourceType::User, &query).await.unwrap();
    let names: Vec<_> = page.resources.iter().filter_map(|r| r.user_name.clone()).collect();
    assert_eq!(names, ["Ada@Example.com", "bob@example.com"]);
    let count_only = ScimQuery { filter: None, sort: None, offset: 0, count: 0 };
    let page = store.scim_list(org, ScimResourceType::User, &count_only).await.unwrap();
    assert_eq!((page.total, page.resources.len()), (2, 0));
}

pub async fn paging_yields_each_resource_once_with_true_totals(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let connection = scim_connection(store.as_ref(), org).await;
    for n in 0..230 {
        let name = format!("u{n:03}@example.com");
        insert(store.as_ref(), &user(org, connection, &name, json!({"userName": name}))).await;
    }
    let mut seen = std::collections::HashSet::new();
    let mut offset = 0;
    loop {
        let query = ScimQuery { filter: None, sort: None, offset, count: 100 };
        let page = store.scim_list(org, ScimResourceType::User, &query).await.unwrap();
        assert_eq!(page.total, 230);
        if page.resources.is_empty() {
            break;
        }
        for r in &page.resources {
            assert!(seen.insert(r.id), "a resource appeared twice");
        }
        offset += page.resources.len();
    }
    assert_eq!(seen.len(), 230);
}

pub async fn names_are_unique_in_any_case_and_stale_writes_lose(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let connection = scim_connection(store.as_ref(), org).await;
    let first = user(org, connection, "kim@example.com", json!({"userName": "kim@example.com"}));
    insert(store.as_ref(), &first).await;
    let twin =
        ScimWrite { resource: user(org, connection, "KIM@example.com", json!({})), expected_version: None, members: None, hold_deactivation: false };
    match store.scim_write(&twin, &empty_plan(org), now()).await {
        Err(StoreError::Conflict { unique: Unique::ScimUserName, message }) => assert_eq!(message, SCIM_USER_NAME_TAKEN),
        other => panic!("expected a conflict, got {other:?}"),
    }

    let mut next = first.clone();
    next.version = 2;
    next.document = json!({"userName": "kim@example.com", "title": "A"});
    let write = ScimWrite { resource: next.clone(), expected_version: Some(1), members: None, hold_deactivation: false };
    assert_eq!(store.scim_write(&write, &empty_plan(org), now()).await.unwrap(), ScimWriteOutcome::Written);
    // A writer that read version 1 too, and planned a team, loses and leaves no trace.
    let team = tid();
    let plan = Plan { changes: vec![create_team(team, "Lost")], ..empty_plan(org) };
    let mut late = next.clone();
    late.document = json!({"userName": "kim@example.com", "title": "B"});
    let outcome = store
        .scim_write(&ScimWrite { resource: late, expected_version: Some(1), members: None, hold_deactivation: false }, &plan, now())
        .await
        .unwrap();
    assert_eq!(outcome, ScimWriteOutcome::Stale);
    assert!(store.team(org, team).await.unwrap().is_none(), "the plan of a stale write is rolled back");
    let stored = store.scim_resource(org, ScimResourceType::User, first.id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.document["title"].as_str()), (2, Some("A")));
}

pub async fn groups_keep_members_and_deletes_cascade(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let connection = scim_connection(store.as_ref(), org).await;
    let a = user(org, connection, "a@example.com", json!({"userName": "a@example.com"}));
    let b = user(org, connection, "b@example.com", json!({"userName": "b@example.com"}));
    insert(store.as_ref(), &a).await;
    insert(store.as_ref(), &b).await;
    let team = tid();
    let group = ScimResource {
        resource_type: ScimResourceType::Group,
        user_name: None,
        display_name: Some("Sales".into()),
        team: Some(team),
        ..user(org, connection, "", json!({"displayName": "Sales"}))
    };
    let plan = Plan { changes: vec![create_team(team, "Sales")], ..empty_plan(org) };
    let write = ScimWrite { resource: group.clone(), expected_version: None, members: Some(vec![a.id, b.id]), hold_deactivation: false };
    assert_eq!(store.scim_write(&write, &plan, now()).await.unwrap(), ScimWriteOutcome::Written);
    assert_eq!(store.scim_members(org, group.id).await.unwrap().len(), 2);
    assert_eq!(store.scim_groups_of(org, a.id).await.unwrap(), vec![(group.id, "Sales".to_owned())]);
    assert_eq!(store.scim_group_by_name(org, "SALES").await.unwrap().map(|g| g.id), Some(group.id));

    let twin = ScimResource { id: Uuid::now_v7(), display_name: Some("sales".into()), team: None, ..group.clone() };
    let clash = store
        .scim_write(&ScimWrite { resource: twin, expected_version: None, members: None, hold_deactivation: false }, &empty_plan(org), now())
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict { unique: Unique::ScimGroupName, message: m }) if m == SCIM_GROUP_NAME_TAKEN));

    assert_eq!(
        store
            .scim_delete(
                &ScimDelete { org, kind: ScimResourceType::User, id: a.id, expected_version: 1, also: &[], hold_deactivation: None },
                &empty_plan(org),
                now()
            )
            .await
            .unwrap(),
        ScimWriteOutcome::Written
    );
    assert_eq!(store.scim_members(org, group.id).await.unwrap(), vec![b.id]);
    assert_eq!(
        store
            .scim_delete(
                &ScimDelete { org, kind: ScimResourceType::User, id: a.id, expected_version: 1, also: &[], hold_deactivation: None },
                &empty_plan(org),
                now()
            )
            .await
            .unwrap(),
        ScimWriteOutcome::Stale
    );
    assert_eq!(
        store
            .scim_delete(
                &ScimDelete { org, kind: ScimResourceType::Group, id: group.id, expected_version: 1, also: &[], hold_deactivation: None },
                &empty_plan(org),
                now()
            )
            .await
            .unwrap(),
        ScimWriteOutcome::Written
    );
    assert!(store.team(org, team).await.unwrap().is_some(), "deleting a group keeps its team");
    assert!(store.scim_groups_of(org, b.id).await.unwrap().is_empty());
}

pub async fn concurrent_versioned_writes_never_lose_an_update(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let connection = scim_connection(store.as_ref(), org).await;
    let resource = user(org, connection, "c@example.com", json!({"userName": "c@example.com", "count": 0}));
    insert(store.as_ref(), &resource).await;
    // Each writer adds one to a counter with read-modify-write, retrying when it loses.
    let writers = (0..8).map(|_| {
        let store = store.clone();
        let id = resource.id;
        tokio::spawn(async move {
            loop {
                let current = store.scim_resource(org, ScimResourceType::User, id).await.unwrap().unwrap();
                let mut next = current.clone();
                next.version += 1;
                next.document["count"] = json!(current.document["count"].as_i64().unwrap() + 1);
                let write = ScimWrite { resource: next, expected_version: Some(current.version), members: None, hold_deactivation: false };
                if store.scim_write(&write, &Plan::new(org, Actor::Cli), now()).await.unwrap() == ScimWriteOutcome::Written {
                    break;
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let stored = store.scim_resource(org, ScimResourceType::User, resource.id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.document["count"].as_i64()), (9, Some(8)));
}

pub async fn requests_are_logged_newest_first(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let mut entries = Vec::new();
    for (n, status) in [200u16, 409].into_iter().enumerate() {
        let entry = ScimRequestLog {
            id: Uuid::now_v7(),
            org,
            token: None,
            at: now() + chrono::Duration::seconds(n as i64),
            method: "POST".into(),
            path: "/scim/v2/Users".into(),
            status,
            duration_micros: 1200,
            error: (status == 409).then(|| SCIM_USER_NAME_TAKEN.to_owned()),
        };
        entries.push(entry);
    }
    store.log_scim_requests(&entries).await.unwrap();
    store.log_scim_requests(&[]).await.unwrap();
    let log = store.scim_requests(org, 10).await.unwrap();
    assert_eq!(log.iter().map(|e| e.status).collect::<Vec<_>>(), [409, 200]);
}
