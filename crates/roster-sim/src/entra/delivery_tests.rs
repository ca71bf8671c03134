//! Change notification delivery against a loopback receiver: batching, change types, retries,
//! the 4-hour limit, the slow-endpoint rule, duplicate and reordered delivery, lifecycle events.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::subscription_tests::{receiver, running, Shared};
use super::*;

async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Every notification the receiver got, in arrival order.
fn notifications(inbox: &Shared) -> Vec<Value> {
    let inbox = inbox.lock().expect("inbox");
    inbox.posts.iter().flat_map(|(_, body)| body["value"].as_array().cloned().unwrap_or_default()).collect()
}

fn delivered(sim: &EntraSim) -> usize {
    sim.deliveries().iter().filter(|d| d.outcome.is_success() && !d.duplicate && !d.lifecycle).map(|d| d.notifications).sum()
}

fn edit(sim: &EntraSim, user: &str, n: usize) {
    sim.set_user_property(user, "jobTitle", json!(format!("Title {n}"))).expect("edit");
}

#[tokio::test]
async fn notifications_are_batched_with_client_state_and_resource_data() {
    let (running, client) = running(30).await;
    let sim = &running.sim;
    let (url, inbox) = receiver().await;
    let hook = format!("{url}/hook");
    let (_, users_sub) = client.subscribe("users", &hook, json!({})).await;
    let (_, groups_sub) = client.subscribe("groups", &hook, json!({"clientState": "other"})).await;
    let info = sim.info();
    let user = info.member_user_ids[0].clone();
    let member = sim.with(|s| s.tenant.groups[&info.top_group_id].members[0].clone());
    sim.faults().pause_notifications(true);
    for n in 0..150 {
        edit(sim, &user, n);
    }
    sim.remove_member(&info.top_group_id, &member).expect("remove");
    assert_eq!(sim.pending_notifications(), 151);
    sim.faults().pause_notifications(false);
    eventually("151 notifications", || delivered(sim) == 151).await;

    let posts: Vec<usize> = inbox.lock().expect("inbox").posts.iter().map(|(_, b)| b["value"].as_array().map_or(0, Vec::len)).collect();
    assert_eq!(posts, vec![100, 51], "at most 100 per POST");
    let records = sim.deliveries();
    let mixed: BTreeSet<&String> = records[1].subscription_ids.iter().collect();
    assert_eq!(mixed.len(), 2, "a POST mixes subscriptions with the same URL");
    let all = notifications(&inbox);
    let first = &all[0];
    assert_eq!(first["subscriptionId"], users_sub["id"]);
    assert_eq!(first["clientState"], "s3cret");
    assert_eq!(first["changeType"], "updated");
    assert_eq!(first["resource"], format!("Users/{user}"));
    assert_eq!(first["tenantId"], info.tenant_id);
    assert!(first["subscriptionExpirationDateTime"].is_string());
    let data = &first["resourceData"];
    assert_eq!(data["@odata.type"], "#Microsoft.Graph.User");
    assert_eq!(data["@odata.id"], format!("Users/{user}"));
    assert_eq!((data["id"].as_str(), data["organizationId"].as_str()), (Some(user.as_str()), Some(info.tenant_id.as_str())));
    assert!(data["eventTime"].as_str().is_some_and(|t| t.ends_with('Z')) && data["sequenceNumber"].is_i64());
    let sequence: Vec<i64> = all.iter().filter_map(|n| n["resourceData"]["sequenceNumber"].as_i64()).collect();
    assert!(sequence.windows(2).all(|w| w[0] < w[1]), "sequence numbers grow");
    let group = all.last().cloned().unwrap_or(Value::Null);
    assert_eq!(group["subscriptionId"], groups_sub["id"]);
    assert_eq!(group["clientState"], "other");
    assert_eq!(group["resource"], format!("Groups/{}", info.top_group_id));
    assert_eq!(group["resourceData"]["@odata.type"], "#Microsoft.Graph.Group");
    assert_eq!(group["resourceData"]["members@delta"], json!([{"id": member, "@removed": {"reason": "deleted"}}]));
    assert_eq!(sim.pending_notifications(), 0);
}

#[tokio::test]
async fn creation_and_soft_deletion_arrive_as_updated_and_photos_not_at_all() {
    let (running, client) = running(10).await;
    let sim = &running.sim;
    let (url, inbox) = receiver().await;
    let info = sim.info();
    let watched = info.member_user_ids[1].clone();
    client.subscribe("users", &format!("{url}/all"), json!({})).await;
    client.subscribe(&format!("users/{watched}"), &format!("{url}/one"), json!({"changeType": "updated"})).await;
    client.subscribe(&format!("groups/{}/members", info.top_group_id), &format!("{url}/members"), json!({})).await;

    let started = SystemTime::now();
    let created = sim.create_user(serde_json::Map::new());
    eventually("the creation", || delivered(sim) == 1).await;
    let latency = sim.deliveries()[0].sent_at.duration_since(started).unwrap_or_default();
    assert!(latency < Duration::from_millis(500), "sent {latency:?} after the change (Graph-like promptness: ~20 ms)");
    sim.set_photo(&watched, vec![1, 2, 3]).expect("photo");
    sim.set_user_property(&watched, "jobTitle", json!("Watched")).expect("edit");
    sim.delete_user(&created).expect("soft delete");
    sim.set_user_property(&info.member_user_ids[2], "displayName", json!("Unwatched")).expect("edit");
    let reports: Vec<String> =
        sim.with(|s| s.tenant.users.values().filter(|u| u.manager.as_deref() == Some(watched.as_str())).map(|u| u.id.clone()).collect());
    sim.hard_delete_user(&watched).expect("purge");
    sim.set_group_property(&info.top_group_id, "description", json!("not a membership change")).expect("edit");
    eventually("the rest", || delivered(sim) >= 7 + reports.len()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let inbox = inbox.lock().expect("inbox");
    let on = |path: &str| -> Vec<(String, String)> {
        inbox
            .posts
            .iter()
            .filter(|(p, _)| p == path)
            .flat_map(|(_, b)| b["value"].as_array().cloned().unwrap_or_default())
            .map(|n| (n["resource"].as_str().unwrap_or_default().to_string(), n["changeType"].as_str().unwrap_or_default().to_string()))
            .collect()
    };
    let user = |id: &str| format!("Users/{id}");
    let mut expected = vec![
        (user(&created), "updated".to_string()),
        (user(&watched), "updated".to_string()),
        (user(&created), "updated".to_string()),
        (user(&info.member_user_ids[2]), "updated".to_string()),
        (user(&watched), "deleted".to_string()),
    ];
    // Its reports lose their manager with it: an update each.
    expected.extend(reports.iter().map(|r| (user(r), "updated".to_string())));
    assert_eq!(on("/all"), expected, "no photo change; the hard delete is `deleted`");
    // A subscription to `updated` on that one user hears of its update, not of its deletion.
    assert_eq!(on("/one"), vec![(user(&watched), "updated".to_string())]);
    // A members subscription hears of membership changes only (the purge took the watched user
    // out of the group if it was a direct member), not of the description.
    let members: Vec<Value> =
        inbox.posts.iter().filter(|(p, _)| p == "/members").flat_map(|(_, b)| b["value"].as_array().cloned().unwrap_or_default()).collect();
    assert!(members.iter().all(|n| n["resourceData"]["members@delta"].is_array() && n["resource"] == format!("Groups/{}", info.top_group_id)));
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_back_off_until_a_2xx() {
    let (running, client) = running(10).await;
    let sim = &running.sim;
    let (url, inbox) = receiver().await;
    client.subscribe("users", &format!("{url}/hook"), json!({})).await;
    inbox.lock().expect("inbox").statuses = [500, 503].into();
    edit(sim, &sim.info().member_user_ids[0], 1);
    eventually("the first attempt", || sim.deliveries().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.deliveries().len(), 1, "no retry before 5 s");
    assert_eq!(sim.pending_notifications(), 1);
    sim.advance_clock(Duration::from_secs(5));
    eventually("the second attempt", || sim.deliveries().len() == 2).await;
    sim.advance_clock(Duration::from_secs(9));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.deliveries().len(), 2, "the next wait is 10 s");
    sim.advance_clock(Duration::from_secs(1));
    eventually("the third attempt", || sim.deliveries().len() == 3).await;
    let records = sim.deliveries();
    let attempts: Vec<(u32, DeliveryOutcome)> = records.iter().map(|r| (r.attempt, r.outcome.clone())).collect();
    assert_eq!(attempts, vec![(1, DeliveryOutcome::Status(500)), (2, DeliveryOutcome::Status(503)), (3, DeliveryOutcome::Status(202))]);
    assert_eq!((sim.pending_notifications(), sim.dropped_notifications()), (0, 0));
}

#[tokio::test]
async fn retries_stop_after_four_hours_and_slow_answers_count_as_failures() {
    let (running, client) = running(10).await;
    let sim = &running.sim;
    let (url, inbox) = receiver().await;
    client.subscribe("users", &format!("{url}/hook"), json!({})).await;
    sim.set_notification_config(NotificationConfig { response_timeout: Duration::from_millis(100), ..NotificationConfig::default() });
    inbox.lock().expect("inbox").delay = Some(Duration::from_millis(300));
    edit(sim, &sim.info().member_user_ids[0], 1);
    eventually("a timed-out attempt", || sim.deliveries().len() == 1).await;
    assert_eq!(sim.deliveries()[0].outcome, DeliveryOutcome::TimedOut);
    assert_eq!(sim.pending_notifications(), 1, "a 2xx after 3 s is no delivery");
    {
        let mut inbox = inbox.lock().expect("inbox");
        inbox.delay = None;
        inbox.always = Some(500);
    }
    sim.advance_clock(Duration::from_secs(5));
    eventually("a failed retry", || sim.deliveries().len() == 2).await;
    sim.advance_clock(Duration::from_secs(4 * 3600 + 60));
    eventually("the drop", || sim.dropped_notifications() == 1).await;
    assert_eq!(sim.pending_notifications(), 0);
    assert_eq!(sim.deliveries().len(), 2, "dropped without another attempt");
}

#[tokio::test]
async fn duplicated_and_reordered_delivery() {
    let (running, client) = running(10).await;
    let sim = &running.sim;
    let (url, inbox) = receiver().await;
    client.subscribe("users", &format!("{url}/hook"), json!({})).await;
    let users = sim.info().member_user_ids;
    sim.faults().duplicate_notifications(true);
    edit(sim, &users[0], 0);
    eventually("two POSTs", || sim.deliveries().len() == 2).await;
    let records = sim.deliveries();
    assert_eq!((records[0].duplicate, records[1].duplicate), (false, true));
    {
        let inbox = inbox.lock().expect("inbox");
        assert_eq!(inbox.posts[0].1, inbox.posts[1].1, "the same notification twice");
    }
    sim.faults().duplicate_notifications(false);
    sim.clear_deliveries();

    sim.set_notification_config(NotificationConfig { batch_size: 2, ..NotificationConfig::default() });
    sim.faults().pause_notifications(true);
    for (n, user) in users[..5].iter().enumerate() {
        edit(sim, user, n);
    }
    sim.faults().reorder_notifications(true);
    sim.faults().pause_notifications(false);
    eventually("five notifications", || delivered(sim) == 5).await;
    let batches: Vec<BTreeSet<String>> = sim.deliveries().iter().map(|r| r.resource_ids.iter().cloned().collect()).collect();
    let expect = |ids: &[String]| ids.iter().cloned().collect::<BTreeSet<String>>();
    assert_eq!(batches, vec![expect(&users[4..5]), expect(&users[2..4]), expect(&users[..2])], "newest POST first");
}

#[tokio::test]
async fn slow_endpoints_are_delayed_then_dropped() {
    let (running, client) = running(10).await;
    let sim = &running.sim;
    let (url, inbox) = receiver().await;
    client.subscribe("users", &format!("{url}/hook"), json!({})).await;
    sim.set_notification_config(NotificationConfig { slow_threshold: Duration::from_millis(40), ..NotificationConfig::default() });
    let user = sim.info().member_user_ids[0].clone();
    let burst = |count: usize, slow: bool| {
        inbox.lock().expect("inbox").delay = slow.then_some(Duration::from_millis(80));
        sim.faults().pause_notifications(true);
        for n in 0..count {
            edit(sim, &user, n);
        }
        sim.faults().pause_notifications(false);
    };
    burst(100, false);
    eventually("a fast burst", || delivered(sim) == 100).await;
    burst(12, true);
    eventually("a slow burst", || delivered(sim) == 112).await;
    // 12 slow of 112: over 10 %, so every notification is held back 10 minutes.
    burst(1, false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!((delivered(sim), sim.pending_notifications()), (112, 1));
    sim.advance_clock(Duration::from_secs(600));
    eventually("the delayed notification", || delivered(sim) == 113).await;

    // A new window: 20 slow of 120 is over 15 %, so notifications are dropped.
    burst(100, false);
    eventually("a fast burst", || delivered(sim) == 213).await;
    burst(20, true);
    eventually("a slow burst", || delivered(sim) == 233).await;
    burst(1, false);
    eventually("the drop", || sim.dropped_notifications() == 1).await;
    assert_eq!((delivered(sim), sim.pending_notifications()), (233, 0));
}

#[tokio::test]
async fn lifecycle_notifications_go_to_the_lifecycle_url() {
    let (running, client) = running(10).await;
    let sim = &running.sim;
    let (url, inbox) = receiver().await;
    let (_, with) = client.subscribe("groups", &format!("{url}/hook"), json!({"lifecycleNotificationUrl": format!("{url}/lifecycle")})).await;
    let (_, without) = client.subscribe("users", &format!("{url}/hook"), json!({})).await;
    for sub in [&with, &without] {
        let id = sub["id"].as_str().unwrap_or_default();
        let record = sim.send_lifecycle(id, "reauthorizationRequired").await.expect("known");
        assert!(record.lifecycle && record.outcome.is_success());
    }
    assert!(sim.send_lifecycle("nope", "reauthorizationRequired").await.is_err());
    let inbox = inbox.lock().expect("inbox");
    let paths: Vec<&str> = inbox.posts.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, vec!["/lifecycle", "/hook"], "the notification URL when there is no lifecycle URL");
    let event = &inbox.posts[0].1["value"][0];
    assert_eq!(event["subscriptionId"], with["id"]);
    assert_eq!(event["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(event["clientState"], "s3cret");
    assert_eq!(event["tenantId"], sim.tenant_id());
    assert!(event["subscriptionExpirationDateTime"].is_string());
}

#[tokio::test]
async fn dropping_the_running_simulator_stops_delivery() {
    let (running, client) = running(10).await;
    let (url, inbox) = receiver().await;
    client.subscribe("users", &format!("{url}/hook"), json!({})).await;
    let sim = running.sim.clone();
    drop(running);
    edit(&sim, &sim.info().member_user_ids[0], 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(inbox.lock().expect("inbox").posts.is_empty());
    assert_eq!(sim.pending_notifications(), 1);
}
