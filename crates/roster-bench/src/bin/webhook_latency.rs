//! Webhook delivery: an organisation of 100,000 people deactivates about 1,000 of them in one
//! bulk action, and every resulting event is posted to a receiver on loopback; the time from
//! the event's moment to its arrival is measured per event. Meanwhile another organisation's
//! endpoint answers slowly (100 ms a request) to a bulk change of 10,000 people of its own: the
//! first organisation's deliveries must not wait for it, and the time the slow endpoint takes
//! to get all of its events is measured too. `roster serve` runs as a child.
//!
//!     scripts/test cargo run --release -p roster-bench --bin webhook_latency -- --people 100000

#[path = "../common/mod.rs"]
#[allow(dead_code)] // each program uses part of what the programs share
mod common;

use anyhow::{ensure, Context};
use axum::extract::State;
use clap::Parser;
use common::backend::{Location, Which};
use common::child::{self, Roster};
use common::stats::summarize;
use common::web::{Auth, Web};
use common::{secs, ORG, OWNER};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Event-to-delivery latency of webhooks, beside a slow endpoint of another organisation")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    people: usize,
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
    /// People of the other organisation, all deactivated at once towards its slow endpoint.
    #[arg(long, default_value_t = 10_000)]
    slow_people: usize,
}

/// Arrival times (ms since the epoch) with the event's own time, per receiver.
type Arrivals = Arc<Mutex<Vec<(f64, f64)>>>;

async fn receiver(delay: Duration) -> anyhow::Result<(String, Arrivals)> {
    let got: Arrivals = Arc::default();
    let route = move |State(got): State<Arrivals>, body: String| async move {
        let arrived = chrono::Utc::now().timestamp_micros() as f64 / 1000.0;
        let payload: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let occurred = payload["data"]["occurred_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if let Some(occurred) = occurred {
            got.lock().map(|mut g| g.push((arrived, occurred.timestamp_micros() as f64 / 1000.0))).ok();
        }
        tokio::time::sleep(delay).await;
        axum::http::StatusCode::NO_CONTENT
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(route)).with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, got))
}

async fn one_backend(location: &Location, args: &Args, file: &str) -> anyhow::Result<serde_json::Value> {
    let label = location.label;
    println!("{label}:");
    let mut env = location.env.clone();
    env.push(("ROSTER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES".into(), "true".into()));
    let roster = Roster { bin: args.bin.clone(), env, timeout: Duration::from_secs(args.max_secs) };
    let created = roster.run(&["org", "create", ORG, "--name", "Bench", "--owner", OWNER]).await?;
    let password = child::field(&created.stdout, "Password:")?;
    roster.run(&["import", "csv", "--org", ORG, file]).await?;
    let other = roster.run(&["org", "create", "other", "--name", "Other", "--owner", "owner@other.example"]).await?;
    let other_password = child::field(&other.stdout, "Password:")?;
    let small = location.scratch().join("other.csv");
    let mut csv = String::from("email,first_name,last_name\n");
    for n in 0..args.slow_people {
        csv.push_str(&format!("p{n}@other.example,P{n},Other\n"));
    }
    std::fs::write(&small, csv)?;
    roster.run(&["import", "csv", "--org", "other", small.to_str().context("path")?]).await?;

    let (fast_url, fast) = receiver(Duration::ZERO).await?;
    let (slow_url, slow) = receiver(Duration::from_millis(100)).await?;
    roster.run(&["webhook", "add", "--org", ORG, "--url", &fast_url]).await?;
    roster.run(&["webhook", "add", "--org", "other", "--url", &slow_url]).await?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = location.scratch().join("serve.log");
    let mut server = roster.spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], &log)?;
    let web = Web::new(port, ORG)?;
    let other_web = Web::new(port, "other")?;
    let result = async {
        web.wait_ready(&mut server, Duration::from_secs(60)).await?;
        let session = web.sign_in(OWNER, &password).await?;
        let other_session = other_web.sign_in("owner@other.example", &other_password).await?;
        // The slow organisation first: all of them deactivated, 100 ms an event at its endpoint.
        let slow_started = Instant::now();
        let fields = [("scope", "matching".to_owned()), ("action", "deactivate".to_owned()), ("q", "p".to_owned()), ("confirm", "yes".to_owned())];
        let (status, _) = other_web.post_form("/people", "/people/bulk/apply", &other_session, &fields).await?;
        ensure!(status.is_redirection(), "the other organisation's bulk action answered {status}");
        // Then about 1,000 of the measured organisation's people.
        let fields = [("scope", "matching".to_owned()), ("action", "deactivate".to_owned()), ("q", "ab".to_owned()), ("confirm", "yes".to_owned())];
        let started = Instant::now();
        let (status, _) = web.post_form("/people", "/people/bulk/apply", &session, &fields).await?;
        ensure!(status.is_redirection(), "the bulk action answered {status}");
        let key = roster.run(&["apikey", "create", "--org", ORG, "--name", "bench"]).await?.stdout.trim().to_owned();
        let page: serde_json::Value = serde_json::from_str(&web.get("/api/v1/users?status=deactivated&limit=1", &Auth::Key(&key)).await?.body)?;
        let expected = page["total"].as_u64().unwrap_or(0) as usize;
        let deadline = Instant::now() + Duration::from_secs(300);
        while fast.lock().map(|g| g.len()).unwrap_or(0) < expected {
            ensure!(Instant::now() < deadline, "only {} of {expected} events arrived", fast.lock().map(|g| g.len()).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all_in = started.elapsed();
        let latencies: Vec<f64> = fast.lock().map(|g| g.iter().map(|(arrived, occurred)| arrived - occurred).collect()).unwrap_or_default();
        let s = summarize(&latencies);
        let slow_so_far = slow.lock().map(|g| g.len()).unwrap_or(0);
        println!(
            "  {expected} events from one bulk deactivation: all delivered {:.2} s after the request ({:.0} events/s); event → arrival p50 {:.1} ms, p90 {:.1}, p99 {:.1}, max {:.1} ms",
            all_in.as_secs_f64(),
            expected as f64 / all_in.as_secs_f64(),
            s.p50_ms,
            s.p90_ms,
            s.p99_ms,
            s.max_ms
        );
        println!("  meanwhile the other organisation's slow endpoint (100 ms a request) had received {slow_so_far} of its {} events", args.slow_people);

        // The feed, read from the start in pages of 1,000 (the import's 100,000 events and more), twice.
        let mut server_ms = Vec::new();
        for _ in 0..2 {
            let mut after: Option<String> = None;
            loop {
                let path = match &after {
                    Some(cursor) => format!("/api/v1/events?limit=1000&after={cursor}"),
                    None => "/api/v1/events?limit=1000".to_owned(),
                };
                let timed = web.get(&path, &Auth::Key(&key)).await?;
                server_ms.push(timed.server_ms);
                let page: serde_json::Value = serde_json::from_str(&timed.body)?;
                after = page["next_cursor"].as_str().map(str::to_owned);
                if page["has_more"] != true {
                    break;
                }
            }
        }
        let feed = summarize(&server_ms);
        // The slow endpoint's whole bulk change: every deactivation delivered, at 100 ms a request.
        let deadline = Instant::now() + Duration::from_secs(args.max_secs);
        while slow.lock().map(|g| g.len()).unwrap_or(0) < args.slow_people {
            ensure!(Instant::now() < deadline, "the slow endpoint got only {} of {} events", slow.lock().map(|g| g.len()).unwrap_or(0), args.slow_people);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let slow_all_in = slow_started.elapsed();
        println!(
            "  the slow endpoint had all {} deactivations {:.1} s after its bulk action ({:.0} events/s at 100 ms a request)",
            args.slow_people,
            slow_all_in.as_secs_f64(),
            args.slow_people as f64 / slow_all_in.as_secs_f64()
        );
        println!(
            "  events feed, {} pages of 1,000: server p50 {:.2} ms, p90 {:.2}, p99 {:.2}, max {:.2} ms | aim p99 < 20 ms: {}",
            feed.count,
            feed.p50_ms,
            feed.p90_ms,
            feed.p99_ms,
            feed.max_ms,
            if feed.p99_ms < 20.0 { "met" } else { "MISSED" }
        );
        anyhow::Ok(serde_json::json!({ "backend": label, "events": expected, "seconds": secs(all_in), "latency": s, "slow_endpoint_received": slow_so_far, "slow_endpoint_all_seconds": secs(slow_all_in), "feed_page_1000": feed }))
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
    let scratch = tempfile::Builder::new().prefix("roster-bench-webhooks.").tempdir()?;
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
    println!("{}", serde_json::json!({ "bench": "webhook_latency", "people": args.people, "seconds": secs(started.elapsed()), "results": results }));
    Ok(())
}
