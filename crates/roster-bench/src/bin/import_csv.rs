//! The CSV import, timed and measured for peak memory, on SQLite and PostgreSQL: the real
//! `roster` binary imports a file into a fresh organisation, then imports it again (nothing
//! changes the second time).
//!
//!     scripts/test cargo run --release -p roster-bench --bin import_csv -- --people 100000

#[path = "../common/mod.rs"]
#[allow(dead_code)] // each program uses part of what the programs share
mod common;

use anyhow::Context;
use clap::Parser;
use common::backend::{Location, Which};
use common::child::{Outcome, Roster};
use common::{mb, secs, ORG, OWNER};
use std::path::PathBuf;
use std::time::Duration;

/// The aims stated for 100,000 people on the 2-core benchmark machine.
const AIM_SECONDS: f64 = 10.0;
const AIM_MB: f64 = 200.0;

#[derive(Parser)]
#[command(about = "Time the CSV import (first and repeated) and its peak memory, per backend")]
struct Args {
    /// A CSV to import; without it, one of --people people is generated with --seed.
    #[arg(long)]
    file: Option<PathBuf>,
    #[arg(long, default_value_t = 100_000)]
    people: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    /// A PostgreSQL server; a fresh database is created on it and dropped afterwards.
    #[arg(long, env = "ROSTER_TEST_DATABASE_URL")]
    database_url: Option<String>,
    /// The `roster` binary to run.
    #[arg(long = "bin", default_value = "target/release/roster")]
    bin: PathBuf,
    /// Any one `roster` command running longer than this is killed and the run fails.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
}

fn report(outcome: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "wall_s": secs(outcome.wall),
        "peak_rss_kib": outcome.peak_rss_kib,
        "peak_rss_mb": outcome.peak_rss_kib.map(mb),
        "output": outcome.stdout.trim(),
    })
}

fn rss_text(outcome: &Outcome) -> String {
    outcome.peak_rss_kib.map_or_else(|| "?".to_owned(), |k| format!("{:.1} MB", mb(k)))
}

async fn one_backend(which: Which, args: &Args, file: &str) -> anyhow::Result<serde_json::Value> {
    let location = Location::open(which, args.database_url.as_deref()).await?;
    let label = location.label;
    let roster = Roster { bin: args.bin.clone(), env: location.env.clone(), timeout: Duration::from_secs(args.timeout_secs) };
    let result = async {
        let setup = roster.run(&["org", "create", ORG, "--name", "Bench", "--owner", OWNER]).await?;
        let import = ["import", "csv", "--org", ORG, file];
        let first = roster.run(&import).await?;
        println!("{label:>8}  first import   {:>7.2} s  peak {:>9}  {}", first.wall.as_secs_f64(), rss_text(&first), first.stdout.trim());
        let again = roster.run(&import).await?;
        println!("{label:>8}  same file again {:>6.2} s  peak {:>9}  {}", again.wall.as_secs_f64(), rss_text(&again), again.stdout.trim());
        let first_mb = first.peak_rss_kib.map(mb);
        let met = first.wall.as_secs_f64() < AIM_SECONDS && first_mb.is_some_and(|m| m < AIM_MB);
        println!("{label:>8}  aim (< {AIM_SECONDS} s and < {AIM_MB} MB): {}", if met { "met" } else { "MISSED" });
        anyhow::Ok(serde_json::json!({
            "backend": label,
            "setup_s": secs(setup.wall),
            "first": report(&first),
            "second": report(&again),
            "aim_met": met,
        }))
    }
    .await;
    // The database goes whatever happened, so a failed run leaves nothing on the server.
    let closed = location.close().await;
    let value = result?;
    closed?;
    Ok(value)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let backends = args.backend.pick(args.database_url.as_deref())?;
    anyhow::ensure!(args.bin.is_file(), "no roster binary at {} (cargo build --release -p roster, or pass --bin)", args.bin.display());
    let scratch = tempfile::Builder::new().prefix("roster-bench-csv.").tempdir()?;
    let file = match &args.file {
        Some(file) => file.canonicalize().with_context(|| format!("reading {}", file.display()))?,
        None => {
            let file = scratch.path().join("people.csv");
            common::population::write_csv(&file, args.people, args.seed)?;
            file
        }
    };
    let rows = std::fs::read(&file)?.iter().filter(|&&b| b == b'\n').count().saturating_sub(1);
    println!("CSV import of {} ({rows} rows) with {}", file.display(), args.bin.display());
    let file_arg = file.to_string_lossy().into_owned();
    let mut results = Vec::new();
    for which in backends {
        results.push(one_backend(which, &args, &file_arg).await?);
    }
    let json = serde_json::json!({
        "bench": "import_csv",
        "rows": rows,
        "file": file_arg,
        "aim": { "seconds": AIM_SECONDS, "peak_rss_mb": AIM_MB },
        "results": results,
    });
    println!("{json}");
    Ok(())
}
