//! Teams: create, rename, move; loops refused.

use crate::on_both_backends;
use crate::support::{form_token, TestApp};

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
            client.post(url).form(&form).send().await.unwrap().text().await.unwrap()
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
