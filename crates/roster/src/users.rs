//! `roster user`: a person's whole lifecycle from the command line, through the same actions
//! the pages use.

use crate::commands::{app, org_by_slug};
use crate::settings::Settings;
use anyhow::{anyhow, bail};
use clap::Subcommand;
use roster_app::{admin, mail, App};
use roster_core::query::{PersonFilter, PersonQuery};
use roster_core::{Actor, Email, Org, Person, Role, Status};

#[derive(Subcommand)]
pub enum UserCommand {
    /// List people, sorted by name.
    List {
        #[arg(long)]
        org: String,
        /// invited, active or deactivated.
        #[arg(long)]
        status: Option<String>,
        /// Name or email prefix.
        #[arg(long)]
        search: Option<String>,
        /// How many to print (the default 100); `--all` prints every match.
        #[arg(long, default_value_t = 100, conflicts_with = "all")]
        limit: u64,
        /// Skip this many matches first.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Every match, read page by page.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
        /// Comma-separated values for a spreadsheet; cells that a spreadsheet would run as a
        /// formula (`=`, `+`, `-`, `@`) are written as text.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Send (or resend) a person's invitation e-mail.
    Invite {
        #[arg(long)]
        org: String,
        email: String,
    },
    /// Print a fresh invitation link for a person who has not accepted yet, to hand over by
    /// hand (no mail server, or a lost e-mail). Their earlier links stop working; the audit
    /// log records that the command line handed one over.
    InviteLink {
        #[arg(long)]
        org: String,
        email: String,
    },
    /// Deactivate a person: signed out everywhere, their open links void; nothing is deleted.
    /// The organisation's only active owner cannot be deactivated.
    Deactivate {
        #[arg(long)]
        org: String,
        email: String,
    },
    /// Reactivate a person (active if they ever signed in, else invited).
    Reactivate {
        #[arg(long)]
        org: String,
        email: String,
    },
    /// Change a person's role: owner, admin, manager or learner. The only active owner stays one.
    Role {
        #[arg(long)]
        org: String,
        email: String,
        role: Role,
    },
    /// Print a person: profile, status, role, who provisions them, their override and
    /// effective manager (and where it comes from), and their teams.
    Show {
        #[arg(long)]
        org: String,
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Change the profile, override manager or primary team of someone no connection
    /// provisions. Only the options given change; an empty value clears an optional field.
    Update {
        #[arg(long)]
        org: String,
        email: String,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[arg(long)]
        job_title: Option<String>,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        language: Option<String>,
        /// YYYY-MM-DD.
        #[arg(long)]
        hire_date: Option<String>,
        /// The override manager's address; empty for none.
        #[arg(long)]
        manager: Option<String>,
        /// The primary team's name; empty for none.
        #[arg(long)]
        team: Option<String>,
    },
    /// Unlink a person from the connection that provisions them: they are managed by hand from
    /// then on (a later run links them again if the source still holds them).
    Unlink {
        #[arg(long)]
        org: String,
        email: String,
    },
    /// Erase a person on request (data protection): their personal data is replaced by a
    /// placeholder everywhere; the audit log keeps what was done, not the values. Cannot be
    /// undone; refused while a connection provisions them.
    Erase {
        #[arg(long)]
        org: String,
        email: String,
        /// Required: erasure cannot be undone.
        #[arg(long)]
        confirm: bool,
    },
}

async fn person_by_address(state: &App, org: &Org, address: &str) -> anyhow::Result<Person> {
    let email = Email::parse(address)?;
    state.store.person_by_email(org.id, &email).await?.ok_or_else(|| anyhow!("nobody in {} has the address {email}", org.slug))
}

const CLI: admin::people::Acting = admin::people::Acting { actor: Actor::Cli, role: None };

pub async fn user(settings: &Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let state = app(settings).await?;
    match cmd {
        UserCommand::List { org, status, search, limit, offset, all, json, csv } => {
            let org = org_by_slug(&state, &org).await?;
            let mut filters = Vec::new();
            if let Some(status) = status {
                filters.push(PersonFilter::Status(status.parse::<Status>()?));
            }
            if let Some(search) = search {
                filters.push(PersonFilter::TextPrefix(search));
            }
            // The store answers at most a page at a time: read pages until the limit or the end.
            let filter = PersonFilter::all(filters);
            let wanted = if all { u64::MAX } else { limit };
            let (mut people, mut total) = (Vec::new(), 0);
            while (people.len() as u64) < wanted {
                let room = (wanted - people.len() as u64).min(u64::from(roster_core::query::MAX_PAGE_SIZE)) as u32;
                let page = state.store.search_people(org.id, &PersonQuery::new(filter.clone(), offset + people.len() as u64, room)).await?;
                total = page.total.unwrap_or(total);
                let last = page.people.len() < room as usize;
                people.extend(page.people);
                if last {
                    break;
                }
            }
            if json {
                let people: Vec<_> = people.iter().cloned().map(roster_web::api::users::UserDto::from).collect();
                println!("{}", serde_json::to_string_pretty(&people)?);
            } else if csv {
                write_people_csv(&people, std::io::stdout().lock())?;
            } else {
                for p in &people {
                    println!("{}\t{}\t{}\t{}\t{}", p.id, p.email, p.display_name(), p.role, p.status);
                }
            }
            // Said on every format, so a script never takes part of the directory for all of it.
            if offset + (people.len() as u64) < total {
                eprintln!("{} of {total} people (from {}; --all prints every one)", people.len(), offset + 1);
            } else {
                eprintln!("{} of {total} people", people.len());
            }
        }
        UserCommand::Deactivate { ref org, ref email }
        | UserCommand::Reactivate { ref org, ref email }
        | UserCommand::Role { ref org, ref email, .. } => {
            let org = org_by_slug(&state, org).await?;
            let email = Email::parse(email)?;
            let person =
                state.store.person_by_email(org.id, &email).await?.ok_or_else(|| anyhow!("nobody in {} has the address {email}", org.slug))?;
            let now = match cmd {
                UserCommand::Deactivate { .. } => admin::people::deactivate(&state, org.id, &CLI, person.id).await?,
                UserCommand::Reactivate { .. } => admin::people::reactivate(&state, org.id, &CLI, person.id).await?,
                UserCommand::Role { role, .. } => admin::people::set_role(&state, org.id, &CLI, person.id, role).await?,
                _ => person,
            };
            println!("{}\t{}\t{}", now.email, now.role, now.status);
        }
        UserCommand::Show { org, email, json } => {
            let org = org_by_slug(&state, &org).await?;
            let person = person_by_address(&state, &org, &email).await?;
            show(&state, &org, &person, json).await?;
        }
        UserCommand::Update { org, email, first_name, last_name, job_title, department, location, language, hire_date, manager, team } => {
            let org = org_by_slug(&state, &org).await?;
            let person = person_by_address(&state, &org, &email).await?;
            let p = &person.profile;
            let keep = |given: Option<String>, now: &Option<String>| given.unwrap_or_else(|| now.clone().unwrap_or_default());
            let edit = admin::people::ProfileEdit {
                first_name: first_name.unwrap_or_else(|| p.first_name.clone()),
                last_name: last_name.unwrap_or_else(|| p.last_name.clone()),
                job_title: keep(job_title, &p.job_title),
                department: keep(department, &p.department),
                location: keep(location, &p.location),
                language: keep(language, &p.language),
                hire_date: hire_date.unwrap_or_else(|| p.hire_date.map(|d| d.to_string()).unwrap_or_default()),
            };
            admin::people::update_profile(&state, org.id, &CLI, person.id, &edit).await?;
            if let Some(manager) = manager {
                admin::people::set_manager(&state, org.id, &CLI, person.id, Some(manager.as_str())).await?;
            }
            if let Some(team) = team {
                let team = match team.trim() {
                    "" => None,
                    name => {
                        let teams = state.store.team_list(org.id).await?;
                        let key = name.to_lowercase();
                        Some(
                            teams
                                .iter()
                                .find(|t| t.name.key() == key)
                                .map(|t| t.id)
                                .ok_or_else(|| anyhow!("{} has no team named {name}", org.slug))?,
                        )
                    }
                };
                admin::people::set_primary_team(&state, org.id, &CLI, person.id, team).await?;
            }
            let now = person_by_address(&state, &org, &email).await?;
            show(&state, &org, &now, false).await?;
        }
        UserCommand::Unlink { org, email } => {
            let org = org_by_slug(&state, &org).await?;
            let person = person_by_address(&state, &org, &email).await?;
            if admin::people::unlink(&state, org.id, &CLI, person.id).await? {
                println!("{email} is unlinked: managed by hand from now on.");
            } else {
                println!("No connection provisions {email}; nothing to unlink.");
            }
        }
        UserCommand::Erase { org, email, confirm } => {
            let org = org_by_slug(&state, &org).await?;
            let person = person_by_address(&state, &org, &email).await?;
            if !confirm {
                bail!("erasing {email} cannot be undone: run again with --confirm");
            }
            let placeholder = admin::people::erase(&state, org.id, &CLI, person.id).await?;
            println!("{email} is erased; the record is now {placeholder}.");
        }
        UserCommand::Invite { org, email } => {
            let org = org_by_slug(&state, &org).await?;
            let email = Email::parse(&email)?;
            let person =
                state.store.person_by_email(org.id, &email).await?.ok_or_else(|| anyhow!("nobody in {} has the address {email}", org.slug))?;
            admin::invite(&state, org.id, Actor::Cli, person.id).await?;
            println!("Invitation for {email} queued.");
        }
        UserCommand::InviteLink { org, email } => {
            let org = org_by_slug(&state, &org).await?;
            let email = Email::parse(&email)?;
            let person =
                state.store.person_by_email(org.id, &email).await?.ok_or_else(|| anyhow!("nobody in {} has the address {email}", org.slug))?;
            if person.status != Status::Invited || person.activated {
                bail!("{email} is not waiting for an invitation");
            }
            let raw = mail::mint_link(&state, org.id, person.id, roster_store::TokenPurpose::Invitation, Some(&Actor::Cli)).await?;
            println!("{}", mail::link_url(&state.config, org.slug.as_str(), roster_store::TokenPurpose::Invitation, &raw));
        }
    }
    Ok(())
}

/// A person as `roster user show` prints them: a line per field, or the API's JSON with the
/// effective manager beside it.
async fn show(state: &App, org: &Org, person: &Person, json: bool) -> anyhow::Result<()> {
    let teams = state.store.team_list(org.id).await?;
    let team_name = |id| teams.iter().find(|t| t.id == id).map_or_else(|| "?".to_owned(), |t| t.name.to_string());
    let name_of = |p: &Person| format!("{} <{}>", p.display_name(), p.email);
    let override_manager = match person.manager {
        Some(id) => state.store.person(org.id, id).await?,
        None => None,
    };
    let effective = admin::teams::effective_manager(state, org.id, person).await?;
    let from = match &effective {
        Some((_, source)) => admin::teams::describe_source(state, org.id, *source).await?,
        None => String::new(),
    };
    if json {
        let mut value = serde_json::to_value(roster_web::api::users::UserDto::from(person.clone()))?;
        value["effective_manager"] = match &effective {
            Some((m, _)) => serde_json::json!({ "id": m.id, "email": m.email, "from": from }),
            None => serde_json::Value::Null,
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let p = &person.profile;
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let source = match &person.source {
        Some(link) => match state.store.connection(org.id, link.connection).await? {
            Some(c) => format!("{} ({}), as {}", c.kind.label(), c.name, link.external_id),
            None => format!("a removed connection, as {}", link.external_id),
        },
        None => "nobody (managed by hand)".into(),
    };
    let rows = [
        ("id", person.id.to_string()),
        ("email", person.email.to_string()),
        ("name", person.display_name()),
        ("status", person.status.to_string()),
        ("role", person.role.to_string()),
        ("job title", text(&p.job_title)),
        ("department", text(&p.department)),
        ("location", text(&p.location)),
        ("language", text(&p.language)),
        ("hire date", p.hire_date.map_or_else(|| "-".into(), |d| d.to_string())),
        ("provisioned by", source),
        ("primary team", person.primary_team.map_or_else(|| "-".into(), team_name)),
        (
            "secondary teams",
            if person.secondary_teams.is_empty() {
                "-".into()
            } else {
                person.secondary_teams.iter().map(|t| team_name(*t)).collect::<Vec<_>>().join(", ")
            },
        ),
        ("override manager", override_manager.as_ref().map_or_else(|| "-".into(), name_of)),
        ("effective manager", effective.as_ref().map_or_else(|| "-".into(), |(m, _)| format!("{} (from {from})", name_of(m)))),
    ];
    for (label, value) in rows {
        println!("{label:<18}{value}");
    }
    Ok(())
}

/// People as CSV, every cell made safe for spreadsheets.
fn write_people_csv(people: &[roster_core::Person], mut out: impl std::io::Write) -> anyhow::Result<()> {
    use roster_core::csv_export::{person_row, SafeCsv, PEOPLE_COLUMNS};
    let mut file = SafeCsv::new(&PEOPLE_COLUMNS)?;
    for p in people {
        file.row(&person_row(p))?;
    }
    out.write_all(&file.finish()?)?;
    Ok(())
}
