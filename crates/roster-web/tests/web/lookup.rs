//! The Entra lookups an admin uses: finding the sync group by name, "why isn't this person
//! here?" for each reason someone can be missing, and provisioning one person on demand.

use crate::on_both_backends;
use crate::support::{form_token, TestApp};
use roster_app::jobs::entra_sync::run_due_jobs;
use roster_app::provision::entra::{enqueue_sync, save_setup, set_enabled, test_connection};
use roster_core::{Actor, Email, Status};
use roster_sim::{spawn_loopback, EntraSim, TenantSpec};
use serde_json::json;

async fn sync(app: &TestApp, connection: &roster_core::Connection) {
    enqueue_sync(&app.state, connection, "manual").await.unwrap();
    assert_eq!(run_due_jobs(&app.state).await.unwrap(), 1);
}

fn new_user(sim: &EntraSim, upn: &str) -> String {
    let props =
        json!({ "userPrincipalName": upn, "mail": upn, "displayName": "Nora New", "givenName": "Nora", "surname": "New", "accountEnabled": true });
    sim.create_user(props.as_object().unwrap().clone())
}

async fn admins_find_the_group_ask_why_and_provision_one_person(app: &TestApp) {
    let org = app.org("lookup").await;
    let client = app.signed_in("lookup", &org.owner_email, &org.owner_password).await;
    let sim = EntraSim::generate(TenantSpec { users: 30, seed: 21, ..TenantSpec::default() });
    let info = sim.info();
    let running = spawn_loopback(sim.clone()).await.unwrap();
    let setup = crate::support::sim_setup(&running);
    let connection = save_setup(&app.state, org.org.id, &Actor::Cli, &setup).await.unwrap();
    // The tenant's name needs a permission Roster does not require; granted, the page shows it.
    sim.faults().grant_permission("Organization.Read.All");
    test_connection(&app.state, &connection, &Actor::Cli).await.unwrap();
    let connection = app.state.store.connection(org.org.id, connection.id).await.unwrap().unwrap();
    let connection = set_enabled(&app.state, &connection, &Actor::Cli, true).await.unwrap();
    sync(app, &connection).await;
    let url = |path: &str| app.url("lookup", path);
    let text = |response: reqwest::Response| async move { response.text().await.unwrap() };

    // The group, by a word of its name; picking it fills the form and changes nothing.
    let found = text(client.get(url("/settings/integrations/entra/groups?q=staff")).send().await.unwrap()).await;
    assert!(found.contains("All Staff (Roster)") && found.contains(&format!("?group={}", info.top_group_id)), "{found}");
    let nothing = text(client.get(url("/settings/integrations/entra/groups?q=zzzz")).send().await.unwrap()).await;
    assert!(nothing.contains("No group&#39;s name") || nothing.contains("No group's name"), "{nothing}");
    let outside = &info.outside_group_id;
    let picked = text(client.get(url(&format!("/settings/integrations/entra?group={outside}"))).send().await.unwrap()).await;
    assert!(
        picked.contains(&format!("in the tenant <strong>Simulated organisation {}</strong>", info.domain.split('.').next().unwrap())),
        "{picked}"
    );
    assert!(picked.contains(&format!("name=\"group_id\" value=\"{outside}\"")) && picked.contains("save the settings to use it"), "{picked}");

    let why = |q: String| {
        let client = client.clone();
        let url = url(&format!("/settings/integrations/entra/people?q={}", urlencoding(&q)));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    // Someone Entra does not have.
    assert!(why("nobody@nowhere.example".into()).await.contains("Entra has no user nobody@nowhere.example"));
    // Someone outside the group, then in another group.
    let nora = new_user(&sim, "nora@lookup.example");
    let page = why("nora@lookup.example".into()).await;
    assert!(page.contains("not in the sync group All Staff (Roster)") && page.contains("They are in no group at all"), "{page}");
    sim.add_member(outside, &nora).unwrap();
    assert!(why("nora@lookup.example".into()).await.contains("They are in Contractors"));
    // Someone disabled in Entra.
    let member = info.member_user_ids[0].clone();
    sim.disable_user(&member).unwrap();
    sync(app, &connection).await;
    let page = why(member.clone()).await;
    assert!(page.contains("disabled in Entra") && page.contains("deactivated, provisioned by this connection"), "{page}");
    // Someone the latest run skipped: their new address is someone else's.
    let clash = info.member_user_ids[1].clone();
    sim.set_user_property(&clash, "userPrincipalName", json!(org.owner_email)).unwrap();
    sync(app, &connection).await;
    let page = why(clash.clone()).await;
    assert!(page.contains("The latest run skipped them") && page.contains("already belongs to another person"), "{page}");
    // The provisioning log keeps that decision, found by the person's address, and what runs changed.
    assert!(page.contains("id=\"provisioning-log\"") && page.contains("<td>skipped</td>") && page.contains("user.created"), "{page}");

    // Provisioned on demand: outside the group nothing happens; inside, step by step, once.
    let provision = |q: &str| {
        let client = client.clone();
        let q = q.to_owned();
        async move {
            let page = client.get(url(&format!("/settings/integrations/entra/people?q={q}"))).send().await.unwrap().text().await.unwrap();
            let form = [("_csrf", form_token(&page)), ("q", q)];
            client.post(url("/settings/integrations/entra/people/provision")).form(&form).send().await.unwrap().text().await.unwrap()
        }
    };
    let nora_email = Email::parse("nora@lookup.example").unwrap();
    let outside_group = provision("nora@lookup.example").await;
    assert!(outside_group.contains("is not in the sync group") && outside_group.contains("nothing was changed"), "{outside_group}");
    assert!(app.state.store.person_by_email(org.org.id, &nora_email).await.unwrap().is_none());
    sim.add_member(&info.top_group_id, &nora).unwrap();
    let steps = provision("nora@lookup.example").await;
    assert!(steps.contains("Read nora@lookup.example from Entra") && steps.contains("Applied: user.created"), "{steps}");
    let created = app.state.store.person_by_email(org.org.id, &nora_email).await.unwrap().unwrap();
    assert_eq!(created.source.as_ref().map(|s| s.external_id.as_str()), Some(nora.as_str()));
    assert_ne!(created.status, Status::Deactivated);
    assert!(provision("nora@lookup.example").await.contains("nothing to change"), "a second time changes nothing");
    // Her profile is Entra's: an admin's edit is refused, naming where to change it.
    let acting = roster_app::admin::people::Acting { actor: Actor::Cli, role: None };
    let edit = roster_app::admin::people::ProfileEdit { first_name: "Changed".into(), ..Default::default() };
    let refused = roster_app::admin::people::update_profile(&app.state, org.org.id, &acting, created.id, &edit).await.err().unwrap();
    assert!(refused.to_string().contains("change their profile there"), "{refused}");
    // The person's page links to the lookup.
    let person = text(client.get(url(&format!("/people/{}", created.id))).send().await.unwrap()).await;
    assert!(person.contains(&format!("/settings/integrations/entra/people?q={nora}")), "{person}");
}
on_both_backends!(lookup_, admins_find_the_group_ask_why_and_provision_one_person);

fn urlencoding(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// Mapping an extra Entra attribute from the page, previewed before it applies.
async fn a_new_mapping_is_previewed_before_it_applies(app: &TestApp) {
    let org = app.org("mapped").await;
    let client = app.signed_in("mapped", &org.owner_email, &org.owner_password).await;
    let sim = EntraSim::generate(TenantSpec { users: 12, seed: 3, ..TenantSpec::default() });
    let info = sim.info();
    let running = spawn_loopback(sim.clone()).await.unwrap();
    let setup = crate::support::sim_setup(&running);
    let connection = save_setup(&app.state, org.org.id, &Actor::Cli, &setup).await.unwrap();
    let connection = set_enabled(&app.state, &connection, &Actor::Cli, true).await.unwrap();
    sync(app, &connection).await;
    let member = &info.member_user_ids[0];
    sim.set_user_property(member, "employeeId", json!("E-4242")).unwrap();

    let page_url = app.url("mapped", "/settings/integrations/entra");
    let page = client.get(&page_url).send().await.unwrap().text().await.unwrap();
    let form = [
        ("_csrf", form_token(&page)),
        ("then", "preview".to_owned()),
        ("group_id", info.top_group_id.clone()),
        ("client_id", info.client_id.clone()),
        ("daily_at", "03:00".to_owned()),
        ("mappings", "employeeId → custom.employee_id".to_owned()),
        ("login_base", format!("{}/", running.base_url)),
        ("graph_base", format!("{}/v1.0/", running.base_url)),
        ("guard_max_people", "500".to_owned()),
        ("guard_max_percent", "20".to_owned()),
        ("manage_managers", "yes".to_owned()),
    ];
    let saved = client.post(&page_url).form(&form).send().await.unwrap();
    assert_eq!(saved.status(), 303, "{}", saved.text().await.unwrap());
    let run_url = format!("http://{}{}", app.addr, saved.headers()["location"].to_str().unwrap());
    assert_eq!(run_due_jobs(&app.state).await.unwrap(), 1);
    let preview = client.get(&run_url).send().await.unwrap().text().await.unwrap();
    assert!(preview.contains("A preview") && preview.contains("E-4242"), "{preview}");
    let person = app
        .state
        .store
        .snapshot(org.org.id)
        .await
        .unwrap()
        .people
        .into_iter()
        .find(|p| p.source.as_ref().is_some_and(|s| &s.external_id == member))
        .unwrap();
    assert!(!format!("{:?}", person.profile).contains("E-4242"), "a preview applies nothing");
    sync(app, &connection).await;
    let person = app.state.store.person(org.org.id, person.id).await.unwrap().unwrap();
    assert!(format!("{:?}", person.profile).contains("E-4242"), "the next sync applies the mapping");
}
on_both_backends!(mapping_preview_, a_new_mapping_is_previewed_before_it_applies);
