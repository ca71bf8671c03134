//! The findings of a security review, each tried again as the attacker or careless client
//! tried it: an admin taking over the owner through the outbox, password guessing, unbounded
//! reset e-mails, and control characters at every surface.

use crate::on_both_backends;
use crate::support::{form_token, TestApp};
use roster_app::admin;
use roster_core::reconcile::Invitations;
use roster_core::{Actor, Email};

/// An admin with a password, beside the owner.
async fn admin_of(app: &TestApp, org: roster_core::OrgId) -> (String, String) {
    let csv = "email,first_name,last_name,role\nadmin@acme.example,Ada,Admin,admin\n";
    admin::import_csv(&app.state, org, Actor::Cli, csv.as_bytes(), Invitations::Hold, false).await.unwrap();
    let admin = app.state.store.person_by_email(org, &Email::parse("admin@acme.example").unwrap()).await.unwrap().unwrap();
    let password = "an-admin-password".to_owned();
    let hash = roster_app::secrets::password::hash_password(&password).unwrap();
    app.state.store.set_password(org, admin.id, &hash, app.state.clock.now()).await.unwrap();
    ("admin@acme.example".into(), password)
}

async fn forgot(app: &TestApp, client: &reqwest::Client, email: &str) -> String {
    let url = app.url("acme", "/password/forgot");
    let page = client.get(&url).send().await.unwrap().text().await.unwrap();
    client.post(&url).form(&[("_csrf", form_token(&page).as_str()), ("email", email)]).send().await.unwrap().text().await.unwrap()
}

/// The admin asks for a reset of the owner's password and reads the outbox: there is no link
/// to find, on the page or in the database, and the owner stays signed in.
async fn outbox_takeover(app: &TestApp) {
    let acme = app.org("acme").await;
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let (admin_email, admin_password) = admin_of(app, acme.org.id).await;
    let admin = app.signed_in("acme", &admin_email, &admin_password).await;
    assert!(forgot(app, &admin, &acme.owner_email).await.contains("If that address belongs to someone here"));
    let queued = crate::mail::outbox_reaches(app, acme.org.id, 1).await;
    assert!(matches!(&queued[0].email, roster_store::OutgoingEmail::PasswordReset { to, .. } if to.as_str() == acme.owner_email));
    let outbox = admin.get(app.url("acme", "/outbox")).send().await.unwrap().text().await.unwrap();
    assert!(outbox.contains(&acme.owner_email), "who was sent what is listed");
    assert!(!outbox.contains("token=") && !outbox.contains("/password/set"), "no link is shown: {outbox}");
    assert!(!serde_json::to_string(&queued[0].email).unwrap().contains("token"), "no link is stored with the e-mail");
    let owner_page = owner.get(app.url("acme", "/people")).send().await.unwrap();
    assert_eq!(owner_page.status(), 200, "the owner is still signed in");
}
on_both_backends!(an_admin_cannot_take_over_the_owner_through_the_outbox, outbox_takeover);

/// Guessing is slowed after a few failures, and then even the right password waits: the
/// account is locked for a while, never for good.
async fn guessing(app: &TestApp) {
    let acme = app.org("acme").await;
    for attempt in 1..=21 {
        let page = app.login(&app.client(), "acme", &acme.owner_email, "wrong-password").await.text().await.unwrap();
        if attempt <= 5 {
            assert!(page.contains("Email or password is incorrect"), "attempt {attempt}");
        } else {
            assert!(page.contains("Too many failed sign-ins"), "attempt {attempt} is slowed: {page}");
        }
    }
    let right = app.login(&app.client(), "acme", &acme.owner_email, &acme.owner_password).await;
    assert_eq!(right.status(), 200, "the right password waits too");
    assert!(right.text().await.unwrap().contains("reset your password"));
    // Another account of the same organisation is not locked by this one's failures.
    let (admin_email, admin_password) = admin_of(app, acme.org.id).await;
    assert_eq!(app.login(&app.client(), "acme", &admin_email, &admin_password).await.status(), 303);
}
on_both_backends!(the_twenty_first_wrong_password_is_slowed, guessing);

/// Reset e-mails are limited per address and hour, and the answer never changes.
async fn reset_flood(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.client();
    for _ in 0..6 {
        assert!(forgot(app, &client, &acme.owner_email).await.contains("If that address belongs to someone here"));
    }
    crate::mail::outbox_reaches(app, acme.org.id, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.state.store.emails(acme.org.id, 50).await.unwrap().len(), roster_app::signin::throttle::RESETS_PER_HOUR as usize);
}
on_both_backends!(reset_emails_are_limited_per_address, reset_flood);

/// NUL anywhere a person or a client can type text is a 400 in that surface's format, and
/// changes nothing, on both backends.
async fn control_characters(app: &TestApp) {
    let acme = app.org("acme").await;
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let key = admin::create_api_key(&app.state, acme.org.id, "tests", None).await.unwrap().raw;

    let api = app.client().get(app.url("acme", "/api/v1/users?q=a%00b")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(api.status(), 400);
    assert_eq!(api.headers()["content-type"], "application/problem+json");

    let page = owner.get(app.url("acme", "/people?q=%00")).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("control character"));

    let settings = owner.get(app.url("acme", "/settings")).send().await.unwrap().text().await.unwrap();
    let csrf = form_token(&settings);
    for (path, field) in [("/settings/api-keys", "name"), ("/settings/scim/tokens", "name"), ("/teams", "name")] {
        let answer = owner.post(app.url("acme", path)).form(&[("_csrf", csrf.as_str()), (field, "bad\u{0}name")]).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{path}");
    }
    assert_eq!(app.state.store.api_keys(acme.org.id).await.unwrap().len(), 1, "no key was made");
    assert!(app.state.store.team_list(acme.org.id).await.unwrap().is_empty(), "no team was made");

    let import = owner.get(app.url("acme", "/import")).send().await.unwrap().text().await.unwrap();
    let csv = "email,first_name\nnul@acme.example,Nu\u{0}l\n";
    let form = reqwest::multipart::Form::new()
        .text("_csrf", form_token(&import))
        .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("people.csv"));
    let answer = owner.post(app.url("acme", "/import")).multipart(form).send().await.unwrap().text().await.unwrap();
    assert!(answer.contains("control character") && answer.contains("Nothing was changed"), "{answer}");
    assert!(app.state.store.person_by_email(acme.org.id, &Email::parse("nul@acme.example").unwrap()).await.unwrap().is_none());
}
on_both_backends!(control_characters_are_refused_at_every_surface, control_characters);
