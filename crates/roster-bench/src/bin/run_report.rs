//! The page of a sync run with thousands of issues, on SQLite and PostgreSQL: a simulated Entra
//! tenant whose people have managers outside the synced group (each such person is an issue),
//! synced by `roster sync`, then the run's page read by a signed-in admin: its first page, a
//! page deep in the list, a page filtered by kind, and the CSV file of every issue. Records the
//! server's own time (`Server-Timing`) and the size of each answer.
//!
//!     scripts/test cargo run --release -p roster-bench --bin run_report -- --users 23000

#[path = "../common/mod.rs"]
#[allow(dead_code)] // each program uses part of what the programs share
mod common;

use anyhow::{bail, Context};
use clap::Parser;
use common::backend::{Location, Which};
use common::child::{self, Roster};
use common::stats::summarize;
use common::web::{Auth, Web};
use common::{ORG, OWNER};
use std::path::PathBuf;
use std::time::Duration;

/// Aims: the server's p99 for a page, and the size of a page.
const AIM_P99_MS: f64 = 100.0;
const AIM_PAGE_BYTES: usize = 200 * 1024;

#[derive(Parser)]
#[command(about = "Server time and size of a run page with thousands of issues, per backend")]
struct Args {
    /// Users in the simulated tenant; about a fifth of them get an issue.
    #[arg(long, default_value_t = 23_000)]
    users: usize,
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    #[arg(long, env = "ROSTER_TEST_DATABASE_URL")]
    database_url: Option<String>,
    /// Measured requests per kind of page.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    #[arg(long = "bin", default_value = "target/release/roster")]
    bin: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn one_backend(location: &Location, args: &Args) -> anyhow::Result<()> {
    println!("{}:", location.label);
    let mut env = location.env.clone();
    let roster = Roster { bin: args.bin.clone(), env: env.clone(), timeout: Duration::from_secs(1800) };
    let created = roster.run(&["org", "create", ORG, "--name", "Bench", "--owner", OWNER]).await?;
    let password = child::field(&created.stdout, "Password:")?;

    let sim_port = free_port()?;
    let users = args.users.to_string();
    let mut sim = roster.spawn(
        &["sim", "entra", "--users", &users, "--seed", "1", "--photos", "0", "--listen", &format!("127.0.0.1:{sim_port}")],
        &location.scratch().join("sim.log"),
    )?;
    let sim_log = location.scratch().join("sim.log");
    let sim_out = loop {
        let text = std::fs::read_to_string(&sim_log).unwrap_or_default();
        if text.contains("Press Ctrl+C") {
            break text;
        }
        if let Some(status) = sim.try_wait()? {
            bail!("the simulator exited ({status}):\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    env.push(("BENCH_SIM_SECRET".into(), child::field(&sim_out, "Secret:")?));
    let roster = Roster { env, ..roster };
    #[rustfmt::skip]
    roster.run(&[
        "connect", "entra", "--org", ORG, "--tenant", &child::field(&sim_out, "Tenant ID:")?, "--group", &child::field(&sim_out, "Group ID:")?,
        "--client-id", &child::field(&sim_out, "Client ID:")?, "--client-secret-env", "BENCH_SIM_SECRET",
        "--login-base", &child::field(&sim_out, "Login base:")?, "--graph-base", &child::field(&sim_out, "Graph base:")?, "--enable",
    ]).await?;
    let synced = roster.run(&["sync", "--org", ORG]).await?;
    let run =
        synced.stdout.split("Run ").last().and_then(|rest| rest.split('.').next()).context("the run's id in the sync's output")?.trim().to_owned();
    let issues = synced.stdout.lines().find_map(|l| l.strip_suffix(" issue(s):")).unwrap_or("0").trim().to_owned();
    println!("  synced {users} users in {:.1} s: {issues} issues, run {run}", synced.wall.as_secs_f64());
    child::stop(sim).await?;

    let port = free_port()?;
    let mut server = roster.spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], &location.scratch().join("serve.log"))?;
    let web = Web::new(port, ORG)?;
    web.wait_ready(&mut server, Duration::from_secs(60)).await?;
    let session = web.sign_in(OWNER, &password).await?;
    let auth = Auth::Session(&session);
    let base = format!("/settings/integrations/entra/runs/{run}");
    let pages = [
        ("first page", base.clone()),
        ("page 25", format!("{base}?page=25")),
        ("kind filter, page 3", format!("{base}?kind=manager_unresolved&page=3")),
        ("CSV, every issue", format!("{base}/issues.csv")),
    ];
    println!("  {:<22} {:>9} {:>9} {:>11}", "request", "p50 ms", "p99 ms", "bytes");
    for (name, path) in &pages {
        for _ in 0..10 {
            web.get(path, &auth).await?;
        }
        let (mut times, mut bytes) = (Vec::with_capacity(args.requests), 0);
        for _ in 0..args.requests {
            let timed = web.get(path, &auth).await?;
            times.push(timed.server_ms);
            bytes = timed.bytes;
        }
        let summary = summarize(&times);
        let page = !path.ends_with(".csv");
        let verdict = if !page {
            ""
        } else if summary.p99_ms < AIM_P99_MS && bytes < AIM_PAGE_BYTES {
            "  (aims met)"
        } else {
            "  (aim missed)"
        };
        println!("  {name:<22} {:>9.2} {:>9.2} {bytes:>11}{verdict}", summary.p50_ms, summary.p99_ms);
    }
    child::stop(server).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for which in args.backend.pick(args.database_url.as_deref())? {
        let location = Location::open(which, args.database_url.as_deref()).await?;
        let result = one_backend(&location, &args).await;
        location.close().await?;
        result?;
    }
    Ok(())
}
