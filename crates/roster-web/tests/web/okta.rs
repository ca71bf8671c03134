//! Okta's standard provisioning against the simulated Okta organisation: the pull of everyone
//! assigned to the app (statuses, managers, leavers, a rehire), event hooks that trigger a
//! re-read (verified, authenticated, deduplicated, ignored for users the app does not own),
//! the guard holding an unassignment of everyone, and a 429 storm ridden out.

use crate::on_both_backends;
use crate::support::TestApp;
use roster_app::jobs::okta_sync::{enqueue_pull, OktaHookReread, OktaPull};
use roster_app::provision::okta::setup::{save_setup, OktaSetup};
use roster_core::query::PersonQuery;
use roster_core::{Actor, Connection, OrgId, Person, Status};
use roster_sim::okta::{spawn_loopback, OktaSim, OktaSpec, RunningOktaSim};
use roster_store::RunStatus;

struct Okta {
    running: RunningOktaSim,
    connection: Connection,
    hook_secret: String,
    org: OrgId,
    /// The organisation owner's e-mail and password, to use the pages.
    owner: (String, String),
}

impl Okta {
    fn sim(&self) -> &OktaSim {
        &self.running.sim
    }
}

async fn connected(app: &TestApp, users: usize) -> Okta {
    let acme = app.org("acme").await;
    let sim = OktaSim::generate(OktaSpec { users, assigned_share: 0.6, seed: 7 });
    let running = spawn_loopback(sim).await.unwrap();
    let setup = OktaSetup {
        base_url: running.base_url.clone(),
        app_id: running.sim.app_id(),
        api_token: running.sim.api_token(),
        manage_managers: true,
        ..OktaSetup::default()
    };
    let saved = save_setup(&app.state, acme.org.id, &Actor::Cli, &setup).await.unwrap();
    let connection = roster_app::provision::entra::set_enabled(&app.state, &saved.connection, &Actor::Cli, true).await.unwrap();
    Okta { running, connection, hook_secret: saved.hook_secret.unwrap(), org: acme.org.id, owner: (acme.owner_email, acme.owner_password) }
}

/// Queue a pull and run it here; the run's status.
async fn pull(app: &TestApp, okta: &Okta) -> roster_store::SyncRun {
    let run = enqueue_pull(&app.state, &okta.connection, "test", false).await.unwrap();
    roster_app::jobs::run_due::<OktaPull>(&app.state, &tokio_util::sync::CancellationToken::new()).await.unwrap();
    app.state.store.sync_run(okta.org, run).await.unwrap().unwrap()
}

async fn linked(app: &TestApp, okta: &Okta) -> Vec<Person> {
    let mut everyone = Vec::new();
    loop {
        let page = app.state.store.search_people(okta.org, &PersonQuery::new(None, everyone.len() as u64, 500)).await.unwrap();
        if page.people.is_empty() {
            break;
        }
        everyone.extend(page.people);
    }
    everyone.into_iter().filter(|p| p.source.as_ref().is_some_and(|s| s.connection == okta.connection.id)).collect()
}

fn by_external<'a>(people: &'a [Person], id: &str) -> &'a Person {
    people.iter().find(|p| p.source.as_ref().is_some_and(|s| s.external_id == id)).unwrap_or_else(|| panic!("nobody linked to {id}"))
}

fn has_access(sim: &OktaSim, id: &str) -> bool {
    !matches!(okta_status(sim, id).as_str(), "SUSPENDED" | "DEPROVISIONED")
}

fn okta_status(sim: &OktaSim, id: &str) -> String {
    sim.user(id).unwrap()["status"].as_str().unwrap().to_owned()
}

async fn the_pull_brings_everyone_assigned_and_only_them(app: &TestApp) {
    let okta = connected(app, 60).await;
    let run = pull(app, &okta).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let assigned = okta.sim().assigned_user_ids();
    let people = linked(app, &okta).await;
    // Suspended or deprovisioned and never here: not created (a leaver is not added to leave).
    let with_access: Vec<&String> = assigned.iter().filter(|id| has_access(okta.sim(), id)).collect();
    assert!(with_access.len() < assigned.len(), "the generated org has users without access");
    assert_eq!(people.len(), with_access.len(), "everyone assigned with access, nobody else");
    for id in with_access {
        let person = by_external(&people, id);
        assert_ne!(person.status, Status::Deactivated, "{id}");
        let user = okta.sim().user(id).unwrap();
        assert_eq!(person.profile.first_name, user["profile"]["firstName"].as_str().unwrap());
    }
    // Managers by Okta id, when the manager is assigned too.
    let with_manager = assigned.iter().filter_map(|id| {
        let manager = okta.sim().user(id).unwrap()["profile"]["managerId"].as_str().map(str::to_owned)?;
        (has_access(okta.sim(), id) && assigned.contains(&manager) && has_access(okta.sim(), &manager)).then(|| (id.clone(), manager))
    });
    let mut checked = 0;
    for (id, manager) in with_manager {
        assert_eq!(by_external(&people, &id).manager, Some(by_external(&people, &manager).id), "{id}'s manager");
        checked += 1;
    }
    assert!(checked > 0, "the generated org has managers among the assigned");
    assert!(run.graph_requests >= 1, "requests are counted");

    // Unassigned: deactivated by the next pull. Assigned again (a rehire): the same person, active again.
    let leaver = assigned.iter().find(|id| okta_status(okta.sim(), id) == "ACTIVE").unwrap().clone();
    okta.sim().unassign(&leaver).unwrap();
    let edited = assigned.iter().rev().find(|id| okta_status(okta.sim(), id) == "ACTIVE" && **id != leaver).unwrap().clone();
    okta.sim().update_profile(&edited, "title", serde_json::json!("Head of Rust")).unwrap();
    assert_eq!(pull(app, &okta).await.status, RunStatus::Succeeded);
    let people = linked(app, &okta).await;
    assert_eq!(by_external(&people, &leaver).status, Status::Deactivated);
    assert_eq!(by_external(&people, &edited).profile.job_title.as_deref(), Some("Head of Rust"));
    okta.sim().assign(&leaver).unwrap();
    assert_eq!(pull(app, &okta).await.status, RunStatus::Succeeded);
    let again = linked(app, &okta).await;
    assert_eq!(again.len(), people.len(), "a rehire is not a second person");
    assert_ne!(by_external(&again, &leaver).status, Status::Deactivated);
}
on_both_backends!(the_pull_, the_pull_brings_everyone_assigned_and_only_them);

async fn unassigning_everyone_is_held(app: &TestApp) {
    let okta = connected(app, 40).await;
    assert_eq!(pull(app, &okta).await.status, RunStatus::Succeeded);
    let before = linked(app, &okta).await.iter().filter(|p| p.status != Status::Deactivated).count();
    for id in okta.sim().assigned_user_ids() {
        okta.sim().unassign(&id).unwrap();
    }
    let run = pull(app, &okta).await;
    assert_eq!(run.status, RunStatus::Held, "{:?}", run.error);
    let after = linked(app, &okta).await.iter().filter(|p| p.status != Status::Deactivated).count();
    assert_eq!(after, before, "nobody was deactivated");
    // The owners hear of it with a link to the Okta page, which shows the run to allow or reject.
    let emails = app.state.store.emails(okta.org, 20).await.unwrap();
    let held = emails.iter().find(|e| matches!(e.email, roster_store::OutgoingEmail::RunHeld { .. })).expect("a held-run e-mail");
    let rendered = roster_app::mail::render(&held.email, "Acme", "acme", &app.state.config, None);
    assert!(rendered.body.contains("/settings/integrations/okta"), "{}", rendered.body);

    let owner = app.signed_in("acme", &okta.owner.0, &okta.owner.1).await;
    let page = owner.get(app.url("acme", "/settings/integrations/okta")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"okta-held\"") && page.contains("id=\"okta-allow\"") && page.contains(&format!("runs/{}/allow", run.id)), "{page}");

    // Allowed, the next pull applies the deactivations it held.
    roster_app::provision::guard::allow(&app.state, okta.org, run.id, &Actor::Cli).await.unwrap();
    roster_app::jobs::run_due::<OktaPull>(&app.state, &tokio_util::sync::CancellationToken::new()).await.unwrap();
    let remaining = linked(app, &okta).await.iter().filter(|p| p.status != Status::Deactivated).count();
    assert_eq!(remaining, 0, "allowed: everyone unassigned is deactivated");
}
on_both_backends!(unassigning_everyone_, unassigning_everyone_is_held);

/// Hooks reach Roster, are kept, and the users they name are read again.
async fn hooks_trigger_a_reread(app: &TestApp) {
    let okta = connected(app, 40).await;
    assert_eq!(pull(app, &okta).await.status, RunStatus::Succeeded);
    let hook_url = app.url("acme", &format!("/okta/hooks/{}", okta.connection.id));
    // A wrong secret is refused: Okta's verification passes (it only echoes), deliveries do not.
    let forged = app.client().post(&hook_url).header("authorization", "not-it").body(r#"{"data":{"events":[]}}"#).send().await.unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    okta.sim().register_event_hook(&hook_url, &okta.hook_secret).await.unwrap();

    let assigned = okta.sim().assigned_user_ids();
    let active: Vec<String> = assigned.iter().filter(|id| okta_status(okta.sim(), id) == "ACTIVE").cloned().collect();
    let (suspended, renamed) = (active[0].clone(), active[1].clone());
    okta.sim().suspend(&suspended).unwrap();
    okta.sim().update_profile(&renamed, "lastName", serde_json::json!("Renamed")).unwrap();
    // Someone the app does not own: their hook is ignored.
    let stranger = okta.sim().create_user("stranger@acme.example", "Stray", "User");
    okta.sim().update_profile(&stranger, "title", serde_json::json!("Nobody here")).unwrap();
    // The simulator delivers on its own every 100 ms; the re-read job runs until both changes are in.
    okta.sim().deliver_pending_hooks().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let people = loop {
        roster_app::jobs::run_due::<OktaHookReread>(&app.state, &tokio_util::sync::CancellationToken::new()).await.unwrap();
        let people = linked(app, &okta).await;
        let done = by_external(&people, &suspended).status == Status::Deactivated && by_external(&people, &renamed).profile.last_name == "Renamed";
        if done || std::time::Instant::now() > deadline {
            break people;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(by_external(&people, &suspended).status, Status::Deactivated, "suspended in Okta, by hook");
    assert_eq!(by_external(&people, &renamed).profile.last_name, "Renamed");
    assert!(people.iter().all(|p| p.source.as_ref().is_some_and(|s| s.external_id != stranger)), "the stranger was not created");
    let email = roster_core::Email::parse("stranger@acme.example").unwrap();
    assert!(app.state.store.person_by_email(okta.org, &email).await.unwrap().is_none());

    // The same delivery again (Okta repeats): nothing is queued a second time.
    assert!(app.state.store.pending_hook_users(okta.org, okta.connection.id, 10).await.unwrap().is_empty());
    let body = serde_json::json!({ "eventType": "com.okta.event_hook", "eventId": "repeat-1", "data": { "events": [
        { "uuid": "e-1", "eventType": "user.lifecycle.unsuspend", "target": [{ "id": suspended, "type": "User" }] } ] } });
    for expected in [1, 0] {
        let sent = app.client().post(&hook_url).header("authorization", &okta.hook_secret).json(&body).send().await.unwrap();
        assert_eq!(sent.status().as_u16(), 204);
        assert_eq!(app.state.store.pending_hook_users(okta.org, okta.connection.id, 10).await.unwrap().len(), expected);
        app.state
            .store
            .forget_hook_users(okta.org, okta.connection.id, &app.state.store.pending_hook_users(okta.org, okta.connection.id, 10).await.unwrap())
            .await
            .unwrap();
    }
}
on_both_backends!(hooks_, hooks_trigger_a_reread);

async fn rate_limits_are_respected(app: &TestApp) {
    let okta = connected(app, 900).await;
    // A storm: the next three answers are 429 with a reset a second ahead; each is waited out.
    okta.sim().faults().rate_limit_next(3, std::time::Duration::from_secs(1));
    let started = std::time::Instant::now();
    let run = pull(app, &okta).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "the resets were waited for");
    assert_eq!(okta.sim().requests().iter().filter(|r| r.status == 429).count(), 3);
    let with_access = okta.sim().assigned_user_ids().iter().filter(|id| has_access(okta.sim(), id)).count();
    assert_eq!(linked(app, &okta).await.len(), with_access);

    // One request a second: the pull (two pages) paces itself on X-Rate-Limit-Remaining and
    // never meets a 429.
    okta.sim().clear_requests();
    okta.sim().faults().set_rate_limit(1, std::time::Duration::from_secs(1));
    assert_eq!(pull(app, &okta).await.status, RunStatus::Succeeded);
    let requests = okta.sim().requests();
    assert!(requests.len() >= 2, "{requests:?}");
    assert!(requests.iter().all(|r| r.status != 429), "{requests:?}");
}
on_both_backends!(rate_limits_, rate_limits_are_respected);

/// Settings → Integrations → Okta: connecting shows the hook's secret once (after a redirect),
/// a bad address is explained with what was typed kept, a preview and "Sync users" queue runs
/// that the page lists, and deleting needs the ticked box.
async fn the_page_sets_up_and_runs_the_connection(app: &TestApp) {
    let acme = app.org("acme").await;
    let running = spawn_loopback(OktaSim::generate(OktaSpec { users: 20, assigned_share: 0.5, seed: 3 })).await.unwrap();
    let owner = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page = owner.get(app.url("acme", "/settings/integrations/okta")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"okta-form\"") && !page.contains("id=\"okta-state\""), "not connected yet");
    let csrf = crate::support::form_token(&page);
    let app_id = running.sim.app_id();
    let token = running.sim.api_token();
    let bad = owner
        .post(app.url("acme", "/settings/integrations/okta"))
        .form(&[("_csrf", csrf.as_str()), ("base_url", "ftp://acme.okta.com"), ("app_id", app_id.as_str()), ("api_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("id=\"okta-error\"") && bad.contains("https://") && bad.contains(&app_id), "explained, typed values kept");
    assert!(!bad.contains(&token), "the token is never shown back");

    let saved = owner
        .post(app.url("acme", "/settings/integrations/okta"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("base_url", running.base_url.as_str()),
            ("app_id", app_id.as_str()),
            ("api_token", token.as_str()),
            ("manage_managers", "yes"),
            ("daily_at", "03:00"),
            ("guard_max_people", "50"),
            ("guard_max_percent", "20"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303, "Post/Redirect/Get");
    let shown = crate::support::read_through(&owner, saved).await;
    let connection = roster_app::provision::okta::setup::okta_connection(&app.state, acme.org.id).await.unwrap().unwrap();
    let secret = roster_app::provision::okta::setup::hook_secret(&app.state, &connection).unwrap();
    assert!(shown.contains("id=\"okta-secret-value\"") && shown.contains(&secret), "the secret is shown once");
    assert!(shown.contains(&format!("/okta/hooks/{}", connection.id)), "with the hook's URL");
    assert!(!shown.contains(&token));
    let again = owner.get(app.url("acme", "/settings/integrations/okta")).send().await.unwrap().text().await.unwrap();
    assert!(!again.contains(&secret), "once only");
    assert!(!connection.enabled, "created disabled");
    let okta = Okta {
        running,
        connection: connection.clone(),
        hook_secret: secret.clone(),
        org: acme.org.id,
        owner: (acme.owner_email.clone(), acme.owner_password.clone()),
    };

    // A preview before enabling; "Sync users" once enabled. Both are runs the page lists.
    let too_soon = owner.post(app.url("acme", "/settings/integrations/okta/enable")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(too_soon.status(), 400, "no preview yet");
    assert!(too_soon.text().await.unwrap().contains("Preview first"));
    let previewed = owner.post(app.url("acme", "/settings/integrations/okta/preview")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(previewed.status(), 303);
    roster_app::jobs::run_due::<OktaPull>(&app.state, &tokio_util::sync::CancellationToken::new()).await.unwrap();
    assert!(linked(app, &okta).await.is_empty(), "a preview applies nothing");
    let enabled = owner.post(app.url("acme", "/settings/integrations/okta/enable")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert!(crate::support::read_through(&owner, enabled).await.contains("id=\"okta-notice\""));
    let synced = owner.post(app.url("acme", "/settings/integrations/okta/sync")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(synced.status(), 303);
    roster_app::jobs::run_due::<OktaPull>(&app.state, &tokio_util::sync::CancellationToken::new()).await.unwrap();
    let listed = owner.get(app.url("acme", "/settings/integrations/okta")).send().await.unwrap().text().await.unwrap();
    assert!(listed.contains("id=\"okta-runs\"") && listed.contains("previewed") && listed.contains("succeeded"), "{listed}");
    assert!(listed.contains("healthy"));
    assert!(!linked(app, &okta).await.is_empty());

    let unticked =
        owner.post(app.url("acme", "/settings/integrations/okta/delete")).form(&[("_csrf", csrf.as_str()), ("people", "keep")]).send().await.unwrap();
    assert_eq!(unticked.status(), 400);
    let deleted = owner
        .post(app.url("acme", "/settings/integrations/okta/delete"))
        .form(&[("_csrf", csrf.as_str()), ("people", "keep"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 303);
    assert!(roster_app::provision::okta::setup::okta_connection(&app.state, acme.org.id).await.unwrap().is_none());
}
on_both_backends!(the_page_, the_page_sets_up_and_runs_the_connection);

/// Runs the hook re-read job until `done` holds for the linked people (the simulator delivers
/// on its own every 100 ms), or 20 s pass.
async fn reread_until(app: &TestApp, okta: &Okta, done: impl Fn(&[Person]) -> bool) -> Vec<Person> {
    okta.sim().deliver_pending_hooks().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        roster_app::jobs::run_due::<OktaHookReread>(&app.state, &tokio_util::sync::CancellationToken::new()).await.unwrap();
        let people = linked(app, okta).await;
        if done(&people) || std::time::Instant::now() > deadline {
            return people;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Every kind of change reaches Roster by hook alone, though Okta sends each batch twice and
/// backwards: an assignment creates, an unassignment and a deactivation deactivate, a
/// reactivation and an unsuspension bring people back, a profile edit updates.
async fn every_change_arrives_by_hook(app: &TestApp) {
    let okta = connected(app, 60).await;
    assert_eq!(pull(app, &okta).await.status, RunStatus::Succeeded);
    let hook_url = app.url("acme", &format!("/okta/hooks/{}", okta.connection.id));
    okta.sim().register_event_hook(&hook_url, &okta.hook_secret).await.unwrap();
    okta.sim().hook_options(roster_sim::okta::HookOptions { duplicate_every_batch: true, reverse_each_batch: true, ..Default::default() });

    let assigned = okta.sim().assigned_user_ids();
    let active: Vec<String> = assigned.iter().filter(|id| okta_status(okta.sim(), id) == "ACTIVE").cloned().collect();
    let (unassigned, deactivated, suspended, edited) = (active[0].clone(), active[1].clone(), active[2].clone(), active[3].clone());
    let newcomer = okta.sim().create_user("newcomer@acme.example", "New", "Comer");
    okta.sim().assign(&newcomer).unwrap();
    okta.sim().unassign(&unassigned).unwrap();
    okta.sim().deactivate(&deactivated).unwrap();
    okta.sim().suspend(&suspended).unwrap();
    okta.sim().update_profile(&edited, "department", serde_json::json!("Hooks")).unwrap();
    let people = reread_until(app, &okta, |people| {
        let has = |id: &str| people.iter().any(|p| p.source.as_ref().is_some_and(|s| s.external_id == id));
        has(&newcomer)
            && [&unassigned, &deactivated, &suspended].iter().all(|id| by_external(people, id).status == Status::Deactivated)
            && by_external(people, &edited).profile.department.as_deref() == Some("Hooks")
    })
    .await;
    assert_ne!(by_external(&people, &newcomer).status, Status::Deactivated, "assigned: created");
    for id in [&unassigned, &deactivated, &suspended] {
        assert_eq!(by_external(&people, id).status, Status::Deactivated, "{id}");
    }
    assert_eq!(by_external(&people, &edited).profile.department.as_deref(), Some("Hooks"));

    // Back again: reactivated (Okta sends an activation) and unsuspended.
    okta.sim().reactivate(&deactivated).unwrap();
    okta.sim().unsuspend(&suspended).unwrap();
    let people =
        reread_until(app, &okta, |people| [&deactivated, &suspended].iter().all(|id| by_external(people, id).status != Status::Deactivated)).await;
    for id in [&deactivated, &suspended] {
        assert_ne!(by_external(&people, id).status, Status::Deactivated, "{id} is back");
    }
    assert_eq!(people.iter().filter(|p| p.source.as_ref().is_some_and(|s| s.external_id == deactivated)).count(), 1, "not a second person");
}
on_both_backends!(every_change_, every_change_arrives_by_hook);

/// A hook Okta loses changes nothing; the next pull repairs it.
async fn a_lost_hook_is_repaired_by_the_pull(app: &TestApp) {
    let okta = connected(app, 30).await;
    assert_eq!(pull(app, &okta).await.status, RunStatus::Succeeded);
    let hook_url = app.url("acme", &format!("/okta/hooks/{}", okta.connection.id));
    okta.sim().register_event_hook(&hook_url, &okta.hook_secret).await.unwrap();
    okta.sim().hook_options(roster_sim::okta::HookOptions { drop_next: 100, ..Default::default() });
    let active: Vec<String> = okta.sim().assigned_user_ids().into_iter().filter(|id| okta_status(okta.sim(), id) == "ACTIVE").collect();
    okta.sim().suspend(&active[0]).unwrap();
    okta.sim().deliver_pending_hooks().await;
    roster_app::jobs::run_due::<OktaHookReread>(&app.state, &tokio_util::sync::CancellationToken::new()).await.unwrap();
    assert_ne!(by_external(&linked(app, &okta).await, &active[0]).status, Status::Deactivated, "the hook was lost");
    assert_eq!(pull(app, &okta).await.status, RunStatus::Succeeded);
    assert_eq!(by_external(&linked(app, &okta).await, &active[0]).status, Status::Deactivated, "the pull repairs it");
}
on_both_backends!(lost_hooks_, a_lost_hook_is_repaired_by_the_pull);
