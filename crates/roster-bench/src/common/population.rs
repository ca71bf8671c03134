//! A deterministic population in Roster's CSV import format. The generator carries its own
//! small PRNG so the same `--people` and `--seed` give the same file on every machine and
//! with every version of every dependency: figures taken months apart stay comparable.

use anyhow::Context;
use chrono::{Days, NaiveDate};
use std::path::Path;

/// SplitMix64: tiny, fast, and fully specified here, which is all a data generator needs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; `n` must not be zero.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// 40 departments; each becomes a team on import.
pub const DEPARTMENTS: [&str; 40] = [
    "Engineering",
    "Sales",
    "Customer Support",
    "Marketing",
    "Operations",
    "Finance",
    "Human Resources",
    "Product",
    "Design",
    "Legal",
    "Research",
    "Quality Assurance",
    "Logistics",
    "Procurement",
    "Security",
    "Data Science",
    "Infrastructure",
    "Field Service",
    "Training",
    "Facilities",
    "Compliance",
    "Partnerships",
    "Internal Audit",
    "Communications",
    "Business Development",
    "Manufacturing",
    "Supply Chain",
    "Treasury",
    "Payroll",
    "Recruiting",
    "Learning and Development",
    "IT Service Desk",
    "Customer Success",
    "Analytics",
    "Brand",
    "Public Relations",
    "Investor Relations",
    "Strategy",
    "Risk",
    "Sustainability",
];

/// Some names are not ASCII on purpose: search folds case over the whole of Unicode.
pub const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Alan",
    "Alice",
    "Amelia",
    "Ana",
    "André",
    "Anna",
    "Ben",
    "Bruno",
    "Carla",
    "Carlos",
    "Chen",
    "Chloé",
    "Daniel",
    "David",
    "Elena",
    "Elif",
    "Emma",
    "Eva",
    "Fatima",
    "Felix",
    "François",
    "Gabriel",
    "Grace",
    "Hannah",
    "Hugo",
    "Ingrid",
    "Isabel",
    "Ivan",
    "Jack",
    "James",
    "Jana",
    "Javier",
    "João",
    "John",
    "Jonas",
    "José",
    "Julia",
    "Karin",
    "Kenji",
    "Laura",
    "Lea",
    "Leo",
    "Lina",
    "Lucas",
    "Łukasz",
    "Maria",
    "Marie",
    "Mark",
    "Marta",
    "Mateo",
    "Mia",
    "Michael",
    "Mohamed",
    "Nadia",
    "Noah",
    "Nora",
    "Olga",
    "Oliver",
    "Omar",
    "Paul",
    "Pedro",
    "Priya",
    "Rahul",
    "Rosa",
    "Sara",
    "Sofia",
    "Søren",
    "Stefan",
    "Tom",
    "Ursula",
    "Victor",
    "Yuki",
    "Zoë",
    "Zoltán",
];

pub const LAST_NAMES: &[&str] = &[
    "Abbott",
    "Andersen",
    "Bauer",
    "Becker",
    "Bernard",
    "Brown",
    "Castro",
    "Chen",
    "Costa",
    "Da Silva",
    "Dubois",
    "Eriksson",
    "Fischer",
    "García",
    "Gonzalez",
    "Hansen",
    "Hoffmann",
    "Ivanov",
    "Jansen",
    "Johnson",
    "Kaya",
    "Keller",
    "Kowalski",
    "Kumar",
    "Lambert",
    "Larsen",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Müller",
    "Murphy",
    "Nagy",
    "Nguyen",
    "Novak",
    "O'Brien",
    "Olsen",
    "Patel",
    "Petit",
    "Popescu",
    "Richter",
    "Rossi",
    "Sato",
    "Schmidt",
    "Schneider",
    "Silva",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Van Dijk",
    "Wagner",
    "Walker",
    "Wang",
    "Weber",
    "Williams",
    "Wilson",
    "Wójcik",
    "Yilmaz",
    "Zhang",
    "Zimmermann",
];

const JOB_TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Staff Engineer",
    "Analyst",
    "Senior Analyst",
    "Manager",
    "Senior Manager",
    "Director",
    "Coordinator",
    "Specialist",
    "Consultant",
    "Associate",
    "Lead",
    "Technician",
    "Administrator",
    "Representative",
    "Advisor",
    "Designer",
    "Accountant",
    "Recruiter",
    "Planner",
    "Scientist",
    "Architect",
    "Trainer",
    "Officer",
    "Assistant",
    "Head of Team",
    "Team Lead",
    "Intern",
    "Vice President",
];

const LOCATIONS: &[&str] = &[
    "Amsterdam",
    "Berlin",
    "Boston",
    "Buenos Aires",
    "Cape Town",
    "Chicago",
    "Dublin",
    "Helsinki",
    "Istanbul",
    "Kraków",
    "Lisbon",
    "London",
    "Madrid",
    "Montréal",
    "Mumbai",
    "Munich",
    "Paris",
    "São Paulo",
    "Seoul",
    "Singapore",
    "Stockholm",
    "Sydney",
    "Tokyo",
    "Toronto",
    "Zürich",
];

const LANGUAGES: &[&str] = &["en", "en", "en", "de", "fr", "es", "pt", "nl", "it", "pl", "sv", "ja"];

/// Each manager has this many reports (except at the bottom): row `i` reports to row
/// `(i - 1) / SPAN`, always an earlier row, so every manager named in the file exists in it.
const SPAN: usize = 8;

/// What the file holds, for the summaries.
pub struct Written {
    pub people: usize,
    pub bytes: u64,
    pub departments: usize,
}

/// An address that is unique (the row number) and ASCII (letters outside ASCII are dropped).
fn email(first: &str, last: &str, row: usize) -> String {
    let fold = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    format!("{}.{}.{row}@bench.example", fold(first), fold(last))
}

/// Departments are skewed (the first ones much larger), as in real organisations, so filtering by
/// team meets both large and small teams.
fn department(rng: &mut Rng) -> &'static str {
    let skewed = rng.unit().powf(1.8);
    DEPARTMENTS[((skewed * DEPARTMENTS.len() as f64) as usize).min(DEPARTMENTS.len() - 1)]
}

pub fn write_csv(path: &Path, people: usize, seed: u64) -> anyhow::Result<Written> {
    let mut out = csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    out.write_record(["email", "first_name", "last_name", "job_title", "department", "location", "language", "hire_date", "manager_email"])?;
    let mut rng = Rng::new(seed);
    let start = NaiveDate::from_ymd_opt(2000, 1, 1).context("a fixed date")?;
    // Only the addresses are kept: a manager is looked up by row, and rows only point back.
    let mut emails: Vec<String> = Vec::with_capacity(people);
    let mut departments = std::collections::HashSet::new();
    for row in 0..people {
        let (first, last) = (rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
        let address = email(first, last, row);
        let dept = department(&mut rng);
        departments.insert(dept);
        let hired = start.checked_add_days(Days::new(rng.below(9_490) as u64)).unwrap_or(start);
        let manager = if row == 0 { "" } else { emails[(row - 1) / SPAN].as_str() };
        out.write_record([
            address.as_str(),
            first,
            last,
            rng.pick(JOB_TITLES),
            dept,
            rng.pick(LOCATIONS),
            rng.pick(LANGUAGES),
            &hired.format("%Y-%m-%d").to_string(),
            manager,
        ])?;
        emails.push(address);
    }
    out.flush()?;
    drop(out);
    let bytes = std::fs::metadata(path)?.len();
    Ok(Written { people, bytes, departments: departments.len() })
}

/// Search prefixes people would type: 1 to 4 letters of a first name, a last name or an address,
/// in either case, plus a few that match nobody.
pub fn search_prefixes(seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng::new(seed ^ 0x5EA2C4);
    (0..count)
        .map(|i| {
            let source = match i % 8 {
                0..=2 => rng.pick(FIRST_NAMES).to_owned(),
                3..=5 => rng.pick(LAST_NAMES).to_owned(),
                6 => email(rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES), 0),
                _ => ["zzq", "xylo", "qwv", "ñu"][rng.below(4)].to_owned(),
            };
            let len = 1 + rng.below(4);
            let prefix: String = source.chars().take(len).collect();
            if rng.below(3) == 0 {
                prefix.to_uppercase()
            } else {
                prefix.to_lowercase()
            }
        })
        .collect()
}
