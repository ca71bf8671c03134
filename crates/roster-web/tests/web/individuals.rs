//! Individuals at work: sorting by each column (pages and API), bulk actions over a selection
//! and over a filter with their confirmation, and a file Excel saved as Windows-1252.

use crate::on_both_backends;
use crate::support::{form_token, read_through, TestApp};
use roster_core::{Actor, Email, Status};

const PEOPLE: &str = "email,first_name,last_name,job_title,department,role\n\
ann@acme.example,Ann,Zeta,Welder,Works,learner\n\
bob@acme.example,Bob,Young,,Accounts,learner\n\
cat@acme.example,Cat,Xu,Analyst,Works,manager\n\
dan@acme.example,Dan,Webb,Baker,,admin\n";

async fn seeded(app: &TestApp) -> (roster_core::OrgId, reqwest::Client, String) {
    let acme = app.org("acme").await;
    roster_app::admin::import_csv(&app.state, acme.org.id, Actor::Cli, PEOPLE.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", "/people")).send().await.unwrap().text().await.unwrap();
    let csrf = form_token(&page);
    (acme.org.id, owner, csrf)
}

/// The addresses of a page of Individuals, in the order shown.
fn emails_in(html: &str) -> Vec<String> {
    html.split("<td data-label=\"Email\">").skip(1).filter_map(|rest| rest.split('<').next()).map(str::to_owned).collect()
}

async fn individuals_sort_by_each_column(app: &TestApp) {
    let (org, owner, _) = seeded(app).await;
    let page = |query: &'static str| {
        let owner = owner.clone();
        let url = app.url("acme", &format!("/people?{query}"));
        async move { owner.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let others = |emails: Vec<String>| emails.into_iter().filter(|e| !e.starts_with("owner")).collect::<Vec<_>>();
    assert_eq!(
        others(emails_in(&page("sort=email&dir=desc").await)),
        ["dan@acme.example", "cat@acme.example", "bob@acme.example", "ann@acme.example"]
    );
    // No title first, then by title; the reverse order reverses it.
    let by_title = others(emails_in(&page("sort=job_title").await));
    assert_eq!(by_title, ["bob@acme.example", "cat@acme.example", "dan@acme.example", "ann@acme.example"]);
    let by_title_desc = others(emails_in(&page("sort=job_title&dir=desc").await));
    assert_eq!(by_title_desc, ["ann@acme.example", "dan@acme.example", "cat@acme.example", "bob@acme.example"]);
    // Teams by name (Accounts before Works), people without a team first, names within a team.
    let by_team = others(emails_in(&page("sort=team").await));
    assert_eq!(by_team, ["dan@acme.example", "bob@acme.example", "ann@acme.example", "cat@acme.example"]);
    // Renaming a team and moving someone re-sort them at once.
    let accounts = app.state.store.team_list(org).await.unwrap().into_iter().find(|t| t.name.as_str() == "Accounts").unwrap();
    roster_app::admin::update_team(&app.state, org, Actor::Cli, accounts.id, "Zoology", None).await.unwrap();
    let cli = roster_app::admin::people::Acting { actor: Actor::Cli, role: None };
    let dan = app.state.store.person_by_email(org, &Email::parse("dan@acme.example").unwrap()).await.unwrap().unwrap();
    roster_app::admin::people::set_primary_team(&app.state, org, &cli, dan.id, Some(accounts.id)).await.unwrap();
    let by_team = others(emails_in(&page("sort=team").await));
    assert_eq!(by_team, ["ann@acme.example", "cat@acme.example", "bob@acme.example", "dan@acme.example"]);
    roster_app::admin::people::set_primary_team(&app.state, org, &cli, dan.id, None).await.unwrap();
    let by_role = page("sort=role").await;
    assert!(by_role.contains("aria-sort=\"ascending\""), "the sorted column says so");
    assert_eq!(emails_in(&by_role)[0], "dan@acme.example", "admin sorts first");
    // Filters and sort together: the Works team by name, descending.
    let works = app.state.store.team_list(org).await.unwrap().into_iter().find(|t| t.name.as_str() == "Works").unwrap();
    let url = app.url("acme", &format!("/people?team={}&sort=name&dir=desc", works.id));
    assert_eq!(emails_in(&owner.get(url).send().await.unwrap().text().await.unwrap()), ["cat@acme.example", "ann@acme.example"]);
    // An unknown column is the default order, not an error.
    assert_eq!(owner.get(app.url("acme", "/people?sort=salary")).send().await.unwrap().status(), 200);

    let key = roster_app::admin::create_api_key(&app.state, org, "host", None).await.unwrap().raw;
    let api = |query: &'static str| {
        let (client, url, key) = (app.client(), app.url("acme", &format!("/api/v1/users?{query}")), key.clone());
        async move {
            let response = client.get(url).bearer_auth(key).send().await.unwrap();
            (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = api("sort=job_title&order=desc&limit=2").await;
    assert_eq!(status, 200);
    let firsts: Vec<&str> = body["data"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(firsts, ["ann@acme.example", "dan@acme.example"]);
    let (status, problem) = api("sort=salary").await;
    assert_eq!(status, 400);
    assert!(problem["detail"].as_str().unwrap().contains("not a sort column"), "{problem}");
    assert_eq!(api("order=sideways").await.0, 400);
}
on_both_backends!(sort_, individuals_sort_by_each_column);

async fn bulk_actions_confirm_the_count_and_apply_once(app: &TestApp) {
    let (org, owner, csrf) = seeded(app).await;
    let find = |email: &'static str| {
        let app = &app;
        async move { app.state.store.person_by_email(org, &Email::parse(email).unwrap()).await.unwrap().unwrap() }
    };
    let (ann, bob) = (find("ann@acme.example").await, find("bob@acme.example").await);
    let post = |path: &'static str, form: Vec<(&'static str, String)>| owner.post(app.url("acme", path)).form(&form).send();

    // Two ticked people, deactivated: the review names the count and them; nothing changes yet.
    let selection = vec![
        ("_csrf", csrf.clone()),
        ("scope", "selected".to_owned()),
        ("action", "deactivate".to_owned()),
        ("person", ann.id.to_string()),
        ("person", bob.id.to_string()),
    ];
    let review = post("/people/bulk", selection.clone()).await.unwrap().text().await.unwrap();
    assert!(review.contains("Deactivate 2 people?") && review.contains("ann@acme.example") && review.contains("bob@acme.example"), "{review}");
    assert_eq!(find("ann@acme.example").await.status, Status::Invited, "a review changes nothing");
    let unticked = post("/people/bulk/apply", selection.clone()).await.unwrap();
    assert_eq!(unticked.status(), 400);
    let mut confirmed = selection.clone();
    confirmed.extend([("confirm", "yes".to_owned()), ("expected", "2".to_owned())]);
    let done = post("/people/bulk/apply", confirmed.clone()).await.unwrap();
    assert_eq!(done.status(), 303, "Post/Redirect/Get");
    let shown = read_through(&owner, done).await;
    assert!(shown.contains("2 people deactivated."), "{shown}");
    assert!(shown.contains("· 2 deactivated"), "the header's counts follow at once: {shown}");
    assert_eq!((find("ann@acme.example").await.status, find("bob@acme.example").await.status), (Status::Deactivated, Status::Deactivated));
    // Posting it again (a reload) changes nothing more.
    let again = read_through(&owner, post("/people/bulk/apply", confirmed).await.unwrap()).await;
    assert!(again.contains("0 people deactivated. 2 left as they were"), "{again}");
    let audit = app.state.store.audit_for_person(org, ann.id, 10).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "user.deactivated").count(), 1);

    // Every match of a filter, reactivated; a count that grew since the review is refused.
    let filter =
        vec![("_csrf", csrf.clone()), ("scope", "matching".to_owned()), ("action", "reactivate".to_owned()), ("status", "deactivated".to_owned())];
    let review = post("/people/bulk", filter.clone()).await.unwrap().text().await.unwrap();
    assert!(review.contains("Reactivate 2 people?"), "{review}");
    let mut stale = filter.clone();
    stale.extend([("confirm", "yes".to_owned()), ("expected", "1".to_owned())]);
    let refused = post("/people/bulk/apply", stale).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("more than the 1 you confirmed"));
    assert_eq!(find("ann@acme.example").await.status, Status::Deactivated, "nothing changed");
    let mut confirmed = filter.clone();
    confirmed.extend([("confirm", "yes".to_owned()), ("expected", "2".to_owned())]);
    assert_eq!(post("/people/bulk/apply", confirmed).await.unwrap().status(), 303);
    assert_eq!(find("ann@acme.example").await.status, Status::Invited);

    // Everyone in Works joins Accounts as a secondary team and gets Dan as their manager.
    let works = app.state.store.team_list(org).await.unwrap().into_iter().find(|t| t.name.as_str() == "Works").unwrap();
    for (action, extra) in [("add_to_team", ("team_name", "accounts")), ("set_manager", ("manager", "dan@acme.example"))] {
        let form = vec![
            ("_csrf", csrf.clone()),
            ("scope", "matching".to_owned()),
            ("action", action.to_owned()),
            ("team", works.id.to_string()),
            (extra.0, extra.1.to_owned()),
            ("confirm", "yes".to_owned()),
        ];
        assert_eq!(post("/people/bulk/apply", form).await.unwrap().status(), 303, "{action}");
    }
    let accounts = app.state.store.team_list(org).await.unwrap().into_iter().find(|t| t.name.as_str() == "Accounts").unwrap();
    let dan = find("dan@acme.example").await;
    for email in ["ann@acme.example", "cat@acme.example"] {
        let person = find(email).await;
        assert!(person.secondary_teams.contains(&accounts.id) && person.manager == Some(dan.id), "{email}: {person:?}");
    }
    let unknown =
        vec![("_csrf", csrf.clone()), ("scope", "matching".to_owned()), ("action", "add_to_team".to_owned()), ("team_name", "Nowhere".to_owned())];
    assert!(post("/people/bulk", unknown).await.unwrap().text().await.unwrap().contains("There is no team named &#39;Nowhere&#39;"));

    // A learner cannot act in bulk.
    let password = roster_app::admin::reset_password(&app.state, org, bob.id).await.unwrap();
    let learner = app.signed_in("acme", "bob@acme.example", &password).await;
    let me = learner.get(app.url("acme", "/me")).send().await.unwrap().text().await.unwrap();
    let tried = learner
        .post(app.url("acme", "/people/bulk/apply"))
        .form(&[("_csrf", form_token(&me)), ("scope", "matching".into()), ("action", "deactivate".into()), ("confirm", "yes".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(tried.status(), 403);
    assert_eq!(find("cat@acme.example").await.status, Status::Invited);
}
on_both_backends!(bulk_, bulk_actions_confirm_the_count_and_apply_once);

/// A CSV that Excel saved as Windows-1252 is refused with the fix, and nothing is imported.
async fn a_windows_1252_file_is_refused_with_the_fix(app: &TestApp) {
    let acme = app.org("acme").await;
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", "/import")).send().await.unwrap().text().await.unwrap();
    let file = b"email,first_name\nzoe@acme.example,Zo\xEB\n".to_vec();
    let form =
        reqwest::multipart::Form::new().text("_csrf", form_token(&page)).part("file", reqwest::multipart::Part::bytes(file).file_name("people.csv"));
    let answer = owner.post(app.url("acme", "/import")).multipart(form).send().await.unwrap().text().await.unwrap();
    assert!(answer.contains("CSV UTF-8"), "{answer}");
    assert!(app.state.store.person_by_email(acme.org.id, &Email::parse("zoe@acme.example").unwrap()).await.unwrap().is_none());
}
on_both_backends!(encoding_, a_windows_1252_file_is_refused_with_the_fix);
