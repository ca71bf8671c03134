//! `GET /api/v1/users` and `GET /api/v1/users/{id}`.

use super::ApiClient;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use roster_core::query::{PersonFilter, PersonQuery, PersonSort, SortKey, MAX_PAGE_SIZE};
use roster_core::{Email, Person, Role, Status, TeamId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct SourceDto {
    pub connection_id: uuid::Uuid,
    pub external_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserDto {
    pub id: uuid::Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub location: Option<String>,
    pub language: Option<String>,
    pub hire_date: Option<NaiveDate>,
    pub custom_fields: BTreeMap<String, String>,
    /// `invited`, `active` or `deactivated`.
    pub status: String,
    /// `owner`, `admin`, `manager` or `learner`.
    pub role: String,
    pub primary_team_id: Option<uuid::Uuid>,
    pub secondary_team_ids: Vec<uuid::Uuid>,
    pub manager_id: Option<uuid::Uuid>,
    pub avatar_url: Option<String>,
    /// Set when an identity provider provisions this person.
    pub source: Option<SourceDto>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Person> for UserDto {
    fn from(p: Person) -> Self {
        UserDto {
            id: p.id.as_uuid(),
            display_name: p.display_name(),
            email: p.email.to_string(),
            first_name: p.profile.first_name,
            last_name: p.profile.last_name,
            job_title: p.profile.job_title,
            department: p.profile.department,
            location: p.profile.location,
            language: p.profile.language,
            hire_date: p.profile.hire_date,
            custom_fields: p.profile.custom_fields,
            status: p.status.to_string(),
            role: p.role.to_string(),
            primary_team_id: p.primary_team.map(|t| t.as_uuid()),
            secondary_team_ids: p.secondary_teams.iter().map(|t| t.as_uuid()).collect(),
            manager_id: p.manager.map(|m| m.as_uuid()),
            avatar_url: p.avatar_url,
            source: p.source.map(|s| SourceDto { connection_id: s.connection.as_uuid(), external_id: s.external_id }),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub data: Vec<UserDto>,
    /// Every match of the filters.
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    /// The `offset` of the next page, absent on the last page.
    pub next_offset: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilters {
    /// Case-insensitive prefix of the name or email.
    pub q: Option<String>,
    /// `invited`, `active` or `deactivated`.
    pub status: Option<String>,
    /// `owner`, `admin`, `manager` or `learner`.
    pub role: Option<String>,
    /// Primary or secondary member of this team.
    pub team_id: Option<uuid::Uuid>,
    pub email: Option<String>,
    pub manager_id: Option<uuid::Uuid>,
    /// 1 to 500; default 50.
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    /// `name` (the default), `email`, `job_title`, `team`, `role` or `status`; ties in name order.
    pub sort: Option<String>,
    /// `asc` (the default) or `desc`.
    pub order: Option<String>,
}

impl UserFilters {
    fn to_filter(&self) -> Result<Option<PersonFilter>, ApiError> {
        let bad = |e: &dyn std::fmt::Display| ApiError::BadRequest(e.to_string());
        let mut parts = Vec::new();
        if let Some(q) = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            parts.push(PersonFilter::TextPrefix(q.to_owned()));
        }
        if let Some(status) = &self.status {
            parts.push(PersonFilter::Status(status.parse::<Status>().map_err(|e| bad(&e))?));
        }
        if let Some(role) = &self.role {
            parts.push(PersonFilter::Role(role.parse::<Role>().map_err(|e| bad(&e))?));
        }
        if let Some(team) = self.team_id {
            parts.push(PersonFilter::Team(TeamId::from_uuid(team)));
        }
        if let Some(email) = &self.email {
            parts.push(PersonFilter::EmailIs(Email::parse(email).map_err(|e| bad(&e))?));
        }
        if let Some(manager) = self.manager_id {
            parts.push(PersonFilter::ManagerIs(UserId::from_uuid(manager)));
        }
        Ok(PersonFilter::all(parts))
    }

    fn sort(&self) -> Result<PersonSort, ApiError> {
        let key = match &self.sort {
            Some(raw) => raw.parse::<SortKey>().map_err(ApiError::BadRequest)?,
            None => SortKey::Name,
        };
        let descending = match self.order.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(ApiError::BadRequest(format!("order must be asc or desc, not '{other}'"))),
        };
        Ok(PersonSort { key, descending })
    }
}

/// List people, filtered, sorted (by name unless asked) and paginated.
#[utoipa::path(get, path = "/api/v1/users", params(UserFilters),
    responses((status = 200, body = UserPage), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn list(State(state): State<AppState>, client: ApiClient, Query(filters): Query<UserFilters>) -> Result<Json<UserPage>, ApiError> {
    client.require(roster_store::ApiScope::Read)?;
    let limit = filters.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE_SIZE {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE_SIZE}")));
    }
    let offset = filters.offset.unwrap_or(0);
    let query = PersonQuery::new(filters.to_filter()?, offset, limit).sorted(filters.sort()?);
    let page = state.store.search_people(client.ctx.org.id, &query).await?;
    // `PersonQuery::new` asks for the total, so it is always there.
    let total = page.total.unwrap_or(0);
    let returned = page.people.len() as u64;
    let next_offset = (offset + returned < total).then_some(offset + returned);
    Ok(Json(UserPage { data: page.people.into_iter().map(UserDto::from).collect(), total, limit, offset, next_offset }))
}

#[derive(Deserialize)]
pub struct UserPath {
    id: String,
}

/// One person by id.
#[utoipa::path(get, path = "/api/v1/users/{id}", params(("id" = uuid::Uuid, Path, description = "The person's id")),
    responses((status = 200, body = UserDto, headers(("ETag" = String))), (status = 404, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn get(State(state): State<AppState>, client: ApiClient, Path(path): Path<UserPath>) -> Result<axum::response::Response, ApiError> {
    client.require(roster_store::ApiScope::Read)?;
    let id: UserId = path.id.parse().map_err(|_| ApiError::BadRequest(format!("'{}' is not a user id (a UUID)", path.id)))?;
    let person = state.store.person(client.ctx.org.id, id).await?.ok_or(ApiError::NotFound)?;
    Ok(super::versions::tagged(axum::http::StatusCode::OK, UserDto::from(person)))
}
