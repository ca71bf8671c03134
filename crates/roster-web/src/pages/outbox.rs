//! The outbox: every e-mail Roster queued for the organisation, readable without a mail server.

use super::{when, Chrome};
use crate::error::PageError;
use crate::mail::{describe, render};
use crate::routing::OrgCtx;
use crate::session::AdminUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

pub struct MailRow {
    pub created: String,
    pub to: String,
    pub subject: String,
    pub state: String,
    pub body: String,
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
            let rendered = render(&queued.email, &ctx.org.name, ctx.org.slug.as_str(), &state.config);
            let mut status = describe(queued).to_owned();
            if let Some(err) = &queued.last_error {
                status = format!("{status}: {err}");
            }
            MailRow { created: when(queued.created_at), to: queued.email.to().to_string(), subject: rendered.subject, state: status, body: rendered.body }
        })
        .collect();
    Ok(OutboxPage { chrome: Chrome::signed_in(&ctx, &user, "outbox"), smtp: state.config.smtp.is_some(), emails: rows }.into_response())
}
