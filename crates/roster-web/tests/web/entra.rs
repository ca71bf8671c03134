//! Settings → Integrations → Microsoft Entra ID over HTTP, against the simulator: set up with
//! sealed secrets, test the permissions, enable, "Sync users", follow the run to its report.

use crate::on_both_backends;
use crate::support::{form_token, TestApp};
use roster_app::provision::entra::sync::{CLIENT_SECRET, TENANT_ID};
use roster_core::Role;
use roster_sim::{spawn_loopback, EntraSim, TenantSpec};
use roster_store::RunStatus;

async fn entra_is_set_up_tested_enabled_and_synced_from_the_pages(app: &TestApp) {
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let sim = EntraSim::generate(TenantSpec { users: 50, seed: 5, ..TenantSpec::default() });
    let info = sim.info();
    let running = spawn_loopback(sim.clone()).await.unwrap();
    let page_url = app.url("acme", "/settings/integrations/entra");
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let client = client.clone();
        let page_url = page_url.clone();
        let url = app.url("acme", &format!("/settings/integrations/entra{path}"));
        async move {
            let page = client.get(page_url).send().await.unwrap().text().await.unwrap();
            let mut form = vec![("_csrf", form_token(&page))];
            form.extend(fields);
            client.post(url).form(&form).send().await.unwrap()
        }
    };

    let setup = client.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(setup.contains("App registrations") && setup.contains("Grant admin consent"), "the page explains the app registration");
    let saved = post(
        "",
        vec![
            ("tenant_id", info.tenant_id.clone()),
            ("group_id", info.top_group_id.clone()),
            ("client_id", info.client_id.clone()),
            ("client_secret", info.client_secret.clone()),
            ("manage_managers", "yes".into()),
            ("photos", "yes".into()),
            ("daily_at", "04:30".into()),
            ("mappings", "employeeId → custom.employee_id".into()),
            ("login_base", format!("{}/", running.base_url)),
            ("graph_base", format!("{}/v1.0/", running.base_url)),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(saved.contains("Saved."), "{saved}");
    assert!(!saved.contains(&info.client_secret), "the secret is never shown again");
    assert!(saved.contains(&format!("in the tenant (<code>{}</code>)", info.tenant_id)), "the page says where the connection points");
    let connection = app.state.store.connections(acme.org.id).await.unwrap().pop().unwrap();
    assert!(!connection.enabled, "new connections start disabled");
    assert!(!connection.settings.to_string().contains(&info.tenant_id), "the tenant id is sealed, not a setting");
    assert_eq!(app.state.master_key.open(acme.org.id, CLIENT_SECRET, &connection.sealed[CLIENT_SECRET]).unwrap(), info.client_secret.as_bytes());
    assert_eq!(app.state.master_key.open(acme.org.id, TENANT_ID, &connection.sealed[TENANT_ID]).unwrap(), info.tenant_id.as_bytes());
    let audit = app.state.store.recent_audit(acme.org.id, 50).await.unwrap();
    assert!(audit.iter().all(|a| !a.detail.to_string().contains(&info.client_secret)), "the audit log never holds a secret");

    // Test connection: each permission ok, then one missing; the group's name is read.
    let tested = post("/test", vec![]).await.text().await.unwrap();
    assert_eq!(tested.matches(">ok<").count(), 2, "{tested}");
    let named = client.get(&page_url).send().await.unwrap().text().await.unwrap();
    let group_name = sim.group_property(&info.top_group_id, "displayName").and_then(|v| v.as_str().map(str::to_owned)).unwrap();
    assert!(named.contains(&format!("<strong>{group_name}</strong>")) && named.contains(&info.top_group_id), "the group is named");
    sim.faults().revoke_permission("GroupMember.Read.All");
    let tested = post("/test", vec![]).await.text().await.unwrap();
    assert!(tested.contains(">missing<"), "{tested}");
    sim.faults().grant_permission("GroupMember.Read.All");

    // A disabled connection does not sync; an enabled one queues one run however often asked.
    assert_eq!(post("/sync", vec![]).await.status(), 400);
    // The first Enable previews the first sync instead, applying nothing and enabling nothing.
    let previewing = post("/enable", vec![]).await;
    assert_eq!(previewing.status(), 303);
    let preview_url = format!("http://{}{}", app.addr, previewing.headers()["location"].to_str().unwrap());
    assert_eq!(roster_app::jobs::entra_sync::run_due_jobs(&app.state).await.unwrap(), 1);
    let preview = client.get(&preview_url).send().await.unwrap().text().await.unwrap();
    assert!(preview.contains("id=\"preview-counts\"") && preview.contains("user.created") && preview.contains("Enable and sync"), "{preview}");
    assert!(preview.contains("new: "), "the preview names what it would create");
    assert!(!app.state.store.connections(acme.org.id).await.unwrap()[0].enabled, "a preview does not enable");
    assert_eq!(app.state.store.count_people(acme.org.id).await.unwrap().total, 1, "a preview applies nothing");
    let enabled = post("/enable", vec![("after_preview", "yes".into())]).await;
    assert_eq!(enabled.status(), 303);
    let first = post("/sync", vec![]).await;
    assert_eq!(first.headers()["location"], enabled.headers()["location"], "Enable and sync queued the sync");
    assert_eq!(first.status(), 303);
    let run_url = first.headers()["location"].to_str().unwrap().to_owned();
    let second = post("/sync", vec![]).await;
    assert_eq!(second.headers()["location"].to_str().unwrap(), run_url, "a second click follows the queued run");
    let queued = client.get(format!("http://{}{run_url}", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(queued.contains("hx-trigger=\"every 1s\""), "the page polls while the run is queued");

    // Two workers (as two processes would) race for the queue: the sync runs once.
    let (a, b) = tokio::join!(roster_app::jobs::entra_sync::run_due_jobs(&app.state), roster_app::jobs::entra_sync::run_due_jobs(&app.state));
    assert_eq!(a.unwrap() + b.unwrap(), 1, "one job for both clicks, run by one worker");
    assert_eq!(roster_app::jobs::entra_sync::run_due_jobs(&app.state).await.unwrap(), 0);
    let fragment = client.get(format!("http://{}{run_url}", app.addr)).header("hx-request", "true").send().await.unwrap().text().await.unwrap();
    assert!(fragment.contains("succeeded") && fragment.contains("run-report"), "{fragment}");
    assert!(!fragment.contains("every 1s"), "polling stops when the run is done");
    assert!(!fragment.contains("<html"), "htmx gets the fragment only");
    let runs = app.state.store.sync_runs(acme.org.id, connection.id, 10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.status).collect::<Vec<_>>(), vec![RunStatus::Succeeded, RunStatus::Previewed]);
    assert_eq!(runs[1].report.as_ref().map(|r| r.created), runs[0].report.as_ref().map(|r| r.created), "the preview said what the sync did");
    let created = runs[0].report.as_ref().unwrap().created;
    assert!(created > 40, "{created} people created");
    let finished = app.state.store.event_feed(acme.org.id, 0, &["connection.run_finished".to_owned()], 10).await.unwrap();
    assert_eq!(finished.len(), 1, "one finished run is announced; the preview is not");
    assert_eq!((finished[0].data["status"].as_str(), finished[0].data["counts"]["created"].as_u64()), (Some("succeeded"), Some(created as u64)));
    assert_eq!(finished[0].actor.as_deref(), Some(format!("connection:{}", connection.id).as_str()));
    let history = client.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(history.contains(&format!("{created} created")), "the history shows the run");
    assert!(history.contains("Health: <span class=\"status active\">healthy</span>"), "{history}");
    // The chart of recent runs: one bar per finished run (the preview is not a run), drawn inline.
    assert!(history.contains("id=\"runs-chart\"") && history.contains(&format!("{created} changes</title>")), "{history}");
    // A sync that fails makes the connection degraded, with the reason.
    sim.faults().revoke_permission("GroupMember.Read.All");
    let enabled_connection = app.state.store.connections(acme.org.id).await.unwrap().pop().unwrap();
    roster_app::provision::entra::enqueue_sync(&app.state, &enabled_connection, "manual").await.unwrap();
    let _ = roster_app::jobs::entra_sync::run_due_jobs(&app.state).await;
    let degraded = client.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(
        degraded.contains(">degraded</span> The last sync failed and changed nothing:")
            && degraded.contains("GroupMember.Read.All")
            && degraded.contains("Roster tries again from")
            && degraded.contains("class=\"bar-failed\""),
        "{degraded}"
    );
    sim.faults().grant_permission("GroupMember.Read.All");

    // The report groups its issues by kind and cause, pages them and gives them all as CSV.
    let report = runs[0].report.clone().unwrap();
    let outside: Vec<_> = report.issues.iter().filter(|i| i.kind == roster_core::IssueKind::ManagerUnresolved).collect();
    assert!(!outside.is_empty(), "the simulated tenant has managers outside the group");
    let run_page = client.get(format!("http://{}{run_url}", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(run_page.contains("id=\"run-issue-groups\"") && run_page.contains("Managers who are not in the directory"), "{run_page}");
    let named = report.cause_names.values().next().expect("a manager named from Graph");
    assert!(
        run_page.contains(&named.replace('<', "&lt;").replace('>', "&gt;")) || run_page.contains(&named.replace('<', "&#60;").replace('>', "&#62;")),
        "the cause is named"
    );
    let filtered = client.get(format!("http://{}{run_url}?kind=conflict&page=99", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(filtered.contains("page 1 of 1") && !filtered.contains(&outside[0].message), "a kind filter shows only that kind");
    let csv = client.get(format!("http://{}{run_url}/issues.csv", app.addr)).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("record,kind,cause,cause_name,message\n"));
    assert_eq!(csv.lines().count(), report.issues.len() + 1, "one row per issue");

    // Synced photos show on the person's page and are served as images.
    let avatars = app.state.store.avatar_etags(acme.org.id).await.unwrap();
    let (with_photo, _) = avatars.iter().next().expect("photos were synced");
    let person_page = client.get(app.url("acme", &format!("/people/{with_photo}"))).send().await.unwrap().text().await.unwrap();
    assert!(person_page.contains("id=\"avatar\""), "the person page shows the photo");
    let photo = client.get(app.url("acme", &format!("/people/{with_photo}/avatar"))).send().await.unwrap();
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    assert!(photo.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]));

    // Only owners and admins reach the page.
    let people = app.state.store.snapshot(acme.org.id).await.unwrap().people;
    let someone = people.iter().find(|p| p.role == Role::Learner).unwrap();
    let password = roster_app::admin::reset_password(&app.state, acme.org.id, someone.id).await.unwrap();
    let plain = app.signed_in("acme", someone.email.as_str(), &password).await;
    assert_eq!(plain.get(&page_url).send().await.unwrap().status(), 403);
}
on_both_backends!(entra_pages_, entra_is_set_up_tested_enabled_and_synced_from_the_pages);

/// A clock a test sets.
struct FixedClock(chrono::DateTime<chrono::Utc>);

impl roster_app::clock::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

async fn the_daily_sync_is_queued_once_by_one_leader(app: &TestApp) {
    use chrono::TimeZone;
    let acme = app.org("acme").await;
    let at = |day: u32, hour: u32| chrono::Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).single().unwrap();
    let state_at = |now| roster_app::App { clock: std::sync::Arc::new(FixedClock(now)), ..app.state.app.clone() };
    let setup = roster_app::provision::entra::EntraSetup {
        tenant_id: "tenant".into(),
        group_id: "group".into(),
        client_id: "client".into(),
        client_secret: "secret".into(),
        manage_managers: true,
        daily_at: "03:00".into(),
        ..Default::default()
    };
    let day_one = state_at(at(1, 10));
    let connection = roster_app::provision::entra::save_setup(&day_one, acme.org.id, &roster_core::Actor::Cli, &setup).await.unwrap();
    let connection = roster_app::provision::entra::set_enabled(&day_one, &connection, &roster_core::Actor::Cli, true).await.unwrap();
    assert_eq!(roster_app::jobs::scheduler::schedule_due(&day_one, "a").await.unwrap(), 0, "the first sync is the admin's");
    roster_app::provision::entra::enqueue_sync(&day_one, &connection, "manual").await.unwrap();
    let job = day_one.store.claim_jobs(roster_app::provision::entra::sync::JOB_KIND, 1, at(1, 10), at(1, 11)).await.unwrap().pop().unwrap();
    day_one.store.finish_job(job.id, at(1, 10)).await.unwrap();

    assert_eq!(roster_app::jobs::scheduler::schedule_due(&state_at(at(2, 2)), "a").await.unwrap(), 0, "not before 03:00");
    let day_two = state_at(at(2, 4));
    assert_eq!(roster_app::jobs::scheduler::schedule_due(&day_two, "a").await.unwrap(), 1, "a leads and queues the day's sync");
    assert_eq!(roster_app::jobs::scheduler::schedule_due(&day_two, "b").await.unwrap(), 0, "b is not the leader while a's lease runs");
    assert_eq!(roster_app::jobs::scheduler::schedule_due(&state_at(at(2, 5)), "b").await.unwrap(), 0, "b leads now, but the day's sync is queued");
    let runs = app.state.store.sync_runs(acme.org.id, connection.id, 10).await.unwrap();
    assert_eq!(runs.iter().filter(|r| r.trigger == "schedule").count(), 1);
}
on_both_backends!(entra_schedule_, the_daily_sync_is_queued_once_by_one_leader);

/// The continue link on the page between Roster and Microsoft.
fn continue_link(html: &str) -> String {
    crate::sso::provider_link(html)
}

/// Admin consent to Roster's own app: no client ID or secret; Microsoft's answer comes back to
/// one address for the installation, is redeemed once, and must come from the right tenant.
async fn admin_consent_connects_with_rosters_app(backend: roster_store::testing::Backend) {
    let sim = EntraSim::generate(TenantSpec { users: 20, seed: 7, consented: false, ..TenantSpec::default() });
    let info = sim.info();
    let app_credentials = roster_app::config::EntraApp { client_id: info.client_id.clone(), client_secret: info.client_secret.clone() };
    let Some(app) = TestApp::start_with(backend, |config| config.entra_app = Some(app_credentials)).await else { return };
    let running = spawn_loopback(sim.clone()).await.unwrap();
    let acme = app.org("acme").await;
    let client = app.signed_in("acme", &acme.owner_email, &acme.owner_password).await;
    let page_url = app.url("acme", "/settings/integrations/entra");
    let post = |path: String, fields: Vec<(&'static str, String)>| {
        let (client, page_url) = (client.clone(), page_url.clone());
        let url = app.url("acme", &format!("/settings/integrations/entra{path}"));
        async move {
            let page = client.get(page_url).send().await.unwrap().text().await.unwrap();
            let mut form = vec![("_csrf", form_token(&page))];
            form.extend(fields);
            client.post(url).form(&form).send().await.unwrap()
        }
    };
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // Through Microsoft's consent page to Roster's answer address; returns where Roster sends the admin.
    let consent_round = || async {
        let page = post("/consent".into(), vec![]).await.text().await.unwrap();
        let to_microsoft = continue_link(&page);
        assert!(to_microsoft.starts_with(&format!("{}/{}/adminconsent?", running.base_url, info.tenant_id)), "{to_microsoft}");
        let answer = browser.get(&to_microsoft).send().await.unwrap();
        assert_eq!(answer.status(), 302, "Microsoft sends the admin back");
        let back = answer.headers()["location"].to_str().unwrap().to_owned();
        assert!(back.starts_with(&app.state.config.consent_redirect_uri()), "{back}");
        let landed = browser.get(&back).send().await.unwrap();
        (back, landed.status(), landed.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default())
    };

    let saved = post(
        String::new(),
        vec![
            ("authorization", "admin_consent".into()),
            ("tenant_id", info.tenant_id.clone()),
            ("group_id", info.top_group_id.clone()),
            ("login_base", format!("{}/", running.base_url)),
            ("graph_base", format!("{}/v1.0/", running.base_url)),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(saved.contains("Saved.") && saved.contains("id=\"grant-consent\""), "{saved}");
    let connection = app.state.store.connections(acme.org.id).await.unwrap().pop().unwrap();
    assert!(!connection.sealed.contains_key(CLIENT_SECRET), "no client secret is asked for or kept");
    let tested = post("/test".into(), vec![]).await.text().await.unwrap();
    assert!(tested.contains("has granted consent"), "testing before consent says what is missing: {tested}");

    // The admin refuses on Microsoft's page: nothing is recorded.
    sim.set_admin_decision(roster_sim::AdminDecision::Deny);
    let (_, status, to) = consent_round().await;
    assert_eq!((status.as_u16(), to.ends_with("?consent=denied")), (303, true), "{to}");
    let shown = client.get(format!("{page_url}?consent=denied")).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("Admin consent was not granted"));
    assert!(!sim.is_consented());

    // The admin accepts: consent is recorded for the tenant, and Roster's app can read it.
    sim.set_admin_decision(roster_sim::AdminDecision::Approve);
    let (answer, status, to) = consent_round().await;
    assert_eq!((status.as_u16(), to.ends_with("?consent=granted")), (303, true), "{to}");
    let connection = app.state.store.connections(acme.org.id).await.unwrap().pop().unwrap();
    let settings = roster_app::provision::entra::sync::EntraSettings::from_connection(&connection).unwrap();
    assert_eq!(settings.consent.map(|c| c.tenant), Some(info.tenant_id.clone()));
    let tested = post("/test".into(), vec![]).await.text().await.unwrap();
    assert_eq!(tested.matches(">ok<").count(), 2, "{tested}");
    let audit = app.state.store.recent_audit(acme.org.id, 20).await.unwrap();
    assert!(audit.iter().all(|a| !a.detail.to_string().contains(&info.client_secret)), "Roster's secret is in no audit row");

    // The same answer again, an answer nobody asked for, and one from another tenant.
    assert_eq!(browser.get(&answer).send().await.unwrap().status(), 400, "an answer is redeemed once");
    let made_up = format!("{}?tenant={}&state=acme.made-up&admin_consent=True", app.state.config.consent_redirect_uri(), info.tenant_id);
    assert_eq!(browser.get(&made_up).send().await.unwrap().status(), 400);
    let page = post("/consent".into(), vec![]).await.text().await.unwrap();
    let state = url::Url::parse(&continue_link(&page)).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let foreign = format!("{}?tenant=00000000-0000-0000-0000-00000000000b&state={state}&admin_consent=True", app.state.config.consent_redirect_uri());
    let landed = browser.get(&foreign).send().await.unwrap();
    assert!(landed.headers()["location"].to_str().unwrap().ends_with("?consent=wrong_tenant"));
    let still =
        roster_app::provision::entra::sync::EntraSettings::from_connection(&app.state.store.connections(acme.org.id).await.unwrap().pop().unwrap())
            .unwrap();
    assert_eq!(still.consent.map(|c| c.tenant), Some(info.tenant_id.clone()), "a foreign tenant's answer changes nothing");

    // Without Roster's app, admin consent is not offered.
    let plain = TestApp::start_with(backend, |_| {}).await.unwrap();
    let org = plain.org("acme").await;
    let setup = roster_app::provision::entra::EntraSetup {
        authorization: roster_app::provision::entra::sync::Authorization::AdminConsent,
        tenant_id: info.tenant_id.clone(),
        group_id: info.top_group_id.clone(),
        ..Default::default()
    };
    let refused = roster_app::provision::entra::save_setup(&plain.state, org.org.id, &roster_core::Actor::Cli, &setup).await;
    assert!(matches!(refused, Err(roster_app::admin::OpsError::Invalid(_))), "{refused:?}");
    plain.finish().await;
    app.finish().await;
}

mod admin_consent {
    use roster_store::testing::Backend;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::admin_consent_connects_with_rosters_app(Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::admin_consent_connects_with_rosters_app(Backend::Postgres).await;
    }
}
