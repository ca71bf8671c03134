//! Okta's standard provisioning: the full pull of 50,000 assigned users from the simulated
//! Okta organisation (wall time and API requests, against the floor the rate limit sets), then
//! event hooks: 200 profile changes made in Okta one after another, each timed from the change
//! to its commit in Roster (seen by a long poll of the events feed). `roster` runs as a child.
//!
//!     scripts/test cargo run --release -p roster-bench --bin okta_sync -- --users 66667

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
use roster_sim::okta::{spawn_loopback, OktaSim, OktaSpec};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Okta pull of 50,000 assigned users, and hook-to-commit latency")]
struct Args {
    /// Users in the simulated Okta organisation; 75 % are assigned to the app.
    #[arg(long, default_value_t = 66_667)]
    users: usize,
    #[arg(long, default_value_t = 200)]
    changes: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    #[arg(long, env = "ROSTER_TEST_DATABASE_URL")]
    database_url: Option<String>,
    #[arg(long = "bin", default_value = "target/release/roster")]
    bin: PathBuf,
    #[arg(long, default_value_t = 1800)]
    max_secs: u64,
}

async fn one_backend(location: &Location, args: &Args) -> anyhow::Result<serde_json::Value> {
    let label = location.label;
    println!("{label}:");
    let sim = OktaSim::generate(OktaSpec { users: args.users, assigned_share: 0.75, seed: args.seed });
    let running = spawn_loopback(sim.clone()).await?;
    let assigned = sim.assigned_user_ids().len();
    let mut env = location.env.clone();
    env.push(("BENCH_OKTA_TOKEN".into(), sim.api_token()));
    let roster = Roster { bin: args.bin.clone(), env, timeout: Duration::from_secs(args.max_secs) };
    roster.run(&["org", "create", ORG, "--name", "Bench", "--owner", OWNER]).await?;
    let connected = roster
        .run(&["connect", "okta", "--org", ORG, "--url", &running.base_url, "--app-id", &sim.app_id(), "--token-env", "BENCH_OKTA_TOKEN", "--enable"])
        .await?;
    let secret =
        connected.stdout.lines().skip_while(|l| !l.starts_with("Event hook secret")).nth(1).context("no hook secret printed")?.trim().to_owned();

    // The pull, at Okta's default rate limit for the apps endpoints.
    sim.clear_requests();
    let pulled = roster.run(&["okta", "sync", "--org", ORG]).await?;
    let requests = sim.requests();
    let pages = requests.iter().filter(|r| r.path.contains("/users?") || r.path.contains("/users?limit")).count();
    let refused = requests.iter().filter(|r| r.status == 429).count();
    // The floor: the pages at 100 requests a minute, the first minute's worth free.
    let floor_secs = (pages.saturating_sub(100) as f64 / 100.0 * 60.0).max(0.0);
    println!(
        "  pull of {assigned} assigned users: {:.1} s, {} requests ({pages} pages of 500, {refused} answered 429), peak RSS {} MiB; rate-limit floor {:.0} s",
        pulled.wall.as_secs_f64(),
        requests.len(),
        pulled.peak_rss_kib.map_or(0, |k| k / 1024),
        floor_secs
    );

    // Hooks: a served Roster, the hook registered, changes one at a time.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = location.scratch().join("serve.log");
    let mut server = roster.spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], &log)?;
    let web = Web::new(port, ORG)?;
    let result = async {
        web.wait_ready(&mut server, Duration::from_secs(60)).await?;
        let connection = connected.stdout.lines().find_map(|l| l.strip_prefix("Event hook URL: ")).context("no hook URL printed")?;
        let path = connection.split("/o/").nth(1).and_then(|rest| rest.split_once('/')).map(|(_, p)| p.to_owned()).context("hook URL")?;
        let hook_url = format!("http://127.0.0.1:{port}/o/{ORG}/{path}");
        sim.register_event_hook(&hook_url, &secret).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let key = roster.run(&["apikey", "create", "--org", ORG, "--name", "bench"]).await?.stdout.trim().to_owned();
        let active: Vec<String> = sim.assigned_user_ids().into_iter().filter(|id| sim.user(id).is_some_and(|u| u["status"] == "ACTIVE")).collect();
        ensure!(active.len() >= args.changes, "only {} active assigned users", active.len());
        let mut cursor: Option<String> = None;
        let mut latencies = Vec::with_capacity(args.changes);
        let before = sim.requests().len();
        for (n, id) in active.iter().take(args.changes).enumerate() {
            let started = Instant::now();
            sim.update_profile(id, "title", serde_json::json!(format!("Title {n}"))).map_err(|e| anyhow::anyhow!("{e}"))?;
            loop {
                let after = cursor.as_ref().map(|c| format!("&after={c}")).unwrap_or_default();
                let page = web.get(&format!("/api/v1/events?types=user.updated&wait=10&limit=10{after}"), &Auth::Key(&key)).await?;
                let page: serde_json::Value = serde_json::from_str(&page.body)?;
                cursor = page["next_cursor"].as_str().map(str::to_owned).or(cursor);
                if page["data"].as_array().is_some_and(|d| !d.is_empty()) {
                    break;
                }
                ensure!(started.elapsed() < Duration::from_secs(60), "change {n} did not arrive within a minute");
            }
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let per_change = (sim.requests().len() - before) as f64 / args.changes as f64;
        let s = summarize(&latencies);
        println!(
            "  {} hook-driven changes: change in Okta → committed in Roster p50 {:.0} ms, p90 {:.0}, p99 {:.0}, max {:.0} ms; {per_change:.1} Okta requests per change | aim p99 < 1 s: {}",
            args.changes,
            s.p50_ms,
            s.p90_ms,
            s.p99_ms,
            s.max_ms,
            if s.p99_ms < 1000.0 { "met" } else { "MISSED" }
        );
        anyhow::Ok(serde_json::json!({ "backend": label, "assigned": assigned, "pull_seconds": secs(pulled.wall), "pull_requests": requests.len(),
            "pages": pages, "refused": refused, "floor_seconds": floor_secs, "hook_latency": s, "requests_per_change": per_change }))
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
    println!("{}", serde_json::json!({ "bench": "okta_sync", "users": args.users, "seconds": secs(started.elapsed()), "results": results }));
    Ok(())
}
