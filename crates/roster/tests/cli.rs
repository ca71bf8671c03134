//! The `roster` command as an operator uses it: separate processes sharing one database.
#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failing test panics, helpers included")]

use roster_store::testing::TestDb;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn roster(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(args).env("ROSTER_MASTER_KEY", KEY).env("ROSTER_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run roster")
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "roster failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

fn password_in(stdout: &str) -> String {
    stdout.lines().find_map(|l| l.trim().strip_prefix("Password:")).map(|p| p.trim().to_owned()).expect("a password line")
}

#[test]
fn the_command_line_manages_an_organisation_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let env = [("ROSTER_DATA_DIR", data)];
    let created = ok(roster(&env, &["org", "create", "acme", "--name", "Acme", "--owner", "Owner@Acme.example"]));
    assert!(created.contains("owner@acme.example"), "{created}");
    assert!(!roster(&env, &["org", "create", "acme", "--name", "Again", "--owner", "x@acme.example"]).status.success(), "a taken slug is refused");
    let bad = roster(&env, &["org", "create", "Not A Slug", "--name", "X", "--owner", "x@x.example"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a valid organisation slug"));

    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "email,first_name,last_name,department\nada@acme.example,Ada,Lovelace,Research\n").unwrap();
    let csv = csv.to_str().unwrap();
    let dry = ok(roster(&env, &["import", "csv", "--org", "acme", csv, "--dry-run"]));
    assert!(dry.contains("Dry run, nothing changed: 1 created") && dry.contains("user.created: 1") && dry.contains("team.created: 1"), "{dry}");
    let preview: serde_json::Value =
        serde_json::from_str(&ok(roster(&env, &["import", "csv", "--org", "acme", csv, "--dry-run", "--json"]))).unwrap();
    assert_eq!(preview["applied"], false);
    let person = preview["changes"].as_array().unwrap().iter().find(|c| c["change"] == "create_person").expect("a person to create");
    assert_eq!(person["person"]["email"], "ada@acme.example", "{preview}");
    assert!(ok(roster(&env, &["import", "csv", "--org", "acme", csv])).contains("Imported: 1 created"));
    let listed: serde_json::Value = serde_json::from_str(&ok(roster(&env, &["user", "list", "--org", "acme", "--json"]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // A person's access: role, deactivate, reactivate; the only owner keeps both.
    assert!(ok(roster(&env, &["user", "role", "--org", "acme", "ada@acme.example", "admin"])).contains("ada@acme.example\tadmin"));
    assert!(ok(roster(&env, &["user", "deactivate", "--org", "acme", "ada@acme.example"])).contains("deactivated"));
    assert!(ok(roster(&env, &["user", "reactivate", "--org", "acme", "ada@acme.example"])).contains("invited"), "never signed in: invited again");
    let last_owner = roster(&env, &["user", "deactivate", "--org", "acme", "owner@acme.example"]);
    assert!(!last_owner.status.success() && String::from_utf8_lossy(&last_owner.stderr).contains("only active owner"));

    // A formula typed into a cell is exported as text.
    std::fs::write(dir.path().join("formula.csv"), "email,first_name,last_name\neve@acme.example,=HYPERLINK(\"http://x.example\"),Eve\n").unwrap();
    ok(roster(&env, &["import", "csv", "--org", "acme", dir.path().join("formula.csv").to_str().unwrap()]));
    // A listing says when it is cut, and pages through everything on request.
    let cut = roster(&env, &["user", "list", "--org", "acme", "--limit", "1", "--json"]);
    assert!(String::from_utf8_lossy(&cut.stderr).contains("1 of 3 people (from 1; --all prints every one)"), "{cut:?}");
    let second: serde_json::Value =
        serde_json::from_str(&ok(roster(&env, &["user", "list", "--org", "acme", "--limit", "1", "--offset", "1", "--json"]))).unwrap();
    let first: serde_json::Value = serde_json::from_slice(&cut.stdout).unwrap();
    assert_ne!(first[0]["id"], second[0]["id"]);
    let every: serde_json::Value = serde_json::from_str(&ok(roster(&env, &["user", "list", "--org", "acme", "--all", "--json"]))).unwrap();
    assert_eq!(every.as_array().unwrap().len(), 3);
    let exported = ok(roster(&env, &["user", "list", "--org", "acme", "--csv"]));
    assert!(exported.starts_with("id,email,first_name"), "{exported}");
    assert!(exported.contains("\"'=HYPERLINK(\"\"http://x.example\"\")\""), "the formula is neutralised: {exported}");

    std::fs::write(dir.path().join("bad.csv"), "email,hire_date\nbob@acme.example,soon\n").unwrap();
    let refused = roster(&env, &["import", "csv", "--org", "acme", dir.path().join("bad.csv").to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("line 2"));

    let key = ok(roster(&env, &["apikey", "create", "--org", "acme", "--name", "host"]));
    assert!(key.trim().starts_with("rk_"));
    let team = ok(roster(&env, &["team", "create", "--org", "acme", "--name", "Engineering"]));
    assert!(ok(roster(&env, &["team", "list", "--org", "acme"])).contains(team.trim()));
    ok(roster(&env, &["user", "invite", "--org", "acme", "ada@acme.example"]));
    let outbox = ok(roster(&env, &["outbox", "list", "--org", "acme"]));
    assert!(outbox.contains("You are invited to Acme") && !outbox.contains("token="), "who was sent what, never a link: {outbox}");
    let link = ok(roster(&env, &["user", "invite-link", "--org", "acme", "ada@acme.example"]));
    assert!(link.trim().starts_with("http") && link.contains("/password/set?purpose=invitation&token="), "{link}");
    let owner = roster(&env, &["user", "invite-link", "--org", "acme", "owner@acme.example"]);
    assert!(String::from_utf8_lossy(&owner.stderr).contains("not waiting for an invitation"), "an active person gets no invitation link");

    // The rest of the lifecycle: show, update, team managers and the effective manager, erase.
    let sales = ok(roster(&env, &["team", "create", "--org", "acme", "--name", "Sales"]));
    ok(roster(&env, &["team", "managers", "--org", "acme", sales.trim(), "owner@acme.example"]));
    let updated = ok(roster(&env, &["user", "update", "--org", "acme", "ada@acme.example", "--job-title", "Analyst", "--team", "sales"]));
    assert!(updated.contains("Analyst") && updated.contains("primary team      Sales"), "{updated}");
    assert!(updated.contains("effective manager") && updated.contains("<owner@acme.example> (from a manager of their team Sales)"), "{updated}");
    let shown: serde_json::Value = serde_json::from_str(&ok(roster(&env, &["user", "show", "--org", "acme", "ada@acme.example", "--json"]))).unwrap();
    assert_eq!(shown["effective_manager"]["email"], "owner@acme.example", "{shown}");
    let unconfirmed = roster(&env, &["user", "erase", "--org", "acme", "eve@acme.example"]);
    assert!(!unconfirmed.status.success() && String::from_utf8_lossy(&unconfirmed.stderr).contains("--confirm"));
    let erased = ok(roster(&env, &["user", "erase", "--org", "acme", "eve@acme.example", "--confirm"]));
    assert!(erased.contains("@erased.invalid"), "{erased}");
    assert!(!roster(&env, &["user", "show", "--org", "acme", "eve@acme.example"]).status.success(), "her address is gone");
    let merged = ok(roster(&env, &["team", "delete", "--org", "acme", sales.trim(), "--into", team.trim()]));
    assert!(merged.contains("1 people moved"), "{merged}");

    // Names with control characters are refused, as on every surface.
    let escape = roster(&env, &["team", "create", "--org", "acme", "--name", "Bad\u{1b}[31mTeam"]);
    assert!(!escape.status.success());
    assert!(!roster(&env, &["apikey", "create", "--org", "acme", "--name", "bad\u{7}key"]).status.success());

    // The data directory and the database are the operator's alone.
    use std::os::unix::fs::PermissionsExt;
    assert!(Path::new(data).join("roster.db").exists());
    assert_eq!(std::fs::metadata(data).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(Path::new(data).join("roster.db")).unwrap().permissions().mode() & 0o777, 0o600);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(database_url: &str) -> (Server, String) {
    serve_with(&[("ROSTER_DATABASE_URL", database_url)])
}

fn serve_with(env: &[(&str, &str)]) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
    command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]).env("ROSTER_MASTER_KEY", KEY).env("ROSTER_LOG", "info");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.stderr(Stdio::piped()).spawn().expect("start roster serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        match lines.next() {
            Some(Ok(line)) if line.contains("serving") => break,
            Some(Ok(_)) => continue,
            _ => panic!("roster serve exited before serving"),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Server(child), format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_serve_one_postgresql() {
    let Some(db) = TestDb::postgres().await.expect("a test database") else { return };
    let url = db.postgres_url().unwrap();
    let created = ok(roster(&[("ROSTER_DATABASE_URL", &url)], &["org", "create", "acme", "--name", "Acme", "--owner", "owner@acme.example"]));
    let password = password_in(&created);
    let (_one, first) = serve(&url);
    let (_two, second) = serve(&url);

    // Sign in on the first process.
    let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client.get(format!("{first}/o/acme/login")).send().await.unwrap().text().await.unwrap();
    let marker = "name=\"_csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let token = &page[start..start + page[start..].find('"').unwrap()];
    let signed = client
        .post(format!("{first}/o/acme/login"))
        .form(&[("_csrf", token), ("email", "owner@acme.example"), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("roster_session="))
        .unwrap();

    // The second process knows the session: nothing lived only in the first one's memory.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let on_second = plain.get(format!("{second}/o/acme/people")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(on_second.status(), 200);
    for base in [&first, &second] {
        assert_eq!(plain.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    }
    db.finish().await;
}

/// SIGTERM during an Entra sync: the process gives the sync back and exits 0 within its grace,
/// nothing of the sync was applied, and the next process takes it over and completes it.
async fn sigterm_hands_a_running_sync_over(env: &[(&str, &str)], store: std::sync::Arc<dyn roster_store::Store>) {
    use roster_store::RunStatus;
    let created = ok(roster(env, &["org", "create", "acme", "--name", "Acme", "--owner", "owner@acme.example"]));
    assert!(created.contains("owner@acme.example"));
    let sim = roster_sim::EntraSim::generate(roster_sim::TenantSpec { users: 30, seed: 5, ..Default::default() });
    let running = roster_sim::spawn_loopback(sim.clone()).await.unwrap();
    let info = sim.info();
    let secret = sim.client_secret();
    let (login, graph) = (format!("{}/", running.base_url), format!("{}/v1.0/", running.base_url));
    let mut with_secret = env.to_vec();
    with_secret.push(("SIM_SECRET", &secret));
    #[rustfmt::skip]
    let args = ["connect", "entra", "--org", "acme", "--tenant", &info.tenant_id, "--group", &info.top_group_id, "--client-id", &info.client_id,
        "--client-secret-env", "SIM_SECRET", "--login-base", &login, "--graph-base", &graph, "--enable"];
    ok(roster(&with_secret, &args));

    let app = roster_app::App {
        store: store.clone(),
        config: std::sync::Arc::new(roster_app::config::Config::local("http://127.0.0.1:1".parse().unwrap())),
        clock: std::sync::Arc::new(roster_app::clock::SystemClock),
        master_key: roster_app::secrets::seal::MasterKey::from_base64(KEY).unwrap(),
    };
    let org = store.org_by_slug("acme").await.unwrap().unwrap();
    let connection = roster_app::provision::entra::entra_connection(&app, org.id).await.unwrap().unwrap();
    // The sync's first Graph request is throttled for 30 s: it is running when SIGTERM comes.
    // Enabling also subscribes to change notifications, whose first request may come first.
    sim.faults().throttle_next(2, roster_sim::RetryAfter::Integer(30));
    let mut first_env = env.to_vec();
    first_env.push(("ROSTER_SHUTDOWN_GRACE_SECONDS", "1"));
    let (mut first, _) = serve_with(&first_env);
    roster_app::provision::entra::enqueue_sync(&app, &connection, "manual").await.unwrap();
    let runs = || async { store.sync_runs(org.id, connection.id, 10).await.unwrap() };
    // Generous: under a full test run on two cores, starting a process and claiming the job
    // has taken over 30 s.
    let deadline = Instant::now() + Duration::from_secs(90);
    let started = || async { runs().await.iter().any(|r| r.status == RunStatus::Running) && !sim.requests().is_empty() };
    while !started().await {
        assert!(Instant::now() < deadline, "the sync never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let terminated = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &first.0.id().to_string()]).status().unwrap().success());
    let status = loop {
        if let Some(status) = first.0.try_wait().unwrap() {
            break status;
        }
        assert!(terminated.elapsed() < Duration::from_secs(15), "the process did not stop after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a clean exit: {status:?}");
    assert_eq!(store.count_people(org.id).await.unwrap().total, 1, "nothing of the sync was applied");

    let (_second, _) = serve_with(env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !runs().await.iter().any(|r| r.status == RunStatus::Succeeded) {
        assert!(Instant::now() < deadline, "the second process never completed the sync: {:?}", runs().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(store.count_people(org.id).await.unwrap().total > 1, "the second process applied the sync");
    let interrupted = runs().await.into_iter().filter(|r| r.status == RunStatus::Failed).count();
    assert_eq!(interrupted, 1, "the interrupted run says so: {:?}", runs().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_sync_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = roster_store::open(&roster_store::Location::DataDir(data.clone())).await.unwrap();
    store.migrate().await.unwrap();
    sigterm_hands_a_running_sync_over(&[("ROSTER_DATA_DIR", data.to_str().unwrap())], store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_sync_on_postgresql() {
    let Some(db) = TestDb::postgres().await.expect("a test database") else { return };
    let url = db.postgres_url().unwrap();
    sigterm_hands_a_running_sync_over(&[("ROSTER_DATABASE_URL", &url)], db.store.clone()).await;
    db.finish().await;
}

/// `roster sync` previews with --dry-run (nothing written, JSON on request), refuses a
/// connection re-pointed at another tenant by holding the run (non-zero exit, who would go),
/// and applies it with --allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_previews_and_holds_a_repointed_connection() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [("ROSTER_DATA_DIR", data.to_str().unwrap())];
    ok(roster(&env, &["org", "create", "acme", "--name", "Acme", "--owner", "owner@acme.example"]));
    let connect = |sim: &roster_sim::EntraSim, base: &str, confirm: bool| {
        let info = sim.info();
        let secret = sim.client_secret();
        let (login, graph) = (format!("{base}/"), format!("{base}/v1.0/"));
        let mut with_secret = env.to_vec();
        with_secret.push(("SIM_SECRET", &secret));
        #[rustfmt::skip]
        let args = ["connect", "entra", "--org", "acme", "--tenant", &info.tenant_id, "--group", &info.top_group_id, "--client-id", &info.client_id,
            "--client-secret-env", "SIM_SECRET", "--login-base", &login, "--graph-base", &graph, "--enable"];
        let mut args = args.to_vec();
        if confirm {
            args.push("--confirm-repoint");
        }
        roster(&with_secret, &args)
    };
    let first = roster_sim::EntraSim::generate(roster_sim::TenantSpec { users: 40, seed: 5, ..Default::default() });
    let first_running = roster_sim::spawn_loopback(first.clone()).await.unwrap();
    ok(connect(&first, &first_running.base_url, false));

    let preview: serde_json::Value = serde_json::from_str(&ok(roster(&env, &["sync", "--org", "acme", "--dry-run", "--json"]))).unwrap();
    let created = preview["report"]["created"].as_u64().unwrap();
    assert!(created > 20, "{preview}");
    assert_eq!(preview["changes"].as_array().unwrap().iter().filter(|c| c["change"] == "create_person").count() as u64, created);
    let listed: serde_json::Value = serde_json::from_str(&ok(roster(&env, &["user", "list", "--org", "acme", "--json"]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "a preview applies nothing");
    assert!(ok(roster(&env, &["sync", "--org", "acme"])).contains(&format!("Created {created},")));
    // The lookups: the group by name, why someone is here or not, one person provisioned now.
    let info = first.info();
    assert!(ok(roster(&env, &["entra", "groups", "--org", "acme", "all staff"])).contains(&format!("{}\tAll Staff (Roster)", info.top_group_id)));
    let member = &info.member_user_ids[0];
    let why = ok(roster(&env, &["entra", "why", "--org", "acme", member]));
    assert!(why.contains("provisioned by this connection") && why.contains("Nothing stops them"), "{why}");
    let provisioned = ok(roster(&env, &["entra", "provision", "--org", "acme", member]));
    assert!(provisioned.contains("nothing to change"), "{provisioned}");

    // Re-pointed at another tenant: every person of the first would go, so the run is held.
    let second = roster_sim::EntraSim::generate(roster_sim::TenantSpec { users: 15, seed: 9, ..Default::default() });
    let second_running = roster_sim::spawn_loopback(second.clone()).await.unwrap();
    let unconfirmed = connect(&second, &second_running.base_url, false);
    let warning = String::from_utf8_lossy(&unconfirmed.stderr);
    assert!(!unconfirmed.status.success() && warning.contains("another tenant") && warning.contains("--confirm-repoint"), "{warning}");
    assert!(warning.contains(&format!("The {created} people it provisions now")), "{warning}");
    ok(connect(&second, &second_running.base_url, true));
    let held = roster(&env, &["sync", "--org", "acme"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&held.stdout), String::from_utf8_lossy(&held.stderr));
    assert!(!held.status.success(), "a held run exits non-zero");
    assert!(stderr.contains("deactivation guard") && stderr.contains("--allow"), "{stderr}");
    assert!(stdout.contains("It would deactivate:") && stdout.contains("no longer in the source"), "{stdout}");
    let run = stderr.split("(run ").nth(1).and_then(|rest| rest.split(')').next()).expect("the held run's id").to_owned();
    let active = |listed: &serde_json::Value| listed.as_array().unwrap().iter().filter(|p| p["status"] != "deactivated").count();
    let listed: serde_json::Value = serde_json::from_str(&ok(roster(&env, &["user", "list", "--org", "acme", "--json"]))).unwrap();
    assert_eq!(active(&listed), 1 + created as usize, "a held run deactivates nobody");

    assert!(!roster(&env, &["sync", "--org", "acme", "--allow", "00000000-0000-0000-0000-000000000000"]).status.success());
    let allowed = ok(roster(&env, &["sync", "--org", "acme", "--allow", &run]));
    assert!(allowed.contains(&format!("deactivated {created},")), "{allowed}");
    let again = roster(&env, &["sync", "--org", "acme", "--reject", &run]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("not held"), "a decided run is not decided again");

    // Deleting the connection and deactivating everyone it provisions is guarded like a run;
    // keeping them deletes it and leaves them as they are.
    let refused = roster(&env, &["disconnect", "entra", "--org", "acme", "--deactivate-people"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("Nothing was deleted"), "{said}");
    let before: serde_json::Value = serde_json::from_str(&ok(roster(&env, &["user", "list", "--org", "acme", "--json"]))).unwrap();
    let deleted = ok(roster(&env, &["disconnect", "entra", "--org", "acme", "--keep-people"]));
    assert!(deleted.contains("people unlinked, 0 deactivated"), "{deleted}");
    let after: serde_json::Value = serde_json::from_str(&ok(roster(&env, &["user", "list", "--org", "acme", "--json"]))).unwrap();
    assert_eq!(active(&after), active(&before), "kept as they were");
    assert!(!roster(&env, &["sync", "--org", "acme"]).status.success(), "no connection left to sync");
}
