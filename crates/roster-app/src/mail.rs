//! E-mail: rendering the queued messages, and delivering them through SMTP. A queued e-mail
//! holds no link: its single-use link is minted as it is sent (only the link's digest is
//! stored), so neither the database nor the outbox page can give one away. Without an SMTP
//! server the messages wait in the outbox.

use crate::config::{Config, SmtpConfig, SmtpSecurity};
use crate::jobs::supervisor::Signals;
use crate::secrets::password::random_token;
use crate::App;
use chrono::Duration;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use roster_core::reconcile::INVITATION_LIFETIME_DAYS;
use roster_core::secret::token_digest;
use roster_core::{Actor, ConnectionId, ConnectionKind, OrgId, Status, UserId};
use roster_store::{ConnectionNotice, NewToken, OutboxEmail, OutgoingEmail, StoreError, TokenPurpose};
use std::collections::HashMap;

/// How long a password-reset link works.
pub const RESET_LIFETIME_HOURS: i64 = 1;

pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// The subject of a queued e-mail: what the outbox page shows of it.
pub fn subject(email: &OutgoingEmail, org_name: &str) -> String {
    match email {
        OutgoingEmail::Invitation { .. } => format!("You are invited to {org_name}"),
        OutgoingEmail::PasswordReset { .. } => format!("Reset your {org_name} password"),
        OutgoingEmail::RunHeld { connection, .. } => format!("{org_name}: a run of {connection} was held for your decision"),
        OutgoingEmail::DeactivationsWaiting { connection, .. } => format!("{org_name}: deactivations from {connection} wait for your decision"),
        OutgoingEmail::WebhookDisabled { .. } => format!("{org_name}: a webhook endpoint was disabled"),
        OutgoingEmail::ConnectionHealth { connection, notice, .. } => match notice {
            ConnectionNotice::Failing { .. } => format!("{org_name}: {connection} is failing"),
            ConnectionNotice::Recovered => format!("{org_name}: {connection} works again"),
            ConnectionNotice::CertificateExpiring { days, .. } if *days <= 0 => format!("{org_name}: the certificate of {connection} has expired"),
            ConnectionNotice::CertificateExpiring { days, .. } => format!("{org_name}: the certificate of {connection} expires in {days} day(s)"),
        },
    }
}

/// The page where admins see and fix a connection.
fn connection_page(config: &Config, slug: &str, kind: ConnectionKind, id: ConnectionId) -> String {
    match kind {
        ConnectionKind::Entra => config.org_url(slug, "/settings/integrations/entra"),
        ConnectionKind::Scim => config.org_url(slug, "/settings/scim"),
        ConnectionKind::Okta => config.org_url(slug, "/settings/integrations/okta"),
        _ => config.org_url(slug, &format!("/settings/sso/{id}")),
    }
}

fn health_body(name: &str, connection: &str, org_name: &str, notice: &ConnectionNotice, page: &str) -> String {
    let news = match notice {
        ConnectionNotice::Failing { error } => format!(
            "{connection} stopped working for {org_name}, and its runs change nothing until it is fixed:\n\n  {error}\n\n\
             Roster keeps retrying, less often as failures go on (down to once a day), and e-mails you again when it works."
        ),
        ConnectionNotice::Recovered => format!("{connection} works again for {org_name}: its latest run went through."),
        ConnectionNotice::CertificateExpiring { on, days } if *days <= 0 => format!(
            "The identity provider's signing certificate for {connection} expired on {}: nobody can sign in with it until you give Roster the new certificate.",
            on.format("%Y-%m-%d")
        ),
        ConnectionNotice::CertificateExpiring { on, days } => format!(
            "The identity provider's signing certificate for {connection} expires on {} ({days} day(s) from now). After that nobody can sign in with it. \
             Give Roster the new certificate (or the new metadata) before then.",
            on.format("%Y-%m-%d")
        ),
    };
    format!("Hello {name},\n\n{news}\n\nThe connection's page:\n\n{page}\n")
}

/// The address of a single-use link.
pub fn link_url(config: &Config, slug: &str, purpose: TokenPurpose, raw: &str) -> String {
    config.org_url(slug, &format!("/password/set?purpose={}&token={raw}", purpose.as_str()))
}

/// The subject and text of an e-mail, with the link just minted for it (`raw`, when the
/// e-mail carries one).
pub fn render(email: &OutgoingEmail, org_name: &str, slug: &str, config: &Config, raw: Option<&str>) -> Rendered {
    let link = match (email.purpose(), raw) {
        (Some(purpose), Some(raw)) => link_url(config, slug, purpose, raw),
        _ => String::new(),
    };
    let subject = subject(email, org_name);
    match email {
        OutgoingEmail::Invitation { name, .. } => Rendered {
            subject,
            body: format!("Hello {name},\n\nYou have been invited to {org_name}. Choose a password to sign in:\n\n{link}\n\nThe link works once and expires in {INVITATION_LIFETIME_DAYS} days.\n"),
        },
        OutgoingEmail::PasswordReset { name, .. } => Rendered {
            subject,
            body: format!(
                "Hello {name},\n\nSomeone asked to reset your password. If it was you, choose a new one here:\n\n{link}\n\nThe link works once and expires in one hour. If you did not ask, ignore this e-mail.\n"
            ),
        },
        OutgoingEmail::DeactivationsWaiting { name, connection, .. } => {
            let page = config.org_url(slug, "/settings/scim");
            Rendered {
                subject,
                body: format!(
                    "Hello {name},\n\n{connection} asked to deactivate more people of {org_name} within an hour than its deactivation guard allows. \
                     It was answered as usual, but the people beyond the guard are still active.\n\n\
                     See who, then deactivate them or keep them active:\n\n{page}\n"
                ),
            }
        }
        OutgoingEmail::WebhookDisabled { name, url, .. } => Rendered {
            subject,
            body: format!(
                "Hello {name},\n\nThe webhook endpoint {url} of {org_name} has not accepted an event for {days} days, so Roster stopped sending to it. \
                 No event is lost: once the endpoint works, deliver again from where it stopped with \
                 `roster webhook redeliver` (or the Webhooks settings), and it receives everything since, in order.\n",
                days = crate::webhooks::GIVE_UP_AFTER_DAYS
            ),
        },
        OutgoingEmail::ConnectionHealth { name, connection, connection_id, connection_kind, notice, .. } => {
            let page = connection_page(config, slug, *connection_kind, *connection_id);
            Rendered { subject, body: health_body(name, connection, org_name, notice, &page) }
        }
        OutgoingEmail::RunHeld { name, connection, run, would_deactivate, provisioned, connection_kind, .. } => {
            let page = match connection_kind {
                // Okta's page shows the held run with Allow and Reject.
                Some(ConnectionKind::Okta) => config.org_url(slug, "/settings/integrations/okta"),
                _ => config.org_url(slug, &format!("/settings/integrations/entra/runs/{run}")),
            };
            Rendered {
                subject,
                body: format!(
                    "Hello {name},\n\nA run of {connection} would have deactivated {would_deactivate} of the {provisioned} people it provisions in {org_name}. \
                     That is more than its deactivation guard allows, so nothing was applied.\n\n\
                     See who would be deactivated and why, then allow or reject the run:\n\n{page}\n\n\
                     Until someone decides, later runs of this connection are held the same way unless they deactivate fewer people. \
                     You will not get this e-mail again for this connection until it has been released.\n"
                ),
            }
        }
    }
}

/// Mint a single-use link for `person`: store its digest (voiding their older links of the
/// same purpose) and return the secret, which is never stored. `handed_over_by` audits a link
/// given by hand instead of e-mailed.
pub async fn mint_link(state: &App, org: OrgId, person: UserId, purpose: TokenPurpose, handed_over_by: Option<&Actor>) -> Result<String, StoreError> {
    let raw = random_token();
    let now = state.clock.now();
    let token = NewToken { org, person, purpose, digest: token_digest(&raw), expires_at: now + lifetime(purpose) };
    state.store.issue_token(&token, now, handed_over_by).await?;
    Ok(raw)
}

fn lifetime(purpose: TokenPurpose) -> Duration {
    match purpose {
        TokenPurpose::Invitation => Duration::days(INVITATION_LIFETIME_DAYS),
        TokenPurpose::PasswordReset => Duration::hours(RESET_LIFETIME_HOURS),
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
    let message =
        Message::builder().from(from).to(to).subject(&rendered.subject).body(rendered.body.clone()).map_err(|e| MailError::Address(e.to_string()))?;
    let relay = match smtp.security {
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(|e| MailError::Smtp(e.to_string()))?,
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| MailError::Smtp(e.to_string()))?,
        SmtpSecurity::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
    };
    let mut transport = relay.port(smtp.port);
    if let (Some(user), Some(pass)) = (&smtp.username, &smtp.password) {
        transport = transport.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    transport.build().send(message).await.map(|_| ()).map_err(|e| MailError::Smtp(e.to_string()))
}

/// One delivery pass: lease due e-mails, mint each one's link, send it, record the outcome.
/// Returns how many were sent.
pub async fn deliver_due(state: &App, smtp: &SmtpConfig) -> Result<usize, StoreError> {
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
        let Some(person) = recipient(state, &queued).await? else {
            // Nobody to mint a link for now (deactivated since): try again tomorrow.
            state.store.mark_email_failed(queued.id, "not sent: the recipient is deactivated", state.clock.now() + Duration::days(1)).await?;
            continue;
        };
        // Where people sign in only with single sign-on, an invitation says so instead of
        // offering a password they could not use.
        let sso_only = match &queued.email {
            OutgoingEmail::Invitation { name: who, .. } => {
                sso_only_providers(state, queued.org, person).await?.map(|providers| (who.clone(), providers))
            }
            _ => None,
        };
        let rendered = match sso_only {
            Some((who, providers)) => sso_invitation(&who, &name, &providers, &state.config.org_url(&slug, "/login")),
            None => {
                let raw = match queued.email.purpose() {
                    Some(purpose) => Some(mint_link(state, queued.org, person, purpose, None).await?),
                    None => None,
                };
                render(&queued.email, &name, &slug, &state.config, raw.as_deref())
            }
        };
        match send(smtp, queued.email.to().as_str(), &rendered).await {
            Ok(()) => {
                state.store.mark_email_sent(queued.id, state.clock.now()).await?;
                sent += 1;
            }
            Err(err) => {
                // The link just minted was never delivered; the next attempt mints another.
                let wait = Duration::minutes(i64::from(queued.attempts.min(10) + 1).pow(2));
                tracing::warn!(email = %queued.id, error = %err, "e-mail delivery failed; will retry");
                state.store.mark_email_failed(queued.id, &err.to_string(), state.clock.now() + wait).await?;
            }
        }
    }
    Ok(sent)
}

/// The sign-in buttons of an organisation where `person` may not use a password (password
/// sign-in is off, they are not an owner, and a sign-in connection is enabled); else `None`.
async fn sso_only_providers(state: &App, org: OrgId, person: UserId) -> Result<Option<Vec<String>>, StoreError> {
    if state.store.password_sign_in_allowed(org).await? {
        return Ok(None);
    }
    let owner = state.store.person(org, person).await?.is_some_and(|p| p.role == roster_core::Role::Owner);
    if owner {
        return Ok(None);
    }
    let providers: Vec<String> =
        state.store.connections(org).await?.into_iter().filter(|c| c.enabled && crate::admin::sso::is_sign_in(c.kind)).map(|c| c.name).collect();
    Ok((!providers.is_empty()).then_some(providers))
}

/// An invitation to an organisation whose people sign in only with single sign-on: no link to
/// choose a password, the login page and the buttons to press instead.
pub fn sso_invitation(name: &str, org_name: &str, providers: &[String], login: &str) -> Rendered {
    let buttons = providers.iter().map(|p| format!("\"Sign in with {p}\"")).collect::<Vec<_>>().join(" or ");
    Rendered {
        subject: format!("You are invited to {org_name}"),
        body: format!("Hello {name},\n\nYou have been invited to {org_name}. Sign in with your work account: open\n\n{login}\n\nand choose {buttons}. There is no password to set.\n"),
    }
}

/// The person a queued e-mail is for, while they may still get a link.
async fn recipient(state: &App, queued: &OutboxEmail) -> Result<Option<UserId>, StoreError> {
    let person = match queued.email.person() {
        Some(id) => state.store.person(queued.org, id).await?,
        // Queued before e-mails named their person.
        None => state.store.person_by_email(queued.org, queued.email.to()).await?,
    };
    Ok(person.filter(|p| p.status != Status::Deactivated).map(|p| p.id))
}

/// Deliver e-mails until the process stops (a pass in hand is finished first).
pub async fn deliver_forever(state: App, smtp: SmtpConfig, signals: Signals) {
    loop {
        let pause = match deliver_due(&state, &smtp).await {
            Ok(0) => std::time::Duration::from_secs(2),
            Ok(_) => std::time::Duration::ZERO,
            Err(err) => {
                tracing::error!(error = %err, "e-mail delivery pass failed");
                std::time::Duration::from_secs(5)
            }
        };
        if !signals.pause(pause).await {
            return;
        }
    }
}

/// What the outbox page shows of a queued e-mail.
pub fn describe(queued: &OutboxEmail) -> &'static str {
    match (queued.sent_at, queued.attempts) {
        (Some(_), _) => "sent",
        (None, 0) => "waiting",
        (None, _) => "retrying",
    }
}
