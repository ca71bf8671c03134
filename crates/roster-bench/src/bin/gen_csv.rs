//! Write a deterministic CSV of people in Roster's import format.
//!
//!     cargo run --release -p roster-bench --bin gen_csv -- --people 100000 --seed 1 --out people.csv

#[path = "../common/mod.rs"]
#[allow(dead_code)] // each program uses part of what the programs share
mod common;

use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Write a deterministic CSV of N people (same N and seed, same file)")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    people: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let written = common::population::write_csv(&args.out, args.people, args.seed)?;
    let took = started.elapsed();
    println!(
        "Wrote {} people in {} departments to {} ({:.1} MiB) in {:.2} s.",
        written.people,
        written.departments,
        args.out.display(),
        written.bytes as f64 / 1_048_576.0,
        took.as_secs_f64()
    );
    let json = serde_json::json!({
        "bench": "gen_csv",
        "people": written.people,
        "seed": args.seed,
        "departments": written.departments,
        "bytes": written.bytes,
        "out": args.out.display().to_string(),
        "seconds": common::secs(took),
    });
    println!("{json}");
    Ok(())
}
