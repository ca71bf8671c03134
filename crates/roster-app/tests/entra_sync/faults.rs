//! Graph misbehaving: throttling, outages, tokens running out, pages failing, permissions
//! withdrawn. Transient trouble is ridden out; anything else fails the run and changes nothing.

use crate::harness::Harness;
use roster_core::Status;
use roster_sim::{RetryAfter, RetryAfterStyle, TenantSpec};
use roster_store::Store;
use std::sync::Arc;
use std::time::Duration;

pub async fn throttling_storms_are_ridden_out(store: Arc<dyn Store>) {
    let mut h = Harness::new(store, 60).await;
    // Real waits: the bucket refills in real time, so Retry-After must be honoured as sent.
    h.time_scale = 1.0;
    // On a busy machine the parallel batches can meet several storms in a row; what is tested
    // is that every wait is honoured and the sync completes, not the attempt budget.
    h.max_attempts = 40;
    // 60 RU per 50 ms: each batch of 20 lookups costs 20, so storms come and clear in milliseconds.
    h.sim.faults().enable_throttling_custom(60, Duration::from_millis(50), RetryAfterStyle::Fractional);
    h.sim.faults().throttle_next(2, RetryAfter::Fractional(0.05));
    let outcome = h.sync_ok().await;
    assert!(outcome.stats.throttled > 0, "the storm happened: {:?}", outcome.stats);
    h.sim.faults().disable_throttling();
    h.assert_matches_tenant().await;
}

pub async fn service_unavailable_answers_are_retried(store: Arc<dyn Store>) {
    let h = Harness::new(store, 40).await;
    h.sim.faults().service_unavailable(2);
    h.sim.faults().service_unavailable_retry_after(1, RetryAfter::Fractional(0.5));
    h.sim.faults().gateway_timeout(1);
    let outcome = h.sync_ok().await;
    assert!(outcome.stats.retries >= 4, "{:?}", outcome.stats);
    h.assert_matches_tenant().await;
}

pub async fn a_token_expiring_mid_sync_is_renewed(store: Arc<dyn Store>) {
    let h = Harness::with_spec(store, TenantSpec { users: 60, seed: 11, ..TenantSpec::default() }, 10).await;
    h.sim.faults().expire_tokens_after(3);
    let outcome = h.sync_ok().await;
    assert!(outcome.stats.token_requests >= 2, "a fresh token was fetched: {:?}", outcome.stats);
    h.assert_matches_tenant().await;
}

pub async fn a_page_that_fails_once_is_fetched_again(store: Arc<dyn Store>) {
    let h = Harness::with_spec(store, TenantSpec { users: 60, seed: 12, ..TenantSpec::default() }, 10).await;
    h.sim.faults().fail_next_page(503);
    h.sim.faults().empty_pages(true);
    h.sync_ok().await;
    h.assert_matches_tenant().await;
}

pub async fn a_failed_listing_deactivates_nobody_and_the_next_run_converges(store: Arc<dyn Store>) {
    let mut h = Harness::with_spec(store, TenantSpec { users: 60, seed: 13, ..TenantSpec::default() }, 10).await;
    h.sync_ok().await;
    let leaver = h.pick(|_| true);
    h.move_out(&leaver);
    let audit_before = h.audit_count().await;
    let people_before = h.people().await;

    // Page 3 of the listing breaks for good (a 400 is not retried): half a group was seen.
    h.sim.faults().fail_next(1, 200);
    h.sim.faults().fail_next_page(400);
    let error = h.sync().await.expect_err("a broken listing fails the run");
    assert!(!error.to_string().is_empty());
    assert_eq!(h.audit_count().await, audit_before, "nothing was written");
    assert_eq!(h.people().await, people_before, "nobody was deactivated");

    h.sim.faults().clear();
    let outcome = h.sync_ok().await;
    assert_eq!(outcome.report.deactivated, 1, "the next run converges");
    assert_eq!(h.linked().await[&leaver].status, Status::Deactivated);
    h.assert_matches_tenant().await;
}

pub async fn a_revoked_secret_or_permission_applies_nothing(store: Arc<dyn Store>) {
    let mut h = Harness::new(store, 40).await;
    h.sync_ok().await;
    let leaver = h.pick(|_| true);
    h.move_out(&leaver);
    let people_before = h.people().await;

    h.sim.faults().revoke_permission("GroupMember.Read.All");
    let error = h.sync().await.expect_err("no permission to list the group");
    assert!(error.to_string().contains("GroupMember.Read.All"), "{error}");
    assert_eq!(h.people().await, people_before);
    h.sim.faults().grant_permission("GroupMember.Read.All");

    h.sim.faults().revoke_permission("User.Read.All");
    let error = h.sync().await.expect_err("no permission to read users");
    assert!(error.to_string().contains("User.Read.All"), "{error}");
    assert_eq!(h.people().await, people_before);
    h.sim.faults().grant_permission("User.Read.All");

    h.sim.faults().expire_secret();
    let error = h.sync().await.expect_err("an expired secret");
    assert!(error.to_string().contains("expired"), "{error}");
    assert_eq!(h.people().await, people_before, "nobody was deactivated");

    h.sim.rotate_secret();
    h.sync_ok().await;
    h.assert_matches_tenant().await;
}
