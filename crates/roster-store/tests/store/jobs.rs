//! Jobs, sync runs, avatars and leases: nothing handed out twice, duplicates folded, one leader.

use crate::support::*;
use chrono::Duration;
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, RunId, RunReport};
use roster_store::{Avatar, Enqueued, JobStatus, NewJob, RunEnd, RunStatus, Store, SyncRun};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

fn job(org: roster_core::OrgId, dedup: Option<&str>, run_in_secs: i64) -> NewJob {
    NewJob {
        id: Uuid::now_v7(),
        org,
        kind: "test.work".into(),
        payload: serde_json::json!({ "n": run_in_secs }),
        dedup_key: dedup.map(str::to_owned),
        run_at: now() + Duration::seconds(run_in_secs),
        created_at: now(),
    }
}

pub async fn claimed_jobs_are_never_handed_out_twice(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    for i in 0..40 {
        store.enqueue_job(&job(org, None, i % 5)).await.unwrap();
    }
    let mut other_kind = job(org, None, 0);
    other_kind.kind = "other.work".into();
    store.enqueue_job(&other_kind).await.unwrap();

    // Eight claimers racing: every due job goes to exactly one of them.
    let due = now() + Duration::seconds(10);
    let lease = due + Duration::minutes(5);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.claim_jobs("test.work", 7, due, lease).await }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for claimed in task.await.unwrap().unwrap() {
            assert_eq!(claimed.status, JobStatus::Running);
            assert_eq!(claimed.attempts, 1);
            assert!(seen.insert(claimed.id), "{} was handed out twice", claimed.id);
        }
    }
    assert_eq!(seen.len(), 40, "every due job of the kind is claimed, none of another kind");
    assert!(store.claim_jobs("test.work", 100, due, lease).await.unwrap().is_empty(), "claimed jobs stay claimed");

    // A worker that keeps its lease keeps the job; one that died loses it when the lease runs out.
    let ids: Vec<Uuid> = seen.iter().copied().collect();
    assert!(store.extend_job_lease(ids[0], lease + Duration::minutes(10)).await.unwrap());
    store.finish_job(ids[1], due).await.unwrap();
    let after = lease + Duration::seconds(1);
    let reclaimed = store.claim_jobs("test.work", 100, after, after + Duration::minutes(5)).await.unwrap();
    assert_eq!(reclaimed.len(), 38, "all but the extended and the finished job come back");
    assert!(reclaimed.iter().all(|j| j.attempts == 2 && j.id != ids[0] && j.id != ids[1]));
    assert!(!store.extend_job_lease(ids[1], after).await.unwrap(), "a finished job has no lease to extend");
    let finished = store.job(ids[1]).await.unwrap().unwrap();
    assert_eq!((finished.status, finished.finished_at), (JobStatus::Succeeded, Some(due)));
}

pub async fn jobs_are_deduplicated_while_live_and_retried_on_failure(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let first = store.enqueue_job(&job(org, Some("sync:1"), 0)).await.unwrap();
    let Enqueued::New(first_id) = first else { panic!("the first job is new") };
    let second = store.enqueue_job(&job(org, Some("sync:1"), 0)).await.unwrap();
    assert_eq!(second, Enqueued::Existing(first_id), "a pending duplicate folds into the first");
    assert!(matches!(store.enqueue_job(&job(org, Some("sync:2"), 0)).await.unwrap(), Enqueued::New(_)));

    let lease = now() + Duration::minutes(5);
    let claimed = store.claim_jobs("test.work", 1, now(), lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let running_id = claimed[0].id;
    let dup_key = claimed[0].dedup_key.clone().unwrap();
    assert_eq!(store.enqueue_job(&job(org, Some(&dup_key), 0)).await.unwrap(), Enqueued::Existing(running_id), "running counts as live");

    // A failure with a retry puts it back for later; without one it fails for good.
    let retry_at = now() + Duration::minutes(1);
    store.fail_job(running_id, "Graph was unavailable", Some(retry_at), now()).await.unwrap();
    let pending = store.job(running_id).await.unwrap().unwrap();
    assert_eq!((pending.status, pending.run_at, pending.last_error.as_deref()), (JobStatus::Pending, retry_at, Some("Graph was unavailable")));
    assert!(store.claim_jobs("test.work", 10, now(), lease).await.unwrap().iter().all(|j| j.id != running_id), "not before its retry time");
    let again = store.claim_jobs("test.work", 10, retry_at, retry_at + Duration::minutes(5)).await.unwrap();
    assert!(again.iter().any(|j| j.id == running_id && j.attempts == 2));
    store.fail_job(running_id, "permission missing", None, retry_at).await.unwrap();
    assert_eq!(store.job(running_id).await.unwrap().unwrap().status, JobStatus::Failed);
    assert!(matches!(store.enqueue_job(&job(org, Some(&dup_key), 0)).await.unwrap(), Enqueued::New(_)), "a finished job frees its key");
}

pub async fn one_holder_leads_until_its_lease_runs_out(store: Arc<dyn Store>) {
    let until = now() + Duration::seconds(60);
    // Many contenders at once: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { (i, store.try_lease("scheduler", &format!("p{i}"), now(), until).await.unwrap()) }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (i, won) = task.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "one leader, got {winners:?}");
    let leader = format!("p{}", winners[0]);
    let other = if winners[0] == 0 { "p1" } else { "p0" };
    assert!(store.try_lease("scheduler", &leader, now() + Duration::seconds(30), until + Duration::seconds(30)).await.unwrap(), "the leader renews");
    assert!(!store.try_lease("scheduler", other, until, until + Duration::seconds(60)).await.unwrap(), "renewed: still held");
    let later = until + Duration::seconds(31);
    assert!(store.try_lease("scheduler", other, later, later + Duration::seconds(60)).await.unwrap(), "an expired lease can be taken");
    assert!(!store.try_lease("scheduler", &leader, later, later + Duration::seconds(60)).await.unwrap(), "and the old leader has lost it");
    assert!(store.try_lease("another-duty", &leader, later, later + Duration::seconds(60)).await.unwrap(), "leases are per name");
}

pub async fn runs_record_progress_and_reports_and_avatars_are_audited(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let connection = Connection {
        id: ConnectionId::from_uuid(Uuid::now_v7()),
        org,
        kind: ConnectionKind::Entra,
        name: "Contoso".into(),
        enabled: true,
        settings: serde_json::json!({}),
        sealed: BTreeMap::new(),
        created_at: now(),
        updated_at: now(),
    };
    store.create_connection(&connection, &Actor::Cli).await.unwrap();
    let run = SyncRun::queued(RunId::from_uuid(Uuid::now_v7()), org, connection.id, "manual", now());
    store.create_run(&run).await.unwrap();
    assert!(store.start_run(org, run.id, now()).await.unwrap());
    assert!(!store.start_run(org, run.id, now()).await.unwrap(), "a run starts once");
    store.set_run_progress(org, run.id, &serde_json::json!({ "phase": "listing", "users": 120 })).await.unwrap();
    let polled = store.sync_run(org, run.id).await.unwrap().unwrap();
    assert_eq!((polled.status, polled.progress["users"].as_u64()), (RunStatus::Running, Some(120)));

    let report = RunReport { created: 3, unchanged: 2, ..RunReport::default() };
    let end = RunEnd { status: RunStatus::Succeeded, report: Some(&report), error: None, graph_requests: 17, at: now() + Duration::seconds(5) };
    store.finish_run(org, run.id, &end).await.unwrap();
    let done = store.sync_run(org, run.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.report.as_ref(), done.graph_requests), (RunStatus::Succeeded, Some(&report), 17));
    let other_org = new_org(store.as_ref(), "other").await;
    assert!(store.sync_run(other_org, run.id).await.unwrap().is_none(), "runs stay in their organisation");
    assert_eq!(store.sync_runs(org, connection.id, 10).await.unwrap().len(), 1);

    let person = person_in(store.as_ref(), org, "ada@acme.example").await;
    let avatar = Avatar { etag: "\"E1\"".into(), content_type: "image/jpeg".into(), bytes: vec![0xFF, 0xD8, 1, 2], updated_at: now() };
    store.put_avatar(org, person.id, &avatar, "connection:x").await.unwrap();
    store.put_avatar(org, person.id, &Avatar { etag: "\"E2\"".into(), ..avatar.clone() }, "connection:x").await.unwrap();
    assert_eq!(store.avatar_etags(org).await.unwrap().get(&person.id).map(String::as_str), Some("\"E2\""));
    assert_eq!(store.avatar(org, person.id).await.unwrap().map(|a| a.bytes), Some(avatar.bytes.clone()));
    assert!(store.avatar(other_org, person.id).await.unwrap().is_none());
    assert!(store.remove_avatar(org, person.id, "connection:x", now()).await.unwrap());
    assert!(!store.remove_avatar(org, person.id, "connection:x", now()).await.unwrap());
    let actions: Vec<String> = store.audit_for_person(org, person.id, 10).await.unwrap().into_iter().map(|a| a.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "user.avatar_changed").count(), 2, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| *a == "user.avatar_removed").count(), 1, "{actions:?}");
}

pub async fn a_busy_organisation_waits_its_turn(store: Arc<dyn Store>) {
    let busy = new_org(store.as_ref(), "busy").await;
    let quiet = new_org(store.as_ref(), "quiet").await;
    let first = job(busy, None, -30);
    let second = job(busy, None, -20);
    let theirs = job(quiet, None, -10);
    for j in [&first, &second, &theirs] {
        store.enqueue_job(j).await.unwrap();
    }
    let lease = now() + Duration::minutes(5);
    let claim = || async { store.claim_jobs("test.work", 1, now(), lease).await.unwrap().into_iter().map(|j| j.id).collect::<Vec<_>>() };
    assert_eq!(claim().await, [first.id], "oldest first while nobody is busy");
    assert_eq!(claim().await, [theirs.id], "an organisation with work running waits behind one without");
    assert_eq!(claim().await, [second.id]);
}
