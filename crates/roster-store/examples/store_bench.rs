//! Measures the store at scale: a 100,000-person import, a manager run over everyone, a
//! snapshot, and search latency. A program, not a test: timings depend on the machine.
//!
//! cargo run --release -p roster-store --example store_bench -- sqlite /tmp/roster-bench [people]
//! cargo run --release -p roster-store --example store_bench -- postgres postgres://.../db [people]
//!
//! With `search` instead of a number, only the searches run again, on the last bench
//! organisation: their latency once the database has settled after the import.

use chrono::Utc;
use roster_core::plan::NewPerson;
use roster_core::query::{PersonFilter, PersonQuery};
use roster_core::{Actor, Change, Email, Org, OrgId, OrgSlug, Plan, Profile, Role, Status, TeamId, TeamName, UserId};
use roster_store::Location;
use std::time::{Duration, Instant};
use uuid::Uuid;

const FIRST: &[&str] = &[
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Karen", "Linus", "Margaret", "Niklaus", "Radia", "Tim", "Sophie",
    "Ken", "Dennis", "Bjarne", "Guido", "Anita",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Jones",
    "Torvalds",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Lee",
    "Wilson",
    "Thompson",
    "Ritchie",
    "Stroustrup",
    "Rossum",
    "Borg",
];

/// The filter of the i-th query of a case.
type FilterFor = Box<dyn Fn(usize) -> Option<PersonFilter>>;

/// A small deterministic generator, so every run measures the same data.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        usize::try_from((self.0 >> 33) % below as u64).unwrap_or(0)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (backend, target) = (args.get(1).cloned().unwrap_or_default(), args.get(2).cloned().unwrap_or_default());
    let search_only = args.get(3).is_some_and(|a| a == "search");
    let count: usize = if search_only { 0 } else { args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(100_000) };
    let location = match backend.as_str() {
        "sqlite" => Location::DataDir(target.into()),
        "postgres" => Location::Postgres(target),
        _ => return Err("usage: store_bench sqlite <dir> | postgres <url> [people]".into()),
    };
    let store = roster_store::open(&location).await?;
    store.migrate().await?;
    if search_only {
        let Some(org) = store.list_orgs().await?.into_iter().filter(|o| o.slug.as_str().starts_with("bench-")).max_by_key(|o| o.created_at) else {
            return Err("no bench organisation yet".into());
        };
        let teams = store.teams(org.id).await?.into_iter().map(|t| t.team.id).collect::<Vec<_>>();
        return searches(store.as_ref(), org.id, &teams).await;
    }
    let org = OrgId::from_uuid(Uuid::now_v7());
    let slug = format!("bench-{}", &Uuid::now_v7().simple().to_string()[20..]);
    store.create_org(&Org { id: org, slug: OrgSlug::parse(&slug)?, name: "Bench".into(), created_at: Utc::now() }).await?;

    let mut rng = Lcg(42);
    let teams: Vec<TeamId> = (0..50).map(|_| TeamId::from_uuid(Uuid::now_v7())).collect();
    let mut import = Plan::new(org, Actor::Cli);
    for (i, team) in teams.iter().enumerate() {
        import.changes.push(Change::CreateTeam { id: *team, name: TeamName::parse(&format!("Team {i}"))? });
    }
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let id = UserId::from_uuid(Uuid::now_v7());
        ids.push(id);
        let (first, last) = (FIRST[rng.next(FIRST.len())], LAST[rng.next(LAST.len())]);
        let status = match rng.next(100) {
            0..=84 => Status::Active,
            85..=94 => Status::Invited,
            _ => Status::Deactivated,
        };
        let role = match rng.next(100) {
            0..=89 => Role::Learner,
            90..=97 => Role::Manager,
            _ => Role::Admin,
        };
        let profile = Profile {
            first_name: first.into(),
            last_name: format!("{last}{}", i % 1000),
            department: Some("Engineering".into()),
            ..Profile::default()
        };
        let person = NewPerson {
            id,
            email: Email::parse(&format!("{}.{last}.{i}@bench.example", first.to_lowercase()))?,
            profile,
            role,
            status,
            primary_team: Some(teams[rng.next(teams.len())]),
            source: None,
        };
        import.changes.push(Change::CreatePerson { person: Box::new(person) });
    }
    let started = Instant::now();
    store.apply(&import, Utc::now()).await?;
    println!("apply {count} CreatePerson (+{count} audit, +{count} events): {:?}", started.elapsed());

    let mut managers = Plan::new(org, Actor::Cli);
    for (i, id) in ids.iter().enumerate().skip(1) {
        managers.changes.push(Change::SetManager { id: *id, before: None, after: Some(ids[i / 10]) });
    }
    for id in ids.iter().step_by(5) {
        managers.changes.push(Change::AddSecondaryTeam { id: *id, team: teams[rng.next(teams.len())] });
    }
    let started = Instant::now();
    store.apply(&managers, Utc::now()).await?;
    println!("apply {} SetManager + AddSecondaryTeam: {:?}", managers.changes.len(), started.elapsed());

    for _ in 0..2 {
        let started = Instant::now();
        let snapshot = store.snapshot(org).await?;
        println!("snapshot of {} people, {} teams: {:?}", snapshot.people.len(), snapshot.teams.len(), started.elapsed());
    }

    searches(store.as_ref(), org, &teams).await
}

async fn searches(store: &dyn roster_store::Store, org: OrgId, teams: &[TeamId]) -> Result<(), Box<dyn std::error::Error>> {
    let team = teams[teams.len() / 2];
    let cases: Vec<(&str, FilterFor)> = vec![
        ("no filter", Box::new(|_| None)),
        ("status active", Box::new(|_| Some(PersonFilter::Status(Status::Active)))),
        ("status deactivated", Box::new(|_| Some(PersonFilter::Status(Status::Deactivated)))),
        ("role admin", Box::new(|_| Some(PersonFilter::Role(Role::Admin)))),
        ("team (primary or secondary)", Box::new(move |_| Some(PersonFilter::Team(team)))),
        ("team and active", Box::new(move |_| Some(PersonFilter::And(vec![PersonFilter::Team(team), PersonFilter::Status(Status::Active)])))),
        ("text prefix (2-4 letters)", Box::new(|i| Some(PersonFilter::TextPrefix(FIRST[i % FIRST.len()].chars().take(2 + i % 3).collect())))),
        ("text prefix (1 letter)", Box::new(|i| Some(PersonFilter::TextPrefix(FIRST[i % FIRST.len()].chars().take(1).collect())))),
        ("text prefix of a last name", Box::new(|i| Some(PersonFilter::TextPrefix(format!("{}{}", LAST[i % LAST.len()], i % 10))))),
        (
            "text prefix and active",
            Box::new(|i| {
                Some(PersonFilter::And(vec![PersonFilter::TextPrefix(LAST[i % LAST.len()][..3].to_owned()), PersonFilter::Status(Status::Active)]))
            }),
        ),
    ];
    for (name, filter) in &cases {
        let mut times: Vec<Duration> = Vec::new();
        let mut total = 0;
        for i in 0..200 {
            let query = PersonQuery::new(filter(i), 0, 50);
            let started = Instant::now();
            let page = store.search_people(org, &query).await?;
            times.push(started.elapsed());
            total = page.total.unwrap_or_default();
        }
        times.sort();
        println!("search {name:<30} (total {total:>6}): p50 {:>8.2?}  p99 {:>8.2?}", times[times.len() / 2], times[times.len() * 99 / 100]);
    }
    let started = Instant::now();
    let counts = store.count_people(org).await?;
    println!("count_people {counts:?}: {:?}", started.elapsed());
    let started = Instant::now();
    let teams = store.teams(org).await?;
    println!("teams ({}): {:?}", teams.len(), started.elapsed());
    Ok(())
}
