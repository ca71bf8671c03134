//! The e-mail outbox: leases, retries, and nothing handed out twice.

use crate::support::*;
use chrono::Duration;
use roster_store::{OutgoingEmail, Store};
use std::collections::HashSet;
use std::sync::Arc;

fn reset_for(i: usize) -> OutgoingEmail {
    OutgoingEmail::PasswordReset { to: email(&format!("p{i}@acme.example")), name: format!("P{i}"), person: None }
}

pub async fn claimed_emails_are_never_handed_out_twice(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref(), "acme").await;
    let other = new_org(store.as_ref(), "other").await;
    for i in 0..30 {
        let target = if i % 3 == 0 { other } else { org };
        store.enqueue_email(target, &reset_for(i), now() + Duration::seconds(i64::try_from(i).unwrap())).await.unwrap();
    }
    let listed = store.emails(org, 100).await.unwrap();
    assert_eq!(listed.len(), 20, "the outbox page shows one organisation");
    assert!(listed.windows(2).all(|w| w[0].created_at >= w[1].created_at), "newest first");

    // Four claimers racing: every e-mail goes to exactly one of them.
    let due = now() + Duration::minutes(1);
    let lease = due + Duration::minutes(5);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.claim_emails(10, due, lease).await }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        let claimed = task.await.unwrap().unwrap();
        assert!(claimed.len() <= 10);
        for email in claimed {
            total += 1;
            assert!(seen.insert(email.id), "{:?} was handed out twice", email.id);
        }
    }
    assert_eq!((total, seen.len()), (30, 30), "all due e-mails of every organisation are claimed");
    assert!(store.claim_emails(10, due, lease).await.unwrap().is_empty(), "leased e-mails are not handed out again");

    // Sent e-mails never come back; unsent ones do once their lease has run out.
    let sent: Vec<_> = seen.iter().copied().take(12).collect();
    for id in &sent {
        store.mark_email_sent(*id, due).await.unwrap();
    }
    let after_lease = lease + Duration::seconds(1);
    let again = store.claim_emails(100, after_lease, after_lease + Duration::minutes(5)).await.unwrap();
    assert_eq!(again.len(), 18);
    assert!(again.iter().all(|e| !sent.contains(&e.id)));
    let marked = store.emails(org, 100).await.unwrap();
    assert!(marked.iter().filter(|e| sent.contains(&e.id)).all(|e| e.sent_at == Some(due)));
}

pub async fn failed_emails_are_retried_later(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let org = new_org(store, "acme").await;
    store.enqueue_email(org, &reset_for(1), now()).await.unwrap();
    assert!(store.claim_emails(10, now() - Duration::seconds(1), now()).await.unwrap().is_empty(), "not due before it was queued");
    let lease = now() + Duration::minutes(5);
    let claimed = store.claim_emails(10, now(), lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].email, reset_for(1));
    let id = claimed[0].id;

    let retry_at = now() + Duration::minutes(2);
    store.mark_email_failed(id, "SMTP 451 try later", retry_at).await.unwrap();
    assert!(store.claim_emails(10, retry_at - Duration::seconds(1), lease).await.unwrap().is_empty(), "not before the retry time, lease or not");
    let retried = store.claim_emails(10, retry_at, retry_at + Duration::minutes(5)).await.unwrap();
    assert_eq!(retried.iter().map(|e| (e.id, e.attempts, e.last_error.clone())).collect::<Vec<_>>(), [(id, 1, Some("SMTP 451 try later".into()))]);
    store.mark_email_failed(id, "again", retry_at).await.unwrap();
    store.mark_email_sent(id, retry_at).await.unwrap();
    store.mark_email_failed(id, "late report", retry_at).await.unwrap();
    let listed = store.emails(org, 10).await.unwrap();
    assert_eq!(
        (listed[0].attempts, listed[0].sent_at, listed[0].last_error.as_deref()),
        (2, Some(retry_at), Some("again")),
        "a sent e-mail stays sent"
    );
    assert!(store.claim_emails(10, retry_at + Duration::hours(1), retry_at + Duration::hours(2)).await.unwrap().is_empty());
}
