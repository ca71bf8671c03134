//! Entra in real time, with 100,000 users in the simulated tenant: a served Roster subscribed
//! to its change notifications. Measures one user changed at a time (Graph requests, and the
//! time from the change and from the simulator sending the notification to the change being
//! committed, seen by a long poll of the events feed), 1,000 users changed at once (time to
//! converge), a round with nothing to do for the connection (time and requests, from the
//! server's log), and the resource units of a full reconciliation against the per-person
//! manager reads it replaced. `roster` runs as a child.
//!
//!     scripts/test cargo run --release -p roster-bench --bin entra_live -- --users 100000

#[path = "../common/mod.rs"]
#[allow(dead_code)] // each program uses part of what the programs share
mod common;

use anyhow::{ensure, Context};
use clap::Parser;
use common::backend::{Location, Which};
use common::child::{self, Roster};
use common::stats::summarize;
use common::web::{Auth, Web};
use common::{secs, ORG, OWNER};
use roster_sim::entra::request_cost;
use roster_sim::{spawn_loopback, EntraSim, RequestRecord, TenantSpec};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

#[derive(Parser)]
#[command(about = "Entra live updates: one change, 1,000 changes, a quiet round, a full reconciliation's resource units")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    #[arg(long, default_value_t = 200)]
    changes: usize,
    #[arg(long, default_value_t = 1_000)]
    burst: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    #[arg(long, env = "ROSTER_TEST_DATABASE_URL")]
    database_url: Option<String>,
    #[arg(long = "bin", default_value = "target/release/roster")]
    bin: PathBuf,
    #[arg(long, default_value_t = 3600)]
    max_secs: u64,
}

/// The resource units Graph charges for the requests, by the reference's cost rules (a
/// `$batch` itself is free: its requests are charged one by one).
fn resource_units(requests: &[RequestRecord]) -> u64 {
    requests
        .iter()
        .filter(|r| !r.path.ends_with("$batch"))
        .map(|r| {
            let path = r.path.trim_start_matches('/').trim_start_matches("v1.0/");
            let segments: Vec<&str> = path.split('?').next().unwrap_or(path).split('/').collect();
            let query = r.query.replace("%24", "$");
            let top = query.split('&').find_map(|p| p.strip_prefix("$top=")).and_then(|v| v.parse().ok());
            u64::from(request_cost(&segments, query.contains("$select"), query.contains("$expand"), top))
        })
        .sum()
}

/// The server log's delta rounds (JSON lines): (ms, Graph requests, users touched), oldest first.
fn rounds_in(log: &std::path::Path) -> Vec<(f64, u64, u64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("Entra delta round"))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let fields = &v["fields"];
            Some((fields["ms"].as_f64()?, fields["graph_requests"].as_u64()?, fields["users"].as_u64()?))
        })
        .collect()
}

struct Feed<'a> {
    web: &'a Web,
    key: String,
    cursor: Option<String>,
}

impl Feed<'_> {
    /// `user.updated` events committed since the last call (waits up to 10 s for the first).
    async fn next(&mut self) -> anyhow::Result<usize> {
        self.page(10).await
    }

    /// Drain what is there without waiting.
    async fn next_quick(&mut self) -> anyhow::Result<usize> {
        self.page(0).await
    }

    async fn page(&mut self, wait: u32) -> anyhow::Result<usize> {
        let after = self.cursor.as_ref().map(|c| format!("&after={c}")).unwrap_or_default();
        let page = self.web.get(&format!("/api/v1/events?types=user.updated&wait={wait}&limit=1000{after}"), &Auth::Key(&self.key)).await?;
        let page: serde_json::Value = serde_json::from_str(&page.body)?;
        self.cursor = page["next_cursor"].as_str().map(str::to_owned).or(self.cursor.take());
        Ok(page["data"].as_array().map_or(0, Vec::len))
    }
}

async fn one_backend(location: &Location, args: &Args) -> anyhow::Result<serde_json::Value> {
    let label = location.label;
    println!("{label}:");
    let sim = EntraSim::generate(TenantSpec { users: args.users, seed: args.seed, photo_ratio: 0.3, disabled_ratio: 0.0, ..TenantSpec::default() });
    let running = spawn_loopback(sim.clone()).await?;
    let info = sim.info();
    let mut env = location.env.clone();
    env.push(("BENCH_ENTRA_SECRET".into(), info.client_secret.clone()));
    env.push(("ROSTER_LOG".into(), "info".into()));
    env.push(("ROSTER_LOG_FORMAT".into(), "json".into()));
    let roster = Roster { bin: args.bin.clone(), env, timeout: Duration::from_secs(args.max_secs) };
    roster.run(&["org", "create", ORG, "--name", "Bench", "--owner", OWNER]).await?;
    let (login, graph) = (format!("{}/", running.base_url), format!("{}/v1.0/", running.base_url));
    #[rustfmt::skip]
    roster.run(&["connect", "entra", "--org", ORG, "--tenant", &info.tenant_id, "--group", &info.top_group_id, "--client-id", &info.client_id,
        "--client-secret-env", "BENCH_ENTRA_SECRET", "--login-base", &login, "--graph-base", &graph, "--enable"]).await?;
    let first = roster.run(&["sync", "--org", ORG]).await?;
    println!("  first full sync of {} users: {:.1} s", info.member_user_ids.len(), first.wall.as_secs_f64());

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = location.scratch().join("serve.log");
    let mut server = roster.spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], &log)?;
    let web = Web::new(port, ORG)?;
    let result = async {
        web.wait_ready(&mut server, Duration::from_secs(60)).await?;
        let subscribed = Instant::now();
        while sim.subscriptions().len() < 2 {
            ensure!(subscribed.elapsed() < Duration::from_secs(60), "Roster did not subscribe within a minute");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let key = roster.run(&["apikey", "create", "--org", ORG, "--name", "bench"]).await?.stdout.trim().to_owned();
        let mut feed = Feed { web: &web, key, cursor: None };
        while feed.next_quick().await? > 0 {}

        // One change at a time.
        let members = &info.member_user_ids;
        ensure!(members.len() > args.changes + args.burst + 10, "too few users for the changes asked");
        let (mut from_change, mut from_sent, mut requests) = (Vec::new(), Vec::new(), Vec::new());
        for (n, id) in members.iter().skip(10).take(args.changes).enumerate() {
            sim.clear_deliveries();
            let before = sim.requests().len();
            let changed = Instant::now();
            sim.set_user_property(id, "jobTitle", serde_json::json!(format!("Title {n}"))).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut seen = 0;
            while seen == 0 {
                seen = feed.next().await?;
                ensure!(changed.elapsed() < Duration::from_secs(60), "change {n} did not arrive within a minute");
            }
            let committed = SystemTime::now();
            from_change.push(changed.elapsed().as_secs_f64() * 1000.0);
            if let Some(sent) = sim.deliveries().iter().filter(|d| d.resource_ids.iter().any(|r| r == id)).map(|d| d.sent_at).min() {
                from_sent.push(committed.duration_since(sent).unwrap_or_default().as_secs_f64() * 1000.0);
            }
            // Requests of the round, not of other work (subscription upkeep makes none here).
            tokio::time::sleep(Duration::from_millis(20)).await;
            requests.push((sim.requests().len() - before) as f64);
        }
        let (c, s) = (summarize(&from_change), summarize(&from_sent));
        let most_requests = requests.iter().cloned().fold(0.0, f64::max);
        let mean_requests = requests.iter().sum::<f64>() / requests.len().max(1) as f64;
        println!(
            "  {} single changes: notification sent → committed p50 {:.0} ms, p99 {:.0} ms (change made → committed p50 {:.0}, p99 {:.0}, max {:.0} ms); \
             Graph requests per change mean {mean_requests:.1}, max {most_requests:.0} | aim ≤ 3 requests, p99 < 1 s: {}",
            args.changes, s.p50_ms, s.p99_ms, c.p50_ms, c.p99_ms, c.max_ms,
            if most_requests <= 3.0 && s.p99_ms < 1000.0 { "met" } else { "MISSED" }
        );

        // A thousand at once.
        let burst: Vec<&String> = members.iter().skip(10 + args.changes).take(args.burst).collect();
        let started = Instant::now();
        for id in &burst {
            sim.set_user_property(id, "department", serde_json::json!("Burst")).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let mut seen = 0;
        while seen < burst.len() {
            seen += feed.next().await?;
            ensure!(started.elapsed() < Duration::from_secs(600), "the burst did not converge: {seen} of {}", burst.len());
        }
        let converged = started.elapsed();
        println!("  {} users changed at once: all committed after {:.2} s", burst.len(), converged.as_secs_f64());

        // A round with nothing to do: a change to someone outside the group.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rounds_before = rounds_in(&log).len();
        let outsider = sim.create_user(serde_json::json!({"givenName": "Out", "surname": "Sider", "accountEnabled": true}).as_object().cloned().unwrap_or_default());
        let waited = Instant::now();
        let quiet = loop {
            let rounds = rounds_in(&log);
            if rounds.len() > rounds_before {
                break rounds[rounds_before..].to_vec();
            }
            ensure!(waited.elapsed() < Duration::from_secs(30), "no round after the outsider {outsider} was created");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (quiet_ms, quiet_requests, _) = quiet[0];
        println!("  a round with nothing to do for the connection: {quiet_ms:.0} ms, {quiet_requests} Graph requests | aim < 1 s, a handful: {}",
            if quiet_ms < 1000.0 && quiet_requests <= 5 { "met" } else { "MISSED" });

        // A full reconciliation, against the per-person manager reads it replaced.
        sim.clear_requests();
        let full = roster.run(&["sync", "--org", ORG]).await?;
        let reconciliation = sim.requests();
        let ru = resource_units(&reconciliation);
        let is_listing = |r: &RequestRecord| r.path.ends_with("/users") && r.query.replace("%24", "$").contains("$expand");
        let is_baseline = |r: &RequestRecord| r.path.ends_with("/delta");
        let listing: Vec<RequestRecord> = reconciliation.iter().filter(|r| is_listing(r)).cloned().collect();
        let baseline: Vec<RequestRecord> = reconciliation.iter().filter(|r| is_baseline(r)).cloned().collect();
        // One `GET /users/{id}/manager?$select=id` per person, as the sync read managers before
        // (the simulator keeps too few request records to count 100,000 of them).
        let per_person = members.len() as u64 * u64::from(request_cost(&["users", "id", "manager"], true, false, None));
        let before = ru - resource_units(&listing) - resource_units(&baseline) + per_person;
        println!(
            "  full reconciliation: {:.1} s, {} requests, {ru} resource units (managers by listing {}, delta starting point {}); \
             with the per-person manager reads it replaced: {before} | aim half or less: {:.2} ({})",
            full.wall.as_secs_f64(), reconciliation.len(), resource_units(&listing), resource_units(&baseline),
            ru as f64 / before.max(1) as f64, if ru * 2 <= before { "met" } else { "MISSED" }
        );
        let rounds = rounds_in(&log);
        let round_ms: Vec<f64> = rounds.iter().map(|r| r.0).collect();
        let r = summarize(&round_ms);
        println!("  {} delta rounds in the server's log: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms", rounds.len(), r.p50_ms, r.p99_ms, r.max_ms);
        anyhow::Ok(serde_json::json!({ "backend": label, "single": { "sent_to_commit": s, "change_to_commit": c, "requests_mean": mean_requests,
            "requests_max": most_requests }, "burst": { "users": burst.len(), "seconds": secs(converged) }, "quiet_round": { "ms": quiet_ms,
            "requests": quiet_requests }, "reconciliation": { "seconds": secs(full.wall), "requests": reconciliation.len(), "ru": ru, "ru_before": before },
            "rounds": r }))
    }
    .await;
    child::stop(server).await?;
    result.with_context(|| format!("the server's log: {}", log.display()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    ensure!(args.bin.is_file(), "no roster binary at {} (cargo build --release -p roster, or pass --bin)", args.bin.display());
    let mut results = Vec::new();
    for which in args.backend.pick(args.database_url.as_deref())? {
        let location = Location::open(which, args.database_url.as_deref()).await?;
        let result = one_backend(&location, &args).await;
        let closed = location.close().await;
        results.push(result?);
        closed?;
    }
    println!("{}", serde_json::json!({ "bench": "entra_live", "users": args.users, "seconds": secs(started.elapsed()), "results": results }));
    Ok(())
}
