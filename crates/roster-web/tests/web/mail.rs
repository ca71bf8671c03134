//! E-mail through a real SMTP server (the test command starts one), and password resets.

use crate::on_both_backends;
use crate::support::{form_token, TestApp};
use roster_app::config::{SmtpConfig, SmtpSecurity};
use roster_store::testing::Backend;
use std::path::PathBuf;

/// The local SMTP server and the maildir it writes to; None outside CI when not started.
pub(crate) fn smtp_server() -> Option<(String, u16, PathBuf)> {
    let (Ok(addr), Ok(maildir)) = (std::env::var("ROSTER_TEST_SMTP"), std::env::var("ROSTER_TEST_MAILDIR")) else {
        assert!(std::env::var_os("CI").is_none(), "ROSTER_TEST_SMTP and ROSTER_TEST_MAILDIR must be set under CI");
        eprintln!("notice: ROSTER_TEST_SMTP is not set; skipping the SMTP test");
        return None;
    };
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    Some((host.to_owned(), port.parse().expect("port"), PathBuf::from(maildir)))
}

/// Undo quoted-printable (soft line breaks and `=XX` escapes), which mail uses for long lines.
fn unquote(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::with_capacity(joined.len());
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (other, _) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn delivered_to(maildir: &std::path::Path, address: &str) -> Vec<String> {
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else { continue };
        for entry in entries.flatten() {
            let text = unquote(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            if text.contains(&format!("To: {address}")) {
                found.push(text);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_delivered_through_smtp() {
    let Some((host, port, maildir)) = smtp_server() else { return };
    let smtp = SmtpConfig { host, port, username: None, password: None, from: "Roster <roster@test.example>".into(), security: SmtpSecurity::Plain };
    let app = TestApp::start_with(Backend::Sqlite, |c| c.smtp = Some(smtp.clone())).await.expect("sqlite");
    let acme = app.org("acme").await;
    let unique = format!("mail.{}@acme.example", uuid::Uuid::new_v4().simple());
    let csv = format!("email,first_name,last_name\n{unique},Mia,Mail\n");
    roster_app::admin::import_csv(
        &app.state,
        acme.org.id,
        roster_core::Actor::Cli,
        csv.as_bytes(),
        roster_core::reconcile::Invitations::Immediately,
        false,
    )
    .await
    .unwrap();

    let sent = roster_app::mail::deliver_due(&app.state, &smtp).await.unwrap();
    assert_eq!(sent, 1);
    let mails = delivered_to(&maildir, &unique);
    assert_eq!(mails.len(), 1, "one message reached the SMTP server");
    assert!(mails[0].contains("Subject: You are invited to acme Inc"));
    assert!(mails[0].contains("/password/set?purpose=invitation"));
    let outbox = app.state.store.emails(acme.org.id, 10).await.unwrap();
    assert!(outbox[0].sent_at.is_some(), "marked sent");
    assert_eq!(roster_app::mail::deliver_due(&app.state, &smtp).await.unwrap(), 0, "never sent twice");
    app.finish().await;
}

/// Mail carries sign-in links: with STARTTLS required (the default), a server that offers no
/// encryption is sent nothing, and the mail waits for a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_starttls_is_sent_nothing() {
    let Some((host, port, maildir)) = smtp_server() else { return };
    let smtp =
        SmtpConfig { host, port, username: None, password: None, from: "Roster <roster@test.example>".into(), security: SmtpSecurity::StartTls };
    let app = TestApp::start(Backend::Sqlite).await.expect("sqlite");
    let acme = app.org("acme").await;
    let unique = format!("tls.{}@acme.example", uuid::Uuid::new_v4().simple());
    let csv = format!("email,first_name,last_name\n{unique},Tia,Tls\n");
    roster_app::admin::import_csv(
        &app.state,
        acme.org.id,
        roster_core::Actor::Cli,
        csv.as_bytes(),
        roster_core::reconcile::Invitations::Immediately,
        false,
    )
    .await
    .unwrap();
    assert_eq!(roster_app::mail::deliver_due(&app.state, &smtp).await.unwrap(), 0);
    assert!(delivered_to(&maildir, &unique).is_empty(), "nothing went out in the clear");
    let queued = app.state.store.emails(acme.org.id, 10).await.unwrap();
    assert_eq!((queued[0].sent_at, queued[0].attempts), (None, 1), "kept for a retry");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_smtp_server_keeps_the_mail_for_a_retry() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        username: None,
        password: None,
        from: "Roster <roster@test.example>".into(),
        security: SmtpSecurity::Plain,
    };
    let app = TestApp::start(Backend::Sqlite).await.expect("sqlite");
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name\nretry@acme.example,Re,Try\n";
    roster_app::admin::import_csv(
        &app.state,
        acme.org.id,
        roster_core::Actor::Cli,
        csv.as_bytes(),
        roster_core::reconcile::Invitations::Immediately,
        false,
    )
    .await
    .unwrap();
    assert_eq!(roster_app::mail::deliver_due(&app.state, &smtp).await.unwrap(), 0);
    let queued = app.state.store.emails(acme.org.id, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].sent_at.is_none());
    assert_eq!(queued[0].attempts, 1);
    assert!(queued[0].last_error.as_deref().is_some_and(|e| e.contains("SMTP")));
    app.finish().await;
}

/// The link of a message delivered to `address` by this test app (its port is in the link),
/// once it arrives. Each test app sends one such message.
pub async fn link_delivered(app: &TestApp, maildir: &std::path::Path, address: &str, purpose: &str) -> String {
    let marker = format!(":{}/password/set?purpose={purpose}&token=", app.addr.port());
    for _ in 0..100 {
        if let Some(mail) = delivered_to(maildir, address).into_iter().find(|m| m.contains(&marker)) {
            let start = mail.find(&marker).unwrap() + marker.len();
            return mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no {purpose} link reached {address}");
}

/// Wait until the organisation's outbox holds `count` e-mails (the reset form queues its
/// e-mail after answering).
pub async fn outbox_reaches(app: &TestApp, org: roster_core::OrgId, count: usize) -> Vec<roster_store::OutboxEmail> {
    for _ in 0..100 {
        let queued = app.state.store.emails(org, 50).await.unwrap();
        if queued.len() >= count {
            return queued;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the outbox never held {count} e-mails");
}

async fn password_reset_works_once_and_says_nothing_about_unknown_addresses(app: &TestApp) {
    let Some((host, port, maildir)) = smtp_server() else { return };
    let smtp = SmtpConfig { host, port, username: None, password: None, from: "Roster <roster@test.example>".into(), security: SmtpSecurity::Plain };
    let acme = app.org("acme").await;
    let client = app.client();
    let ask = |email: &'static str| {
        let client = client.clone();
        let url = app.url("acme", "/password/forgot");
        async move {
            let page = client.get(&url).send().await.unwrap().text().await.unwrap();
            client.post(&url).form(&[("_csrf", form_token(&page).as_str()), ("email", email)]).send().await.unwrap().text().await.unwrap()
        }
    };
    let unknown = ask("nobody@acme.example").await;
    let known = ask("owner@acme.example").await;
    assert!(unknown.contains("If that address belongs to someone here"));
    assert!(known.contains("If that address belongs to someone here"));
    let queued = outbox_reaches(app, acme.org.id, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.state.store.emails(acme.org.id, 10).await.unwrap().len(), 1, "only the known address gets a message");
    assert!(matches!(queued[0].email, roster_store::OutgoingEmail::PasswordReset { .. }));
    roster_app::mail::deliver_due(&app.state, &smtp).await.unwrap();
    let token = link_delivered(app, &maildir, &acme.owner_email, "password_reset").await;

    let set_url = app.url("acme", &format!("/password/set?purpose=password_reset&token={token}"));
    let page = client.get(&set_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Choose a new password"));
    let done = client
        .post(app.url("acme", "/password/set"))
        .form(&[
            ("_csrf", form_token(&page).as_str()),
            ("token", token.as_str()),
            ("purpose", "password_reset"),
            ("password", "brand-new-password"),
            ("confirm", "brand-new-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let old = app.login(&app.client(), "acme", &acme.owner_email, &acme.owner_password).await;
    assert_eq!(old.status(), 200, "the old password no longer works");
    let new = app.login(&app.client(), "acme", &acme.owner_email, "brand-new-password").await;
    assert_eq!(new.status(), 303);
    let again = client.get(&set_url).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("This link no longer works"));
}
on_both_backends!(password_reset_works_once_, password_reset_works_once_and_says_nothing_about_unknown_addresses);
