use crate::on_both_backends;
use crate::support::{form_token, TestApp};
use roster_core::{Actor, Change, Plan, Status};

async fn owner_signs_in_and_sees_people(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    // Sign-in lands on the organisation's front door, which sends an admin on to the overview.
    let home = client.get(app.url("acme", "/")).send().await.unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/o/acme/dashboard");
    let overview = client.get(app.url("acme", "/dashboard")).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains("id=\"people-counts\"") && overview.contains("No provisioning connection yet"), "{overview}");
    let page = client.get(app.url("acme", "/people")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&acme.owner_email), "the owner is listed");
    let csp = client.get(app.url("acme", "/people")).send().await.unwrap();
    assert!(csp.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
}
on_both_backends!(owner_signs_in_and_sees_people_, owner_signs_in_and_sees_people);

async fn wrong_password_and_unknown_email_are_refused_alike(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.client();
    for (email, password) in [(acme.owner_email.as_str(), "wrong-password-123"), ("nobody@acme.example", "whatever-1234")] {
        let response = app.login(&client, "acme", email, password).await;
        assert_eq!(response.status(), 200, "stays on the login page");
        assert!(response.text().await.unwrap().contains("Email or password is incorrect."));
    }
    let people = client.get(app.url("acme", "/people")).send().await.unwrap();
    assert_eq!(people.status(), 303);
    assert_eq!(people.headers()["location"], "/o/acme/login");
}
on_both_backends!(wrong_password_and_unknown_email_are_refused_alike_, wrong_password_and_unknown_email_are_refused_alike);

async fn a_login_form_without_its_token_changes_nothing(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.client();
    let response = client
        .post(app.url("acme", "/login"))
        .form(&[("email", acme.owner_email.as_str()), ("password", acme.owner_password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none(), "no session was started");
}
on_both_backends!(a_login_form_without_its_token_changes_nothing_, a_login_form_without_its_token_changes_nothing);

async fn forms_need_the_session_csrf_token(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let forged = client.post(app.url("acme", "/teams")).form(&[("_csrf", "forged"), ("name", "Forged")]).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert!(app.state.store.teams(acme.org.id).await.unwrap().is_empty(), "nothing was created");
}
on_both_backends!(forms_need_the_session_csrf_token_, forms_need_the_session_csrf_token);

async fn learners_get_a_clear_403_and_their_own_page(app: &TestApp) {
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name\nlea@acme.example,Lea,Learner\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let lea = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse("lea@acme.example").unwrap()).await.unwrap().unwrap();
    let password = roster_app::admin::reset_password(&app.state, acme.org.id, lea.id).await.unwrap();
    let client = app.signed_in("acme", "lea@acme.example", &password).await;
    for path in ["/settings", "/people", "/import", "/teams", "/outbox"] {
        let response = client.get(app.url("acme", path)).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.text().await.unwrap().contains("Only owners and admins"));
    }
    let me = client.get(app.url("acme", "/me")).send().await.unwrap().text().await.unwrap();
    assert!(me.contains("lea@acme.example"));
}
on_both_backends!(learners_get_a_clear_403_and_their_own_page_, learners_get_a_clear_403_and_their_own_page);

async fn deactivation_ends_sessions_and_sign_in(app: &TestApp) {
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name,role\nadam@acme.example,Adam,Admin,admin\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let adam = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse("adam@acme.example").unwrap()).await.unwrap().unwrap();
    let password = roster_app::admin::reset_password(&app.state, acme.org.id, adam.id).await.unwrap();
    let client = app.signed_in("acme", "adam@acme.example", &password).await;
    assert_eq!(client.get(app.url("acme", "/people")).send().await.unwrap().status(), 200);

    let mut plan = Plan::new(acme.org.id, Actor::Cli);
    plan.changes.push(Change::SetStatus { id: adam.id, before: Status::Active, after: Status::Deactivated });
    app.state.store.apply(&plan, app.state.clock.now()).await.unwrap();

    assert_eq!(client.get(app.url("acme", "/people")).send().await.unwrap().status(), 303, "the session is gone");
    let again = app.login(&app.client(), "acme", "adam@acme.example", &password).await;
    assert!(again.text().await.unwrap().contains("deactivated"));
}
on_both_backends!(deactivation_ends_sessions_and_sign_in_, deactivation_ends_sessions_and_sign_in);

async fn logout_ends_the_session(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = client.get(app.url("acme", "/people")).send().await.unwrap().text().await.unwrap();
    let out = client.post(app.url("acme", "/logout")).form(&[("_csrf", form_token(&page))]).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(client.get(app.url("acme", "/people")).send().await.unwrap().status(), 303);
}
on_both_backends!(logout_ends_the_session_, logout_ends_the_session);

async fn subdomains_serve_the_same_pages(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.client();
    let host = format!("http://acme.{}:{}", crate::support::BASE_DOMAIN, app.addr.port());
    let page = client.get(format!("{host}/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("action=\"/login\""), "links have no path prefix on a subdomain");
    let token = form_token(&html);
    let signed = client
        .post(format!("{host}/login"))
        .form(&[("_csrf", token.as_str()), ("email", acme.owner_email.as_str()), ("password", acme.owner_password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    assert_eq!(client.get(format!("{host}/people")).send().await.unwrap().status(), 200);
    let unknown = client.get(app.url("nosuchorg", "/login")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}
on_both_backends!(subdomains_serve_the_same_pages_, subdomains_serve_the_same_pages);

async fn health_and_readiness_answer(app: &TestApp) {
    let client = app.client();
    let base = format!("http://{}", app.addr);
    assert_eq!(client.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    let css = client.get(format!("{base}/assets/htmx.min.js")).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/javascript");
}
on_both_backends!(health_and_readiness_answer_, health_and_readiness_answer);

/// The pages answer a mistyped id, a form's address opened as a page, and a favicon request
/// with a page of their own, never plain text from the framework.
async fn wrong_addresses_get_the_pages_own_errors(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let not_an_id = client.get(app.url("acme", "/people/not-a-uuid")).send().await.unwrap();
    assert_eq!(not_an_id.status(), 404);
    let text = not_an_id.text().await.unwrap();
    assert!(text.contains("There is nothing at this address") && !text.contains("UUID"), "{text}");
    let opened = client.get(app.url("acme", &format!("/people/{}/invite", uuid::Uuid::nil()))).send().await.unwrap();
    assert_eq!(opened.status(), 405);
    assert!(opened.text().await.unwrap().contains("only takes a form"));
    let api = client.get(app.url("acme", "/api/v1/users/not-a-uuid")).send().await.unwrap();
    assert_ne!(api.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/html; charset=utf-8"), "the API keeps its own format");
    let icon = app.client().get(format!("http://{}/assets/favicon.svg", app.addr)).send().await.unwrap();
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
}
on_both_backends!(wrong_addresses_get_the_pages_own_errors_, wrong_addresses_get_the_pages_own_errors);

/// A login page opened in a second tab does not make the first tab's form expire.
async fn a_second_tab_keeps_the_first_tabs_login_form(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.client();
    let first = client.get(app.url("acme", "/login")).send().await.unwrap().text().await.unwrap();
    let _second = client.get(app.url("acme", "/login")).send().await.unwrap().text().await.unwrap();
    let form = [("_csrf", form_token(&first)), ("email", acme.owner_email.clone()), ("password", acme.owner_password.clone())];
    let signed_in = client.post(app.url("acme", "/login")).form(&form).send().await.unwrap();
    assert_eq!(signed_in.status(), 303, "the first tab's form still works");
}
on_both_backends!(a_second_tab_keeps_the_first_tabs_login_form_, a_second_tab_keeps_the_first_tabs_login_form);

/// Anyone with a password changes it from their own page: the current one first; then every
/// session ends and the new one signs in.
async fn people_change_their_own_password(app: &TestApp) {
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name\nlea@acme.example,Lea,Learner\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let lea = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse("lea@acme.example").unwrap()).await.unwrap().unwrap();
    let password = roster_app::admin::reset_password(&app.state, acme.org.id, lea.id).await.unwrap();
    let client = app.signed_in("acme", "lea@acme.example", &password).await;
    let me = client.get(app.url("acme", "/me")).send().await.unwrap().text().await.unwrap();
    assert!(me.contains("id=\"change-password\""), "{me}");
    let change = |current: &str, new: &str, again: &str| {
        let form = [("_csrf", form_token(&me)), ("current", current.to_owned()), ("new", new.to_owned()), ("again", again.to_owned())];
        client.post(app.url("acme", "/me/password")).form(&form).send()
    };
    let wrong = change("not-my-password", "a-new-password-1", "a-new-password-1").await.unwrap().text().await.unwrap();
    assert!(wrong.contains("That is not your current password."));
    let differ = change(&password, "a-new-password-1", "a-new-password-2").await.unwrap().text().await.unwrap();
    assert!(differ.contains("differ"));
    let short = change(&password, "short", "short").await.unwrap().text().await.unwrap();
    assert!(short.contains("at least 10 characters"));
    let done = change(&password, "a-new-password-1", "a-new-password-1").await.unwrap();
    assert_eq!(done.headers()["location"], "/o/acme/login?password_changed=1");
    assert_eq!(client.get(app.url("acme", "/me")).send().await.unwrap().status(), 303, "signed out everywhere");
    let login = app.client().get(app.url("acme", "/login?password_changed=1")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("Your password was changed"));
    let again = app.signed_in("acme", "lea@acme.example", "a-new-password-1").await;
    assert_eq!(again.get(app.url("acme", "/me")).send().await.unwrap().status(), 200);
}
on_both_backends!(people_change_their_own_password_, people_change_their_own_password);
