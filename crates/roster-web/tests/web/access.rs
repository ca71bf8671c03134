//! A person's access from their page: deactivate (with a ticked box; signed out everywhere),
//! reactivate, change the role; the only active owner keeps both, and only an owner makes or
//! unmakes owners.

use crate::on_both_backends;
use crate::support::{form_token, TestApp};
use roster_core::{Actor, Email, Role, Status};

async fn admins_deactivate_reactivate_and_change_roles(app: &TestApp) {
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name\nlea@acme.example,Lea,Learner\nada@acme.example,Ada,Admin\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let find = |email: &'static str| {
        let app = &app;
        let org = acme.org.id;
        async move { app.state.store.person_by_email(org, &Email::parse(email).unwrap()).await.unwrap().unwrap() }
    };
    let lea = find("lea@acme.example").await;
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", &format!("/people/{}", lea.id))).send().await.unwrap().text().await.unwrap();
    let csrf = form_token(&page);
    let post = |client: &reqwest::Client, path: String, form: Vec<(&'static str, String)>| client.post(app.url("acme", &path)).form(&form).send();

    // Lea signs in; deactivating her needs the box, then ends her session.
    let lea_password = roster_app::admin::reset_password(&app.state, acme.org.id, lea.id).await.unwrap();
    let lea_client = app.signed_in("acme", "lea@acme.example", &lea_password).await;
    let unticked = post(&owner, format!("/people/{}/status", lea.id), vec![("_csrf", csrf.clone()), ("action", "deactivate".into())]).await.unwrap();
    assert_eq!(unticked.status(), 400);
    assert_ne!(find("lea@acme.example").await.status, Status::Deactivated);
    let done =
        post(&owner, format!("/people/{}/status", lea.id), vec![("_csrf", csrf.clone()), ("action", "deactivate".into()), ("confirm", "yes".into())])
            .await
            .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(find("lea@acme.example").await.status, Status::Deactivated);
    assert_eq!(lea_client.get(app.url("acme", "/me")).send().await.unwrap().status(), 303, "signed out everywhere");
    let shown = owner.get(app.url("acme", &format!("/people/{}?changed=deactivated", lea.id))).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("is deactivated") && shown.contains("id=\"reactivate-form\""), "{shown}");
    let back = post(&owner, format!("/people/{}/status", lea.id), vec![("_csrf", csrf.clone()), ("action", "reactivate".into())]).await.unwrap();
    assert_eq!(back.status(), 303);
    assert_eq!(find("lea@acme.example").await.status, Status::Active, "she had signed in: active again");

    // Roles: the owner makes Ada an admin; an admin cannot touch the owner or make owners.
    let ada = find("ada@acme.example").await;
    let made = post(&owner, format!("/people/{}/role", ada.id), vec![("_csrf", csrf.clone()), ("role", "admin".into())]).await.unwrap();
    assert_eq!(made.status(), 303);
    assert_eq!(find("ada@acme.example").await.role, Role::Admin);
    let ada_password = roster_app::admin::reset_password(&app.state, acme.org.id, ada.id).await.unwrap();
    let ada_client = app.signed_in("acme", "ada@acme.example", &ada_password).await;
    let ada_page = ada_client.get(app.url("acme", &format!("/people/{}", lea.id))).send().await.unwrap().text().await.unwrap();
    let ada_csrf = form_token(&ada_page);
    let owner_id = find_owner(app, acme.org.id).await;
    for (path, form) in [
        (format!("/people/{owner_id}/role"), vec![("_csrf", ada_csrf.clone()), ("role", "learner".into())]),
        (format!("/people/{owner_id}/status"), vec![("_csrf", ada_csrf.clone()), ("action", "deactivate".into()), ("confirm", "yes".into())]),
        (format!("/people/{}/role", lea.id), vec![("_csrf", ada_csrf.clone()), ("role", "owner".into())]),
    ] {
        let refused = post(&ada_client, path.clone(), form).await.unwrap();
        assert_eq!(refused.status(), 400, "{path}");
        assert!(refused.text().await.unwrap().contains("Only an owner"), "{path}");
    }
    // The only active owner keeps the role.
    let demote = post(&owner, format!("/people/{owner_id}/role"), vec![("_csrf", csrf.clone()), ("role", "admin".into())]).await.unwrap();
    assert_eq!(demote.status(), 400);
    assert!(demote.text().await.unwrap().contains("only active owner"));
    let audit = app.state.store.audit_for_person(acme.org.id, lea.id, 20).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "user.deactivated") && audit.iter().any(|a| a.action == "user.reactivated"), "{audit:?}");
}
on_both_backends!(access_, admins_deactivate_reactivate_and_change_roles);

async fn find_owner(app: &TestApp, org: roster_core::OrgId) -> roster_core::UserId {
    let owners = roster_core::query::PersonQuery::new(Some(roster_core::query::PersonFilter::Role(Role::Owner)), 0, 5);
    app.state.store.search_people(org, &owners).await.unwrap().people[0].id
}

/// The organisation's audit log: filtered by who, about whom and what kind, read as words,
/// paged, and downloaded as CSV with the same filters.
async fn the_audit_log_is_filtered_read_and_exported(app: &TestApp) {
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name\nlea@acme.example,Lea,Learner\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let lea = app.state.store.person_by_email(acme.org.id, &Email::parse("lea@acme.example").unwrap()).await.unwrap().unwrap();
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", &format!("/people/{}", lea.id))).send().await.unwrap().text().await.unwrap();
    let form = [("_csrf", form_token(&page)), ("role", "manager".to_owned())];
    assert_eq!(owner.post(app.url("acme", &format!("/people/{}/role", lea.id))).form(&form).send().await.unwrap().status(), 303);

    let log = owner.get(app.url("acme", "/audit")).send().await.unwrap().text().await.unwrap();
    assert!(log.contains("role: learner → manager") && log.contains("user.created") && !log.contains("&quot;change&quot;"), "{log}");
    let by_owner = owner.get(app.url("acme", &format!("/audit?by={}", acme.owner_email))).send().await.unwrap().text().await.unwrap();
    assert!(by_owner.contains("user.role_changed") || by_owner.contains("role: learner → manager"), "{by_owner}");
    assert!(!by_owner.contains("user.created"), "the import was the command line's, not the owner's");
    let teams_only = owner.get(app.url("acme", "/audit?kind=team.")).send().await.unwrap().text().await.unwrap();
    assert!(teams_only.contains("team.") && !teams_only.contains("user.created"), "{teams_only}");
    // Keys and tokens are admin actions in the log too.
    let owner_id = find_owner(app, acme.org.id).await;
    let key = roster_app::admin::create_api_key(&app.state, acme.org.id, "ci", Some(owner_id)).await.unwrap();
    app.state.store.revoke_api_key(acme.org.id, key.info.id, &Actor::Person { id: owner_id }, chrono::Utc::now()).await.unwrap();
    roster_app::admin::scim_tokens::create_token(&app.state, acme.org.id, "Okta", &Actor::Person { id: owner_id }).await.unwrap();
    let keys = owner.get(app.url("acme", "/audit?kind=api_key.")).send().await.unwrap().text().await.unwrap();
    assert!(keys.contains("api_key.created") && keys.contains("api_key.revoked") && !keys.contains("scim_token.created"), "{keys}");
    let tokens = owner.get(app.url("acme", &format!("/audit?kind=scim_token.&by={}", acme.owner_email))).send().await.unwrap().text().await.unwrap();
    assert!(tokens.contains("scim_token.created") && tokens.contains("name: Okta"), "{tokens}");
    let bad = owner.get(app.url("acme", "/audit?from=yesterday")).send().await.unwrap().text().await.unwrap();
    assert!(bad.contains("The from date must be YYYY-MM-DD."));
    let about = owner.get(app.url("acme", "/audit.csv?about=lea@acme.example")).send().await.unwrap();
    assert_eq!(about.headers()["content-type"], "text/csv; charset=utf-8");
    let text = about.text().await.unwrap();
    assert!(
        text.starts_with("at,by,action,person,detail") && text.contains("lea@acme.example") && text.contains("role: learner → manager"),
        "{text}"
    );
}
on_both_backends!(audit_log_, the_audit_log_is_filtered_read_and_exported);

/// An admin edits the profile of someone no connection provisions; a provisioned person's
/// profile is changed at the source, and bad input changes nothing.
async fn admins_edit_profiles_they_own(app: &TestApp) {
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name\nlea@acme.example,Lea,Learner\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let lea = app.state.store.person_by_email(acme.org.id, &Email::parse("lea@acme.example").unwrap()).await.unwrap().unwrap();
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", &format!("/people/{}", lea.id))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"edit-profile\""));
    let form = |hire: &str| {
        vec![
            ("_csrf", form_token(&page)),
            ("first_name", "Léa".to_owned()),
            ("last_name", "Learner".to_owned()),
            ("job_title", "Analyst".to_owned()),
            ("hire_date", hire.to_owned()),
        ]
    };
    let bad = owner.post(app.url("acme", &format!("/people/{}/profile", lea.id))).form(&form("last week")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("YYYY-MM-DD"));
    let saved = owner.post(app.url("acme", &format!("/people/{}/profile", lea.id))).form(&form("2024-05-01")).send().await.unwrap();
    assert_eq!(saved.status(), 303);
    let after = app.state.store.person(acme.org.id, lea.id).await.unwrap().unwrap();
    assert_eq!((after.profile.first_name.as_str(), after.profile.job_title.as_deref()), ("Léa", Some("Analyst")));
    let trail = owner.get(app.url("acme", &format!("/people/{}", lea.id))).send().await.unwrap().text().await.unwrap();
    assert!(trail.contains("job title: none → Analyst") || trail.contains("job title: none &#8594; Analyst"), "{trail}");
}
on_both_backends!(profile_edit_, admins_edit_profiles_they_own);

/// The override manager and primary team of someone no connection provisions; a manager chain
/// never loops.
async fn admins_set_the_manager_and_team(app: &TestApp) {
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name,department\nlea@acme.example,Lea,Learner,Research\nmo@acme.example,Mo,Manager,Sales\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let find = |email: &'static str| {
        let org = acme.org.id;
        async move { app.state.store.person_by_email(org, &Email::parse(email).unwrap()).await.unwrap().unwrap() }
    };
    let (lea, mo) = (find("lea@acme.example").await, find("mo@acme.example").await);
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", &format!("/people/{}", lea.id))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"edit-placement\""));
    let csrf = form_token(&page);
    let place = |who: roster_core::UserId, manager: &str, team: String| {
        let form = [("_csrf", csrf.clone()), ("manager", manager.to_owned()), ("team", team)];
        owner.post(app.url("acme", &format!("/people/{who}/placement"))).form(&form).send()
    };
    let sales = mo.primary_team.unwrap().to_string();
    assert_eq!(place(lea.id, "mo@acme.example", sales.clone()).await.unwrap().status(), 303);
    let lea = find("lea@acme.example").await;
    assert_eq!((lea.manager, lea.primary_team), (Some(mo.id), mo.primary_team));
    // Mo reporting to Lea would loop.
    let looped = place(mo.id, "lea@acme.example", sales.clone()).await.unwrap();
    assert_eq!(looped.status(), 400);
    assert!(looped.text().await.unwrap().contains("loop"));
    assert_eq!(find("mo@acme.example").await.manager, None, "nothing changed");
    let nobody = place(lea.id, "nobody@acme.example", sales.clone()).await.unwrap();
    assert!(nobody.text().await.unwrap().contains("Nobody here has the address"));
    // Secondary teams: one box per team, ticked ones kept, the primary team never doubled.
    let research = find("lea@acme.example").await;
    let research_team = app.state.store.team_list(acme.org.id).await.unwrap().into_iter().find(|t| t.name.as_str() == "Research").unwrap().id;
    let body = format!("_csrf={}&manager=mo%40acme.example&team={sales}&secondary={research_team}&secondary={sales}", csrf);
    let saved = owner
        .post(app.url("acme", &format!("/people/{}/placement", research.id)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    assert_eq!(find("lea@acme.example").await.secondary_teams, vec![research_team]);
}
on_both_backends!(placement_, admins_set_the_manager_and_team);
