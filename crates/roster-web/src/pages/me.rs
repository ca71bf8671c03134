//! A person's own page.

use super::{or_dash, Chrome};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::CurrentUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use roster_core::Role;

#[derive(Template, WebTemplate)]
#[template(path = "me.html")]
struct MePage {
    chrome: Chrome,
    name: String,
    email: String,
    role: Role,
    job_title: String,
    team: String,
    manager: String,
}

pub async fn show(State(state): State<AppState>, ctx: OrgCtx, user: CurrentUser) -> Result<Response, PageError> {
    let org = ctx.org.id;
    let person = &user.person;
    let team = match person.primary_team {
        Some(id) => state.store.team(org, id).await?.map(|t| t.name.to_string()),
        None => None,
    };
    let manager = match person.manager {
        Some(id) => state.store.person(org, id).await?.map(|m| m.display_name()),
        None => None,
    };
    Ok(MePage {
        chrome: Chrome::signed_in(&ctx, &user, "me"),
        name: person.display_name(),
        email: person.email.to_string(),
        role: person.role,
        job_title: or_dash(person.profile.job_title.as_deref()),
        team: or_dash(team.as_deref()),
        manager: or_dash(manager.as_deref()),
    }
    .into_response())
}
