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
    assert!(ok(roster(&env, &["import", "csv", "--org", "acme", csv, "--dry-run"])).contains("Dry run, nothing changed: 1 created"));
    assert!(ok(roster(&env, &["import", "csv", "--org", "acme", csv])).contains("Imported: 1 created"));
    let listed: serde_json::Value = serde_json::from_str(&ok(roster(&env, &["user", "list", "--org", "acme", "--json"]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // A formula typed into a cell is exported as text.
    std::fs::write(dir.path().join("formula.csv"), "email,first_name,last_name\neve@acme.example,=HYPERLINK(\"http://x.example\"),Eve\n").unwrap();
    ok(roster(&env, &["import", "csv", "--org", "acme", dir.path().join("formula.csv").to_str().unwrap()]));
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
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("ROSTER_DATABASE_URL", database_url)
        .env("ROSTER_MASTER_KEY", KEY)
        .env("ROSTER_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start roster serve");
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
