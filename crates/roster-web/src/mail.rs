//! E-mail: rendering the queued messages, and delivering them through SMTP. Without an SMTP
//! server the messages stay in the outbox, where admins can read them.

use crate::config::{SmtpConfig, WebConfig};
use crate::state::AppState;
use chrono::Duration;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use roster_core::OrgId;
use roster_store::{OutboxEmail, OutgoingEmail};
use std::collections::HashMap;

pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// The subject and text of a queued e-mail, with its link for the organisation at `slug`.
pub fn render(email: &OutgoingEmail, org_name: &str, slug: &str, config: &WebConfig) -> Rendered {
    match email {
        OutgoingEmail::Invitation { name, token, .. } => Rendered {
            subject: format!("You are invited to {org_name}"),
            body: format!(
                "Hello {name},\n\nYou have been invited to {org_name}. Choose a password to sign in:\n\n{}\n\nThe link works once and expires in 14 days.\n",
                config.org_url(slug, &format!("/password/set?purpose=invitation&token={token}"))
            ),
        },
        OutgoingEmail::PasswordReset { name, token, .. } => Rendered {
            subject: format!("Reset your {org_name} password"),
            body: format!(
                "Hello {name},\n\nSomeone asked to reset your password. If it was you, choose a new one here:\n\n{}\n\nThe link works once and expires in one hour. If you did not ask, ignore this e-mail.\n",
                config.org_url(slug, &format!("/password/set?purpose=password_reset&token={token}"))
            ),
        },
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("address problem: {0}")]
    Address(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
}

/// Send one message through the SMTP server.
pub async fn send(smtp: &SmtpConfig, to: &str, rendered: &Rendered) -> Result<(), MailError> {
    let from: Mailbox = smtp.from.parse().map_err(|e: lettre::address::AddressError| MailError::Address(e.to_string()))?;
    let to: Mailbox = to.parse().map_err(|e: lettre::address::AddressError| MailError::Address(e.to_string()))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(&rendered.subject)
        .body(rendered.body.clone())
        .map_err(|e| MailError::Address(e.to_string()))?;
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host).port(smtp.port);
    if let (Some(user), Some(pass)) = (&smtp.username, &smtp.password) {
        transport = transport.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    transport.build().send(message).await.map(|_| ()).map_err(|e| MailError::Smtp(e.to_string()))
}

/// One delivery pass: lease due e-mails, send them, record the outcome. Returns how many were sent.
pub async fn deliver_due(state: &AppState, smtp: &SmtpConfig) -> Result<usize, roster_store::StoreError> {
    let now = state.clock.now();
    let batch = state.store.claim_emails(50, now, now + Duration::minutes(5)).await?;
    let mut orgs: HashMap<OrgId, (String, String)> = HashMap::new();
    let mut sent = 0;
    for queued in batch {
        let (name, slug) = match orgs.get(&queued.org) {
            Some(found) => found.clone(),
            None => {
                let Some(org) = state.store.org_by_id(queued.org).await? else { continue };
                let found = (org.name.clone(), org.slug.to_string());
                orgs.insert(queued.org, found.clone());
                found
            }
        };
        let rendered = render(&queued.email, &name, &slug, &state.config);
        match send(smtp, queued.email.to().as_str(), &rendered).await {
            Ok(()) => {
                state.store.mark_email_sent(queued.id, state.clock.now()).await?;
                sent += 1;
            }
            Err(err) => {
                let wait = Duration::minutes(i64::from(queued.attempts.min(10) + 1).pow(2));
                tracing::warn!(email = %queued.id, error = %err, "e-mail delivery failed; will retry");
                state.store.mark_email_failed(queued.id, &err.to_string(), state.clock.now() + wait).await?;
            }
        }
    }
    Ok(sent)
}

/// Deliver e-mails in the background for as long as the process runs.
pub fn spawn_delivery(state: AppState) {
    let Some(smtp) = state.config.smtp.clone() else { return };
    tokio::spawn(async move {
        loop {
            match deliver_due(&state, &smtp).await {
                Ok(0) => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
                Ok(_) => {}
                Err(err) => {
                    tracing::error!(error = %err, "e-mail delivery pass failed");
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
        }
    });
}

/// What the outbox page shows of a queued e-mail.
pub fn describe(queued: &OutboxEmail) -> &'static str {
    match (queued.sent_at, queued.attempts) {
        (Some(_), _) => "sent",
        (None, 0) => "waiting",
        (None, _) => "retrying",
    }
}
