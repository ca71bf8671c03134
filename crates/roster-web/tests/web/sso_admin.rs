//! Sign-in connections as an admin keeps them: each is checked with its provider before it is
//! saved (and nothing is saved when the check fails), its secret can be rotated, it can be
//! deleted, and a failing "Test sign-in" tells the admin why while people see only that sign-in
//! is unavailable.

use crate::sso::{provider_link, run, serve_idp, start, world, CLIENT_ID, CLIENT_SECRET};
use crate::support::{form_token, TestApp};
use roster_core::ConnectionKind;
use roster_web::sso::OidcProvider;

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn admins_add_check_rotate_and_delete_openid_connections(app: &TestApp) {
    let acme = app.org("acme").await;
    let (idp, base) = serve_idp().await;
    let admin = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = admin.get(app.url("acme", "/settings/sso")).send().await.unwrap().text().await.unwrap();
    let csrf = form_token(&page);
    let add = |discovery: String, secret: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("provider", "generic".to_owned()),
            ("name", "Test IdP".to_owned()),
            ("discovery_url", discovery),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", secret.to_owned()),
        ]
    };
    let discovery = format!("{base}/.well-known/openid-configuration");
    let refused = [
        (add(format!("{base}/bogus/.well-known/openid-configuration"), CLIENT_SECRET), "not a discovery document"),
        (add("http://127.0.0.1:9/.well-known/openid-configuration".into(), CLIENT_SECRET), "could not be read"),
        (add(discovery.clone(), "not-the-secret"), "refused the client ID and secret: invalid_client"),
    ];
    for (form, why) in refused {
        let response = admin.post(app.url("acme", "/settings/sso")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 200, "{why}");
        let text = response.text().await.unwrap();
        assert!(text.contains(why), "{why}: {text}");
        assert!(!text.contains("not-the-secret"), "a secret is never shown back");
    }
    assert!(app.state.store.connections(acme.org.id).await.unwrap().is_empty(), "nothing was added");

    let added = admin.post(app.url("acme", "/settings/sso")).form(&add(discovery.clone(), CLIENT_SECRET)).send().await.unwrap();
    assert_eq!(added.status(), 303);
    let connection = app.state.store.connections(acme.org.id).await.unwrap().pop().unwrap();
    assert_eq!((connection.kind, connection.enabled), (ConnectionKind::Oidc, false));
    let page_path = format!("/settings/sso/{}", connection.id);
    assert_eq!(location(&added), format!("/o/acme{page_path}?saved=1"));
    let page = admin.get(app.url("acme", &format!("{page_path}?saved=1"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Saved, after the provider confirmed") && page.contains(&discovery) && page.contains(CLIENT_ID), "{page}");

    // The provider's secret is rotated: the check says so, a wrong new secret changes nothing,
    // the right one is saved.
    *idp.secret.lock().unwrap() = "rotated-secret".into();
    let checked = admin.post(app.url("acme", &format!("{page_path}/check"))).form(&[("_csrf", csrf.clone())]).send().await.unwrap();
    assert!(checked.text().await.unwrap().contains("invalid_client"));
    let edit =
        |secret: &str| [("_csrf", csrf.clone()), ("name", "Test IdP".into()), ("client_id", CLIENT_ID.into()), ("client_secret", secret.into())];
    let wrong = admin.post(app.url("acme", &format!("{page_path}/edit"))).form(&edit("still-wrong")).send().await.unwrap();
    assert_eq!(wrong.status(), 200);
    assert!(wrong.text().await.unwrap().contains("refused the client ID and secret"));
    let unchanged = app.state.store.connection(acme.org.id, connection.id).await.unwrap().unwrap();
    assert_eq!(unchanged.sealed, connection.sealed, "a refused secret is not saved");
    let rotated = admin.post(app.url("acme", &format!("{page_path}/edit"))).form(&edit("rotated-secret")).send().await.unwrap();
    assert_eq!(rotated.status(), 303);
    let after = app.state.store.connection(acme.org.id, connection.id).await.unwrap().unwrap();
    assert_ne!(after.sealed, connection.sealed, "the new secret is sealed in its place");
    let checked = admin.post(app.url("acme", &format!("{page_path}/check"))).form(&[("_csrf", csrf.clone())]).send().await.unwrap();
    assert!(checked.text().await.unwrap().contains("The connection checks out."));

    // Deleting asks for confirmation, then removes the button.
    let unticked = admin.post(app.url("acme", &format!("{page_path}/delete"))).form(&[("_csrf", csrf.clone())]).send().await.unwrap();
    assert_eq!(unticked.status(), 400);
    assert!(app.state.store.connection(acme.org.id, connection.id).await.unwrap().is_some());
    let deleted =
        admin.post(app.url("acme", &format!("{page_path}/delete"))).form(&[("_csrf", csrf.clone()), ("confirm", "yes".into())]).send().await.unwrap();
    assert_eq!(location(&deleted), "/o/acme/settings/sso?deleted=1");
    assert!(app.state.store.connection(acme.org.id, connection.id).await.unwrap().is_none());
    let login = app.client().get(app.url("acme", "/login")).send().await.unwrap().text().await.unwrap();
    assert!(!login.contains("Sign in with Test IdP"));
}

/// Runs an admin's test sign-in to its end; the page it ends on.
async fn test_sign_in(app: &TestApp, admin: &reqwest::Client, connection: &str) -> reqwest::Response {
    let page = admin.get(app.url("acme", &format!("/settings/sso/{connection}"))).send().await.unwrap().text().await.unwrap();
    let started =
        admin.post(app.url("acme", &format!("/settings/sso/{connection}/test"))).form(&[("_csrf", form_token(&page))]).send().await.unwrap();
    let started = started.text().await.unwrap();
    if !started.contains("id=\"continue\"") {
        panic!("the test did not reach the provider: {started}");
    }
    let back = admin.get(provider_link(&started)).send().await.unwrap();
    admin.get(location(&back)).send().await.unwrap()
}

async fn test_sign_in_shows_the_admin_what_came_back_and_why_it_failed(app: &TestApp) {
    let w = world(app, OidcProvider::Generic).await;
    let admin = app.signed_in("acme", &w.acme.owner_email, &w.acme.owner_password).await;
    let id = w.connection.id.to_string();

    let passed = test_sign_in(app, &admin, &id).await;
    assert_eq!(passed.status(), 200);
    let text = passed.text().await.unwrap();
    assert!(text.contains("What the provider sent") && text.contains("email_verified") && text.contains("It matches"), "{text}");

    // The provider no longer takes the secret: the admin reads the provider's answer ...
    *w.idp.secret.lock().unwrap() = "rotated-secret".into();
    let failed = test_sign_in(app, &admin, &id).await;
    assert_eq!(failed.status(), 403);
    let text = failed.text().await.unwrap();
    assert!(text.contains("Test sign-in failed") && text.contains("invalid_client"), "{text}");
    assert!(text.contains(&format!("/settings/sso/{id}")), "it links to the connection's page to fix it");
    // ... while a person signing in is told only that sign-in is unavailable.
    let person = app.client();
    let callback = start(app, &w, &person).await;
    let refused = person.get(&callback).send().await.unwrap().text().await.unwrap();
    assert!(refused.contains("not available right now") && !refused.contains("invalid_client"), "{refused}");
}

async fn a_test_that_cannot_reach_the_provider_says_so(app: &TestApp) {
    let w = world(app, OidcProvider::Generic).await;
    let mut broken = w.connection.clone();
    broken.settings["discovery_url"] = "http://127.0.0.1:9/.well-known/openid-configuration".into();
    app.state.store.update_connection(&broken, &roster_core::Actor::Cli, chrono::Utc::now()).await.unwrap();
    let admin = app.signed_in("acme", &w.acme.owner_email, &w.acme.owner_password).await;
    let page = admin.get(app.url("acme", &format!("/settings/sso/{}", broken.id))).send().await.unwrap().text().await.unwrap();
    let started =
        admin.post(app.url("acme", &format!("/settings/sso/{}/test", broken.id))).form(&[("_csrf", form_token(&page))]).send().await.unwrap();
    assert_eq!(started.status(), 403);
    let text = started.text().await.unwrap();
    assert!(text.contains("Test sign-in failed") && text.contains("discovery document"), "{text}");
}

sso_on_both_backends!(
    admins_add_check_rotate_and_delete_openid_connections,
    test_sign_in_shows_the_admin_what_came_back_and_why_it_failed,
    a_test_that_cannot_reach_the_provider_says_so,
);
