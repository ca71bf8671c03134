//! Full listings of the sync group: nesting, cycles, paging and extra properties.

mod common;

use common::{harness, sorted};
use roster_entra::GraphError;

#[tokio::test]
async fn nested_group_with_a_cycle_lists_each_user_once() {
    let h = harness(120, 7).await;
    let members = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect("listing");
    let ids: Vec<String> = members.users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(ids.len(), 120, "each user exactly once");
    assert_eq!(sorted(ids), h.expected_users());
    assert_eq!(sorted(members.group_ids.clone()), sorted(h.info.nested_group_ids.clone()));
    assert_eq!(members.skipped, 2, "the org contact and the device are not users");
    // Paging really happened: 125 objects at 7 per page.
    assert!(h.client.graph_requests() >= 18, "{}", h.client.graph_requests());
    // Properties outside Graph's default set arrive because Roster selects them.
    assert!(members.users.iter().all(|u| u.account_enabled.is_some() && u.department.is_some()));
    assert!(members.users.iter().any(|u| u.account_enabled == Some(false)), "some accounts are disabled");
}

#[tokio::test]
async fn a_user_in_two_nested_groups_comes_once() {
    let h = harness(80, 10).await;
    let twice = h.info.users_in_two_groups.clone();
    assert!(!twice.is_empty());
    let members = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect("listing");
    for id in &twice {
        assert_eq!(members.users.iter().filter(|u| &u.id == id).count(), 1, "{id}");
    }
    // And a user added to a second nested group directly still comes once.
    let extra = h.info.member_user_ids[0].clone();
    h.sim.add_member(&h.info.nested_group_ids[2], &extra).expect("add");
    let members = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect("listing");
    assert_eq!(members.users.iter().filter(|u| u.id == extra).count(), 1);
}

#[tokio::test]
async fn paging_goes_through_empty_pages() {
    let h = harness(50, 6).await;
    h.sim.faults().empty_pages(true);
    let members = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect("listing");
    assert_eq!(sorted(members.users.iter().map(|u| u.id.clone()).collect()), h.expected_users());
    let empty_pages = h.sim.requests().iter().filter(|r| r.query.contains("skiptoken")).count();
    assert!(empty_pages >= 8, "followed nextLinks: {empty_pages}");
}

#[tokio::test]
async fn advanced_cast_resends_consistency_level_on_every_page() {
    let h = harness(60, 9).await;
    let members = h.client.transitive_user_members_counted(&h.info.top_group_id, &[]).await.expect("listing");
    assert_eq!(members.count, Some(60));
    assert_eq!(sorted(members.users.iter().map(|u| u.id.clone()).collect()), h.expected_users());
    let requests = h.sim.requests();
    assert!(requests.len() > 5);
    assert!(requests.iter().all(|r| r.consistency_level.as_deref() == Some("eventual") && r.status == 200));
}

#[tokio::test]
async fn extra_properties_for_custom_mappings() {
    let h = harness(10, 999).await;
    let members = h.client.transitive_member_users(&h.info.top_group_id, &["employeeType", "city"]).await.expect("listing");
    assert!(members.users.iter().all(|u| u.extra.get("employeeType").is_some_and(|v| v == "Employee")));
    assert!(members.users.iter().all(|u| u.extra.contains_key("city")));
    let err = h.client.transitive_member_users(&h.info.top_group_id, &["shoeSize"]).await.expect_err("unknown property");
    match &err {
        GraphError::Rejected { status: 400, code, message } => {
            assert_eq!(code, "Request_BadRequest");
            assert!(message.contains("shoeSize"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn membership_changes_show_up_on_the_next_listing() {
    let h = harness(20, 999).await;
    let gone = h.info.member_user_ids[3].clone();
    let group = h
        .info
        .nested_group_ids
        .iter()
        .chain([&h.info.top_group_id])
        .find(|g| h.sim.remove_member(g, &gone).is_ok() && h.sim.changes_since(0).iter().any(|c| &c.object_id == *g));
    assert!(group.is_some());
    let members = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect("listing");
    assert!(!members.users.iter().any(|u| u.id == gone));
    assert_eq!(members.users.len(), 19);
}
