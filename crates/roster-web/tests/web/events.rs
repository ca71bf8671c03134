//! The events feed: every change after a cursor in commit order, replayable, filtered by type,
//! held open until something happens, and refusing what is not a cursor.

use crate::on_both_backends;
use crate::support::TestApp;
use roster_core::{Actor, Email};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn get(app: &TestApp, key: &str, query: &str) -> (u16, Value) {
    let response = app.client().get(app.url("acme", &format!("/api/v1/events{query}"))).bearer_auth(key).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn cursor(page: &Value) -> String {
    page["next_cursor"].as_str().unwrap().to_owned()
}

async fn the_feed_follows_every_change_in_order(app: &TestApp) {
    let acme = app.org("acme").await;
    let org = acme.org.id;
    let key = roster_app::admin::create_api_key(&app.state, org, "platform", None).await.unwrap().raw;
    let csv = "email,first_name,last_name,department\nana@acme.example,Ana,A,Sales\nben@acme.example,Ben,B,Sales\ncy@acme.example,Cy,C,Sales\n";
    roster_app::admin::import_csv(&app.state, org, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false).await.unwrap();

    // Everything from the start, two at a time: in order, no repeats, nothing skipped.
    let (status, first) = get(app, &key, "?limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["has_more"], true);
    let mut seen: Vec<Value> = first["data"].as_array().unwrap().clone();
    let mut after = cursor(&first);
    loop {
        let (_, page) = get(app, &key, &format!("?after={after}&limit=2")).await;
        seen.extend(page["data"].as_array().unwrap().iter().cloned());
        after = cursor(&page);
        if page["has_more"] == false {
            break;
        }
    }
    let all = app.state.store.events(org, 0, 1000).await.unwrap();
    let ids: Vec<String> = seen.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, all.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(), "every event, once, in commit order");
    let created = seen.iter().filter(|e| e["type"] == "user.created").count();
    assert!(created >= 3 && seen.iter().any(|e| e["type"] == "team.created"), "{seen:?}");
    assert!(seen.iter().filter(|e| e["type"] == "user.created").all(|e| e["actor"].is_string() && e["occurred_at"].is_string()));

    // Replay from an earlier cursor gives the same events again.
    let (_, replay) = get(app, &key, &format!("?after={}", seen[0]["cursor"].as_str().unwrap())).await;
    assert_eq!(replay["data"][0]["id"], seen[1]["id"]);

    // Nothing new: an empty page that keeps the cursor.
    let (_, empty) = get(app, &key, &format!("?after={after}")).await;
    assert_eq!((empty["data"].as_array().unwrap().len(), cursor(&empty)), (0, after.clone()));

    // Held open: a deactivation a moment later answers the waiting request at once.
    let ben = app.state.store.person_by_email(org, &Email::parse("ben@acme.example").unwrap()).await.unwrap().unwrap();
    let waiting = {
        let (client, url, key) =
            (app.client(), app.url("acme", &format!("/api/v1/events?after={after}&wait=10&types=user.deactivated")), key.clone());
        tokio::spawn(async move {
            let answer: Value = client.get(url).bearer_auth(key).send().await.unwrap().json().await.unwrap();
            (answer, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acting = roster_app::admin::people::Acting { actor: Actor::Cli, role: None };
    roster_app::admin::people::deactivate(&app.state, org, &acting, ben.id).await.unwrap();
    let committed = Instant::now();
    let (answer, answered) = waiting.await.unwrap();
    let late = answered.saturating_duration_since(committed);
    assert!(late < Duration::from_millis(250), "answered {late:?} after the commit");
    let events = answer["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{answer}");
    assert_eq!((events[0]["type"].as_str(), events[0]["actor"].as_str()), (Some("user.deactivated"), Some("cli")));
    assert_eq!(events[0]["data"]["id"], ben.id.to_string());

    // Accepting an invitation (choosing a password) is heard as an activation.
    let cy = app.state.store.person_by_email(org, &Email::parse("cy@acme.example").unwrap()).await.unwrap().unwrap();
    roster_app::admin::reset_password(&app.state, org, cy.id).await.unwrap();
    let (_, activated) = get(app, &key, &format!("?after={}&types=user.activated", cursor(&answer))).await;
    assert_eq!(activated["data"][0]["data"]["id"], cy.id.to_string(), "{activated}");

    // Types filter: only what was asked for.
    let (_, teams) = get(app, &key, "?types=team.created").await;
    assert!(teams["data"].as_array().unwrap().iter().all(|e| e["type"] == "team.created"));

    // Bad input is a problem, not an empty page.
    for query in ["?after=12", "?after=ev1_zz", "?limit=0", "?limit=1001", "?wait=31", "?types=User.Created"] {
        let (status, problem) = get(app, &key, query).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert!(problem["detail"].is_string(), "{problem}");
    }
    // Scopes: a key for the feed alone cannot read people, and one for reading cannot follow the feed.
    let feed_only = roster_app::admin::create_scoped_api_key(&app.state, org, "feed", None, &[roster_store::ApiScope::Events]).await.unwrap().raw;
    let read_only = roster_app::admin::create_scoped_api_key(&app.state, org, "read", None, &[roster_store::ApiScope::Read]).await.unwrap().raw;
    assert_eq!(get(app, &feed_only, "").await.0, 200);
    let (status, problem) = get(app, &read_only, "").await;
    assert_eq!(status, 403, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("'events' scope"), "{problem}");
    let users = app.client().get(app.url("acme", "/api/v1/users")).bearer_auth(&feed_only).send().await.unwrap();
    assert_eq!(users.status(), 403);
    let users = app.client().get(app.url("acme", "/api/v1/users")).bearer_auth(&read_only).send().await.unwrap();
    assert_eq!(users.status(), 200);
    assert!(roster_app::admin::create_scoped_api_key(&app.state, org, "none", None, &[]).await.is_err(), "a key needs a scope");
    // Another organisation's key sees nothing here.
    let other = app.org("globex").await;
    let other_key = roster_app::admin::create_api_key(&app.state, other.org.id, "other", None).await.unwrap().raw;
    assert_eq!(get(app, &other_key, "").await.0, 401);

    // Events past the retention window are forgotten.
    assert!(app.state.store.purge_events(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap() >= seen.len() as u64);
    assert!(get(app, &key, "").await.1["data"].as_array().unwrap().is_empty());
}
on_both_backends!(events_feed_, the_feed_follows_every_change_in_order);
