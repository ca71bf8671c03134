//! Teams: the list with its hierarchy, creating, renaming and moving teams.

use super::Chrome;
use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::{AdminUser, CurrentUser};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use roster_app::admin::{self, OpsError};
use roster_core::{Actor, TeamId};
use roster_store::TeamSummary;
use serde::Deserialize;
use std::collections::HashMap;

pub struct TeamRow {
    pub id: String,
    pub name: String,
    /// `Parent › Child`, so the hierarchy reads in a flat list.
    pub path: String,
    pub parent: String,
    pub primary: u64,
    pub secondary: u64,
    /// The team's managers' addresses, comma-separated.
    pub managers: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "teams.html")]
struct TeamsPage {
    chrome: Chrome,
    teams: Vec<TeamRow>,
    notice: Option<String>,
    error: Option<String>,
}

fn rows(teams: &[TeamSummary], managers: &HashMap<TeamId, Vec<String>>) -> Vec<TeamRow> {
    let by_id: HashMap<TeamId, &TeamSummary> = teams.iter().map(|t| (t.team.id, t)).collect();
    let path_of = |t: &TeamSummary| {
        let mut names = vec![t.team.name.to_string()];
        let mut cursor = t.team.parent;
        while let Some(parent) = cursor.and_then(|id| by_id.get(&id)) {
            if names.len() > 32 {
                break;
            }
            names.push(parent.team.name.to_string());
            cursor = parent.team.parent;
        }
        names.reverse();
        names.join(" › ")
    };
    let mut rows: Vec<TeamRow> = teams
        .iter()
        .map(|t| TeamRow {
            id: t.team.id.to_string(),
            name: t.team.name.to_string(),
            path: path_of(t),
            parent: t.team.parent.map(|p| p.to_string()).unwrap_or_default(),
            primary: t.primary_members,
            secondary: t.secondary_members,
            managers: managers.get(&t.team.id).map(|m| m.join(", ")).unwrap_or_default(),
        })
        .collect();
    rows.sort_by_key(|r| r.path.to_lowercase());
    rows
}

async fn render(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, notice: Option<String>, error: Option<String>) -> Result<Response, PageError> {
    let teams = state.store.teams(ctx.org.id).await?;
    let mut managers: HashMap<TeamId, Vec<String>> = HashMap::new();
    for (team, manager) in state.store.team_managers(ctx.org.id).await? {
        if let Some(person) = state.store.person(ctx.org.id, manager).await? {
            managers.entry(team).or_default().push(person.email.to_string());
        }
    }
    Ok(TeamsPage { chrome: Chrome::signed_in(ctx, user, "teams"), teams: rows(&teams, &managers), notice, error }.into_response())
}

#[derive(Deserialize, Default)]
pub struct TeamsNotice {
    /// What the last form did, set by its redirect.
    #[serde(default)]
    notice: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Query(q): Query<TeamsNotice>,
) -> Result<Response, PageError> {
    // Only a short plain sentence is shown, whatever the address says.
    let notice = q.notice.filter(|n| n.chars().count() <= 200);
    render(&state, &ctx, &user, notice, None).await
}

#[derive(Deserialize)]
pub struct TeamForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    parent: String,
}

impl TeamForm {
    /// Empty is "no parent"; anything else must be a team id, or a garbled form would move
    /// the team to the top level.
    fn parent(&self) -> Result<Option<TeamId>, OpsError> {
        if self.parent.trim().is_empty() {
            return Ok(None);
        }
        self.parent.trim().parse().map(Some).map_err(|_| OpsError::Invalid("The parent team is not one of this organisation's teams.".into()))
    }
}

/// Done: back to the list (Post/Redirect/Get, so a reload repeats nothing). Bad input is shown
/// on the page, which stays as it was.
async fn outcome(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, result: Result<String, OpsError>) -> Result<Response, PageError> {
    match result {
        Ok(notice) => {
            let notice: String = url::form_urlencoded::byte_serialize(notice.as_bytes()).collect();
            Ok(Redirect::to(&format!("{}/teams?notice={notice}", ctx.base)).into_response())
        }
        Err(OpsError::Invalid(msg) | OpsError::Conflict(msg)) => render(state, ctx, user, None, Some(msg)).await,
        Err(other) => Err(other.into()),
    }
}

pub async fn create(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Form(form): Form<TeamForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let actor = Actor::Person { id: user.person.id };
    let result = match form.parent() {
        Ok(parent) => {
            admin::create_team(&state, ctx.org.id, actor, &form.name, parent).await.map(|_| format!("Team '{}' created.", form.name.trim()))
        }
        Err(error) => Err(error),
    };
    outcome(&state, &ctx, &user, result).await
}

#[derive(Deserialize)]
pub struct TeamPath {
    id: TeamId,
}

pub async fn update(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<TeamPath>,
    Form(form): Form<TeamForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let actor = Actor::Person { id: user.person.id };
    let result = match form.parent() {
        Ok(parent) => {
            admin::update_team(&state, ctx.org.id, actor, path.id, &form.name, parent).await.map(|()| format!("Team '{}' saved.", form.name.trim()))
        }
        Err(error) => Err(error),
    };
    outcome(&state, &ctx, &user, result).await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
    /// Empty: delete an empty team; else the team to merge this one into.
    #[serde(default)]
    into: String,
}

/// Delete an empty team, or merge a team into another (its people, teams and SCIM group move
/// there), after a ticked box.
pub async fn delete(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<TeamPath>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    super::ConfirmedForm { csrf: form.csrf, confirm: form.confirm }.check(&user, "Tick the box to confirm; nothing was changed.")?;
    let into = match form.into.trim() {
        "" => Ok(None),
        id => id.parse().map(Some).map_err(|_| OpsError::Invalid("Choose a team from the list to merge into.".into())),
    };
    let actor = Actor::Person { id: user.person.id };
    let result = match into {
        Ok(into) => admin::delete_team(&state, ctx.org.id, &actor, path.id, into).await.map(|moved| match into {
            Some(_) => format!("The teams are merged: {moved} people moved."),
            None => "The team is deleted.".to_owned(),
        }),
        Err(error) => Err(error),
    };
    outcome(&state, &ctx, &user, result).await
}

#[derive(Deserialize)]
pub struct ManagersForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// Addresses separated by commas, spaces or new lines; empty clears them.
    #[serde(default)]
    managers: String,
}

/// Set a team's managers: its people report to them unless they have an override manager.
pub async fn set_managers(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AdminUser(user): AdminUser,
    Path(path): Path<TeamPath>,
    Form(form): Form<ManagersForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    let actor = Actor::Person { id: user.person.id };
    let addresses: Vec<String> = form.managers.split(|c: char| c == ',' || c.is_whitespace()).map(str::to_owned).collect();
    let result =
        admin::teams::set_managers(&state, ctx.org.id, &actor, path.id, &addresses).await.map(|()| "The team's managers are saved.".to_owned());
    outcome(&state, &ctx, &user, result).await
}
