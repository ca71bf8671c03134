//! Managers, photos and batches.

mod common;

use common::{harness, harness_with};
use roster_entra::BatchRequest;
use roster_sim::{NoPhotoStyle, RetryAfter, TenantSpec};

#[tokio::test]
async fn manager_or_none() {
    let h = harness(20, 999).await;
    let top = &h.info.member_user_ids[0];
    assert_eq!(h.client.manager_id(top).await.expect("manager"), None, "404 means no manager");
    let report = &h.info.member_user_ids[1];
    assert_eq!(h.client.manager_id(report).await.expect("manager"), h.sim.manager_of(report));
    let outside = h.info.member_user_ids.iter().find(|u| h.sim.manager_of(u).is_some_and(|m| h.info.outside_manager_ids.contains(&m)));
    let outside = outside.expect("someone reports outside the group");
    let manager = h.client.manager_id(outside).await.expect("manager").expect("some");
    assert!(h.info.outside_manager_ids.contains(&manager));
}

#[tokio::test]
async fn photo_changes_and_removal() {
    let h = harness(10, 999).await;
    let user = h.info.member_user_ids[2].clone();
    h.sim.set_photo(&user, vec![0xFF, 0xD8, 1, 2, 0xFF, 0xD9]).expect("photo");
    let meta = h.client.photo_meta(&user).await.expect("meta").expect("has photo");
    assert_eq!(Some(meta.etag.clone()), h.sim.photo_etag(&user));
    let photo = h.client.photo(&user).await.expect("photo").expect("has photo");
    assert_eq!(photo.bytes, vec![0xFF, 0xD8, 1, 2, 0xFF, 0xD9]);
    assert_eq!(photo.content_type, "image/jpeg");

    h.sim.set_photo(&user, vec![0xFF, 0xD8, 3, 0xFF, 0xD9]).expect("photo");
    let changed = h.client.photo_meta(&user).await.expect("meta").expect("has photo");
    assert_ne!(changed.etag, meta.etag, "a new photo has a new etag");

    h.sim.remove_photo(&user).expect("remove");
    assert_eq!(h.client.photo_meta(&user).await.expect("meta"), None);
    assert_eq!(h.client.photo(&user).await.expect("photo"), None);
}

#[tokio::test]
async fn placeholder_photo_counts_as_none() {
    let spec = TenantSpec { users: 5, photo_ratio: 0.0, no_photo: NoPhotoStyle::Placeholder, ..TenantSpec::default() };
    let h = harness_with(spec, 999).await;
    assert_eq!(h.client.photo_meta(&h.info.member_user_ids[0]).await.expect("meta"), None);
}

#[tokio::test]
async fn batched_managers_ride_out_inner_429s() {
    let h = harness(45, 999).await;
    h.sim.faults().throttle_next(5, RetryAfter::Fractional(0.5));
    let users = h.info.member_user_ids.clone();
    let managers = h.client.managers(&users).await.expect("managers");
    assert_eq!(managers.len(), 45);
    for user in &users {
        assert_eq!(managers[user], h.sim.manager_of(user), "{user}");
    }
    let stats = h.client.stats();
    assert_eq!(stats.throttled, 5);
    // Three batches of ≤20 plus one resend of the throttled ones.
    assert_eq!(stats.graph_requests, 4);
    let inner = h.sim.requests().iter().filter(|r| r.in_batch).count();
    assert_eq!(inner, 50, "only the throttled inner requests were sent again");
}

#[tokio::test]
async fn batched_photo_metadata_and_binary_bodies() {
    let h = harness(25, 999).await;
    let users = h.info.member_user_ids.clone();
    let metas = h.client.photo_metas(&users).await.expect("metas");
    for user in &users {
        assert_eq!(metas[user].as_ref().map(|m| m.etag.clone()), h.sim.photo_etag(user), "{user}");
    }
    assert!(metas.values().any(Option::is_some) && metas.values().any(Option::is_none));

    let with_photo = users.iter().find(|u| h.sim.photo_etag(u).is_some()).expect("someone has a photo");
    h.sim.set_photo(with_photo, vec![7, 7, 7]).expect("photo");
    let answers = h.client.batch(&[BatchRequest::get("p", format!("/users/{with_photo}/photo/$value"))]).await.expect("batch");
    assert_eq!(answers["p"].binary_body(), Some(vec![7, 7, 7]));
}
