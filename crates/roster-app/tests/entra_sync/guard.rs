//! The deactivation guard against the mistakes that empty an organisation: an emptied group,
//! a connection re-pointed at another tenant, a nested group taken out, many accounts disabled
//! at once. Each holds the run and deactivates nobody; an allowance applies what the admin saw.

use crate::harness::{now, Harness};
use roster_app::provision::entra::sync::{full_sync, run_recorded, NoProgress, RunOutcome, SyncOptions};
use roster_core::guard::{DeactivationCause, Guard, GuardLimits};
use roster_core::{RunId, Status};
use roster_sim::{spawn_loopback, EntraSim, TenantSpec};
use roster_store::{RunStatus, Store, SyncRun};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

async fn statuses(h: &Harness) -> HashMap<roster_core::UserId, Status> {
    h.people().await.into_iter().map(|p| (p.id, p.status)).collect()
}

/// Nothing of a held run reached the directory: same people, same statuses, no audit rows.
async fn assert_held_and_untouched(h: &Harness, outcome: &RunOutcome, before: &HashMap<roster_core::UserId, Status>, audit_before: usize) {
    let hold = outcome.report.hold.as_ref().unwrap_or_else(|| panic!("the run was not held: {:?}", outcome.report));
    assert!(outcome.held.is_some() && !outcome.applied);
    assert_eq!(outcome.report.would_deactivate.len(), hold.would_deactivate);
    assert_eq!(&statuses(h).await, before, "a held run deactivates nobody");
    assert_eq!(h.audit_count().await, audit_before, "a held run writes nothing");
}

async fn with_guard(h: &Harness, guard: Guard) -> RunOutcome {
    let settings = h.settings();
    let options = SyncOptions { guard, ..SyncOptions::from_settings(&settings, now()) };
    full_sync(h.store.as_ref(), &h.connection, h.config(), &settings.mapping(), &options, &NoProgress).await.expect("sync")
}

pub async fn emptying_the_group_holds_the_run(store: Arc<dyn Store>) {
    let mut h = Harness::new(store, 60).await;
    h.sync_ok().await;
    let (before, audit) = (statuses(&h).await, h.audit_count().await);
    let active = before.values().filter(|s| **s != Status::Deactivated).count();
    for user in h.in_scope.clone() {
        h.move_out(&user);
    }
    let held = h.sync_ok().await;
    assert_held_and_untouched(&h, &held, &before, audit).await;
    assert_eq!(held.report.hold.as_ref().map(|h| (h.would_deactivate, h.provisioned)), Some((active, active)));
    assert!(held.report.would_deactivate.iter().all(|p| p.cause == DeactivationCause::NoLongerInSource && p.email.contains('@')));

    // Held again by the next (daily) run while nothing changed.
    assert_held_and_untouched(&h, &h.sync_ok().await, &before, audit).await;

    // The admin allows what they saw: the re-planned run applies it.
    let allowed = with_guard(&h, Guard::Allowed { up_to: active, limits: GuardLimits::default() }).await;
    assert!(allowed.applied && allowed.held.is_none());
    assert_eq!(allowed.report.deactivated, active);
    assert!(h.people().await.iter().all(|p| p.status == Status::Deactivated || p.source.is_none()));
}

pub async fn a_connection_repointed_at_another_tenant_holds_the_run(store: Arc<dyn Store>) {
    let mut h = Harness::new(store, 60).await;
    h.sync_ok().await;
    let (before, audit) = (statuses(&h).await, h.audit_count().await);
    // Another tenant, with people of its own: the old ones would all leave.
    let other = EntraSim::generate(TenantSpec { users: 30, seed: 99, ..TenantSpec::default() });
    let running = spawn_loopback(other.clone()).await.expect("bind loopback");
    let info = other.info();
    let mut settings = h.settings();
    settings.group_id = info.top_group_id.clone();
    settings.client_id = info.client_id.clone();
    settings.login_base = Some(format!("{}/", running.base_url));
    settings.graph_base = Some(format!("{}/v1.0/", running.base_url));
    h.connection.settings = settings.to_json();
    h.sim = other;
    h.info = info;
    h.running = running;
    let held = h.sync_ok().await;
    assert_held_and_untouched(&h, &held, &before, audit).await;
    assert!(held.report.created > 0, "the preview still says what the new tenant would add");
}

pub async fn taking_out_a_nested_group_holds_the_run(store: Arc<dyn Store>) {
    let h = Harness::new(store, 120).await;
    h.sync_ok().await;
    let (before, audit) = (statuses(&h).await, h.audit_count().await);
    for nested in &h.info.nested_group_ids {
        h.sim.remove_member(&h.info.top_group_id, nested).expect("remove the nested group");
    }
    let held = h.sync_ok().await;
    assert_held_and_untouched(&h, &held, &before, audit).await;
}

pub async fn disabling_many_accounts_holds_the_run_and_says_so(store: Arc<dyn Store>) {
    let h = Harness::new(store, 60).await;
    h.sync_ok().await;
    let (before, audit) = (statuses(&h).await, h.audit_count().await);
    let mut users: Vec<String> = h.in_scope.iter().cloned().collect();
    users.sort();
    let mut disabled = 0;
    for user in users.iter().filter(|u| h.sim.user_property(u, "accountEnabled") != Some(serde_json::Value::Bool(false))).take(20) {
        h.sim.disable_user(user).expect("disable");
        disabled += 1;
    }
    let held = h.sync_ok().await;
    assert_held_and_untouched(&h, &held, &before, audit).await;
    assert_eq!(held.report.would_deactivate.len(), disabled);
    assert!(held.report.would_deactivate.iter().all(|p| p.cause == DeactivationCause::DisabledInSource));

    // An allowance for fewer than the run now deactivates does not cover it.
    let short = with_guard(&h, Guard::Allowed { up_to: disabled - 1, limits: GuardLimits::default() }).await;
    assert_held_and_untouched(&h, &short, &before, audit).await;
    // Raised limits let the same run through.
    let raised = with_guard(&h, Guard::Limits(GuardLimits { max_people: 500, max_percent: 100 })).await;
    assert_eq!((raised.applied, raised.report.deactivated), (true, disabled));
}

pub async fn fewer_than_ten_leavers_are_never_held(store: Arc<dyn Store>) {
    let mut h = Harness::new(store, 40).await;
    h.sync_ok().await;
    let mut users: Vec<String> = h.in_scope.iter().cloned().collect();
    users.sort();
    let active: Vec<String> =
        users.into_iter().filter(|u| h.sim.user_property(u, "accountEnabled") != Some(serde_json::Value::Bool(false))).take(9).collect();
    for user in &active {
        h.move_out(user);
    }
    let out = with_guard(&h, Guard::Limits(GuardLimits { max_people: 1, max_percent: 1 })).await;
    assert_eq!((out.applied, out.report.deactivated), (true, 9));
    h.assert_matches_tenant().await;
}

pub async fn a_held_run_is_recorded_held_and_a_rejection_keeps_it_unapplied(store: Arc<dyn Store>) {
    let mut h = Harness::new(store.clone(), 60).await;
    h.sync_ok().await;
    let before = statuses(&h).await;
    for user in h.in_scope.clone() {
        h.move_out(&user);
    }
    let options = SyncOptions::from_settings(&h.settings(), now());
    let run = SyncRun::queued(RunId::from_uuid(Uuid::now_v7()), h.org, h.connection.id, "schedule", now());
    store.create_run(&run).await.expect("create run");
    run_recorded(store.clone(), &h.connection, h.config(), &options, run.id, None).await.expect("sync");
    let held = store.sync_run(h.org, run.id).await.expect("read").expect("run");
    assert_eq!(held.status, RunStatus::Held);
    let report = held.report.expect("a held run keeps its report");
    assert!(report.hold.is_some() && !report.would_deactivate.is_empty());
    assert!(held.error.as_deref().is_some_and(|e| e.contains("deactivation guard")), "{:?}", held.error);

    assert!(store.decide_held_run(h.org, run.id, RunStatus::Rejected, "cli", now()).await.expect("reject"));
    assert!(!store.decide_held_run(h.org, run.id, RunStatus::Allowed, "cli", now()).await.expect("decided once"), "a decided run stays decided");
    assert!(store.decide_held_run(h.org, run.id, RunStatus::Succeeded, "cli", now()).await.is_err(), "only allow or reject");
    assert_eq!(store.sync_run(h.org, run.id).await.expect("read").expect("run").status, RunStatus::Rejected);
    assert_eq!(statuses(&h).await, before);
    let audit = store.recent_audit(h.org, 5).await.expect("audit");
    assert!(audit.iter().any(|a| a.action == "run.rejected" && a.actor == "cli"), "the decision is audited");
}
