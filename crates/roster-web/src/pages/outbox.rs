//! The outbox: who was sent which e-mail and when. It never shows a message's text: links are
//! minted as e-mails are sent, and one person's link is no one else's to read.

use super::{when, Chrome};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use roster_app::mail::{describe, subject};

pub struct MailRow {
    pub created: String,
    pub to: String,
    pub subject: String,
    pub state: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "outbox.html")]
struct OutboxPage {
    chrome: Chrome,
    smtp: bool,
    emails: Vec<MailRow>,
}

pub async fn list(State(state): State<AppState>, ctx: OrgCtx, AdminUser(user): AdminUser) -> Result<Response, PageError> {
    let emails = state.store.emails(ctx.org.id, 200).await?;
    let rows = emails
        .iter()
        .map(|queued| {
            let mut status = describe(queued).to_owned();
            if let Some(err) = &queued.last_error {
                status = format!("{status}: {err}");
            }
            MailRow {
                created: when(queued.created_at),
                to: queued.email.to().to_string(),
                subject: subject(&queued.email, &ctx.org.name),
                state: status,
            }
        })
        .collect();
    Ok(OutboxPage { chrome: Chrome::signed_in(&ctx, &user, "outbox"), smtp: state.config.smtp.is_some(), emails: rows }.into_response())
}
