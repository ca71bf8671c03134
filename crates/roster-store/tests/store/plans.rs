//! SQLite chooses plans by statistics; Roster pins them (see `sqlite/planner_stats.sql`) so the
//! plans below hold however small or large the data, including after someone ran ANALYZE. The
//! statements mirror the shapes `common::apply::flush_updates` and `common::filter` build.

use crate::support::*;
use roster_store::sqlite::SqliteStore;
use roster_store::Store;

async fn plan_of(store: &SqliteStore, sql: &str) -> String {
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(store.pool()).await.unwrap();
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn sqlite_plans_use_indexes_whatever_the_data_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    store.migrate().await.unwrap();
    let org = new_org(&store, "acme").await;
    person_in(&store, org, "ada@acme.example").await;
    // Real statistics of a tiny directory, as an older version or an operator may leave them;
    // the next start pins the planned shape again.
    sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    store.pool().close().await;
    let store = SqliteStore::open(dir.path()).await.unwrap();
    store.migrate().await.unwrap();

    let values: Vec<String> = (0..200).map(|i| format!("(x'{i:032x}', NULL)")).collect();
    let ids: Vec<String> = (0..200).map(|i| format!("x'{i:032x}'")).collect();
    let update = plan_of(
        &store,
        &format!(
            "UPDATE people SET manager_id = v.column2 FROM (VALUES {}) AS v \
             WHERE people.org_id = x'01' AND people.id IN ({}) AND people.id = v.column1",
            values.join(", "),
            ids.join(", ")
        ),
    )
    .await;
    assert!(
        update.contains("SEARCH people USING COVERING INDEX sqlite_autoindex_people_1 (org_id=? AND id=?)"),
        "a batch update looks people up by key:\n{update}"
    );

    let prefix = plan_of(
        &store,
        "SELECT p.id FROM people p WHERE p.org_id = x'01' AND ((p.org_id = x'01' AND p.email >= 'ad' AND p.email < 'ae') \
         OR (p.org_id = x'01' AND p.sort_key >= 'ad' AND p.sort_key < 'ae') OR (p.org_id = x'01' AND p.last_key >= 'ad' AND p.last_key < 'ae'))",
    )
    .await;
    assert!(prefix.contains("MULTI-INDEX OR"), "a prefix search ranges over three indexes:\n{prefix}");

    let team = plan_of(
        &store,
        "SELECT COUNT(*) FROM people p WHERE p.org_id = x'01' AND (p.id IN (SELECT q.id FROM people q WHERE q.org_id = x'01' \
         AND q.primary_team_id = x'02' UNION SELECT m.person_id FROM team_members m WHERE m.org_id = x'01' AND m.team_id = x'02'))",
    )
    .await;
    assert!(
        team.contains("people_primary_team") && team.contains("team_members_team") && !team.contains("SCAN p"),
        "team members come from two indexes:\n{team}"
    );

    // The shapes `scim_list` builds for Okta's and Entra's `userName eq` lookups.
    let lookup = plan_of(
        &store,
        "SELECT r.id FROM scim_resources r WHERE r.org_id = x'01' AND r.resource_type = 'User' \
         AND (r.user_name_key = 'ada@acme.example' AND r.user_name_key IS NOT NULL) ORDER BY r.id LIMIT 100 OFFSET 0",
    )
    .await;
    assert!(lookup.contains("scim_resources_user_name") && !lookup.contains("SCAN"), "a userName lookup uses its index:\n{lookup}");
    let count = plan_of(
        &store,
        "SELECT COUNT(*) FROM scim_resources r WHERE r.org_id = x'01' AND r.resource_type = 'User' \
         AND (r.user_name_key = 'ada@acme.example' AND r.user_name_key IS NOT NULL)",
    )
    .await;
    assert!(count.contains("scim_resources_user_name"), "and so does its count:\n{count}");
    let page = plan_of(
        &store,
        "SELECT r.id, r.document FROM scim_resources r WHERE r.org_id = x'01' AND r.id IN (SELECT r.id FROM scim_resources r \
         WHERE r.org_id = x'01' AND r.resource_type = 'User' ORDER BY r.id LIMIT 100 OFFSET 5000) ORDER BY r.id",
    )
    .await;
    assert!(page.contains("COVERING INDEX scim_resources_type"), "a page's ids come from the type index alone:\n{page}");

    let manager = plan_of(
        &store,
        "SELECT p.id FROM people p WHERE p.org_id = x'01' AND p.manager_id IS NOT NULL AND p.manager_id = x'02' ORDER BY p.sort_key, p.id LIMIT 50",
    )
    .await;
    assert!(manager.contains("people_manager"), "direct reports come from the manager index:\n{manager}");
}
