//! The deactivation guard as an admin meets it in the pages: an emptied group holds the run,
//! the run page lists who would go and why, the owners are e-mailed once, Reject keeps
//! everything, and Allow applies the re-planned run.

use crate::mail::{delivered_to, smtp_server};
use crate::on_both_backends;
use crate::support::{form_token, TestApp};
use roster_app::config::{SmtpConfig, SmtpSecurity};
use roster_app::jobs::entra_sync::run_due_jobs;
use roster_app::provision::entra::{enqueue_sync, save_setup, set_enabled, EntraSetup};
use roster_core::{Actor, Status};
use roster_sim::{spawn_loopback, EntraSim, TenantSpec};
use roster_store::{OutgoingEmail, RunStatus};

async fn an_emptied_group_is_held_until_an_admin_decides(app: &TestApp) {
    let org = app.org("guarded").await;
    let client = app.signed_in("guarded", &org.owner_email, &org.owner_password).await;
    let sim = EntraSim::generate(TenantSpec { users: 40, seed: 11, ..TenantSpec::default() });
    let info = sim.info();
    let running = spawn_loopback(sim.clone()).await.unwrap();
    let setup = EntraSetup { manage_managers: true, ..crate::support::sim_setup(&running) };
    let connection = save_setup(&app.state, org.org.id, &Actor::Cli, &setup).await.unwrap();
    let connection = set_enabled(&app.state, &connection, &Actor::Cli, true).await.unwrap();
    enqueue_sync(&app.state, &connection, "manual").await.unwrap();
    assert_eq!(run_due_jobs(&app.state).await.unwrap(), 1);
    let active =
        app.state.store.snapshot(org.org.id).await.unwrap().people.iter().filter(|p| p.source.is_some() && p.status != Status::Deactivated).count();
    assert!(active > 20, "{active} people synced");

    // Someone empties the group in Entra.
    let mut groups = vec![info.top_group_id.clone()];
    groups.extend(info.nested_group_ids.iter().cloned());
    for group in &groups {
        for member in info.member_user_ids.iter().chain(info.nested_group_ids.iter()) {
            sim.remove_member(group, member).unwrap();
        }
    }
    let page_url = app.url("guarded", "/settings/integrations/entra");
    // A preview says the sync would be held, and holds nothing, e-mails nobody.
    let page = client.get(&page_url).send().await.unwrap().text().await.unwrap();
    let previewed =
        client.post(app.url("guarded", "/settings/integrations/entra/preview")).form(&[("_csrf", form_token(&page))]).send().await.unwrap();
    let preview_url = format!("http://{}{}", app.addr, previewed.headers()["location"].to_str().unwrap());
    assert_eq!(run_due_jobs(&app.state).await.unwrap(), 1);
    let preview = client.get(&preview_url).send().await.unwrap().text().await.unwrap();
    assert!(preview.contains("A sync now would be held by the deactivation guard") && preview.contains("user.deactivated"), "{preview}");
    assert!(!preview.contains("Allow and apply"), "a preview is not a decision");
    assert_eq!(app.state.store.sync_runs(org.org.id, connection.id, 1).await.unwrap()[0].status, RunStatus::Previewed);
    let page = client.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("id=\"entra-held\""), "a preview holds nothing");
    let emails = app.state.store.emails(org.org.id, 100).await.unwrap();
    assert!(!emails.iter().any(|e| matches!(e.email, OutgoingEmail::RunHeld { .. })), "and tells nobody");
    let synced = client.post(app.url("guarded", "/settings/integrations/entra/sync")).form(&[("_csrf", form_token(&page))]).send().await.unwrap();
    let run_url = format!("http://{}{}", app.addr, synced.headers()["location"].to_str().unwrap());
    assert_eq!(run_due_jobs(&app.state).await.unwrap(), 1);
    let runs = app.state.store.sync_runs(org.org.id, connection.id, 10).await.unwrap();
    let held = &runs[0];
    assert_eq!(held.status, RunStatus::Held);
    let heard = app.state.store.event_feed(org.org.id, 0, &["connection.run_held".to_owned()], 10).await.unwrap();
    assert_eq!(heard.len(), 1, "the host platform hears of the hold");
    assert_eq!(heard[0].data["run_id"], held.id.to_string());
    assert!(heard[0].data["counts"]["would_deactivate"].as_u64().unwrap() > 0, "{:?}", heard[0].data);
    let everyone = app.state.store.snapshot(org.org.id).await.unwrap().people;
    assert_eq!(everyone.iter().filter(|p| p.source.is_some() && p.status != Status::Deactivated).count(), active, "nobody was deactivated");

    // The run page names who would go and why, and offers the decision.
    let run_page = client.get(&run_url).send().await.unwrap().text().await.unwrap();
    let leaver = everyone.iter().find(|p| p.source.is_some()).unwrap();
    assert!(run_page.contains("id=\"would-deactivate\"") && run_page.contains(leaver.email.as_str()), "{run_page}");
    assert!(run_page.contains("no longer in the source") && run_page.contains("Allow and apply") && run_page.contains("Reject"));
    // "Why isn't this person here?" names the hold, and that they left the group.
    let external = &leaver.source.as_ref().unwrap().external_id;
    let why = roster_app::provision::entra::lookup::explain(&app.state, &connection, external).await.unwrap();
    let said: Vec<&str> = why.findings.iter().filter(|f| f.decisive).map(|f| f.text.as_str()).collect();
    assert!(
        said.iter().any(|f| f.contains("held by the deactivation guard")) && said.iter().any(|f| f.contains("not in the sync group")),
        "{said:?}"
    );
    // The provisioning log keeps the held decision for the person's page, for 30 days.
    let now = chrono::Utc::now();
    let logged =
        roster_app::provision::log::for_person(app.state.store.as_ref(), org.org.id, Some(leaver.id), &[leaver.email.as_str()], now).await.unwrap();
    assert!(logged.iter().any(|l| l.what == "held"), "{logged:?}");
    let person_page = client.get(app.url("guarded", &format!("/people/{}", leaver.id))).send().await.unwrap().text().await.unwrap();
    assert!(person_page.contains("id=\"provisioning-log\"") && person_page.contains("held by the deactivation guard"), "{person_page}");
    assert_eq!(app.state.store.purge_decisions(now - chrono::Duration::days(30)).await.unwrap(), 0, "younger than 30 days: kept");
    let settings_page = client.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(settings_page.contains("id=\"entra-held\""), "the connection shows it is held");
    assert!(settings_page.contains(">held</span> The last sync was held"), "and its health says so");
    let overview = client.get(app.url("guarded", "/dashboard")).send().await.unwrap().text().await.unwrap();
    assert!(
        overview.contains("id=\"needs-you\"") && overview.contains(&format!("runs/{}", held.id)) && overview.contains(">held</span>"),
        "{overview}"
    );

    // The owner hears once, however many runs are held after.
    let held_mails = || async {
        let emails = app.state.store.emails(org.org.id, 100).await.unwrap();
        emails.into_iter().filter(|e| matches!(e.email, OutgoingEmail::RunHeld { .. })).collect::<Vec<_>>()
    };
    let mails = held_mails().await;
    assert_eq!(mails.len(), 1, "one e-mail for one owner");
    assert_eq!(mails[0].email.to().as_str(), org.owner_email);
    let again = enqueue_sync(&app.state, &connection, "schedule").await.unwrap();
    assert_eq!(run_due_jobs(&app.state).await.unwrap(), 1);
    assert_eq!(app.state.store.sync_run(org.org.id, again).await.unwrap().unwrap().status, RunStatus::Held, "the daily run is held too");
    assert_eq!(held_mails().await.len(), 1, "no second e-mail while the connection is held");

    // Deciding needs the box ticked; Reject changes nothing and the connection stays held.
    let decide = |run: String, action: &'static str, confirm: bool| {
        let client = client.clone();
        let run_url = format!("http://{}/o/guarded/settings/integrations/entra/runs/{run}", app.addr);
        async move {
            let page = client.get(&run_url).send().await.unwrap().text().await.unwrap();
            let mut form = vec![("_csrf", form_token(&page))];
            if confirm {
                form.push(("confirm", "yes".into()));
            }
            client.post(format!("{run_url}/{action}")).form(&form).send().await.unwrap()
        }
    };
    assert_eq!(decide(again.to_string(), "reject", false).await.status(), 400);
    assert_eq!(app.state.store.sync_run(org.org.id, again).await.unwrap().unwrap().status, RunStatus::Held);
    assert_eq!(decide(again.to_string(), "reject", true).await.status(), 303);
    assert_eq!(app.state.store.sync_run(org.org.id, again).await.unwrap().unwrap().status, RunStatus::Rejected);
    assert_eq!(decide(again.to_string(), "reject", true).await.status(), 400, "a decided run is not decided twice");
    assert!(client.get(&page_url).send().await.unwrap().text().await.unwrap().contains("id=\"entra-held\""));

    // Allow the first held run: a new run plans again and applies it.
    let allowed = decide(held.id.to_string(), "allow", true).await;
    assert_eq!(allowed.status(), 303);
    let next = allowed.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().to_owned();
    assert_ne!(next, held.id.to_string());
    assert_eq!(run_due_jobs(&app.state).await.unwrap(), 1);
    let applied = app.state.store.sync_runs(org.org.id, connection.id, 10).await.unwrap().into_iter().find(|r| r.id.to_string() == next).unwrap();
    assert_eq!(applied.status, RunStatus::Succeeded, "{applied:?}");
    assert_eq!(applied.report.unwrap().deactivated, active);
    assert_eq!(app.state.store.sync_run(org.org.id, held.id).await.unwrap().unwrap().status, RunStatus::Allowed);
    assert!(!client.get(&page_url).send().await.unwrap().text().await.unwrap().contains("id=\"entra-held\""), "released");
    let audit = app.state.store.recent_audit(org.org.id, 500).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "run.allowed") && audit.iter().any(|a| a.action == "run.rejected"));

    // The e-mail goes out through the real SMTP server, pointing at the run.
    if let Some((host, port, maildir)) = smtp_server() {
        let smtp =
            SmtpConfig { host, port, username: None, password: None, from: "Roster <roster@test.example>".into(), security: SmtpSecurity::Plain };
        roster_app::mail::deliver_due(&app.state, &smtp).await.unwrap();
        let mut found = Vec::new();
        for _ in 0..50 {
            found = delivered_to(&maildir, &org.owner_email).into_iter().filter(|m| m.contains(&held.id.to_string())).collect();
            if !found.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mail = found.first().expect("the held-run e-mail was delivered");
        assert!(mail.contains("held for your decision") && mail.contains(&format!("would have deactivated {active}")), "{mail}");
        assert!(!mail.contains("token="), "a notice carries no sign-in link");
    }

    // Delete the connection from its page: the box must be ticked; the people are kept, unlinked.
    let delete = |fields: Vec<(&'static str, &'static str)>| {
        let client = client.clone();
        let page_url = page_url.clone();
        let url = app.url("guarded", "/settings/integrations/entra/delete");
        async move {
            let page = client.get(&page_url).send().await.unwrap().text().await.unwrap();
            let mut form = vec![("_csrf", form_token(&page))];
            form.extend(fields.into_iter().map(|(k, v)| (k, v.to_owned())));
            client.post(url).form(&form).send().await.unwrap()
        }
    };
    assert_eq!(delete(vec![("people", "keep")]).await.status(), 400);
    assert!(app.state.store.connection(org.org.id, connection.id).await.unwrap().is_some(), "nothing deleted without the box");
    let deleted = delete(vec![("people", "keep"), ("confirm", "yes")]).await;
    assert_eq!(deleted.status(), 303);
    let page =
        client.get(format!("http://{}{}", app.addr, deleted.headers()["location"].to_str().unwrap())).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("The connection was deleted") && !page.contains("id=\"entra-delete\""), "{page}");
    let people = app.state.store.snapshot(org.org.id).await.unwrap().people;
    assert!(people.iter().all(|p| p.source.is_none()), "everyone is unlinked");
    assert_eq!(people.len(), everyone.len(), "and nobody was removed");
}
on_both_backends!(guard_pages_, an_emptied_group_is_held_until_an_admin_decides);
