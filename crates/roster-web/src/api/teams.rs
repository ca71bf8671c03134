//! `GET /api/v1/teams`.

use super::ApiClient;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct TeamDto {
    pub id: uuid::Uuid,
    pub name: String,
    pub parent_id: Option<uuid::Uuid>,
    pub primary_members: u64,
    pub secondary_members: u64,
}

#[derive(Serialize, ToSchema)]
pub struct TeamList {
    pub data: Vec<TeamDto>,
}

/// Every team of the organisation, with its parent and member counts.
#[utoipa::path(get, path = "/api/v1/teams", responses((status = 200, body = TeamList), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn list(State(state): State<AppState>, client: ApiClient) -> Result<Json<TeamList>, ApiError> {
    client.require(roster_store::ApiScope::Read)?;
    let teams = state.store.teams(client.ctx.org.id).await?;
    let data = teams
        .into_iter()
        .map(|t| TeamDto {
            id: t.team.id.as_uuid(),
            name: t.team.name.to_string(),
            parent_id: t.team.parent.map(|p| p.as_uuid()),
            primary_members: t.primary_members,
            secondary_members: t.secondary_members,
        })
        .collect();
    Ok(Json(TeamList { data }))
}
