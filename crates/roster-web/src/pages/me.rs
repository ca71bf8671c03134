//! A person's own page.

use super::{or_dash, Chrome};
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::CurrentUser;
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::secrets::password::{hash_password, verify_password};
use roster_core::Role;
use serde::Deserialize;

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
    /// Back to the learning platform, when one is configured.
    learning_url: Option<String>,
    /// Whether they have a password to change (people who sign in with SSO may have none).
    has_password: bool,
    error: Option<String>,
}

pub async fn show(State(state): State<AppState>, ctx: OrgCtx, user: CurrentUser) -> Result<Response, PageError> {
    render(&state, &ctx, &user, None).await
}

async fn render(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, error: Option<String>) -> Result<Response, PageError> {
    let org = ctx.org.id;
    let person = &user.person;
    let team = match person.primary_team {
        Some(id) => state.store.team(org, id).await?.map(|t| t.name.to_string()),
        None => None,
    };
    // Who they report to in effect: their own manager, else their team's.
    let manager = roster_app::admin::teams::effective_manager(state, org, person).await?.map(|(m, _)| m.display_name());
    let has_password = state.store.credentials(org, &person.email).await?.is_some_and(|c| c.password_hash.is_some());
    Ok(MePage {
        chrome: Chrome::signed_in(ctx, user, "me"),
        has_password,
        learning_url: state.config.learning_url_for(ctx.org.slug.as_str()),
        error,
        name: person.display_name(),
        email: person.email.to_string(),
        role: person.role,
        job_title: or_dash(person.profile.job_title.as_deref()),
        team: or_dash(team.as_deref()),
        manager: or_dash(manager.as_deref()),
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    again: String,
}

/// Change one's own password: the current one first. Every session ends (this one too), so the
/// person signs in again with the new password.
pub async fn change_password(
    State(state): State<AppState>,
    ctx: OrgCtx,
    user: CurrentUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let org = ctx.org.id;
    let stored = state.store.credentials(org, &user.person.email).await?.and_then(|c| c.password_hash);
    let refuse = |message: &str| render(&state, &ctx, &user, Some(message.to_owned()));
    let Some(stored) = stored else { return refuse("You have no password: you sign in with your organisation's single sign-on.").await };
    let current = form.current.clone();
    if !tokio::task::spawn_blocking(move || verify_password(&current, &stored)).await.unwrap_or(false) {
        return refuse("That is not your current password.").await;
    }
    if form.new != form.again {
        return refuse("The new password and its repetition differ.").await;
    }
    let new = form.new.clone();
    let hash = match tokio::task::spawn_blocking(move || hash_password(&new)).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(problem)) => return refuse(&format!("The new password is refused: {problem}.")).await,
        Err(_) => return Err(PageError::Internal("hashing stopped unexpectedly".into())),
    };
    state.store.set_password(org, user.person.id, &hash, state.clock.now()).await?;
    Ok(Redirect::to(&format!("{}/login?password_changed=1", ctx.base)).into_response())
}

#[derive(Deserialize, Default)]
pub struct Changed {
    #[serde(default)]
    pub password_changed: Option<String>,
}

/// Whether the login page should say the password was just changed.
pub fn changed_notice(query: &Query<Changed>) -> Option<String> {
    query.password_changed.as_ref().map(|_| "Your password was changed. Sign in with the new one.".to_owned())
}
