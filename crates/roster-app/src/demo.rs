//! The demo's seed: an organisation `acme` with 300 sample people in teams, with managers and a
//! small hierarchy, so a newcomer sees a lived-in directory. `roster demo` calls it.

use crate::admin::OpsError;
use crate::provision::{Batch, ProvisionError, Provisioner, Reading};
use crate::App;
use chrono::NaiveDate;
use roster_core::guard::Guard;
use roster_core::ownership::Ownership;
use roster_core::reconcile::{DesiredPerson, Invitations, ManagerField, ManagerRef, Policy, Scope};
use roster_core::{Actor, Email, Profile, Role};

fn owner_address() -> Result<Email, OpsError> {
    Email::parse(OWNER).map_err(|e| OpsError::Invalid(e.to_string()))
}

pub const SLUG: &str = "acme";
pub const OWNER: &str = "owner@acme.example";
const PEOPLE: usize = 300;

const FIRST: &[&str] = &[
    "Grace",
    "Alan",
    "Katherine",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Niklaus",
    "Margaret",
    "Dennis",
    "Radia",
    "Ken",
    "Hedy",
    "Tim",
    "Karen",
    "John",
    "Sophie",
    "Linus",
    "Shafi",
    "Leslie",
];
const LAST: &[&str] = &[
    "Hopper",
    "Turing",
    "Johnson",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Wirth",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Thompson",
    "Lamarr",
    "Berners-Lee",
    "Sparck Jones",
    "McCarthy",
    "Wilson",
    "Torvalds",
    "Goldwasser",
    "Lamport",
    "Floyd",
    "Kay",
];
const DEPARTMENTS: &[&str] = &["Engineering", "Platform", "Mobile", "Sales", "Marketing", "People", "Finance", "Support", "Research"];
const TITLES: &[&str] = &["Specialist", "Senior Specialist", "Associate", "Lead", "Analyst"];
const LOCATIONS: &[&str] = &["London", "Copenhagen", "Lisbon", "Remote"];

/// A deterministic sample organisation: one person per department heads it, heads report to
/// the chief executive, everyone else to their department head.
pub fn sample_people() -> Result<Vec<DesiredPerson>, roster_core::email::EmailError> {
    let email = |s: String| Email::parse(&s);
    let mut people = Vec::with_capacity(PEOPLE);
    let ceo = email("ada.lovelace@acme.example".into())?;
    people.push(desired(ceo.clone(), "Ada", "Lovelace", "Research", "Chief Executive", ManagerField::Clear, 0));
    for (d, dept) in DEPARTMENTS.iter().enumerate() {
        let first = FIRST[d % FIRST.len()];
        let last = LAST[(d * 7) % LAST.len()];
        let head = email(format!("{}.{}.head@acme.example", first.to_lowercase(), last.to_lowercase().replace(' ', "")))?;
        people.push(desired(head, first, last, dept, &format!("Head of {dept}"), ManagerField::Set(ManagerRef::Email(ceo.clone())), d + 1));
    }
    let mut n = 0usize;
    while people.len() < PEOPLE {
        let first = FIRST[n % FIRST.len()];
        let last = LAST[(n / FIRST.len() + n) % LAST.len()];
        let d = n % DEPARTMENTS.len();
        let head = people[d + 1].email.clone();
        let addr = email(format!("{}.{}{}@acme.example", first.to_lowercase(), last.to_lowercase().replace(' ', ""), n))?;
        let title = TITLES[n % TITLES.len()];
        people.push(desired(addr, first, last, DEPARTMENTS[d], title, ManagerField::Set(ManagerRef::Email(head)), n));
        n += 1;
    }
    Ok(people)
}

fn desired(email: Email, first: &str, last: &str, dept: &str, title: &str, manager: ManagerField, n: usize) -> DesiredPerson {
    let hire_date = NaiveDate::from_ymd_opt(2015 + (n % 10) as i32, 1 + (n % 12) as u32, 1 + (n % 28) as u32);
    DesiredPerson {
        record: email.to_string(),
        external_id: None,
        email,
        profile: Profile {
            first_name: first.into(),
            last_name: last.into(),
            job_title: Some(title.into()),
            department: Some(dept.into()),
            location: Some(LOCATIONS[n % LOCATIONS.len()].into()),
            language: Some(if n.is_multiple_of(3) { "da" } else { "en" }.into()),
            hire_date,
            custom_fields: Default::default(),
        },
        active: true,
        role: Some(if manager == ManagerField::Clear { Role::Admin } else { Role::Learner }),
        manager,
    }
}

/// The demo organisation, seeded on first start (300 people in teams, with managers and a
/// small hierarchy), or found again with a fresh owner password on later starts.
pub async fn seed(state: &App) -> Result<(roster_core::Org, String), OpsError> {
    if let Some(org) = state.store.org_by_slug(SLUG).await? {
        let owner = state.store.person_by_email(org.id, &owner_address()?).await?.ok_or(OpsError::NotFound)?;
        let password = crate::admin::reset_password(state, org.id, owner.id).await?;
        return Ok((org, password));
    }
    let created = crate::admin::create_org(state, SLUG, "Acme Ltd", OWNER).await?;
    let org = created.org;
    let policy =
        Policy { connection: None, scope: Scope::Partial, invitations: Invitations::Hold, manage_managers: true, ownership: Ownership::everything() };
    let records = sample_people().map_err(|e| OpsError::Invalid(e.to_string()))?;
    let batch = Batch { org: org.id, actor: Actor::System, records, policy, reading: Reading::Whole, guard: Guard::Explicit };
    match Provisioner::new(state).run(batch, |plan| plan.report.issues.is_empty()).await {
        Ok(_) => {}
        Err(ProvisionError::Store(error)) => return Err(error.into()),
        Err(other) => return Err(OpsError::Invalid(format!("the demo people were refused: {other}"))),
    }
    // Admins build hierarchies by hand; show one.
    let teams = state.store.teams(org.id).await?;
    let id_of = |name: &str| teams.iter().find(|t| t.team.name.as_str() == name).map(|t| t.team.id);
    if let Some(engineering) = id_of("Engineering") {
        for child in ["Platform", "Mobile"] {
            if let Some(id) = id_of(child) {
                crate::admin::update_team(state, org.id, Actor::System, id, child, Some(engineering)).await?;
            }
        }
    }
    Ok((org, created.owner_password))
}
