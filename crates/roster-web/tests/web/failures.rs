//! A store that fails part-way through an action: the action answers with an error in its
//! surface's format and changes nothing (each write is one transaction, and nothing is
//! written before the reads an action needs have succeeded).

use crate::support::{form_token, TestApp};
use roster_app::admin;
use roster_core::reconcile::Invitations;
use roster_core::Actor;
use roster_store::testing::Backend;
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn scim(client: &reqwest::Client, method: reqwest::Method, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.header("content-type", "application/scim+json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A Group PATCH whose store fails at the write, or at a read in the middle, answers a SCIM
/// error; the Group and the team's members stay as they were.
async fn group_patch(backend: Backend) {
    let Some((app, failing)) = TestApp::start_failing(backend).await else { return };
    let acme = app.org("acme").await;
    let token = admin::scim_tokens::create_token(&app.state, acme.org.id, "tests", &Actor::Cli).await.unwrap().raw;
    let (client, base) = (app.client(), app.url("acme", "/scim/v2"));
    let user = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("{name}@acme.example"), "name": {"givenName": name, "familyName": "X"}, "active": true});
    let (_, ada) = scim(&client, reqwest::Method::POST, format!("{base}/Users"), &token, Some(user("ada"))).await;
    let (_, bob) = scim(&client, reqwest::Method::POST, format!("{base}/Users"), &token, Some(user("bob"))).await;
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Research", "members": [{"value": ada["id"]}]});
    let (status, group) = scim(&client, reqwest::Method::POST, format!("{base}/Groups"), &token, Some(group)).await;
    assert_eq!(status, 201, "{group}");
    let url = format!("{base}/Groups/{}", group["id"].as_str().unwrap());
    let add_bob = json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": bob["id"]}]}]});
    for method in ["scim_write", "scim_members", "snapshot"] {
        failing.fail_on(method);
        let (status, body) = scim(&client, reqwest::Method::PATCH, url.clone(), &token, Some(add_bob.clone())).await;
        assert_eq!(status, 500, "{method}: {body}");
        assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{method}");
        assert!(failing.pending().is_empty(), "{method} was reached");
        let (_, now) = scim(&client, reqwest::Method::GET, url.clone(), &token, None).await;
        assert_eq!(now["members"].as_array().map(Vec::len), Some(1), "{method}: the Group is unchanged: {now}");
        let team = app.state.store.team_list(acme.org.id).await.unwrap().into_iter().find(|t| t.name.as_str() == "Research").unwrap();
        let bob_now = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse("bob@acme.example").unwrap()).await.unwrap().unwrap();
        assert!(!bob_now.secondary_teams.contains(&team.id), "{method}: Bob did not join");
    }
    let (status, _) = scim(&client, reqwest::Method::PATCH, url, &token, Some(add_bob)).await;
    assert_eq!(status, 200, "once the store answers again, the same PATCH works");
    app.finish().await;
}

/// A CSV import whose store fails reading the directory or applying the plan changes nothing.
async fn csv_import(backend: Backend) {
    let Some((app, failing)) = TestApp::start_failing(backend).await else { return };
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name,department\nada@acme.example,Ada,Lovelace,Research\n";
    for method in ["snapshot", "apply"] {
        failing.fail_on(method);
        let result = admin::import_csv(&app.state, acme.org.id, Actor::Cli, csv.as_bytes(), Invitations::Immediately, false).await;
        assert!(result.is_err(), "{method}");
        assert_eq!(app.state.store.count_people(acme.org.id).await.unwrap().total, 1, "{method}: nobody was imported");
        assert!(app.state.store.team_list(acme.org.id).await.unwrap().is_empty(), "{method}: no team was made");
        assert!(app.state.store.emails(acme.org.id, 10).await.unwrap().is_empty(), "{method}: no invitation was queued");
    }
    app.finish().await;
}

/// An admin edit from the pages whose store fails answers an error page and changes nothing.
async fn admin_edit(backend: Backend) {
    let Some((app, failing)) = TestApp::start_failing(backend).await else { return };
    let acme = app.org("acme").await;
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", "/teams")).send().await.unwrap().text().await.unwrap();
    failing.fail_on("apply");
    let answer = owner.post(app.url("acme", "/teams")).form(&[("_csrf", form_token(&page).as_str()), ("name", "Research")]).send().await.unwrap();
    assert!(answer.status().is_server_error() || answer.text().await.unwrap().contains("went wrong"), "an error page");
    assert!(failing.pending().is_empty());
    assert!(app.state.store.team_list(acme.org.id).await.unwrap().is_empty(), "no team was made");
    app.finish().await;
}

macro_rules! on_both {
    ($($name:ident => $body:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$body(roster_store::testing::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$body(roster_store::testing::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both!(
    a_failing_store_during_a_group_patch_changes_nothing => group_patch,
    a_failing_store_during_a_csv_import_changes_nothing => csv_import,
    a_failing_store_during_an_admin_edit_changes_nothing => admin_edit,
);
