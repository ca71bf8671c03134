//! `roster entra why|provision|groups`: the Entra lookups an admin makes from the pages, from
//! the command line: why someone is missing, one person provisioned now, the group by name.

use crate::commands;
use crate::settings::Settings;
use anyhow::anyhow;
use clap::Subcommand;
use roster_app::provision::entra::{self as entra_setup, lookup};
use roster_core::{Actor, Connection};

#[derive(Subcommand)]
pub enum EntraCommand {
    /// Why isn't this person here? Asks Entra and reads Roster's records and recent runs.
    Why {
        #[arg(long)]
        org: String,
        /// The person's user principal name or Entra object ID.
        person: String,
    },
    /// Provision one person from Entra now, as a sync would, and print each step.
    Provision {
        #[arg(long)]
        org: String,
        /// The person's user principal name or Entra object ID.
        person: String,
    },
    /// Find security groups by words of their name (to set the connection's group).
    Groups {
        #[arg(long)]
        org: String,
        /// Words the group's name starts with.
        search: String,
    },
}

async fn connection(state: &roster_app::App, slug: &str) -> anyhow::Result<Connection> {
    let org = state.store.org_by_slug(slug).await?.ok_or_else(|| anyhow!("there is no organisation '{slug}'"))?;
    entra_setup::entra_connection(state, org.id).await?.ok_or_else(|| anyhow!("{slug} has no Microsoft Entra ID connection"))
}

pub async fn run(settings: &Settings, cmd: EntraCommand) -> anyhow::Result<()> {
    let state = commands::app(settings).await?;
    match cmd {
        EntraCommand::Why { org, person } => {
            let explained = lookup::explain(&state, &connection(&state, &org).await?, &person).await?;
            for finding in explained.findings {
                println!("{} {}", if finding.decisive { "!" } else { "-" }, finding.text);
            }
        }
        EntraCommand::Provision { org, person } => {
            let done = lookup::provision_one(&state, &connection(&state, &org).await?, &person, &Actor::Cli).await?;
            for step in done.steps {
                println!("{} {}", if step.ok { "ok " } else { "no " }, step.what);
            }
        }
        EntraCommand::Groups { org, search } => {
            for group in lookup::search_groups(&state, &connection(&state, &org).await?, &search).await? {
                println!("{}\t{}", group.id, group.display_name);
            }
        }
    }
    Ok(())
}
