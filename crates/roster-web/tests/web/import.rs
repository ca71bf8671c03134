//! CSV import through the Import page.

use crate::on_both_backends;
use crate::support::{form_token, TestApp};
use roster_core::query::PersonQuery;

async fn upload(app: &TestApp, client: &reqwest::Client, csv: &str, dry_run: bool, invite: bool) -> String {
    let page = client.get(app.url("acme", "/import")).send().await.unwrap().text().await.unwrap();
    let mut form = reqwest::multipart::Form::new()
        .text("_csrf", form_token(&page))
        .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("people.csv"));
    if dry_run {
        form = form.text("dry_run", "yes");
    }
    if invite {
        form = form.text("invite", "yes");
    }
    let response = client.post(app.url("acme", "/import")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn count(app: &TestApp, org: roster_core::OrgId) -> u64 {
    app.state.store.search_people(org, &PersonQuery::new(None, 0, 1)).await.unwrap().total.unwrap()
}

const GOOD: &str = "email,first_name,last_name,department,manager_email,role\n\
ada@acme.example,Ada,Lovelace,Research,,admin\n\
charles@acme.example,Charles,Babbage,Research,ada@acme.example,learner\n";

async fn dry_run_then_import_then_reimport(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;

    let dry = upload(app, &client, GOOD, true, false).await;
    assert!(dry.contains("Dry run: nothing was changed"));
    assert_eq!(count(app, acme.org.id).await, 1, "only the owner");

    let done = upload(app, &client, GOOD, false, false).await;
    assert!(done.contains("Imported"), "{done}");
    assert_eq!(count(app, acme.org.id).await, 3);
    let snapshot = app.state.store.snapshot(acme.org.id).await.unwrap();
    let ada = snapshot.people.iter().find(|p| p.email.as_str() == "ada@acme.example").unwrap();
    let charles = snapshot.people.iter().find(|p| p.email.as_str() == "charles@acme.example").unwrap();
    assert_eq!(charles.manager, Some(ada.id));
    assert_eq!(snapshot.teams.len(), 1, "Research was created once");
    assert_eq!(charles.primary_team, Some(snapshot.teams[0].id));

    // The same file again changes nothing and says so.
    let again = upload(app, &client, GOOD, false, false).await;
    assert!(again.contains("<tr><th>Unchanged</th><td>2</td></tr>"), "{again}");
    let audit = app.state.store.audit_for_person(acme.org.id, charles.id, 50).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "user.created" && a.actor.starts_with("csv import")));
}
on_both_backends!(dry_run_then_import_then_reimport_, dry_run_then_import_then_reimport);

async fn a_file_with_bad_rows_changes_nothing(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let bad = "email,first_name,hire_date\nok@acme.example,Ok,2024-01-01\nnot-an-address,Bad,\nlate@acme.example,Late,31/12/2024\n";
    let page = upload(app, &client, bad, false, false).await;
    assert!(page.contains("line 3") && page.contains("line 4"), "each bad row is named");
    assert!(page.contains("Nothing was changed"));
    assert_eq!(count(app, acme.org.id).await, 1);
    let unknown_column = upload(app, &client, "email,shoe_size\na@acme.example,44\n", false, false).await;
    assert!(unknown_column.contains("unknown column"));
    let unknown_manager = upload(app, &client, "email,manager_email\na@acme.example,ghost@acme.example\n", false, false).await;
    assert!(unknown_manager.contains("not in the directory"));
    assert_eq!(count(app, acme.org.id).await, 1);
}
on_both_backends!(a_file_with_bad_rows_changes_nothing_, a_file_with_bad_rows_changes_nothing);

/// The owner hands Ada's invitation over with "Copy invitation link"; returns the token.
async fn copy_invitation_link(app: &TestApp, client: &reqwest::Client, person: roster_core::UserId) -> reqwest::Response {
    let page = client.get(app.url("acme", &format!("/people/{person}"))).send().await.unwrap().text().await.unwrap();
    client.post(app.url("acme", &format!("/people/{person}/invitation-link"))).form(&[("_csrf", form_token(&page))]).send().await.unwrap()
}

fn token_in(page: &str) -> String {
    let at = page.find("purpose=invitation").unwrap_or_else(|| panic!("an invitation link in {page}"));
    let start = at + page[at..].find("token=").expect("the link's token") + "token=".len();
    page[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

async fn invitations_are_listed_without_links_and_handed_over_once(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    upload(app, &client, GOOD, false, true).await;
    let outbox = client.get(app.url("acme", "/outbox")).send().await.unwrap().text().await.unwrap();
    assert!(outbox.contains("You are invited to acme Inc"));
    assert!(outbox.contains("<td>ada@acme.example</td>"), "Ada's invitation is listed");
    assert!(!outbox.contains("token="), "the outbox shows no link: {outbox}");
    let ada_id = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse("ada@acme.example").unwrap()).await.unwrap().unwrap().id;
    let first = token_in(&copy_invitation_link(app, &client, ada_id).await.text().await.unwrap());
    let handed = copy_invitation_link(app, &client, ada_id).await;
    assert_eq!(handed.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
    let token = token_in(&handed.text().await.unwrap());
    let stale =
        app.client().get(app.url("acme", &format!("/password/set?purpose=invitation&token={first}"))).send().await.unwrap().text().await.unwrap();
    assert!(stale.contains("This link no longer works"), "a newer link voids the older one");

    let ada = app.client();
    let set_url = app.url("acme", &format!("/password/set?purpose=invitation&token={token}"));
    let form_page = ada.get(&set_url).send().await.unwrap().text().await.unwrap();
    assert!(form_page.contains("Welcome to acme Inc"));
    let post = |password: &'static str, confirm: &'static str, page: String| {
        let ada = ada.clone();
        let url = app.url("acme", "/password/set");
        let token = token.clone();
        async move {
            ada.post(url)
                .form(&[
                    ("_csrf", form_token(&page).as_str()),
                    ("token", token.as_str()),
                    ("purpose", "invitation"),
                    ("password", password),
                    ("confirm", confirm),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let mismatch = post("a-long-password-1", "a-long-password-2", form_page).await.text().await.unwrap();
    assert!(mismatch.contains("differ"));
    // The answer carries a fresh form; its token goes with the next try.
    let ok = post("a-long-password-1", "a-long-password-1", mismatch).await;
    assert_eq!(ok.status(), 303, "signed in");
    let who = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse("ada@acme.example").unwrap()).await.unwrap().unwrap();
    assert_eq!(who.role, roster_core::Role::Admin);
    let people = ada.get(app.url("acme", "/people")).send().await.unwrap();
    assert_eq!(people.status(), 200, "Ada is an admin: {}", people.text().await.unwrap());

    let reused = app.client().get(&set_url).send().await.unwrap().text().await.unwrap();
    assert!(reused.contains("This link no longer works"));
    let person = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse("ada@acme.example").unwrap()).await.unwrap().unwrap();
    assert_eq!(person.status, roster_core::Status::Active);
    let audit = app.state.store.audit_for_person(acme.org.id, person.id, 50).await.unwrap();
    assert!(audit.iter().all(|a| !a.detail.to_string().contains(&token)), "the token never reaches the audit log");
    assert_eq!(audit.iter().filter(|a| a.action == "user.link_handed_over").count(), 2, "each hand-over is audited");

    // Ada is an admin, not an owner: she may not hand links over.
    let grace = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse("charles@acme.example").unwrap()).await.unwrap().unwrap();
    assert_eq!(copy_invitation_link(app, &ada, grace.id).await.status(), 403);
    let ada_outbox = ada.get(app.url("acme", "/outbox")).send().await.unwrap().text().await.unwrap();
    assert!(!ada_outbox.contains("token="));
}
on_both_backends!(invitations_are_listed_without_links_and_handed_over_once_, invitations_are_listed_without_links_and_handed_over_once);

/// The import page states the upload limit, and a file over it is refused in those words.
async fn a_file_over_the_upload_limit_is_refused_with_the_limit(backend: roster_store::testing::Backend) {
    let Some(app) = TestApp::start_with(backend, |config| config.max_body_bytes = 1024 * 1024).await else { return };
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = client.get(app.url("acme", "/import")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("up to 1 MiB"), "{page}");
    let big = format!("email,first_name,last_name\n{}", "x@acme.example,X,Y\n".repeat(80_000));
    let form = reqwest::multipart::Form::new()
        .text("_csrf", form_token(&page))
        .part("file", reqwest::multipart::Part::bytes(big.into_bytes()).file_name("people.csv"));
    let refused = client.post(app.url("acme", "/import")).multipart(form).send().await.unwrap().text().await.unwrap();
    assert!(refused.contains("larger than 1 MiB") && refused.contains("nothing was changed"), "{refused}");
    assert_eq!(count(&app, acme.org.id).await, 1);
    app.finish().await;
}

mod upload_limit {
    use roster_store::testing::Backend;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_file_over_the_upload_limit_is_refused_with_the_limit(Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_file_over_the_upload_limit_is_refused_with_the_limit(Backend::Postgres).await;
    }
}

/// Every match of the Individuals filters downloads as CSV, written batch by batch, cells safe
/// for spreadsheets, the same rows as `roster user list --csv`.
async fn individuals_export_every_match_as_csv(app: &TestApp) {
    let acme = app.org("acme").await;
    let mut csv = String::from("email,first_name,last_name\n");
    for n in 0..1_203 {
        csv.push_str(&format!("p{n:04}@acme.example,P{n},Person\n"));
    }
    csv.push_str("eve@acme.example,=HYPERLINK(\"x\"),Eve\n");
    roster_app::admin::import_csv(&app.state, acme.org.id, roster_core::Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = client.get(app.url("acme", "/people?status=invited")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("/people.csv?q=&amp;status=invited") || page.contains("/people.csv?q=&#38;status=invited"), "the link keeps the filters");
    let file = client.get(app.url("acme", "/people.csv?status=invited")).send().await.unwrap();
    assert_eq!(file.headers()["content-type"], "text/csv; charset=utf-8");
    let text = file.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,email,first_name,last_name,job_title,department,role,status");
    assert_eq!(lines.len(), 1 + 1_204, "every invited person, across batches of 500; the active owner is not invited");
    assert!(text.contains("'=HYPERLINK"), "a formula is written as text");
    // In the page's order: by e-mail, descending.
    let sorted = client.get(app.url("acme", "/people.csv?status=invited&sort=email&dir=desc")).send().await.unwrap().text().await.unwrap();
    let emails: Vec<&str> = sorted.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!((emails[0], emails.len()), ("p1202@acme.example", 1_204));
    assert!(emails.windows(2).all(|w| w[0] > w[1]), "descending throughout");
}
on_both_backends!(individuals_export_, individuals_export_every_match_as_csv);
