//! Teams: create, rename, move; loops refused.

use crate::on_both_backends;
use crate::support::{form_token, read_through, TestApp};

async fn teams_form_a_hierarchy_without_loops(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let post = |path: String, fields: Vec<(&'static str, String)>| {
        let client = client.clone();
        let page_url = app.url("acme", "/teams");
        let url = app.url("acme", &path);
        async move {
            let page = client.get(page_url).send().await.unwrap().text().await.unwrap();
            let mut form = vec![("_csrf", form_token(&page))];
            form.extend(fields);
            let answer = client.post(url).form(&form).send().await.unwrap();
            read_through(&client, answer).await
        }
    };
    post("/teams".into(), vec![("name", "Engineering".into()), ("parent", String::new())]).await;
    let teams = app.state.store.teams(acme.org.id).await.unwrap();
    let engineering = teams[0].team.id;
    post("/teams".into(), vec![("name", "Platform".into()), ("parent", engineering.to_string())]).await;
    let platform = app.state.store.teams(acme.org.id).await.unwrap().into_iter().find(|t| t.team.name.as_str() == "Platform").unwrap();
    assert_eq!(platform.team.parent, Some(engineering));

    let duplicate = post("/teams".into(), vec![("name", "engineering".into()), ("parent", String::new())]).await;
    assert!(duplicate.contains("exists already"));

    let looped = post(format!("/teams/{engineering}"), vec![("name", "Engineering".into()), ("parent", platform.team.id.to_string())]).await;
    assert!(looped.contains("cannot sit below one of its own sub-teams"), "{looped}");
    let after = app.state.store.team(acme.org.id, engineering).await.unwrap().unwrap();
    assert_eq!(after.parent, None, "nothing changed");

    // A garbled parent is refused, not read as "no parent" (which would move the team up).
    let garbled = post(format!("/teams/{}", platform.team.id), vec![("name", "Platform".into()), ("parent", "not-a-team".into())]).await;
    assert!(garbled.contains("not one of this organisation"), "{garbled}");
    assert_eq!(app.state.store.team(acme.org.id, platform.team.id).await.unwrap().unwrap().parent, Some(engineering), "still below Engineering");

    let renamed = post(format!("/teams/{engineering}"), vec![("name", "R&D".into()), ("parent", String::new())]).await;
    assert!(renamed.contains("Team &#39;R&amp;D&#39; saved.") || renamed.contains("saved."), "{renamed}");
    assert_eq!(app.state.store.team(acme.org.id, engineering).await.unwrap().unwrap().name.as_str(), "R&D");
    let audit = app.state.store.recent_audit(acme.org.id, 20).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "team.renamed"));
    assert!(audit.iter().any(|a| a.action == "team.parent_changed"));
}
on_both_backends!(teams_form_a_hierarchy_without_loops_, teams_form_a_hierarchy_without_loops);

/// An empty team is deleted; one with people is merged into another, its people, secondary
/// members and child teams moving there, audited; nothing happens without the ticked box.
async fn teams_are_deleted_when_empty_and_merged_otherwise(app: &TestApp) {
    let acme = app.org("acme").await;
    let csv = "email,first_name,last_name,department\nlea@acme.example,Lea,Learner,Research\nmo@acme.example,Mo,Moved,Sales\n";
    roster_app::admin::import_csv(&app.state, acme.org.id, roster_core::Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let teams = app.state.store.team_list(acme.org.id).await.unwrap();
    let id_of = |name: &str| teams.iter().find(|t| t.name.as_str() == name).unwrap().id;
    let (research, sales) = (id_of("Research"), id_of("Sales"));
    let empty = roster_app::admin::create_team(&app.state, acme.org.id, roster_core::Actor::Cli, "Empty", None).await.unwrap();
    let child = roster_app::admin::create_team(&app.state, acme.org.id, roster_core::Actor::Cli, "Sales Child", Some(sales)).await.unwrap();
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = client.get(app.url("acme", "/teams")).send().await.unwrap().text().await.unwrap();
    let csrf = form_token(&page);
    let post = |team: roster_core::TeamId, into: String, confirm: bool| {
        let mut form = vec![("_csrf", csrf.clone()), ("into", into)];
        if confirm {
            form.push(("confirm", "yes".into()));
        }
        client.post(app.url("acme", &format!("/teams/{team}/delete"))).form(&form).send()
    };
    assert_eq!(post(empty, String::new(), false).await.unwrap().status(), 400, "the box must be ticked");
    let refused = post(sales, String::new(), true).await.unwrap().text().await.unwrap();
    assert!(refused.contains("merge it into another team"), "a team with people is not simply deleted");
    let deleted = post(empty, String::new(), true).await.unwrap();
    assert_eq!(deleted.status(), 303, "Post/Redirect/Get");
    assert!(read_through(&client, deleted).await.contains("The team is deleted."));
    let merged = read_through(&client, post(sales, research.to_string(), true).await.unwrap()).await;
    assert!(merged.contains("1 people moved"), "{merged}");
    let mo = app.state.store.person_by_email(acme.org.id, &roster_core::Email::parse("mo@acme.example").unwrap()).await.unwrap().unwrap();
    assert_eq!(mo.primary_team, Some(research));
    let left = app.state.store.team_list(acme.org.id).await.unwrap();
    assert!(left.iter().all(|t| t.id != sales && t.id != empty));
    assert_eq!(left.iter().find(|t| t.id == child).unwrap().parent, Some(research), "its child team moved too");
    let audit = app.state.store.recent_audit(acme.org.id, 50).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "team.merged") && audit.iter().any(|a| a.action == "team.deleted"));
}
on_both_backends!(team_delete_and_merge_, teams_are_deleted_when_empty_and_merged_otherwise);
