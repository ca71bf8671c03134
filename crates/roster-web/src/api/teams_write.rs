//! One team, and the write API for teams: create, rename, re-parent, delete (or merge into
//! another) and set the managers, through the same actions as the pages.

use super::versions::{check_if_match, tagged};
use super::{located, present, ApiClient, ApiJson, IdPath};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_app::admin;
use roster_core::{TeamId, UserId};
use roster_store::ApiScope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A team as it is now.
#[derive(Serialize, ToSchema)]
pub struct TeamDetail {
    pub id: uuid::Uuid,
    pub name: String,
    pub parent_id: Option<uuid::Uuid>,
    /// The people who manage it: the effective manager of its people who have no manager of their own.
    pub manager_ids: Vec<uuid::Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    pub name: String,
    pub parent_id: Option<uuid::Uuid>,
}

/// Fields left out stay as they are; `"parent_id": null` makes it a top-level team.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeam {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub parent_id: Option<Option<uuid::Uuid>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamManagers {
    /// Exactly these people manage the team (an empty list: nobody).
    pub manager_ids: Vec<uuid::Uuid>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Move the team's people, sub-teams and SCIM group to this team first (a merge); without
    /// it, only an empty team is deleted.
    pub into: Option<uuid::Uuid>,
}

fn team_id(raw: &str) -> Result<TeamId, ApiError> {
    raw.parse().map_err(|_| ApiError::BadRequest(format!("'{raw}' is not a team id (a UUID)")))
}

async fn detail(state: &AppState, client: &ApiClient, id: TeamId) -> Result<TeamDetail, ApiError> {
    let org = client.ctx.org.id;
    let team = state.store.team(org, id).await?.ok_or(ApiError::NotFound)?;
    let managers = state.store.team_managers(org).await?.into_iter().filter(|(t, _)| *t == id).map(|(_, m)| m.as_uuid()).collect();
    Ok(TeamDetail { id: team.id.as_uuid(), name: team.name.to_string(), parent_id: team.parent.map(|p| p.as_uuid()), manager_ids: managers })
}

const ID: &str = "The team's id";

/// One team.
#[utoipa::path(get, path = "/api/v1/teams/{id}", params(("id" = uuid::Uuid, Path, description = ID)),
    responses((status = 200, body = TeamDetail, headers(("ETag" = String))), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn get(State(state): State<AppState>, client: ApiClient, Path(IdPath { id }): Path<IdPath>) -> Result<Response, ApiError> {
    client.require(ApiScope::Read)?;
    Ok(tagged(StatusCode::OK, detail(&state, &client, team_id(&id)?).await?))
}

/// Create a team, at the top or below a parent.
#[utoipa::path(post, path = "/api/v1/teams", request_body = CreateTeam,
    params(("Idempotency-Key" = Option<String>, Header, description = "Send the same key when you retry: the first answer is sent again (kept 24 hours)")),
    responses((status = 201, body = TeamDetail, headers(("ETag" = String), ("Location" = String))), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(State(state): State<AppState>, client: ApiClient, ApiJson(body): ApiJson<CreateTeam>) -> Result<Response, ApiError> {
    client.require(ApiScope::Write)?;
    let id = admin::create_team(&state, client.ctx.org.id, client.actor(), &body.name, body.parent_id.map(TeamId::from_uuid)).await?;
    let created = tagged(StatusCode::CREATED, detail(&state, &client, id).await?);
    Ok(located(created, &state, &client, &format!("/api/v1/teams/{id}")))
}

/// Rename or re-parent a team; a parent that would make a loop is refused.
#[utoipa::path(patch, path = "/api/v1/teams/{id}", request_body = UpdateTeam,
    params(("id" = uuid::Uuid, Path, description = ID), ("If-Match" = Option<String>, Header, description = "The ETag of the version this change is based on")),
    responses((status = 200, body = TeamDetail, headers(("ETag" = String))), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 412, body = crate::error::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    client: ApiClient,
    Path(IdPath { id }): Path<IdPath>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateTeam>,
) -> Result<Response, ApiError> {
    client.require(ApiScope::Write)?;
    let id = team_id(&id)?;
    let before = detail(&state, &client, id).await?;
    check_if_match(&headers, &before)?;
    let name = body.name.unwrap_or(before.name);
    let parent = body.parent_id.unwrap_or(before.parent_id).map(TeamId::from_uuid);
    admin::update_team(&state, client.ctx.org.id, client.actor(), id, &name, parent).await?;
    Ok(tagged(StatusCode::OK, detail(&state, &client, id).await?))
}

/// Delete a team; with `into`, merge it into another team first.
#[utoipa::path(delete, path = "/api/v1/teams/{id}", params(("id" = uuid::Uuid, Path, description = ID), DeleteParams, ("If-Match" = Option<String>, Header, description = "The ETag of the version this change is based on")),
    responses((status = 204, description = "Deleted"), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 412, body = crate::error::Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    client: ApiClient,
    Path(IdPath { id }): Path<IdPath>,
    Query(params): Query<DeleteParams>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    client.require(ApiScope::Write)?;
    let id = team_id(&id)?;
    check_if_match(&headers, &detail(&state, &client, id).await?)?;
    admin::delete_team(&state, client.ctx.org.id, &client.actor(), id, params.into.map(TeamId::from_uuid)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set exactly who manages a team. Deactivated people cannot manage.
#[utoipa::path(put, path = "/api/v1/teams/{id}/managers", request_body = TeamManagers,
    params(("id" = uuid::Uuid, Path, description = ID), ("If-Match" = Option<String>, Header, description = "The ETag of the version this change is based on")),
    responses((status = 200, body = TeamDetail, headers(("ETag" = String))), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 412, body = crate::error::Problem)))]
pub async fn set_managers(
    State(state): State<AppState>,
    client: ApiClient,
    Path(IdPath { id }): Path<IdPath>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TeamManagers>,
) -> Result<Response, ApiError> {
    client.require(ApiScope::Write)?;
    let id = team_id(&id)?;
    check_if_match(&headers, &detail(&state, &client, id).await?)?;
    let ids: Vec<UserId> = body.manager_ids.into_iter().map(UserId::from_uuid).collect();
    admin::teams::set_manager_ids(&state, client.ctx.org.id, &client.actor(), id, &ids).await?;
    Ok(tagged(StatusCode::OK, detail(&state, &client, id).await?))
}
