//! A tenant's life: the first sync, nothing to do, people leaving, coming back, being
//! disabled, photos changing.

use crate::harness::{now, Harness};
use roster_app::provision::entra::sync::{full_sync, run_recorded, NoProgress, SyncOptions};
use roster_core::{RunId, Status};
use roster_store::{RunStatus, Store, SyncRun};
use std::sync::Arc;
use uuid::Uuid;

pub async fn initial_sync_mirrors_the_group(store: Arc<dyn Store>) {
    let h = Harness::new(store, 60).await;
    let outcome = h.sync_ok().await;
    assert!(outcome.applied);
    let enabled = h.info.member_user_ids.iter().filter(|u| h.sim.user_property(u, "accountEnabled") != Some(serde_json::json!(false))).count();
    assert_eq!(outcome.report.created, enabled, "every enabled member is created");
    assert_eq!(outcome.report.skipped, h.info.member_user_ids.len() - enabled, "disabled accounts are never created");
    assert_eq!(outcome.users_listed, h.info.member_user_ids.len());
    assert!(outcome.graph_requests > 0);
    assert!(outcome.photos_stored > 0);
    h.assert_matches_tenant().await;
    // Contractors in the group outside the tree never appear.
    assert_eq!(h.linked().await.len(), enabled);
}

pub async fn second_sync_changes_nothing(store: Arc<dyn Store>) {
    let h = Harness::new(store, 60).await;
    h.sync_ok().await;
    let audit_before = h.audit_count().await;
    let people_before = h.people().await;
    let again = h.sync_ok().await;
    assert!(!again.applied, "nothing to apply");
    assert_eq!((again.report.created, again.report.updated, again.report.deactivated, again.report.reactivated), (0, 0, 0, 0));
    assert_eq!(again.report.unchanged, people_before.len());
    assert_eq!((again.photos_stored, again.photos_removed), (0, 0), "unchanged photos are not downloaded again");
    assert_eq!(h.audit_count().await, audit_before, "zero writes: no audit rows");
    assert_eq!(h.people().await, people_before);
    h.assert_matches_tenant().await;
}

pub async fn nested_cycles_and_users_in_two_groups_are_synced_once(store: Arc<dyn Store>) {
    let h = Harness::new(store, 80).await;
    assert!(!h.info.users_in_two_groups.is_empty());
    let outcome = h.sync_ok().await;
    assert!(
        !outcome.report.issues.iter().any(|i| i.message.contains("more than once")),
        "a user reached through two groups or a cycle is one person: {:?}",
        outcome.report.issues
    );
    let linked = h.linked().await;
    for user in &h.info.users_in_two_groups {
        if h.sim.user_property(user, "accountEnabled") != Some(serde_json::json!(false)) {
            assert!(linked.contains_key(user), "{user} (in two nested groups) is synced");
        }
    }
    h.assert_matches_tenant().await;
}

pub async fn a_manager_outside_the_group_is_reported_not_guessed(store: Arc<dyn Store>) {
    let h = Harness::new(store, 60).await;
    let outcome = h.sync_ok().await;
    let outside = &h.info.outside_manager_ids;
    let reports_outside = h.pick(|u| h.sim.manager_of(u).is_some_and(|m| outside.contains(&m)));
    let manager = h.sim.manager_of(&reports_outside).unwrap_or_default();
    assert!(
        outcome.report.issues.iter().any(|i| i.record.contains(&reports_outside) && i.message.contains(&manager)),
        "the issue names the person and the missing manager: {:?}",
        outcome.report.issues
    );
    // The report groups such issues by the manager, and names the manager from Graph.
    let issue = outcome.report.issues.iter().find(|i| i.record.contains(&reports_outside)).expect("the issue");
    assert_eq!(issue.cause.as_deref(), Some(manager.as_str()));
    let upn = h.sim.user_property(&manager, "userPrincipalName").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    assert!(outcome.report.cause_names.get(&manager).is_some_and(|name| name.contains(&upn)), "{:?}", outcome.report.cause_names);
    assert_eq!(h.linked().await[&reports_outside].manager, None, "no manager is guessed");
    assert!(!h.linked().await.contains_key(&manager), "the manager is not pulled into the directory");
    h.assert_matches_tenant().await;
}

pub async fn photos_follow_their_etag_and_a_removed_photo_clears_the_avatar(store: Arc<dyn Store>) {
    let h = Harness::new(store, 40).await;
    h.sync_ok().await;
    let with_photo = h.pick(|u| h.sim.photo_etag(u).is_some());
    let other = h.pick(|u| u != with_photo && h.sim.photo_etag(u).is_some());
    h.sim.remove_photo(&with_photo).expect("remove photo");
    h.sim.set_photo(&other, vec![0xFF, 0xD8, 0xFF, 0xE0, 9, 9, 9, 0xFF, 0xD9]).expect("set photo");
    let outcome = h.sync_ok().await;
    assert_eq!((outcome.photos_stored, outcome.photos_removed), (1, 1), "only the changed photos move");
    let linked = h.linked().await;
    assert_eq!(h.store.avatar(h.org, linked[&with_photo].id).await.expect("avatar"), None);
    let changed = h.store.avatar(h.org, linked[&other].id).await.expect("avatar").expect("a new avatar");
    assert_eq!(changed.bytes, vec![0xFF, 0xD8, 0xFF, 0xE0, 9, 9, 9, 0xFF, 0xD9]);
    h.assert_audited(linked[&with_photo].id, "user.avatar_removed").await;
    h.assert_audited(linked[&other].id, "user.avatar_changed").await;
    h.assert_matches_tenant().await;
}

pub async fn a_disabled_user_is_deactivated(store: Arc<dyn Store>) {
    let h = Harness::new(store, 40).await;
    h.sync_ok().await;
    let user = h.pick(|_| true);
    h.sim.disable_user(&user).expect("disable");
    let outcome = h.sync_ok().await;
    assert_eq!(outcome.report.deactivated, 1);
    let person = &h.linked().await[&user];
    assert_eq!(person.status, Status::Deactivated);
    h.assert_audited(person.id, "user.deactivated").await;
    h.assert_matches_tenant().await;
}

pub async fn a_user_moved_out_of_the_group_and_back_is_deactivated_then_reactivated(store: Arc<dyn Store>) {
    let mut h = Harness::new(store, 40).await;
    h.sync_ok().await;
    let user = h.pick(|_| true);
    h.move_out(&user);
    let out = h.sync_ok().await;
    assert_eq!(out.report.deactivated, 1);
    h.assert_matches_tenant().await;
    h.move_back(&user);
    let back = h.sync_ok().await;
    assert_eq!(back.report.reactivated, 1);
    let person = &h.linked().await[&user];
    assert_eq!(person.status, Status::Invited, "never signed in, so back to invited");
    h.assert_audited(person.id, "user.reactivated").await;
    h.assert_matches_tenant().await;
}

pub async fn recorded_runs_keep_progress_report_and_errors(store: Arc<dyn Store>) {
    let h = Harness::new(store.clone(), 30).await;
    let options = SyncOptions::from_settings(&h.settings(), now());
    let run = SyncRun::queued(RunId::from_uuid(Uuid::now_v7()), h.org, h.connection.id, "manual", now());
    store.create_run(&run).await.expect("create run");
    let outcome = run_recorded(store.clone(), &h.connection, h.config(), &options, run.id, None).await.expect("sync");
    let done = store.sync_run(h.org, run.id).await.expect("read").expect("run");
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.report.as_ref(), Some(&outcome.report));
    assert_eq!(done.progress["phase"], "done");
    assert!(done.graph_requests > 0);

    // A wrong secret: the run fails, says why, and the secret is nowhere in it.
    let failing = SyncRun::queued(RunId::from_uuid(Uuid::now_v7()), h.org, h.connection.id, "manual", now());
    store.create_run(&failing).await.expect("create run");
    let mut config = h.config();
    config.client_secret = "not-the-secret~value".into();
    assert!(run_recorded(store.clone(), &h.connection, config, &options, failing.id, None).await.is_err());
    let failed = store.sync_run(h.org, failing.id).await.expect("read").expect("run");
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.expect("an error");
    assert!(error.contains("client secret"), "{error}");
    assert!(!error.contains("not-the-secret") && !error.contains(&h.sim.client_secret()));

    // A permission withdrawn: the run fails, and still counts the requests it made.
    h.sim.faults().revoke_permission("GroupMember.Read.All");
    let denied = SyncRun::queued(RunId::from_uuid(Uuid::now_v7()), h.org, h.connection.id, "manual", now());
    store.create_run(&denied).await.expect("create run");
    assert!(run_recorded(store.clone(), &h.connection, h.config(), &options, denied.id, None).await.is_err());
    let denied = store.sync_run(h.org, denied.id).await.expect("read").expect("run");
    assert_eq!(denied.status, RunStatus::Failed);
    assert!(denied.graph_requests > 0 && denied.error.as_deref().is_some_and(|e| e.contains("GroupMember.Read.All")), "{denied:?}");
    assert_eq!(store.sync_runs(h.org, h.connection.id, 10).await.expect("runs").len(), 3);
}

/// A dry run's plan is the plan the real run then applies: the same report, and one audit row
/// of the applied run for each change of the preview, kind for kind.
pub async fn a_preview_is_the_plan_a_sync_applies(store: Arc<dyn Store>) {
    let mut h = Harness::new(store.clone(), 60).await;
    let preview_then_apply = |h: &Harness| {
        let settings = h.settings();
        let options = SyncOptions { photos: false, ..SyncOptions::from_settings(&settings, now()) };
        let (store, connection, config) = (h.store.clone(), h.connection.clone(), h.config());
        let org = h.org;
        async move {
            let dry = SyncOptions { dry_run: true, ..options.clone() };
            let audit_before = store.recent_audit(org, 100_000).await.expect("audit").len();
            let preview = full_sync(store.as_ref(), &connection, config.clone(), &settings.mapping(), &dry, &NoProgress).await.expect("preview");
            assert_eq!(store.recent_audit(org, 100_000).await.expect("audit").len(), audit_before, "a preview writes nothing");
            let plan = preview.preview.expect("a dry run returns its plan");
            let applied = full_sync(store.as_ref(), &connection, config, &settings.mapping(), &options, &NoProgress).await.expect("sync");
            assert_eq!(plan.report, applied.report, "the preview's report is the applied run's");
            let run = applied.plan_run.expect("applied");
            let mut written: Vec<String> =
                store.recent_audit(org, 100_000).await.expect("audit").into_iter().filter(|a| a.run == Some(run)).map(|a| a.action).collect();
            let mut planned: Vec<String> = plan.changes.iter().map(|c| c.action().to_owned()).collect();
            written.sort();
            planned.sort();
            assert_eq!(planned, written, "every planned change was applied, and nothing else");
            plan
        }
    };
    let first = preview_then_apply(&h).await;
    assert!(first.changes.iter().any(|c| c.action() == "user.created") && first.changes.iter().any(|c| c.action() == "team.created"));

    // One of each kind: a leaver, a disabled account, a new department (a new team), a new e-mail.
    let leaver = h.pick(|_| true);
    h.move_out(&leaver);
    let disabled = h.pick(|id| id != leaver);
    h.sim.disable_user(&disabled).expect("disable");
    let moved = h.pick(|id| id != leaver && id != disabled);
    h.sim.set_user_property(&moved, "department", serde_json::json!("Quantum Research")).expect("department");
    let renamed = h.pick(|id| id != leaver && id != disabled && id != moved);
    h.sim.set_user_property(&renamed, "userPrincipalName", serde_json::json!("renamed.person@tenant.example")).expect("upn");
    let second = preview_then_apply(&h).await;
    for action in ["user.deactivated", "user.email_changed", "user.primary_team_changed", "team.created", "user.updated"] {
        assert!(
            second.changes.iter().any(|c| c.action() == action),
            "{action} in {:?}",
            second.changes.iter().map(|c| c.action()).collect::<Vec<_>>()
        );
    }
    // Photos were left out above; a normal run brings them, and the rest already matches.
    h.sync_ok().await;
    h.assert_matches_tenant().await;
}
