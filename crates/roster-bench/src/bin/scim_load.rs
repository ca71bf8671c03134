//! SCIM provisioning under load: 32 concurrent clients on 127.0.0.1 against `roster serve`
//! (a child, on SQLite and on PostgreSQL) and, in the same run, against a reference SCIM
//! server (`scim2-server`, in memory) with the same requests: create N Users, look Users up by
//! `userName eq`, PATCH them (deactivate, reactivate, change the title), and page through all
//! of them 100 at a time. Per operation: requests/s, and the client's p50/p99 (and the server's
//! own, from `Server-Timing: app;dur=`, where it sends one).
//!
//!     scripts/test cargo run --release -p roster-bench --bin scim_load -- --users 100000
//!
//! The reference is started from `--reference` (a `scim2-server` installed with pip into a
//! virtual environment: `python3 -m venv .tmp/scim-ref && .tmp/scim-ref/bin/pip install scim2-server`).

#[path = "../common/mod.rs"]
#[allow(dead_code)] // each program uses part of what the programs share
mod common;

use anyhow::{bail, Context};
use clap::Parser;
use common::backend::{Location, Which};
use common::child::{self, Roster};
use common::population::Rng;
use common::stats::{summarize, Summary};
use common::{secs, ORG, OWNER};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const PAGE: usize = 100;
/// The aims: throughput at least this many times the reference's, and a p99 under this.
const AIM_RATIO: f64 = 20.0;
const AIM_P99_MS: f64 = 10.0;
/// SCIM tokens are rate limited (200/s by default); a bulk load raises the connection's limit,
/// as an operator would for a first provisioning, so that the server itself is measured.
const BENCH_RATE_LIMIT: u32 = 1_000_000;

#[derive(Parser)]
#[command(about = "SCIM throughput and latency under 32 concurrent clients, per backend, against a reference server")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// `GET /Users?filter=userName eq` requests.
    #[arg(long, default_value_t = 20_000)]
    lookups: usize,
    /// PATCH requests (a third each: active false, active true, a new title).
    #[arg(long, default_value_t = 20_000)]
    patches: usize,
    /// A phase stops issuing requests after this long; what was done by then is reported.
    #[arg(long, default_value_t = 180)]
    phase_secs: u64,
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    /// A PostgreSQL server; a fresh database is created on it and dropped afterwards.
    #[arg(long, env = "ROSTER_TEST_DATABASE_URL")]
    database_url: Option<String>,
    #[arg(long = "bin", default_value = "target/release/roster")]
    bin: PathBuf,
    /// The reference server's program; `--no-reference` skips it.
    #[arg(long, default_value = ".tmp/scim-ref/bin/scim2-server")]
    reference: PathBuf,
    #[arg(long)]
    no_reference: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Lookup,
    Patch,
    Page,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "POST /Users",
            Op::Lookup => "GET /Users?filter=userName eq",
            Op::Patch => "PATCH /Users/{id}",
            Op::Page => "GET /Users?startIndex&count=100",
        }
    }
}

/// One server under test.
struct Target {
    label: String,
    /// Everything before `/Users`.
    base: String,
    token: String,
    client: reqwest::Client,
}

struct Sample {
    client_ms: f64,
    server_ms: Option<f64>,
    /// Why the request did not do what it should, when it did not.
    failure: Option<String>,
    body: Option<Value>,
}

impl Target {
    async fn send(&self, method: Method, path: &str, body: Option<&Value>, expect: &[StatusCode]) -> Sample {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).header(AUTHORIZATION, format!("Bearer {}", self.token));
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/scim+json").body(body.to_string());
        }
        let started = Instant::now();
        let outcome = async {
            let response = request.send().await?;
            let status = response.status();
            let server_ms = server_timing(&response);
            let text = response.text().await?;
            anyhow::Ok((status, server_ms, text))
        }
        .await;
        let client_ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok((status, server_ms, text)) if expect.contains(&status) => {
                Sample { client_ms, server_ms, failure: None, body: serde_json::from_str(&text).ok() }
            }
            Ok((status, server_ms, text)) => {
                Sample { client_ms, server_ms, failure: Some(format!("{status}: {}", text.chars().take(200).collect::<String>())), body: None }
            }
            Err(error) => Sample { client_ms, server_ms: None, failure: Some(format!("{error:#}")), body: None },
        }
    }
}

/// `app;dur=1.234` in milliseconds.
fn server_timing(response: &reqwest::Response) -> Option<f64> {
    let value = response.headers().get("server-timing")?.to_str().ok()?;
    value.split(',').find_map(|metric| {
        let mut parts = metric.trim().split(';');
        (parts.next()? == "app").then_some(())?;
        parts.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok())
    })
}

fn user_name(i: usize) -> String {
    format!("user{i:06}@bench.example")
}

fn new_user(i: usize) -> Value {
    json!({
        "schemas": [USER_URN, ENTERPRISE_URN],
        "userName": user_name(i),
        "externalId": format!("hr-{i:06}"),
        "name": { "givenName": format!("Given{}", i % 997), "familyName": format!("Family{i}") },
        "displayName": format!("Given{} Family{i}", i % 997),
        "emails": [{ "value": user_name(i), "type": "work", "primary": true }],
        "title": "Engineer",
        "active": true,
        ENTERPRISE_URN: { "department": format!("Department {}", i % 40) },
    })
}

fn patch_body(i: usize) -> Value {
    let (path, value) = match i % 3 {
        0 => ("active", json!(false)),
        1 => ("active", json!(true)),
        _ => ("title", json!(format!("Title {i}"))),
    };
    json!({ "schemas": [PATCH_URN], "Operations": [{ "op": "replace", "path": path, "value": value }] })
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

struct Phase {
    op: Op,
    wall: Duration,
    /// By job number: a phase cut short by its time limit has done only some of them.
    samples: Vec<(usize, Sample)>,
}

/// Run jobs `0..jobs` on `clients` concurrent tasks until done or `limit` has passed.
async fn phase<F, Fut>(op: Op, jobs: usize, clients: usize, limit: Duration, job: F) -> Phase
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Sample> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (next, job) = (next.clone(), job.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs || started.elapsed() > limit {
                    return done;
                }
                done.push((i, job(i).await));
            }
        }));
    }
    let mut all = Vec::with_capacity(jobs);
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    let wall = started.elapsed();
    all.sort_by_key(|(i, _)| *i);
    Phase { op, wall, samples: all }
}

struct OpResult {
    op: Op,
    requests: usize,
    failures: usize,
    first_failure: Option<String>,
    per_second: f64,
    client: Summary,
    server: Option<Summary>,
}

fn result_of(phase: &Phase) -> OpResult {
    let client: Vec<f64> = phase.samples.iter().map(|(_, s)| s.client_ms).collect();
    let server: Vec<f64> = phase.samples.iter().filter_map(|(_, s)| s.server_ms).collect();
    let failures: Vec<&String> = phase.samples.iter().filter_map(|(_, s)| s.failure.as_ref()).collect();
    OpResult {
        op: phase.op,
        requests: phase.samples.len(),
        failures: failures.len(),
        first_failure: failures.first().map(|f| (*f).clone()),
        per_second: (phase.samples.len() - failures.len()) as f64 / phase.wall.as_secs_f64().max(1e-9),
        client: summarize(&client),
        server: (!server.is_empty()).then(|| summarize(&server)),
    }
}

fn print(label: &str, r: &OpResult) {
    let server = r.server.map_or_else(String::new, |s| format!(" | server p50 {:>7.2} p99 {:>7.2} ms", s.p50_ms, s.p99_ms));
    println!(
        "  {label:<9} {:<32} n {:>6}  failed {:>4}  {:>8.1} req/s | client p50 {:>7.2} p99 {:>7.2} ms{server}",
        r.op.name(),
        r.requests,
        r.failures,
        r.per_second,
        r.client.p50_ms,
        r.client.p99_ms
    );
    if let Some(failure) = &r.first_failure {
        println!("            first failure: {failure}");
    }
}

/// The four phases against one target; the results in phase order.
async fn load(target: Target, args: &Args) -> anyhow::Result<Vec<OpResult>> {
    let target = Arc::new(target);
    let limit = Duration::from_secs(args.phase_secs);
    let mut results = Vec::new();

    let t = target.clone();
    let created = phase(Op::Create, args.users, args.clients, limit, move |i| {
        let t = t.clone();
        async move { t.send(Method::POST, "/Users", Some(&new_user(i)), &[StatusCode::CREATED]).await }
    })
    .await;
    // (user number, id) of every User that exists.
    let users: Arc<Vec<(usize, String)>> =
        Arc::new(created.samples.iter().filter_map(|(i, s)| Some((*i, s.body.as_ref()?.get("id")?.as_str()?.to_owned()))).collect());
    results.push(result_of(&created));
    print(&target.label, results.last().context("a result")?);
    if users.is_empty() {
        bail!("{}: no User was created", target.label);
    }

    let mut rng = Rng::new(args.seed);
    let picks: Arc<Vec<usize>> = Arc::new((0..args.lookups.max(args.patches)).map(|_| rng.below(users.len())).collect());
    let (t, u, p) = (target.clone(), users.clone(), picks.clone());
    let lookups = phase(Op::Lookup, args.lookups, args.clients, limit, move |i| {
        let (t, u, p) = (t.clone(), u.clone(), p.clone());
        async move {
            let (n, id) = &u[p[i]];
            let path = format!("/Users?filter={}", enc(&format!("userName eq \"{}\"", user_name(*n))));
            let mut sample = t.send(Method::GET, &path, None, &[StatusCode::OK]).await;
            let found = sample.body.as_ref().and_then(|b| b.get("Resources")?.get(0)?.get("id")?.as_str().map(str::to_owned));
            if sample.failure.is_none() && found.as_deref() != Some(id.as_str()) {
                sample.failure = Some(format!("{} was not found by its userName", user_name(*n)));
            }
            sample.body = None;
            sample
        }
    })
    .await;
    results.push(result_of(&lookups));
    print(&target.label, results.last().context("a result")?);

    let picks: Arc<Vec<usize>> = Arc::new((0..args.patches).map(|_| rng.below(users.len())).collect());
    let (t, u, p) = (target.clone(), users.clone(), picks.clone());
    let patches = phase(Op::Patch, args.patches, args.clients, limit, move |i| {
        let (t, u, p) = (t.clone(), u.clone(), p.clone());
        async move {
            let (_, id) = &u[p[i]];
            // RFC 7644 §3.5.2: 204 without a body is as good an answer as 200 with the User.
            let mut sample = t.send(Method::PATCH, &format!("/Users/{id}"), Some(&patch_body(i)), &[StatusCode::OK, StatusCode::NO_CONTENT]).await;
            sample.body = None;
            sample
        }
    })
    .await;
    results.push(result_of(&patches));
    print(&target.label, results.last().context("a result")?);

    let pages = users.len().div_ceil(PAGE);
    let t = target.clone();
    let paged = phase(Op::Page, pages, args.clients, limit, move |i| {
        let t = t.clone();
        async move {
            let mut sample = t.send(Method::GET, &format!("/Users?startIndex={}&count={PAGE}", i * PAGE + 1), None, &[StatusCode::OK]).await;
            let listed = sample.body.as_ref().and_then(|b| b.get("Resources")?.as_array().map(Vec::len)).unwrap_or(0);
            // Keep only the count: the bodies of every page would be the whole directory in memory.
            sample.body = Some(json!(listed));
            sample
        }
    })
    .await;
    let listed: u64 = paged.samples.iter().filter_map(|(_, s)| s.body.as_ref()?.as_u64()).sum();
    let mut result = result_of(&paged);
    if paged.samples.len() == pages && listed != users.len() as u64 {
        result.first_failure.get_or_insert_with(|| format!("the pages listed {listed} Users, not {}", users.len()));
    }
    results.push(result);
    print(&target.label, results.last().context("a result")?);
    Ok(results)
}

fn http_client(clients: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(clients).timeout(Duration::from_secs(60)).build()?)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_for(url: &str, server: &mut tokio::process::Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    loop {
        if client.get(url).send().await.is_ok() {
            return Ok(());
        }
        if let Some(status) = server.try_wait()? {
            bail!("the server exited before answering ({status})");
        }
        if Instant::now() > deadline {
            bail!("the server did not answer within a minute");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Raise the SCIM connection's rate limit in the database, before the server starts.
async fn raise_rate_limit(location: &Location) -> anyhow::Result<()> {
    use sqlx::{Connection, Executor};
    let env = |name: &str| location.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(url) = env("ROSTER_DATABASE_URL") {
        let mut conn = sqlx::PgConnection::connect(&url).await?;
        let sql =
            format!("UPDATE connections SET settings = jsonb_set(settings, '{{rate_limit_per_second}}', '{BENCH_RATE_LIMIT}') WHERE kind = 'scim'");
        conn.execute(sql.as_str()).await?;
        conn.close().await?;
    } else {
        let dir = env("ROSTER_DATA_DIR").context("no data directory")?;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{dir}/roster.db")).await?;
        let sql = format!("UPDATE connections SET settings = json_set(settings, '$.rate_limit_per_second', {BENCH_RATE_LIMIT}) WHERE kind = 'scim'");
        conn.execute(sql.as_str()).await?;
        conn.close().await?;
    }
    Ok(())
}

async fn roster_backend(location: &Location, args: &Args) -> anyhow::Result<Vec<OpResult>> {
    let roster = Roster { bin: args.bin.clone(), env: location.env.clone(), timeout: Duration::from_secs(600) };
    roster.run(&["org", "create", ORG, "--name", "Bench", "--owner", OWNER]).await?;
    let token = roster.run(&["scim", "token", "create", "--org", ORG, "--name", "bench"]).await?.stdout.trim().to_owned();
    anyhow::ensure!(!token.is_empty(), "roster scim token create printed no token");
    raise_rate_limit(location).await?;
    let port = free_port()?;
    let log = location.scratch().join("serve.log");
    let mut server = roster.spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], &log)?;
    let result = async {
        wait_for(&format!("http://127.0.0.1:{port}/healthz"), &mut server).await?;
        let target = Target {
            label: location.label.to_owned(),
            base: format!("http://127.0.0.1:{port}/o/{ORG}/scim/v2"),
            token,
            client: http_client(args.clients)?,
        };
        load(target, args).await
    }
    .await;
    child::stop(server).await?;
    result.with_context(|| format!("the server's log: {}", log.display()))
}

async fn reference(args: &Args) -> anyhow::Result<Vec<OpResult>> {
    let port = free_port()?;
    let token = format!("bench-{:016x}", Rng::new(args.seed ^ 0x5C13).next_u64());
    let scratch = tempfile::Builder::new().prefix("roster-bench-scim-ref.").tempdir()?;
    let log = std::fs::File::create(scratch.path().join("reference.log"))?;
    let mut server = tokio::process::Command::new(&args.reference)
        .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", &token, "--tenant", ORG])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args.reference.display()))?;
    let result = async {
        wait_for(&format!("http://127.0.0.1:{port}/{ORG}/ServiceProviderConfig"), &mut server).await?;
        let target = Target { label: "reference".into(), base: format!("http://127.0.0.1:{port}/{ORG}"), token, client: http_client(args.clients)? };
        load(target, args).await
    }
    .await;
    child::stop(server).await?;
    result
}

fn to_json(results: &[OpResult]) -> Value {
    Value::Array(
        results
            .iter()
            .map(|r| {
                json!({
                    "op": r.op.name(), "requests": r.requests, "failures": r.failures, "first_failure": r.first_failure,
                    "per_second": (r.per_second * 10.0).round() / 10.0, "client": r.client, "server": r.server,
                })
            })
            .collect(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    anyhow::ensure!(args.bin.is_file(), "no roster binary at {} (cargo build --release -p roster, or pass --bin)", args.bin.display());
    println!(
        "{} Users, {} clients, {} lookups, {} PATCHes, pages of {PAGE}; each phase stops after {} s",
        args.users, args.clients, args.lookups, args.patches, args.phase_secs
    );
    let mut runs: Vec<(String, Vec<OpResult>)> = Vec::new();
    for which in args.backend.pick(args.database_url.as_deref())? {
        let location = Location::open(which, args.database_url.as_deref()).await?;
        let result = roster_backend(&location, &args).await;
        // The database goes whatever happened, so a failed run leaves nothing on the server.
        let closed = location.close().await;
        runs.push((location_label(which).into(), result?));
        closed?;
    }
    let reference = if args.no_reference { None } else { Some(reference(&args).await?) };

    let mut comparison = Vec::new();
    if let Some(reference) = &reference {
        println!("ratios to the reference (aim: at least {AIM_RATIO}x its throughput, client p99 under {AIM_P99_MS} ms):");
        for (label, results) in &runs {
            for (ours, theirs) in results.iter().zip(reference) {
                let ratio = ours.per_second / theirs.per_second.max(1e-9);
                let met = ratio >= AIM_RATIO && ours.client.p99_ms < AIM_P99_MS;
                println!(
                    "  {label:<9} {:<32} {ratio:>7.1}x  p99 {:>7.2} ms  {}",
                    ours.op.name(),
                    ours.client.p99_ms,
                    if met { "met" } else { "MISSED" }
                );
                comparison.push(json!({ "backend": label, "op": ours.op.name(), "ratio": (ratio * 10.0).round() / 10.0, "aim_met": met }));
            }
        }
    }
    let json = json!({
        "bench": "scim_load",
        "users": args.users, "clients": args.clients, "lookups": args.lookups, "patches": args.patches, "phase_secs": args.phase_secs,
        "seconds": secs(started.elapsed()),
        "results": runs.iter().map(|(label, r)| json!({ "target": label, "ops": to_json(r) })).collect::<Vec<_>>(),
        "reference": reference.as_deref().map(to_json),
        "comparison": comparison,
    });
    println!("{json}");
    Ok(())
}

fn location_label(which: Which) -> &'static str {
    match which {
        Which::Sqlite => "sqlite",
        Which::Postgres | Which::Both => "postgres",
    }
}
