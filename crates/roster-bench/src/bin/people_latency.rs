//! Latency of the Individuals page and of `GET /api/v1/users` over an organisation of 100,000
//! people, on SQLite and PostgreSQL: `roster serve` runs as a child, and sequential requests
//! with a mix of filters record the server's own time (its `Server-Timing` header) and the
//! client's round trip.
//!
//!     scripts/test cargo run --release -p roster-bench --bin people_latency -- --people 100000

#[path = "../common/mod.rs"]
#[allow(dead_code)] // each program uses part of what the programs share
mod common;

use anyhow::{bail, Context};
use clap::Parser;
use common::backend::{Location, Which};
use common::child::{self, Roster};
use common::population::{search_prefixes, Rng};
use common::stats::{summarize, Summary};
use common::web::{Auth, Web};
use common::{mb, secs, ORG, OWNER};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The aim for the server's 99th percentile, per endpoint.
const AIM_P99_MS: f64 = 20.0;
const PAGE_SIZE: u64 = 50;
/// Deep-ish pages: up to the 200th (offset 9,950).
const DEEPEST_PAGE: usize = 200;

#[derive(Parser)]
#[command(about = "Server and client latency of the Individuals page and the users API, per backend")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    people: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Import this CSV instead of a generated one.
    #[arg(long)]
    file: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    /// A PostgreSQL server; a fresh database is created on it and dropped afterwards.
    #[arg(long, env = "ROSTER_TEST_DATABASE_URL")]
    database_url: Option<String>,
    /// Measure an existing SQLite data directory that has the organisation `bench` (with --owner-password).
    #[arg(long, requires = "owner_password", conflicts_with = "existing_database_url")]
    data_dir: Option<PathBuf>,
    /// Measure an existing PostgreSQL database that has the organisation `bench` (with --owner-password).
    #[arg(long, requires = "owner_password")]
    existing_database_url: Option<String>,
    /// The password `roster org create` printed for owner@bench.example.
    #[arg(long)]
    owner_password: Option<String>,
    /// Measured requests per endpoint.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Requests per endpoint before measuring, not counted.
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    #[arg(long = "bin", default_value = "target/release/roster")]
    bin: PathBuf,
    /// PostgreSQL: VACUUM ANALYZE before measuring, as autovacuum would some time after the
    /// import; without it the figures are those of the moments right after an import.
    #[arg(long)]
    vacuum_first: bool,
    /// The whole run stops with an error after this long.
    #[arg(long, default_value_t = 3600)]
    max_secs: u64,
    /// Measure the sorts instead: every column, each direction, with no filter, a team filter
    /// and a one-letter prefix.
    #[arg(long)]
    sorted: bool,
}

/// The mix every endpoint gets, in turn. After a CSV import everybody is `invited` (nobody has
/// set a password), so `status=active` matches almost nobody while `status=invited` matches
/// everybody: both are measured, as they stress different things.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    All,
    Prefix,
    Active,
    Invited,
    Team,
    Page,
    /// A sort column (index into `SORTS`) under one of `SORT_FILTERS`.
    Sorted(usize, usize),
}

const SORTS: [&str; 6] = ["name", "email", "job_title", "team", "role", "status"];
const SORT_FILTERS: [&str; 3] = ["no filter", "team", "one letter"];

const KINDS: [Kind; 6] = [Kind::All, Kind::Prefix, Kind::Active, Kind::Invited, Kind::Team, Kind::Page];

impl Kind {
    fn name(self) -> String {
        match self {
            Kind::Sorted(sort, filter) => format!("{} / {}", SORTS[sort], SORT_FILTERS[filter]),
            other => other.plain_name().to_owned(),
        }
    }

    fn plain_name(self) -> &'static str {
        match self {
            Kind::Sorted(..) => "sorted",
            Kind::All => "no filter",
            Kind::Prefix => "q=prefix",
            Kind::Active => "status=active",
            Kind::Invited => "status=invited",
            Kind::Team => "team",
            Kind::Page => "page 2..200",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Page,
    Api,
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `n` sorted requests for one endpoint: each column and direction in turn, under no
/// filter, a team, or a one-letter prefix (the widest prefix search).
fn sorted_plan(endpoint: Endpoint, n: usize, seed: u64, teams: &[String]) -> Vec<(Kind, String)> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let (sort, filter) = (i % SORTS.len(), (i / SORTS.len()) % SORT_FILTERS.len());
            let descending = (i / (SORTS.len() * SORT_FILTERS.len())) % 2 == 1;
            let letter = char::from(b'a' + rng.below(26) as u8);
            let team = &teams[rng.below(teams.len())];
            let (filter_param, order) = match endpoint {
                Endpoint::Page => (["", "team=", "q="][filter], if descending { "&dir=desc" } else { "" }),
                Endpoint::Api => (["", "team_id=", "q="][filter], if descending { "&order=desc" } else { "" }),
            };
            let value = match filter {
                0 => String::new(),
                1 => team.clone(),
                _ => letter.to_string(),
            };
            let sep = if filter == 0 { "" } else { "&" };
            let path = match endpoint {
                Endpoint::Page => format!("/people?sort={}{order}{sep}{filter_param}{value}", SORTS[sort]),
                Endpoint::Api => format!("/api/v1/users?sort={}{order}{sep}{filter_param}{value}&limit={PAGE_SIZE}", SORTS[sort]),
            };
            (Kind::Sorted(sort, filter), path)
        })
        .collect()
}

/// The `n` request paths for one endpoint, deterministic for a seed.
fn plan(endpoint: Endpoint, n: usize, seed: u64, teams: &[String]) -> Vec<(Kind, String)> {
    let prefixes = search_prefixes(seed, n);
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let page = 2 + rng.below(DEEPEST_PAGE - 1) as u64;
            let team = &teams[rng.below(teams.len())];
            let (filter, offset) = match (kind, endpoint) {
                (Kind::All, _) => (String::new(), 0),
                (Kind::Prefix, _) => (format!("q={}", enc(&prefixes[i])), 0),
                (Kind::Active, _) => ("status=active".into(), 0),
                (Kind::Invited, _) => ("status=invited".into(), 0),
                (Kind::Team, Endpoint::Page) => (format!("team={team}"), 0),
                (Kind::Team, Endpoint::Api) => (format!("team_id={team}"), 0),
                (Kind::Page, Endpoint::Page) => (format!("page={page}"), 0),
                (Kind::Page, Endpoint::Api) => (String::new(), (page - 1) * PAGE_SIZE),
                // Not in KINDS: the sorted plan builds its own.
                (Kind::Sorted(..), _) => (String::new(), 0),
            };
            let path = match endpoint {
                Endpoint::Page if filter.is_empty() => "/people".to_owned(),
                Endpoint::Page => format!("/people?{filter}"),
                Endpoint::Api => {
                    let sep = if filter.is_empty() { "" } else { "&" };
                    format!("/api/v1/users?{filter}{sep}limit={PAGE_SIZE}&offset={offset}")
                }
            };
            (kind, path)
        })
        .collect()
}

struct Measured {
    server: Summary,
    client: Summary,
    by_kind: BTreeMap<Kind, Summary>,
    mean_bytes: usize,
}

async fn measure(web: &Web, auth: &Auth<'_>, warmup: &[(Kind, String)], paths: &[(Kind, String)], deadline: Instant) -> anyhow::Result<Measured> {
    for (_, path) in warmup {
        web.get(path, auth).await?;
    }
    let (mut server, mut client, mut bytes) = (Vec::new(), Vec::new(), 0);
    let mut by_kind: BTreeMap<Kind, Vec<f64>> = BTreeMap::new();
    for (kind, path) in paths {
        if Instant::now() > deadline {
            bail!("out of time (--max-secs) after {} requests", server.len());
        }
        let timed = web.get(path, auth).await?;
        server.push(timed.server_ms);
        client.push(timed.client_ms);
        by_kind.entry(*kind).or_default().push(timed.server_ms);
        bytes += timed.bytes;
    }
    Ok(Measured {
        server: summarize(&server),
        client: summarize(&client),
        by_kind: by_kind.into_iter().map(|(k, v)| (k, summarize(&v))).collect(),
        mean_bytes: bytes / paths.len().max(1),
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Create the organisation and import the people; the owner's password.
async fn populate(roster: &Roster, file: &str) -> anyhow::Result<String> {
    let created = roster.run(&["org", "create", ORG, "--name", "Bench", "--owner", OWNER]).await?;
    let password = child::field(&created.stdout, "Password:")?;
    let import = roster.run(&["import", "csv", "--org", ORG, file]).await?;
    println!("  imported in {:.2} s: {}", import.wall.as_secs_f64(), import.stdout.trim());
    Ok(password)
}

async fn one_backend(location: &Location, args: &Args, file: &str, deadline: Instant) -> anyhow::Result<serde_json::Value> {
    let label = location.label;
    println!("{label}:");
    let roster = Roster { bin: args.bin.clone(), env: location.env.clone(), timeout: Duration::from_secs(args.max_secs) };
    let password = match &args.owner_password {
        Some(p) if args.data_dir.is_some() || args.existing_database_url.is_some() => p.clone(),
        _ => populate(&roster, file).await?,
    };
    let key = roster.run(&["apikey", "create", "--org", ORG, "--name", "bench"]).await?.stdout.trim().to_owned();
    if args.vacuum_first && location.vacuum().await? {
        println!("  VACUUM ANALYZE done before measuring");
    }

    let port = free_port()?;
    let log = location.scratch().join("serve.log");
    let mut server = roster.spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], &log)?;
    let web = Web::new(port, ORG)?;
    let result = async {
        web.wait_ready(&mut server, Duration::from_secs(60)).await?;
        let session = web.sign_in(OWNER, &password).await?;
        let teams: serde_json::Value = serde_json::from_str(&web.get("/api/v1/teams", &Auth::Key(&key)).await?.body)?;
        let teams: Vec<String> = teams["data"].as_array().into_iter().flatten().filter_map(|t| t["id"].as_str().map(str::to_owned)).collect();
        anyhow::ensure!(!teams.is_empty(), "the organisation has no teams to filter by");
        let everyone: serde_json::Value = serde_json::from_str(&web.get("/api/v1/users?limit=1", &Auth::Key(&key)).await?.body)?;
        println!("  {} people, {} teams; {} requests per endpoint after {} not counted", everyone["total"], teams.len(), args.requests, args.warmup);

        let mut endpoints = Vec::new();
        for (endpoint, name, auth) in [(Endpoint::Page, "GET /o/bench/people", Auth::Session(&session)), (Endpoint::Api, "GET /o/bench/api/v1/users", Auth::Key(&key))] {
            let make = if args.sorted { sorted_plan } else { plan };
            let warmup = make(endpoint, args.warmup, args.seed ^ 0xA11CE, &teams);
            let paths = make(endpoint, args.requests, args.seed, &teams);
            let m = measure(&web, &auth, &warmup, &paths, deadline).await?;
            let met = m.server.p99_ms < AIM_P99_MS;
            println!(
                "  {name:<26} server p50 {:>7.2}  p90 {:>7.2}  p99 {:>7.2}  max {:>7.2} ms | client p50 {:>7.2}  p99 {:>7.2} ms | {} B | aim p99 < {AIM_P99_MS} ms: {}",
                m.server.p50_ms, m.server.p90_ms, m.server.p99_ms, m.server.max_ms, m.client.p50_ms, m.client.p99_ms, m.mean_bytes,
                if met { "met" } else { "MISSED" }
            );
            for (kind, s) in &m.by_kind {
                println!("      {:<24} n {:>4}  p50 {:>7.2}  p90 {:>7.2}  p99 {:>7.2}  max {:>7.2} ms", kind.name(), s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms);
            }
            let by_kind: serde_json::Map<String, serde_json::Value> = m.by_kind.iter().map(|(k, s)| Ok((k.name(), serde_json::to_value(s)?))).collect::<anyhow::Result<_>>()?;
            endpoints.push(serde_json::json!({
                "endpoint": name, "server": m.server, "client": m.client, "server_by_filter": by_kind,
                "mean_bytes": m.mean_bytes, "aim_met": met,
            }));
        }
        let server_peak = server.id().and_then(child::vm_hwm_kib);
        println!("  server peak RSS {}", server_peak.map_or_else(|| "?".into(), |k| format!("{:.1} MB", mb(k))));
        anyhow::Ok(serde_json::json!({ "backend": label, "endpoints": endpoints, "server_peak_rss_mb": server_peak.map(mb) }))
    }
    .await;
    child::stop(server).await?;
    result.with_context(|| format!("the server's log: {}", log.display()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_secs);
    anyhow::ensure!(args.bin.is_file(), "no roster binary at {} (cargo build --release -p roster, or pass --bin)", args.bin.display());
    let existing: Vec<Location> = match (&args.data_dir, &args.existing_database_url) {
        (Some(dir), _) => vec![Location::existing("sqlite", vec![("ROSTER_DATA_DIR".into(), dir.to_string_lossy().into_owned())])?],
        (None, Some(url)) => vec![Location::existing("postgres", vec![("ROSTER_DATABASE_URL".into(), url.clone())])?],
        (None, None) => Vec::new(),
    };
    let scratch = tempfile::Builder::new().prefix("roster-bench-latency.").tempdir()?;
    let file = match &args.file {
        Some(file) => file.canonicalize().with_context(|| format!("reading {}", file.display()))?,
        None => scratch.path().join("people.csv"),
    };
    if args.file.is_none() && existing.is_empty() {
        common::population::write_csv(&file, args.people, args.seed)?;
    }
    let file = file.to_string_lossy().into_owned();
    let mut results = Vec::new();
    if existing.is_empty() {
        for which in args.backend.pick(args.database_url.as_deref())? {
            let location = Location::open(which, args.database_url.as_deref()).await?;
            let result = one_backend(&location, &args, &file, deadline).await;
            // The database goes whatever happened, so a failed run leaves nothing on the server.
            let closed = location.close().await;
            results.push(result?);
            closed?;
        }
    } else {
        for location in existing {
            results.push(one_backend(&location, &args, &file, deadline).await?);
        }
    }
    let json = serde_json::json!({
        "bench": "people_latency",
        "requests_per_endpoint": args.requests,
        "warmup": args.warmup,
        "vacuum_first": args.vacuum_first,
        "aim_p99_ms": AIM_P99_MS,
        "sorted": args.sorted,
        "seconds": secs(started.elapsed()),
        "results": results,
    });
    println!("{json}");
    Ok(())
}
