//! Two whole-directory operations at 100,000 people, on SQLite and PostgreSQL: downloading
//! every person as CSV from Individuals (time, and the server's memory during it, for a small
//! and the full selection), and one bulk deactivation of about 10,000 people (one plan) from
//! the bulk form. `roster serve` runs as a child; its resident memory is sampled every 20 ms.
//!
//!     scripts/test cargo run --release -p roster-bench --bin people_export_bulk -- --people 100000

#[path = "../common/mod.rs"]
#[allow(dead_code)] // each program uses part of what the programs share
mod common;

use anyhow::{ensure, Context};
use clap::Parser;
use common::backend::{Location, Which};
use common::child::{self, Roster};
use common::web::{Auth, Web};
use common::{secs, ORG, OWNER};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AIM_EXPORT_SECS: f64 = 3.0;

#[derive(Parser)]
#[command(about = "CSV export of every person, and a bulk deactivation of about 10,000, per backend")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    people: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    #[arg(long, env = "ROSTER_TEST_DATABASE_URL")]
    database_url: Option<String>,
    /// How many people the bulk deactivation aims at (the nearest name prefix is taken).
    #[arg(long, default_value_t = 10_000)]
    bulk: u64,
    #[arg(long = "bin", default_value = "target/release/roster")]
    bin: PathBuf,
    #[arg(long, default_value_t = 3600)]
    max_secs: u64,
}

/// Resident memory of a process, in KiB.
fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Samples a process's resident memory until stopped: (before, peak) in MB.
struct RssWatch {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    before: u64,
    thread: std::thread::JoinHandle<()>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let before = vm_rss_kib(pid).unwrap_or(0);
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(before)));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = vm_rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssWatch { stop, peak, before, thread }
    }

    fn finish(self) -> (f64, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        (self.before as f64 / 1024.0, self.peak.load(Ordering::Relaxed) as f64 / 1024.0)
    }
}

async fn one_backend(location: &Location, args: &Args, file: &str) -> anyhow::Result<serde_json::Value> {
    let label = location.label;
    println!("{label}:");
    let roster = Roster { bin: args.bin.clone(), env: location.env.clone(), timeout: Duration::from_secs(args.max_secs) };
    let created = roster.run(&["org", "create", ORG, "--name", "Bench", "--owner", OWNER]).await?;
    let password = child::field(&created.stdout, "Password:")?;
    let import = roster.run(&["import", "csv", "--org", ORG, file]).await?;
    println!("  imported in {:.2} s", import.wall.as_secs_f64());
    let key = roster.run(&["apikey", "create", "--org", ORG, "--name", "bench"]).await?.stdout.trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = location.scratch().join("serve.log");
    let mut server = roster.spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], &log)?;
    let web = Web::new(port, ORG)?;
    let result = async {
        web.wait_ready(&mut server, Duration::from_secs(60)).await?;
        let pid = server.id().context("the server has no pid")?;
        let session = web.sign_in(OWNER, &password).await?;
        let total = |filter: String| {
            let (web, key) = (&web, key.clone());
            async move {
                let page: serde_json::Value = serde_json::from_str(&web.get(&format!("/api/v1/users?limit=1{filter}"), &Auth::Key(&key)).await?.body)?;
                anyhow::Ok(page["total"].as_u64().unwrap_or(0))
            }
        };

        // Exports: a small selection (one two-letter prefix), then everyone.
        let mut exports = Vec::new();
        for (what, query) in [("one prefix", "?q=ma"), ("everyone", "")] {
            let watch = RssWatch::start(pid);
            let started = Instant::now();
            let got = web.get(&format!("/people.csv{query}"), &Auth::Session(&session)).await?;
            let wall = started.elapsed();
            let (before, peak) = watch.finish();
            let rows = got.body.lines().count().saturating_sub(1);
            let met = what != "everyone" || wall.as_secs_f64() < AIM_EXPORT_SECS;
            println!(
                "  export {what:<11} {rows:>7} rows  {:>6.2} s  {:>6.1} MB  server RSS {before:.1} MB → peak {peak:.1} MB (+{:.1}){}",
                wall.as_secs_f64(),
                got.bytes as f64 / 1e6,
                peak - before,
                if what == "everyone" { format!(" | aim < {AIM_EXPORT_SECS} s: {}", if met { "met" } else { "MISSED" }) } else { String::new() }
            );
            exports.push(serde_json::json!({ "selection": what, "rows": rows, "seconds": secs(wall), "bytes": got.bytes,
                "server_rss_before_mb": before, "server_rss_peak_mb": peak, "aim_met": met }));
        }

        // A bulk deactivation of about `--bulk` people: the prefix whose count is nearest.
        let mut best = (String::new(), 0u64);
        for a in b'a'..=b'z' {
            for b in [b'a', b'e', b'i', b'o', b'u'] {
                let prefix = format!("{}{}", char::from(a), char::from(b));
                let n = total(format!("&q={prefix}")).await?;
                if n.abs_diff(args.bulk) < best.1.abs_diff(args.bulk) || best.0.is_empty() {
                    best = (prefix, n);
                }
            }
            let single = char::from(a).to_string();
            let n = total(format!("&q={single}")).await?;
            if n.abs_diff(args.bulk) < best.1.abs_diff(args.bulk) {
                best = (single, n);
            }
        }
        let (prefix, expected) = best;
        let fields = [
            ("scope", "matching".to_owned()),
            ("action", "deactivate".to_owned()),
            ("q", prefix.clone()),
            ("expected", expected.to_string()),
            ("confirm", "yes".to_owned()),
        ];
        let watch = RssWatch::start(pid);
        let (status, timed) = web.post_form("/people", "/people/bulk/apply", &session, &fields).await?;
        let (before, peak) = watch.finish();
        ensure!(status.is_redirection(), "the bulk deactivation answered {status}: {}", timed.body.chars().take(300).collect::<String>());
        let deactivated = total("&status=deactivated".into()).await?;
        println!(
            "  bulk deactivate q={prefix}: {deactivated} of {expected} deactivated in {:.2} s (server {:.0} ms)  server RSS {before:.1} MB → peak {peak:.1} MB (+{:.1})",
            timed.client_ms / 1000.0,
            timed.server_ms,
            peak - before
        );
        anyhow::Ok(serde_json::json!({ "backend": label, "exports": exports,
            "bulk": { "prefix": prefix, "people": expected, "deactivated": deactivated, "seconds": timed.client_ms / 1000.0,
                      "server_rss_before_mb": before, "server_rss_peak_mb": peak } }))
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
    let scratch = tempfile::Builder::new().prefix("roster-bench-export.").tempdir()?;
    let file = scratch.path().join("people.csv");
    common::population::write_csv(&file, args.people, args.seed)?;
    let file = file.to_string_lossy().into_owned();
    let mut results = Vec::new();
    for which in args.backend.pick(args.database_url.as_deref())? {
        let location = Location::open(which, args.database_url.as_deref()).await?;
        let result = one_backend(&location, &args, &file).await;
        let closed = location.close().await;
        results.push(result?);
        closed?;
    }
    println!(
        "{}",
        serde_json::json!({ "bench": "people_export_bulk", "people": args.people, "seconds": secs(started.elapsed()), "results": results })
    );
    Ok(())
}
