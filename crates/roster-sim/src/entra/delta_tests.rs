//! Delta queries through the router: rounds, pages, removals, members, options and faults.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::tests::{get, sim, token};
use super::*;

/// One delta round walked to its deltaLink.
struct Round {
    pages: Vec<Vec<Value>>,
    delta_link: String,
}

impl Round {
    fn values(&self) -> Vec<Value> {
        self.pages.iter().flatten().cloned().collect()
    }

    /// Entries by id (an object may come more than once, split over pages).
    fn by_id(&self) -> BTreeMap<String, Vec<Value>> {
        let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for v in self.values() {
            out.entry(v["id"].as_str().unwrap_or_default().to_string()).or_default().push(v);
        }
        out
    }

    fn one(&self, id: &str) -> Value {
        let all = self.by_id();
        let entries = all.get(id).cloned().unwrap_or_default();
        assert_eq!(entries.len(), 1, "{id} once: {entries:?}");
        entries[0].clone()
    }
}

async fn round(sim: &EntraSim, t: &str, first: &str, headers: &[(&str, &str)]) -> Round {
    let mut next = first.to_string();
    let mut pages = Vec::new();
    loop {
        let reply = get(sim, t, &next, headers).await;
        assert_eq!(reply.status, StatusCode::OK, "{next}: {}", reply.json());
        let body = reply.json();
        let (next_link, delta_link) = (body["@odata.nextLink"].as_str(), body["@odata.deltaLink"].as_str());
        assert!(next_link.is_some() != delta_link.is_some(), "exactly one link per page: {body}");
        let values = body["value"].as_array().cloned().unwrap_or_default();
        let ids: Vec<&str> = values.iter().filter_map(|v| v["id"].as_str()).collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "an object at most once per page");
        pages.push(values);
        if let Some(link) = delta_link {
            return Round { pages, delta_link: link.to_string() };
        }
        next = next_link.unwrap_or_default().to_string();
        assert!(pages.len() < 1000, "a round ends");
    }
}

fn props(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
}

#[tokio::test]
async fn initial_round_pages_to_a_delta_link_with_every_user() {
    let sim = sim(30);
    let t = token(&sim).await;
    let info = sim.info();
    let gone = info.member_user_ids[5].clone();
    sim.delete_user(&gone).expect("delete");
    sim.set_delta_page_size(10);
    let r = round(&sim, &t, "/v1.0/users/delta?$select=id,displayName,jobTitle,accountEnabled", &[]).await;
    let total = sim.with(|s| s.tenant.users.len() + s.tenant.deleted_users.len());
    assert_eq!(r.pages.len(), total.div_ceil(10));
    assert!(r.pages.iter().all(|p| p.len() <= 10));
    assert_eq!(r.by_id().len(), total, "every user, soft-deleted ones included");
    assert_eq!(r.one(&gone), json!({"id": gone, "@removed": {"reason": "changed"}}));
    let live = r.one(&info.member_user_ids[0]);
    assert!(live["displayName"].is_string() && live["accountEnabled"].is_boolean(), "{live}");
    assert!(live.get("userPrincipalName").is_none(), "only the selection");
    let untitled = r.values().into_iter().filter(|v| v.get("@removed").is_none() && v.get("jobTitle").is_none()).count();
    assert!(untitled > 0, "never-set properties are left out, not null");
    assert!(r.values().iter().all(|v| v.get("jobTitle") != Some(&Value::Null)));
    assert!(!r.delta_link.contains("select"), "options live in the token: {}", r.delta_link);

    let again = round(&sim, &t, &r.delta_link, &[]).await;
    assert!(again.values().is_empty(), "nothing changed");
}

#[tokio::test]
async fn later_rounds_show_edits_creations_deletions_restores_and_managers() {
    let sim = sim(30);
    let t = token(&sim).await;
    let users = sim.info().member_user_ids;
    let restored = users[2].clone();
    sim.delete_user(&restored).expect("delete");
    let first = round(&sim, &t, "/v1.0/users/delta?$select=displayName,jobTitle,manager", &[]).await;
    let reports = first.one(&users[1]);
    assert_eq!(reports["manager@delta"], json!([{"@odata.type": "#microsoft.graph.user", "id": sim.manager_of(&users[1])}]));
    assert!(first.one(&users[0]).get("manager@delta").is_none(), "no manager, no manager@delta");

    let (edited, soft, hard, moved, unmanaged) = (&users[3], &users[4], &users[6], &users[8], &users[9]);
    sim.set_user_property(edited, "displayName", json!("Renamed Person")).expect("edit");
    let created = sim.create_user(props(&[("displayName", json!("New Hire")), ("givenName", json!("New"))]));
    sim.delete_user(soft).expect("soft delete");
    sim.restore_user(&restored).expect("restore");
    sim.set_manager(moved, Some(&users[0])).expect("manager");
    let old_manager = sim.manager_of(unmanaged).expect("has a manager");
    sim.set_manager(unmanaged, None).expect("no manager");
    sim.hard_delete_user(hard).expect("purge");
    sim.set_photo(&users[10], vec![1, 2, 3]).expect("photo");
    sim.set_user_property(&users[11], "department", json!("Legal")).expect("not selected");
    let group = sim.info().top_group_id;
    sim.remove_member(&group, &users[0]).expect("leave the group");

    let later = round(&sim, &t, &first.delta_link, &[]).await;
    let got = later.by_id();
    assert_eq!(later.one(edited)["displayName"], "Renamed Person");
    assert_eq!(later.one(&created)["displayName"], "New Hire");
    assert_eq!(later.one(soft), json!({"id": soft, "@removed": {"reason": "changed"}}));
    assert!(later.one(&restored).get("@removed").is_none() && later.one(&restored)["displayName"].is_string());
    assert_eq!(later.one(hard), json!({"id": hard, "@removed": {"reason": "deleted"}}));
    assert_eq!(later.one(moved)["manager@delta"], json!([{"@odata.type": "#microsoft.graph.user", "id": users[0]}]));
    assert_eq!(later.one(unmanaged)["manager@delta"], json!([{"id": old_manager, "@removed": {"reason": "deleted"}}]));
    for quiet in [&users[10], &users[11], &users[0]] {
        assert!(!got.contains_key(quiet), "photo, unselected property and membership changes are not user changes");
    }
    // Reports of the purged user lost their manager, which shows as a manager removal.
    for (id, entries) in &got {
        if let Some(link) = entries[0].get("manager@delta") {
            assert!(link[0]["id"].is_string(), "{id}: {link}");
        }
    }
    let third = round(&sim, &t, &later.delta_link, &[]).await;
    assert!(third.values().is_empty());
    assert!(sim.is_soft_deleted(soft));
}

#[tokio::test]
async fn default_selection_tracks_only_the_default_properties() {
    let sim = sim(10);
    let t = token(&sim).await;
    let user = sim.info().member_user_ids[0].clone();
    let first = round(&sim, &t, "/v1.0/users/delta", &[]).await;
    let entry = first.one(&user);
    assert!(entry["userPrincipalName"].is_string() && entry.get("accountEnabled").is_none(), "{entry}");
    sim.disable_user(&user).expect("disable");
    assert!(round(&sim, &t, &first.delta_link, &[]).await.values().is_empty(), "accountEnabled is not in the default set");
    let selected = round(&sim, &t, "/v1.0/users/delta?$select=accountEnabled,displayName", &[]).await;
    sim.enable_user(&user).expect("enable");
    assert_eq!(round(&sim, &t, &selected.delta_link, &[]).await.one(&user)["accountEnabled"], true);
}

#[tokio::test]
async fn minimal_answers_carry_only_the_changed_properties() {
    let sim = sim(10);
    let t = token(&sim).await;
    let user = sim.info().member_user_ids[0].clone();
    let first = round(&sim, &t, "/v1.0/users/delta?$select=displayName,jobTitle,officeLocation", &[]).await;
    sim.set_user_properties(&user, props(&[("displayName", json!("Changed")), ("jobTitle", Value::Null)])).expect("edit");

    let reply = get(&sim, &t, &first.delta_link, &[("Prefer", "return=minimal")]).await;
    assert_eq!(reply.headers["preference-applied"], "return=minimal");
    let body = reply.json();
    assert_eq!(body["value"], json!([{"id": user, "displayName": "Changed", "jobTitle": null}]));

    let full = round(&sim, &t, &first.delta_link, &[]).await.one(&user);
    assert_eq!(full["displayName"], "Changed");
    assert!(full["officeLocation"].is_string(), "the default shape carries every selected property: {full}");
    assert_eq!(full["jobTitle"], Value::Null, "a cleared property shows as null");
}

#[tokio::test]
async fn latest_starts_from_now_without_data() {
    let sim = sim(10);
    let t = token(&sim).await;
    let user = sim.info().member_user_ids[3].clone();
    let body = get(&sim, &t, "/v1.0/users/delta?$select=displayName&$deltatoken=latest", &[]).await.json();
    assert_eq!(body["value"], json!([]));
    let link = body["@odata.deltaLink"].as_str().expect("a deltaLink").to_string();
    assert!(body.get("@odata.nextLink").is_none());
    sim.set_user_property(&user, "displayName", json!("Only Me")).expect("edit");
    let next = round(&sim, &t, &link, &[]).await;
    assert_eq!(next.values(), vec![json!({"id": user, "displayName": "Only Me"})]);
}

#[tokio::test]
async fn filter_by_ids_and_refused_options() {
    let sim = sim(10);
    let t = token(&sim).await;
    let users = sim.info().member_user_ids;
    let url = format!("/v1.0/users/delta?$select=displayName&$filter=id eq '{}' or id eq '{}'", users[0], users[1]).replace(' ', "%20");
    let first = round(&sim, &t, &url, &[]).await;
    assert_eq!(first.by_id().keys().cloned().collect::<BTreeSet<_>>(), [users[0].clone(), users[1].clone()].into());
    sim.set_user_property(&users[2], "displayName", json!("Elsewhere")).expect("edit");
    sim.set_user_property(&users[1], "displayName", json!("Here")).expect("edit");
    assert_eq!(round(&sim, &t, &first.delta_link, &[]).await.values(), vec![json!({"id": users[1], "displayName": "Here"})]);

    let many: Vec<String> = (0..51).map(|i| format!("id%20eq%20'{i:08}'")).collect();
    let too_many = get(&sim, &t, &format!("/v1.0/users/delta?$filter={}", many.join("%20or%20")), &[]).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    for bad in ["$expand=manager", "$top=5", "$orderby=displayName", "$filter=displayName%20eq%20'x'"] {
        let reply = get(&sim, &t, &format!("/v1.0/users/delta?{bad}"), &[]).await;
        assert_eq!((reply.status, reply.code().as_str()), (StatusCode::BAD_REQUEST, "Request_UnsupportedQuery"), "{bad}");
    }
    let reply = get(&sim, &t, "/v1.0/groups/delta?$expand=members", &[]).await;
    assert_eq!(reply.code(), "Request_UnsupportedQuery");
    let reply = get(&sim, &t, "/v1.0/users/delta?$select=shoeSize", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = get(&sim, &t, "/v1.0/users/delta?$deltatoken=not-a-token", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // A users token does not open a groups round.
    let stolen = first.delta_link.replace("/users/delta", "/groups/delta");
    assert_eq!(get(&sim, &t, &stolen, &[]).await.status, StatusCode::BAD_REQUEST);
}

/// Members of `group` as merged from a round's `members@delta` lists: (id, type) added.
fn merged_members(r: &Round, group: &str) -> BTreeSet<(String, String)> {
    let entries = r.by_id().remove(group).unwrap_or_default();
    entries
        .iter()
        .flat_map(|e| e["members@delta"].as_array().cloned().unwrap_or_default())
        .map(|m| (m["id"].as_str().unwrap_or_default().to_string(), m["@odata.type"].as_str().unwrap_or_default().to_string()))
        .collect()
}

#[tokio::test]
async fn groups_delta_splits_big_groups_over_pages() {
    let sim = sim(60);
    let t = token(&sim).await;
    let info = sim.info();
    let empty = sim.create_group("Nobody Here");
    sim.set_delta_member_chunk(7);
    let r = round(&sim, &t, "/v1.0/groups/delta?$select=displayName,members", &[]).await;
    let top = r.by_id().remove(&info.top_group_id).unwrap_or_default();
    let direct = sim.with(|s| s.tenant.groups[&info.top_group_id].members.clone());
    assert_eq!(top.len(), direct.len().div_ceil(7), "one entry per chunk, each on its own page");
    assert!(top.iter().all(|e| e["displayName"] == "All Staff (Roster)"), "the group object repeats");
    let merged = merged_members(&r, &info.top_group_id);
    assert_eq!(merged.iter().map(|(id, _)| id.clone()).collect::<BTreeSet<_>>(), direct.iter().cloned().collect());
    assert!(merged.iter().any(|(_, ty)| ty == "#microsoft.graph.group") && merged.iter().any(|(_, ty)| ty == "#microsoft.graph.orgContact"));
    let nobody = r.one(&empty);
    assert!(nobody.get("members@delta").is_none(), "no members, no members@delta: {nobody}");
}

#[tokio::test]
async fn groups_delta_reports_additions_removals_and_deleted_groups() {
    let sim = sim(30);
    let t = token(&sim).await;
    let info = sim.info();
    let top = info.top_group_id.clone();
    let sales = info.nested_group_ids[1].clone();
    let groups_first = round(&sim, &t, "/v1.0/groups/delta?$select=displayName,members", &[]).await;
    let users_first = round(&sim, &t, "/v1.0/users/delta?$select=displayName", &[]).await;

    let nested = sim.create_group("Interns");
    sim.add_member(&top, &nested).expect("nest");
    let leaver = sim.with(|s| s.tenant.groups[&top].members.iter().find(|m| s.tenant.users.contains_key(*m)).cloned()).expect("a user");
    sim.remove_member(&top, &leaver).expect("remove");
    sim.add_member(&sales, &leaver).expect("add");
    sim.set_group_property(&sales, "displayName", json!("Sales & Success")).expect("rename");
    let doomed = info.outside_group_id.clone();
    sim.delete_group(&doomed).expect("delete group");

    let later = round(&sim, &t, &groups_first.delta_link, &[]).await;
    let top_entry = later.one(&top);
    let members: Vec<Value> = top_entry["members@delta"].as_array().cloned().unwrap_or_default();
    assert!(members.contains(&json!({"@odata.type": "#microsoft.graph.group", "id": nested})), "{members:?}");
    assert!(members.contains(&json!({"@odata.type": "#microsoft.graph.user", "id": leaver, "@removed": {"reason": "deleted"}})));
    assert_eq!(members.len(), 2, "only the changes");
    let sales_entry = later.one(&sales);
    assert_eq!(sales_entry["displayName"], "Sales & Success");
    assert_eq!(sales_entry["members@delta"], json!([{"@odata.type": "#microsoft.graph.user", "id": leaver}]));
    assert!(later.one(&nested).get("members@delta").is_none(), "a new, empty group");
    assert_eq!(later.one(&doomed), json!({"id": doomed, "@removed": {"reason": "changed"}}));

    let users_later = round(&sim, &t, &users_first.delta_link, &[]).await;
    assert!(!users_later.by_id().contains_key(&leaver), "membership changes are not user changes");

    let minimal = get(&sim, &t, &groups_first.delta_link, &[("Prefer", "return=minimal")]).await.json();
    let top_minimal = minimal["value"].as_array().and_then(|v| v.iter().find(|e| e["id"] == top.as_str()).cloned()).unwrap_or(Value::Null);
    assert!(top_minimal.get("displayName").is_none() && top_minimal["members@delta"].is_array(), "{top_minimal}");
}

#[tokio::test]
async fn soft_delete_removes_from_groups_and_restore_adds_back() {
    let sim = sim(20);
    let t = token(&sim).await;
    let top = sim.info().top_group_id;
    let user = sim.with(|s| s.tenant.groups[&top].members.iter().find(|m| s.tenant.users.contains_key(*m)).cloned()).expect("a user");
    let first = round(&sim, &t, "/v1.0/groups/delta?$select=members", &[]).await;
    sim.delete_user(&user).expect("delete");
    let after_delete = round(&sim, &t, &first.delta_link, &[]).await;
    assert_eq!(
        after_delete.one(&top)["members@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": user, "@removed": {"reason": "deleted"}}])
    );
    let members = get(&sim, &t, &format!("/v1.0/groups/{top}/members?$top=999"), &[]).await.json();
    assert!(!members["value"].as_array().is_some_and(|v| v.iter().any(|m| m["id"] == user.as_str())), "hidden from member lists");
    assert_eq!(get(&sim, &t, &format!("/v1.0/users/{user}"), &[]).await.status, StatusCode::NOT_FOUND);

    sim.restore_user(&user).expect("restore");
    let after_restore = round(&sim, &t, &after_delete.delta_link, &[]).await;
    assert_eq!(after_restore.one(&top)["members@delta"], json!([{"@odata.type": "#microsoft.graph.user", "id": user}]));
    assert_eq!(get(&sim, &t, &format!("/v1.0/users/{user}"), &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn tokens_older_than_seven_days_are_refused() {
    let sim = sim(30);
    let t = token(&sim).await;
    sim.set_delta_page_size(5);
    let first_page = get(&sim, &t, "/v1.0/users/delta?$select=displayName", &[]).await.json();
    let next = first_page["@odata.nextLink"].as_str().expect("more pages").to_string();
    let r = round(&sim, &t, "/v1.0/users/delta?$select=displayName", &[]).await;
    sim.advance_clock(Duration::from_secs(6 * 24 * 3600));
    assert_eq!(get(&sim, &t, &r.delta_link, &[]).await.status, StatusCode::OK, "six days is fine");
    sim.advance_clock(Duration::from_secs(24 * 3600 + 60));
    for link in [&r.delta_link, &next] {
        let reply = get(&sim, &t, link, &[]).await;
        assert_eq!((reply.status, reply.code().as_str()), (StatusCode::BAD_REQUEST, "syncStateNotFound"));
        assert_eq!(
            reply.json()["error"]["message"],
            "The sync state generation is not found. The delta token is expired and data must be synchronized again."
        );
    }
}

#[tokio::test]
async fn gone_and_resync_faults_fire_once() {
    let sim = sim(10);
    let t = token(&sim).await;
    let r = round(&sim, &t, "/v1.0/users/delta?$select=displayName,manager", &[]).await;
    sim.faults().delta_gone(1);
    let gone = get(&sim, &t, &r.delta_link, &[]).await;
    assert_eq!(gone.status, StatusCode::GONE);
    let location = gone.headers["location"].to_str().unwrap_or_default().to_string();
    assert_eq!(location, "http://sim.test/v1.0/users/delta?$select=displayName,manager");
    let restart = round(&sim, &t, &location, &[]).await;
    assert_eq!(restart.by_id().len(), r.by_id().len(), "the Location starts a full round");
    sim.faults().resync_required(1);
    let reply = get(&sim, &t, &r.delta_link, &[]).await;
    assert_eq!((reply.status, reply.code().as_str()), (StatusCode::BAD_REQUEST, "resyncRequired"));
    assert_eq!(get(&sim, &t, &r.delta_link, &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn lag_and_replay_faults_move_changes_between_rounds() {
    let sim = sim(10);
    let t = token(&sim).await;
    let users = sim.info().member_user_ids;
    let first = round(&sim, &t, "/v1.0/users/delta?$select=displayName", &[]).await;
    sim.set_user_property(&users[0], "displayName", json!("First")).expect("edit");
    sim.set_user_property(&users[1], "displayName", json!("Second")).expect("edit");
    sim.faults().delta_lag(1);
    let lagging = round(&sim, &t, &first.delta_link, &[]).await;
    assert_eq!(lagging.by_id().keys().cloned().collect::<Vec<_>>(), vec![users[0].clone()], "the newest change is late");
    sim.faults().delta_replay(1);
    let caught_up = round(&sim, &t, &lagging.delta_link, &[]).await;
    assert_eq!(caught_up.by_id().keys().cloned().collect::<Vec<_>>(), vec![users[1].clone()]);
    let replayed = round(&sim, &t, &caught_up.delta_link, &[]).await;
    assert_eq!(replayed.by_id().keys().cloned().collect::<Vec<_>>(), vec![users[1].clone()], "served again");
    assert!(round(&sim, &t, &replayed.delta_link, &[]).await.values().is_empty());
}

#[tokio::test]
async fn delta_and_expand_costs() {
    let sim = sim(10);
    let t = token(&sim).await;
    sim.faults().enable_throttling_with_limit(10_000, RetryAfterStyle::Integer);
    let reply = get(&sim, &t, "/v1.0/users/delta?$select=displayName", &[]).await;
    assert_eq!(reply.headers["x-ms-resource-unit"], "1");
    let link = reply.json()["@odata.deltaLink"].as_str().unwrap_or_default().to_string();
    assert_eq!(get(&sim, &t, &link, &[]).await.headers["x-ms-resource-unit"], "2");

    let users = sim.info().member_user_ids;
    let one = get(&sim, &t, &format!("/v1.0/users/{}?$expand=manager($select=id)", users[1]), &[]).await;
    assert_eq!(one.headers["x-ms-resource-unit"], "2", "$expand costs one more");
    assert_eq!(one.json()["manager"]["id"].as_str(), sim.manager_of(&users[1]).as_deref());
    let boss = get(&sim, &t, &format!("/v1.0/users/{}?$select=id&$expand=manager($select=id)", users[0]), &[]).await.json();
    assert!(boss.get("manager").is_none(), "{boss}");
}
