//! The rest of a person's lifecycle: unlinking them from a connection, erasing them on request,
//! and the team managers that give people an effective manager.

use crate::on_both_backends;
use crate::support::{form_token, TestApp};
use roster_app::admin::scim_tokens::create_token;
use roster_core::{Actor, Email, Status};
use serde_json::json;

const LEA: &str = "lea.erasable@acme.example";
/// A last name no other row shares, to find anywhere it was written.
const LAST: &str = "Quillfeather";

/// Erasure leaves no personal value in any table: not the person's row, audit trail, events,
/// e-mails, sessions, throttling, SCIM resources or requests. It is refused while SCIM still
/// provisions her, allowed once unlinked, needs her address typed again, and signs her out.
async fn erasure_leaves_no_personal_value_anywhere(app: &TestApp) {
    let acme = app.org("acme").await;
    let token = create_token(&app.state, acme.org.id, "Okta", &Actor::Cli).await.unwrap().raw;
    let scim = app.client();
    let created = scim
        .post(app.url("acme", "/scim/v2/Users"))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": LEA, "name": {"givenName": "Lea", "familyName": LAST}, "title": "Keeper of Quills",
                "emails": [{"value": LEA, "primary": true}], "active": true
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let found = scim.get(app.url("acme", &format!("/scim/v2/Users?filter=userName eq \"{LEA}\""))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(found.status(), 200);
    let lea = app.state.store.person_by_email(acme.org.id, &Email::parse(LEA).unwrap()).await.unwrap().unwrap();
    // She is invited, signs in, someone mistypes her password, and she manages a colleague.
    roster_app::admin::invite(&app.state, acme.org.id, Actor::Cli, lea.id).await.unwrap();
    let password = roster_app::admin::reset_password(&app.state, acme.org.id, lea.id).await.unwrap();
    let lea_client = app.signed_in("acme", LEA, &password).await;
    assert_eq!(app.login(&app.client(), "acme", LEA, "not her password").await.status(), 200);
    let csv = "email,first_name,last_name\nbo@acme.example,Bo,Colleague\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();

    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", &format!("/people/{}", lea.id))).send().await.unwrap().text().await.unwrap();
    let csrf = form_token(&page);
    assert!(page.contains("id=\"unlink\"") && !page.contains("id=\"erase\""), "a provisioned person is unlinked before erasure");
    let erase = |confirm: &str| {
        owner
            .post(app.url("acme", &format!("/people/{}/erase", lea.id)))
            .form(&[("_csrf", csrf.clone()), ("confirm_email", confirm.to_owned())])
            .send()
    };
    let refused = erase(LEA).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("unlink them here"));
    let unticked = owner.post(app.url("acme", &format!("/people/{}/unlink", lea.id))).form(&[("_csrf", csrf.clone())]).send().await.unwrap();
    assert_eq!(unticked.status(), 400);
    let unlinked = owner
        .post(app.url("acme", &format!("/people/{}/unlink", lea.id)))
        .form(&[("_csrf", csrf.clone()), ("confirm", "yes".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), 303);
    assert!(app.state.store.person(acme.org.id, lea.id).await.unwrap().unwrap().source.is_none());
    let bo = app.state.store.person_by_email(acme.org.id, &Email::parse("bo@acme.example").unwrap()).await.unwrap().unwrap();
    let acting = roster_app::admin::people::Acting { actor: Actor::Cli, role: None };
    roster_app::admin::people::set_manager(&app.state, acme.org.id, &acting, bo.id, Some(LEA)).await.unwrap();
    assert!(!app.tables_mentioning(LEA).await.is_empty(), "the check can see her");

    let mistyped = erase("someone@acme.example").await.unwrap();
    assert_eq!(mistyped.status(), 400);
    assert_eq!(app.state.store.person(acme.org.id, lea.id).await.unwrap().unwrap().email.as_str(), LEA, "nothing changed");
    let done = erase(LEA).await.unwrap();
    assert_eq!(done.status(), 303);

    for needle in [LEA, LAST, "Keeper of Quills"] {
        assert_eq!(app.tables_mentioning(needle).await, Vec::<String>::new(), "{needle} is still written somewhere");
    }
    let erased = app.state.store.person(acme.org.id, lea.id).await.unwrap().unwrap();
    assert_eq!((erased.display_name().as_str(), erased.status, erased.source.is_none()), ("Erased person", Status::Deactivated, true));
    assert_eq!(lea_client.get(app.url("acme", "/me")).send().await.unwrap().status(), 303, "signed out everywhere");
    let trail = app.state.store.audit_for_person(acme.org.id, lea.id, 50).await.unwrap();
    assert_eq!(trail[0].action, "user.erased");
    assert!(trail.iter().skip(1).all(|a| a.detail == json!({"erased": true})), "{trail:?}");
    assert_eq!(app.state.store.person(acme.org.id, bo.id).await.unwrap().unwrap().manager, Some(lea.id), "Bo still reports to the record");
    let shown = owner.get(app.url("acme", &format!("/people/{}", lea.id))).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("Erased person"));
}
on_both_backends!(erase_, erasure_leaves_no_personal_value_anywhere);

/// The last owner cannot be erased; an admin cannot erase an owner, nor anyone of another
/// organisation; a learner cannot erase at all.
async fn erasure_is_refused_where_it_must_be(app: &TestApp) {
    let acme = app.org("acme").await;
    let other = app.org("globex").await;
    let csv = "email,first_name,last_name,role\nadmin@acme.example,Ad,Min,admin\nlearner@acme.example,Lee,Learner,learner\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let find = |email: &'static str| {
        let (app, org) = (&app, acme.org.id);
        async move { app.state.store.person_by_email(org, &Email::parse(email).unwrap()).await.unwrap().unwrap() }
    };
    let owner = find_owner(app, acme.org.id).await;
    let cli = roster_app::admin::people::Acting { actor: Actor::Cli, role: None };
    let last = roster_app::admin::people::erase(&app.state, acme.org.id, &cli, owner.id).await.unwrap_err();
    assert!(last.to_string().contains("only active owner"), "{last}");

    let admin = find("admin@acme.example").await;
    let password = roster_app::admin::reset_password(&app.state, acme.org.id, admin.id).await.unwrap();
    let client = app.signed_in("acme", "admin@acme.example", &password).await;
    let page = client.get(app.url("acme", "/people")).send().await.unwrap().text().await.unwrap();
    let csrf = form_token(&page);
    let post = |id: roster_core::UserId, email: String| {
        client.post(app.url("acme", &format!("/people/{id}/erase"))).form(&[("_csrf", csrf.clone()), ("confirm_email", email)]).send()
    };
    let owners = post(owner.id, owner.email.to_string()).await.unwrap();
    assert_eq!(owners.status(), 400);
    assert!(owners.text().await.unwrap().contains("Only an owner"));
    let other_owner = find_owner(app, other.org.id).await;
    assert_eq!(post(other_owner.id, other_owner.email.to_string()).await.unwrap().status(), 404, "another organisation's person is not found");
    assert_eq!(app.state.store.person(other.org.id, other_owner.id).await.unwrap().unwrap().email, other_owner.email);

    let learner = find("learner@acme.example").await;
    let password = roster_app::admin::reset_password(&app.state, acme.org.id, learner.id).await.unwrap();
    let learner_client = app.signed_in("acme", "learner@acme.example", &password).await;
    let me = learner_client.get(app.url("acme", "/me")).send().await.unwrap().text().await.unwrap();
    let tried = learner_client
        .post(app.url("acme", &format!("/people/{}/erase", admin.id)))
        .form(&[("_csrf", form_token(&me)), ("confirm_email", "admin@acme.example".to_owned())])
        .send()
        .await
        .unwrap();
    assert_eq!(tried.status(), 403);
    assert_eq!(find("admin@acme.example").await.email.as_str(), "admin@acme.example", "nothing changed");
}
on_both_backends!(erase_refused_, erasure_is_refused_where_it_must_be);

async fn find_owner(app: &TestApp, org: roster_core::OrgId) -> roster_core::Person {
    let owners = roster_core::query::PersonQuery::new(Some(roster_core::query::PersonFilter::Role(roster_core::Role::Owner)), 0, 5);
    app.state.store.search_people(org, &owners).await.unwrap().people.remove(0)
}

/// Team managers give people without an override manager their effective manager, from their
/// own team or the nearest team above; the person page and the team page show it, and the
/// change is audited. A deactivated person cannot be made a manager.
async fn team_managers_resolve_effective_managers(app: &TestApp) {
    let acme = app.org("acme").await;
    let org = acme.org.id;
    let company = roster_app::admin::create_team(&app.state, org, Actor::Cli, "Company", None).await.unwrap();
    let sales = roster_app::admin::create_team(&app.state, org, Actor::Cli, "Sales", Some(company)).await.unwrap();
    let emea = roster_app::admin::create_team(&app.state, org, Actor::Cli, "EMEA", Some(sales)).await.unwrap();
    let csv = "email,first_name,last_name\nceo@acme.example,Cee,Eo\nhead@acme.example,Hea,Dofsales\nrep@acme.example,Rep,Resentative\nold@acme.example,Ol,Dtimer\n";
    roster_app::admin::import_csv(&app.state, org, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false).await.unwrap();
    let find = |email: &'static str| {
        let app = &app;
        async move { app.state.store.person_by_email(org, &Email::parse(email).unwrap()).await.unwrap().unwrap() }
    };
    let cli = roster_app::admin::people::Acting { actor: Actor::Cli, role: None };
    let rep = find("rep@acme.example").await;
    roster_app::admin::people::set_primary_team(&app.state, org, &cli, rep.id, Some(emea)).await.unwrap();
    let head = find("head@acme.example").await;
    roster_app::admin::people::set_primary_team(&app.state, org, &cli, head.id, Some(sales)).await.unwrap();

    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let teams = owner.get(app.url("acme", "/teams")).send().await.unwrap().text().await.unwrap();
    let csrf = form_token(&teams);
    let set = |team: roster_core::TeamId, managers: &str| {
        owner.post(app.url("acme", &format!("/teams/{team}/managers"))).form(&[("_csrf", csrf.clone()), ("managers", managers.to_owned())]).send()
    };
    assert_eq!(set(sales, "head@acme.example").await.unwrap().status(), 303);
    assert_eq!(set(company, "ceo@acme.example, nobody@acme.example").await.unwrap().status(), 200, "an unknown address is shown, not saved");
    assert_eq!(set(company, "ceo@acme.example").await.unwrap().status(), 303);
    let old = find("old@acme.example").await;
    roster_app::admin::people::deactivate(&app.state, org, &cli, old.id).await.unwrap();
    let refused = set(emea, "old@acme.example").await.unwrap().text().await.unwrap();
    assert!(refused.contains("is deactivated"), "{refused}");

    let person_page = |id: roster_core::UserId| {
        let owner = owner.clone();
        let url = app.url("acme", &format!("/people/{id}"));
        async move { owner.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let rep_page = person_page(rep.id).await;
    assert!(rep_page.contains("Hea Dofsales") && rep_page.contains("a manager of Sales, above their team"), "{rep_page}");
    let head_page = person_page(head.id).await;
    assert!(head_page.contains("Cee Eo") && head_page.contains("a manager of Company, above their team"), "{head_page}");
    // An override manager wins.
    roster_app::admin::people::set_manager(&app.state, org, &cli, rep.id, Some("ceo@acme.example")).await.unwrap();
    assert!(person_page(rep.id).await.contains("their own manager"));
    let teams = owner.get(app.url("acme", "/teams")).send().await.unwrap().text().await.unwrap();
    assert!(teams.contains("value=\"head@acme.example\""), "{teams}");
    let log = app
        .state
        .store
        .audit_log(org, &roster_store::AuditQuery { action_prefix: Some("team.managers".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    // Deleting a team takes its managers with it; merging moves them.
    assert_eq!(roster_app::admin::delete_team(&app.state, org, &Actor::Cli, sales, Some(company)).await.unwrap(), 1);
    let pairs = app.state.store.team_managers(org).await.unwrap();
    assert!(pairs.contains(&(company, head.id)) && pairs.iter().all(|(t, _)| *t != sales), "{pairs:?}");
}
on_both_backends!(team_managers_, team_managers_resolve_effective_managers);
