//! A connection's health as its admins meet it: a fault in Entra (consent withdrawn, the
//! secret expired) makes it degraded with the fix in words, the owners are e-mailed when it
//! starts failing and when it works again (not on every failure), and the scheduler retries a
//! failing connection at growing intervals instead of waiting for the next day or hammering.

use crate::on_both_backends;
use crate::support::TestApp;
use roster_app::jobs::entra_sync::run_due_jobs;
use roster_app::jobs::scheduler::schedule_due;
use roster_app::provision::entra::{enqueue_sync, save_setup, set_enabled};
use roster_app::provision::health::{health, Health};
use roster_core::Actor;
use roster_sim::{spawn_loopback, EntraSim, TenantSpec};
use roster_store::{ConnectionNotice, OutgoingEmail, RunStatus};

struct FixedClock(chrono::DateTime<chrono::Utc>);

impl roster_app::clock::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

fn notices(emails: &[roster_store::OutboxEmail]) -> Vec<ConnectionNotice> {
    emails
        .iter()
        .filter_map(|e| match &e.email {
            OutgoingEmail::ConnectionHealth { notice, .. } => Some(notice.clone()),
            _ => None,
        })
        .collect()
}

async fn a_failing_connection_says_why_backs_off_and_tells_admins_when_it_changes(app: &TestApp) {
    let org = app.org("ailing").await;
    let sim = EntraSim::generate(TenantSpec { users: 12, seed: 5, ..TenantSpec::default() });
    let running = spawn_loopback(sim.clone()).await.unwrap();
    let mut setup = crate::support::sim_setup(&running);
    let connection = save_setup(&app.state, org.org.id, &Actor::Cli, &setup).await.unwrap();
    let connection = set_enabled(&app.state, &connection, &Actor::Cli, true).await.unwrap();
    let sync = || async {
        enqueue_sync(&app.state, &connection, "manual").await.unwrap();
        run_due_jobs(&app.state).await.unwrap();
        let runs = app.state.store.sync_runs(org.org.id, connection.id, 20).await.unwrap();
        health(&connection, &runs)
    };
    assert_eq!(sync().await, Health::Healthy);

    // Consent withdrawn: the run fails, says what to do, and the owner hears once.
    sim.faults().revoke_permission("GroupMember.Read.All");
    let Health::Degraded(why) = sync().await else { panic!("a withdrawn permission degrades the connection") };
    assert!(why.contains("GroupMember.Read.All") && why.contains("grant admin consent"), "{why}");
    // The secret expires too: still failing, for a new reason, and no second e-mail.
    sim.faults().grant_permission("GroupMember.Read.All");
    sim.faults().expire_secret();
    let Health::Degraded(why) = sync().await else { panic!("an expired secret degrades the connection") };
    assert!(why.contains("has expired") && why.contains("Create a new secret"), "{why}");
    let emails = app.state.store.emails(org.org.id, 50).await.unwrap();
    assert!(
        matches!(notices(&emails)[..], [ConnectionNotice::Failing { ref error }] if error.contains("GroupMember.Read.All")),
        "{:?}",
        notices(&emails)
    );
    let failing = emails.iter().find(|e| matches!(e.email, OutgoingEmail::ConnectionHealth { .. })).unwrap();
    let rendered = roster_app::mail::render(&failing.email, &org.org.name, "ailing", &app.state.config, None);
    assert!(rendered.subject.contains("is failing") && rendered.body.contains("/settings/integrations/entra"), "{}", rendered.body);

    // While it fails, the scheduler retries after 15 minutes, then 30, ... not at once.
    let failed_at = app.state.store.sync_runs(org.org.id, connection.id, 1).await.unwrap()[0].finished_at.unwrap();
    let at =
        |minutes| roster_app::App { clock: std::sync::Arc::new(FixedClock(failed_at + chrono::Duration::minutes(minutes))), ..app.state.app.clone() };
    assert_eq!(schedule_due(&at(20), "leader").await.unwrap(), 0, "two failures in a row wait 30 minutes");
    assert_eq!(schedule_due(&at(31), "leader").await.unwrap(), 1, "then it is tried again");
    let runs = app.state.store.sync_runs(org.org.id, connection.id, 1).await.unwrap();
    assert_eq!((runs[0].trigger.as_str(), runs[0].status), ("retry", RunStatus::Queued));

    // The admin saves the new secret before the retry runs: it works again, and the owner
    // hears that too.
    setup.client_secret = sim.rotate_secret();
    let connection = save_setup(&app.state, org.org.id, &Actor::Cli, &setup).await.unwrap();
    assert_eq!(run_due_jobs(&at(32)).await.unwrap(), 1);
    let runs = app.state.store.sync_runs(org.org.id, connection.id, 20).await.unwrap();
    assert_eq!(health(&connection, &runs), Health::Healthy);
    let emails = app.state.store.emails(org.org.id, 50).await.unwrap();
    assert_eq!(notices(&emails).len(), 2);
    assert!(notices(&emails).contains(&ConnectionNotice::Recovered));
    // The host platform hears of both changes in the events feed.
    let kinds = ["connection.health_changed".to_owned()];
    let changes = app.state.store.event_feed(org.org.id, 0, &kinds, 10).await.unwrap();
    let moves: Vec<(String, String)> =
        changes.iter().map(|e| (e.data["before"].as_str().unwrap().to_owned(), e.data["after"].as_str().unwrap().to_owned())).collect();
    assert_eq!(moves.last(), Some(&("degraded".to_owned(), "healthy".to_owned())), "{moves:?}");
    assert!(moves.iter().any(|(_, after)| after == "degraded"), "{moves:?}");
    assert!(changes.iter().any(|e| e.data["error"].as_str().is_some_and(|error| !error.is_empty())), "a failure says why");

    // Both go out through the real SMTP server.
    if let Some((host, port, maildir)) = crate::mail::smtp_server() {
        let smtp = roster_app::config::SmtpConfig {
            host,
            port,
            username: None,
            password: None,
            from: "Roster <roster@test.example>".into(),
            security: roster_app::config::SmtpSecurity::Plain,
        };
        // The recovery was e-mailed by the retry, which ran on the test's later clock.
        roster_app::mail::deliver_due(&at(40), &smtp).await.unwrap();
        let mut found = Vec::new();
        for _ in 0..50 {
            // The other backend's run of this test writes to the same maildir: its links name another port.
            let ours = format!(":{}/settings/integrations/entra", app.addr.port());
            found = crate::mail::delivered_to(&maildir, &org.owner_email).into_iter().filter(|m| m.contains(&ours)).collect();
            if found.iter().any(|m| m.contains("works again")) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(found.iter().any(|m| m.contains("is failing") && m.contains("GroupMember.Read.All")), "{found:?}");
        assert!(found.iter().any(|m| m.contains("works again")), "{found:?}");
    }
}
on_both_backends!(health_, a_failing_connection_says_why_backs_off_and_tells_admins_when_it_changes);
