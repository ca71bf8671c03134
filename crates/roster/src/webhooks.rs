//! `roster webhook`: an organisation's webhook endpoints from the command line.

use crate::commands::{app, org_by_slug};
use crate::settings::Settings;
use clap::Subcommand;
use roster_app::webhooks;
use roster_core::Actor;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint. It receives the events committed from now on, signed as Standard
    /// Webhooks defines; its secret is printed once.
    Add {
        #[arg(long)]
        org: String,
        #[arg(long)]
        url: String,
        /// Comma-separated event types (user.created,user.deactivated); all when omitted.
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
    },
    /// The endpoints, with where each one is in the feed and whether it is failing.
    List {
        #[arg(long)]
        org: String,
    },
    /// The newest delivery attempts of an endpoint.
    Deliveries {
        #[arg(long)]
        org: String,
        id: Uuid,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// A new secret, printed once; the old one is still signed with for 24 hours.
    RotateSecret {
        #[arg(long)]
        org: String,
        id: Uuid,
    },
    /// Deliver again every event after a cursor (everything kept without one); enables a
    /// disabled endpoint.
    Redeliver {
        #[arg(long)]
        org: String,
        id: Uuid,
        #[arg(long)]
        after: Option<String>,
    },
    Delete {
        #[arg(long)]
        org: String,
        id: Uuid,
    },
    /// Send a `webhook.test` message now (outside the feed; it moves nothing) and print the answer.
    Test {
        #[arg(long)]
        org: String,
        id: Uuid,
    },
}

pub async fn webhook(settings: &Settings, cmd: WebhookCommand) -> anyhow::Result<()> {
    let state = app(settings).await?;
    match cmd {
        WebhookCommand::Add { org, url, types } => {
            let org = org_by_slug(&state, &org).await?;
            let created = webhooks::add(&state, org.id, &Actor::Cli, &url, &types).await?;
            println!("Endpoint {} added for {}.", created.endpoint.id, created.endpoint.url);
            println!("Secret:   {}", created.secret);
            println!("Keep the secret: it is not shown again. Verify each request's webhook-signature with it.");
        }
        WebhookCommand::List { org } => {
            let org = org_by_slug(&state, &org).await?;
            for e in state.store.webhooks(org.id).await? {
                let types = if e.types.is_empty() { "all events".to_owned() } else { e.types.join(",") };
                let state_now = match (&e.disabled_at, &e.failing_since) {
                    (Some(_), _) => format!("disabled: {}", e.disabled_reason.as_deref().unwrap_or("")),
                    (None, Some(since)) => format!("failing since {} ({} attempts)", since.format("%Y-%m-%d %H:%M"), e.attempts),
                    (None, None) => "delivering".to_owned(),
                };
                println!("{}\t{}\t{types}\tafter {}\t{state_now}", e.id, e.url, roster_core::feed::cursor_of(e.cursor_seq));
            }
        }
        WebhookCommand::Deliveries { org, id, limit } => {
            let org = org_by_slug(&state, &org).await?;
            for d in state.store.webhook_deliveries(org.id, id, limit.clamp(1, 500)).await? {
                let answer = match (d.status, &d.error) {
                    (Some(status), _) => status.to_string(),
                    (None, Some(error)) => error.clone(),
                    (None, None) => "-".into(),
                };
                println!("{}\t{}\t{}\t{answer}\t{} ms", d.at.format("%Y-%m-%d %H:%M:%S"), d.event, d.event_type, d.duration_ms);
            }
        }
        WebhookCommand::RotateSecret { org, id } => {
            let org = org_by_slug(&state, &org).await?;
            let secret = webhooks::rotate_secret(&state, org.id, &Actor::Cli, id).await?;
            println!("Secret:   {secret}");
            println!("Requests are signed with the new and the old secret for 24 hours.");
        }
        WebhookCommand::Redeliver { org, id, after } => {
            let org = org_by_slug(&state, &org).await?;
            webhooks::redeliver(&state, org.id, &Actor::Cli, id, after.as_deref()).await?;
            println!("Delivering again from {}.", after.as_deref().unwrap_or("the oldest event kept"));
        }
        WebhookCommand::Test { org, id } => {
            let org = org_by_slug(&state, &org).await?;
            match webhooks::send_test(&state, org.id, id).await? {
                Ok(status) if (200..300).contains(&status) => println!("The endpoint answered {status}."),
                Ok(status) => anyhow::bail!("the endpoint answered {status}"),
                Err(why) => anyhow::bail!("no answer: {why}"),
            }
        }
        WebhookCommand::Delete { org, id } => {
            let org = org_by_slug(&state, &org).await?;
            webhooks::delete(&state, org.id, &Actor::Cli, id).await?;
            println!("Deleted.");
        }
    }
    Ok(())
}
