//! One organisation's session, API key or data never reaches another's.

use crate::on_both_backends;
use crate::support::TestApp;
use roster_app::admin;
use roster_core::reconcile::Invitations;
use roster_core::{Actor, Email};

async fn sessions_keys_and_ids_stay_in_their_org(app: &TestApp) {
    let acme = app.org("acme").await;
    let globex = app.org("globex").await;
    let csv = "email,first_name,last_name\nsecret.person@globex.example,Secret,Person\n";
    admin::import_csv(&app.state, globex.org.id, Actor::Cli, csv.as_bytes(), Invitations::Hold, false).await.unwrap();
    let globex_person =
        app.state.store.person_by_email(globex.org.id, &Email::parse("secret.person@globex.example").unwrap()).await.unwrap().unwrap();

    // Acme's owner, signed in to Acme, is a stranger at Globex.
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let at_globex = client.get(app.url("globex", "/people")).send().await.unwrap();
    assert_eq!(at_globex.status(), 303, "redirected to Globex's login");
    // Even a session cookie replayed by hand onto Globex's path is no session there.
    let acme_cookie = {
        let fresh = app.client();
        let response = app.login(&fresh, "acme", &acme.owner_email, &acme.owner_password).await;
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .find(|c| c.starts_with("roster_session="))
            .unwrap()
    };
    let replay = app.client().get(app.url("globex", "/people")).header("cookie", &acme_cookie).send().await.unwrap();
    assert_eq!(replay.status(), 303);
    // A Globex person's page is not found from Acme.
    let cross = client.get(app.url("acme", &format!("/people/{}", globex_person.id))).send().await.unwrap();
    assert_eq!(cross.status(), 404);

    // Acme's API key opens nothing at Globex, and Globex's ids are not found through Acme.
    let key = admin::create_api_key(&app.state, acme.org.id, "host platform", None).await.unwrap().raw;
    let api = app.client();
    let own = api.get(app.url("acme", "/api/v1/users")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(own.status(), 200);
    let body = own.text().await.unwrap();
    assert!(!body.contains("globex"), "no Globex data in Acme's listing");
    let foreign = api.get(app.url("globex", "/api/v1/users")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(foreign.status(), 401);
    let by_id = api.get(app.url("acme", &format!("/api/v1/users/{}", globex_person.id))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(by_id.status(), 404);
    // The invite action with a foreign id changes nothing.
    let page = client.get(app.url("acme", "/people")).send().await.unwrap().text().await.unwrap();
    let token = crate::support::form_token(&page);
    let invite = client.post(app.url("acme", &format!("/people/{}/invite", globex_person.id))).form(&[("_csrf", token)]).send().await.unwrap();
    assert_eq!(invite.status(), 404);
    assert!(app.state.store.emails(globex.org.id, 10).await.unwrap().is_empty());
}
on_both_backends!(sessions_keys_and_ids_stay_in_their_org_, sessions_keys_and_ids_stay_in_their_org);
