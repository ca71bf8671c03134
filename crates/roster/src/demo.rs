//! `roster demo`: the embedded default with a seeded organisation, so a newcomer can look
//! around without any cloud account. Seeding goes through the reconciler like any other source.

use crate::commands;
use crate::settings::Settings;
use anyhow::Context;
use chrono::NaiveDate;
use roster_app::provision::{Batch, Provisioner, Reading};
use roster_app::{admin, App};
use roster_core::reconcile::{DesiredPerson, Invitations, ManagerField, ManagerRef, Policy, Scope};
use roster_core::{Actor, Email, Profile, Role};
use std::path::PathBuf;

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

async fn seed(state: &App) -> anyhow::Result<(roster_core::Org, String)> {
    if let Some(org) = state.store.org_by_slug(SLUG).await? {
        let owner = state.store.person_by_email(org.id, &Email::parse(OWNER)?).await?.context("the demo owner is missing")?;
        let password = admin::reset_password(state, org.id, owner.id).await?;
        return Ok((org, password));
    }
    let created = admin::create_org(state, SLUG, "Acme Ltd", OWNER).await?;
    let org = created.org;
    let policy = Policy {
        connection: None,
        scope: Scope::Partial,
        invitations: Invitations::Hold,
        manage_managers: true,
        ownership: roster_core::ownership::Ownership::everything(),
    };
    let batch = Batch { org: org.id, actor: Actor::System, records: sample_people()?, policy, reading: Reading::Whole };
    Provisioner::new(state).run(batch, |plan| plan.report.issues.is_empty()).await?;
    // Admins build hierarchies by hand; show one.
    let teams = state.store.teams(org.id).await?;
    let id_of = |name: &str| teams.iter().find(|t| t.team.name.as_str() == name).map(|t| t.team.id);
    if let Some(engineering) = id_of("Engineering") {
        for child in ["Platform", "Mobile"] {
            if let Some(id) = id_of(child) {
                admin::update_team(state, org.id, Actor::System, id, child, Some(engineering)).await?;
            }
        }
    }
    Ok((org, created.owner_password))
}

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    if settings.database_url.is_none() && settings.data_dir.is_none() {
        settings.data_dir = Some(PathBuf::from("roster-demo"));
    }
    let state = commands::state(&settings, true).await?;
    let (org, password) = seed(&state).await?;
    let entra_sim = crate::entra::demo_connection(&state, &org).await?;
    microsoft_sign_in(&state, &org, &entra_sim).await?;
    // A fresh SCIM token on every start, like the password: the old ones stay valid until revoked.
    let scim_token = roster_app::admin::scim_tokens::create_token(&state, org.id, "demo", &roster_core::Actor::Cli).await?.raw;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let login = state.config.org_url(org.slug.as_str(), "/login");
    let data = match settings.location() {
        roster_store::Location::DataDir(dir) => dir.display().to_string(),
        roster_store::Location::Postgres(_) => "PostgreSQL".into(),
    };
    let server = tokio::spawn({
        let settings = settings.clone();
        let state = state.clone();
        async move { commands::serve_state(&settings, state, Some(ready_tx)).await }
    });
    if ready_rx.await.is_ok() {
        println!("Roster demo is running (data in {data}).");
        println!("  Sign in:   {login}");
        println!("  Email:     {OWNER}");
        println!("  Password:  {password}");
        println!("  Outbox:    {}", state.config.org_url(org.slug.as_str(), "/outbox"));
        println!(
            "  Entra ID:  {} (a simulated tenant of 2,000 people at {}; enable it, then press Sync users)",
            state.config.org_url(org.slug.as_str(), "/settings/integrations/entra"),
            entra_sim.base_url
        );
        println!("  Microsoft: after Sync users, people can use \"Sign in with {MICROSOFT}\" on the sign-in page with their UPN (simulated)");
        println!("  SCIM URL:  {}", roster_app::admin::scim_tokens::base_url(&state, org.slug.as_str()));
        println!("  SCIM token: {scim_token}");
        println!("Press Ctrl+C to stop.");
    }
    let served = server.await.context("the server stopped")?;
    drop(entra_sim);
    served
}

/// The name of the demo's sign-in connection: the button says "Sign in with Microsoft".
const MICROSOFT: &str = "Microsoft";

/// An enabled "Sign in with Microsoft" against the simulated tenant, so synced people can sign
/// in with their UPN. The simulator's port changes on every start, so an existing connection
/// is pointed at it again.
async fn microsoft_sign_in(state: &App, org: &roster_core::Org, sim: &roster_sim::RunningSim) -> anyhow::Result<()> {
    use roster_app::signin::sso::{new_connection, OidcSettings};
    use roster_core::ConnectionKind;
    let tenant = &sim.sim;
    let settings = OidcSettings::entra(&sim.base_url, &tenant.tenant_id(), &tenant.client_id()).map_err(anyhow::Error::msg)?;
    let now = state.clock.now();
    let fresh = new_connection(&state.master_key, org.id, MICROSOFT, &settings, &tenant.client_secret(), true, now).map_err(anyhow::Error::msg)?;
    let existing = state.store.connections(org.id).await?.into_iter().find(|c| c.kind == ConnectionKind::Oidc && c.name == MICROSOFT);
    match existing {
        Some(mut connection) => {
            connection.settings = fresh.settings;
            connection.sealed = fresh.sealed;
            connection.enabled = true;
            state.store.update_connection(&connection, &Actor::System, now).await?;
        }
        None => state.store.create_connection(&fresh, &Actor::System).await?,
    }
    Ok(())
}
