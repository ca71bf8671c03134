//! Throttling, outages, token expiry and failing pages during a listing.

mod common;

use std::time::{Duration, Instant};

use common::{harness, sorted};
use roster_entra::GraphError;
use roster_sim::{RetryAfter, RetryAfterStyle};

#[expect(clippy::expect_used, reason = "a test helper")]
async fn full_listing_ok(h: &common::Harness) {
    let members = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect("listing");
    assert_eq!(sorted(members.users.iter().map(|u| u.id.clone()).collect()), h.expected_users());
}

#[tokio::test]
async fn integer_retry_after_is_honoured() {
    let h = harness(30, 5).await;
    h.sim.faults().throttle_next(3, RetryAfter::Integer(2));
    let started = Instant::now();
    full_listing_ok(&h).await;
    // 3 × 2 s at the 1 % test scale.
    assert!(started.elapsed() >= Duration::from_millis(60), "{:?}", started.elapsed());
    assert_eq!(h.client.stats().throttled, 3);
}

#[tokio::test]
async fn fractional_retry_after_is_honoured() {
    let h = harness(30, 5).await;
    h.sim.faults().throttle_next(2, RetryAfter::Fractional(2.128));
    let started = Instant::now();
    full_listing_ok(&h).await;
    assert!(started.elapsed() >= Duration::from_millis(42), "{:?}", started.elapsed());
    assert_eq!(h.client.stats().throttled, 2);
}

#[tokio::test]
async fn missing_retry_after_backs_off_exponentially() {
    let h = harness(30, 5).await;
    h.sim.faults().throttle_next(4, RetryAfter::Missing);
    let started = Instant::now();
    full_listing_ok(&h).await;
    // Jittered 1, 2, 4, 8 s (each at least half) at the 1 % scale: at least 75 ms.
    assert!(started.elapsed() >= Duration::from_millis(75), "{:?}", started.elapsed());
}

#[tokio::test]
async fn ru_bucket_storm_is_ridden_out() {
    let h = harness(120, 4).await;
    // 40 RU per 50 ms: real 429s with fractional Retry-After that clear in milliseconds.
    h.sim.faults().enable_throttling_custom(40, Duration::from_millis(50), RetryAfterStyle::Fractional);
    let mut cfg = h.client.config().clone();
    cfg.retry.time_scale = 1.0;
    let client = roster_entra::GraphClient::new(cfg).expect("client");
    let members = client.transitive_member_users(&h.info.top_group_id, &[]).await.expect("listing");
    assert_eq!(members.users.len(), 120);
    let throttled = h.sim.requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled >= 3, "the storm happened: {throttled}");
    assert_eq!(client.stats().throttled as usize, throttled);
}

#[tokio::test]
async fn service_unavailable_and_gateway_timeouts_are_retried() {
    let h = harness(20, 5).await;
    h.sim.faults().service_unavailable(2);
    h.sim.faults().gateway_timeout(2);
    h.sim.faults().service_unavailable_retry_after(1, RetryAfter::Integer(1));
    full_listing_ok(&h).await;
    assert!(h.client.stats().retries >= 5);
}

#[tokio::test]
async fn server_errors_get_bounded_retries() {
    let h = harness(20, 5).await;
    h.sim.faults().fail_next(2, 500);
    full_listing_ok(&h).await;
    h.sim.faults().fail_next(10, 502);
    let err = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect_err("gives up");
    assert_eq!(err, GraphError::Unavailable { status: 502, attempts: 3 });
    assert!(err.is_transient());
}

#[tokio::test]
async fn bad_requests_are_final() {
    let h = harness(20, 5).await;
    h.sim.faults().fail_next(1, 400);
    let err = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect_err("final");
    assert!(matches!(err, GraphError::Rejected { status: 400, .. }), "{err:?}");
    assert_eq!(h.sim.requests().len(), 1, "no retry of a 400");
}

#[tokio::test]
async fn throttling_beyond_the_budget_fails_fast() {
    let h = harness(20, 5).await;
    let mut cfg = h.client.config().clone();
    cfg.retry.time_scale = 1.0;
    cfg.retry.total_budget = Duration::from_secs(5);
    let client = roster_entra::GraphClient::new(cfg).expect("client");
    h.sim.faults().throttle_next(1, RetryAfter::Integer(300));
    let started = Instant::now();
    let err = client.transitive_member_users(&h.info.top_group_id, &[]).await.expect_err("over budget");
    assert_eq!(err, GraphError::Throttled { attempts: 1 });
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(err.to_string().contains("429"));
}

#[tokio::test]
async fn endless_throttling_stops_after_bounded_attempts() {
    let h = harness(20, 5).await;
    h.sim.faults().throttle_next(100, RetryAfter::Fractional(0.1));
    let err = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect_err("bounded");
    assert_eq!(err, GraphError::Throttled { attempts: 8 });
}

#[tokio::test]
async fn token_expiring_mid_listing_is_refreshed_once() {
    let h = harness(40, 5).await;
    h.sim.faults().expire_tokens_after(3);
    full_listing_ok(&h).await;
    assert_eq!(h.client.stats().token_requests, 2);
    let statuses: Vec<u16> = h.sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 1, "{statuses:?}");
    assert_eq!(statuses[3], 401);
}

#[tokio::test]
async fn a_token_refused_twice_is_an_error() {
    let h = harness(10, 5).await;
    h.sim.set_token_lifetime(Duration::ZERO);
    let err = h.client.transitive_member_users(&h.info.top_group_id, &[]).await.expect_err("refused");
    assert!(matches!(err, GraphError::Unauthorized { ref code } if code == "InvalidAuthenticationToken"), "{err:?}");
    assert_eq!(h.client.stats().token_requests, 2, "one refresh, not a loop");
}

#[tokio::test]
async fn a_page_that_fails_once_is_retried() {
    let h = harness(30, 5).await;
    h.sim.faults().fail_next_page(500);
    h.sim.faults().fail_next_page(503);
    full_listing_ok(&h).await;
    let failed = h.sim.requests().iter().filter(|r| r.status >= 500).count();
    assert_eq!(failed, 2);
}

#[tokio::test]
async fn tokens_are_cached_and_token_endpoint_outages_retried() {
    let h = harness(10, 999).await;
    h.sim.faults().token_endpoint_fails(2, 503);
    full_listing_ok(&h).await;
    full_listing_ok(&h).await;
    let stats = h.client.stats();
    assert_eq!(stats.token_requests, 3, "two failures, then one token for both listings");
    assert_eq!(stats.graph_requests, 2);
}
