//! The write API for people: create, change, deactivate, reactivate, invite and erase, with
//! the same actions, rules and refusals as the pages (a person a connection provisions keeps
//! their provisioned fields; only owners touch owners; the organisation keeps an owner).

use super::users::UserDto;
use super::versions::{check_if_match, tagged};
use super::{located, present, ApiClient, ApiJson, IdPath};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use roster_app::admin::people::{self, NewPersonForm, PersonChanges, ProfileEdit};
use roster_core::{Role, TeamId, UserId};
use roster_store::ApiScope;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub location: Option<String>,
    pub language: Option<String>,
    pub hire_date: Option<NaiveDate>,
    /// `admin`, `manager` or `learner` (the default). Keys cannot make owners.
    pub role: Option<String>,
    pub primary_team_id: Option<uuid::Uuid>,
    #[serde(default)]
    pub secondary_team_ids: Vec<uuid::Uuid>,
    pub manager_id: Option<uuid::Uuid>,
    /// Send the invitation e-mail now (default false: invite later with `/invite`).
    #[serde(default)]
    pub send_invitation: bool,
}

/// Fields left out stay as they are; `null` clears an optional one.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub job_title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub department: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<NaiveDate>)]
    pub hire_date: Option<Option<NaiveDate>>,
    /// `owner`, `admin`, `manager` or `learner`; keys cannot make or unmake owners.
    pub role: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub primary_team_id: Option<Option<uuid::Uuid>>,
    /// Exactly these secondary teams.
    pub secondary_team_ids: Option<Vec<uuid::Uuid>>,
    /// The override manager; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub manager_id: Option<Option<uuid::Uuid>>,
}

fn role(raw: &str) -> Result<Role, ApiError> {
    raw.parse::<Role>().map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse().map_err(|_| ApiError::BadRequest(format!("'{raw}' is not a user id (a UUID)")))
}

fn teams(ids: &[uuid::Uuid]) -> Vec<TeamId> {
    ids.iter().copied().map(TeamId::from_uuid).collect()
}

async fn current(state: &AppState, client: &ApiClient, id: UserId) -> Result<UserDto, ApiError> {
    Ok(UserDto::from(state.store.person(client.ctx.org.id, id).await?.ok_or(ApiError::NotFound)?))
}

/// Add a person by hand: invited, not provisioned by any connection.
#[utoipa::path(post, path = "/api/v1/users", request_body = CreateUser,
    params(("Idempotency-Key" = Option<String>, Header, description = "Send the same key when you retry: the first answer is sent again (kept 24 hours)")),
    responses((status = 201, body = UserDto, headers(("ETag" = String), ("Location" = String))), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(State(state): State<AppState>, client: ApiClient, ApiJson(body): ApiJson<CreateUser>) -> Result<Response, ApiError> {
    client.require(ApiScope::Write)?;
    let text = |v: Option<String>| v.unwrap_or_default();
    let form = NewPersonForm {
        email: body.email,
        profile: ProfileEdit {
            first_name: body.first_name,
            last_name: body.last_name,
            job_title: text(body.job_title),
            department: text(body.department),
            location: text(body.location),
            language: text(body.language),
            hire_date: body.hire_date.map(|d| d.to_string()).unwrap_or_default(),
        },
        role: body.role.as_deref().map(role).transpose()?.unwrap_or(Role::Learner),
        primary_team: body.primary_team_id.map(TeamId::from_uuid),
        secondary_teams: teams(&body.secondary_team_ids),
        manager: body.manager_id.map(UserId::from_uuid),
        invite: body.send_invitation,
    };
    let person = people::create(&state, client.ctx.org.id, &client.acting(), &form).await?;
    let path = format!("/api/v1/users/{}", person.id);
    Ok(located(tagged(StatusCode::CREATED, UserDto::from(person)), &state, &client, &path))
}

/// Change a person: only the fields sent. Send `If-Match` with the ETag you read to refuse the
/// write (412) if someone changed them since.
#[utoipa::path(patch, path = "/api/v1/users/{id}", request_body = UpdateUser,
    params(("id" = uuid::Uuid, Path, description = "The person's id"), ("If-Match" = Option<String>, Header, description = "The ETag of the version this change is based on")),
    responses((status = 200, body = UserDto, headers(("ETag" = String))), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 412, body = crate::error::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    client: ApiClient,
    Path(IdPath { id }): Path<IdPath>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Response, ApiError> {
    client.require(ApiScope::Write)?;
    let id = user_id(&id)?;
    let before = current(&state, &client, id).await?;
    check_if_match(&headers, &before)?;
    let touches_profile = body.first_name.is_some()
        || [&body.last_name, &body.job_title, &body.department, &body.location, &body.language].iter().any(|f| f.is_some())
        || body.hire_date.is_some();
    let profile = touches_profile.then(|| {
        let keep = |sent: Option<Option<String>>, now: Option<String>| sent.unwrap_or(now).unwrap_or_default();
        ProfileEdit {
            first_name: body.first_name.clone().unwrap_or(before.first_name.clone()),
            last_name: keep(body.last_name.clone(), Some(before.last_name.clone())),
            job_title: keep(body.job_title.clone(), before.job_title.clone()),
            department: keep(body.department.clone(), before.department.clone()),
            location: keep(body.location.clone(), before.location.clone()),
            language: keep(body.language.clone(), before.language.clone()),
            hire_date: body.hire_date.unwrap_or(before.hire_date).map(|d| d.to_string()).unwrap_or_default(),
        }
    });
    let changes = PersonChanges {
        email: body.email,
        profile,
        role: body.role.as_deref().map(role).transpose()?,
        active: None,
        manager: body.manager_id.map(|m| m.map(UserId::from_uuid)),
        primary_team: body.primary_team_id.map(|t| t.map(TeamId::from_uuid)),
        secondary_teams: body.secondary_team_ids.as_deref().map(teams),
    };
    let person = people::update(&state, client.ctx.org.id, &client.acting(), id, &changes).await?;
    Ok(tagged(StatusCode::OK, UserDto::from(person)))
}

async fn set_active(state: AppState, client: ApiClient, id: String, headers: HeaderMap, active: bool) -> Result<Response, ApiError> {
    client.require(ApiScope::Write)?;
    let id = user_id(&id)?;
    check_if_match(&headers, &current(&state, &client, id).await?)?;
    let changes = PersonChanges { active: Some(active), ..Default::default() };
    let person = people::update(&state, client.ctx.org.id, &client.acting(), id, &changes).await?;
    Ok(tagged(StatusCode::OK, UserDto::from(person)))
}

/// Deactivate a person: signed out everywhere, their open links void; nothing is deleted.
/// Deactivating someone deactivated already changes nothing.
#[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", params(("id" = uuid::Uuid, Path, description = "The person's id"), ("If-Match" = Option<String>, Header, description = "The ETag of the version this change is based on")),
    responses((status = 200, body = UserDto), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 412, body = crate::error::Problem)))]
pub async fn deactivate(
    State(state): State<AppState>,
    client: ApiClient,
    Path(IdPath { id }): Path<IdPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_active(state, client, id, headers, false).await
}

/// Reactivate a person: active again if they ever signed in, else invited.
#[utoipa::path(post, path = "/api/v1/users/{id}/reactivate", params(("id" = uuid::Uuid, Path, description = "The person's id"), ("If-Match" = Option<String>, Header, description = "The ETag of the version this change is based on")),
    responses((status = 200, body = UserDto), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 412, body = crate::error::Problem)))]
pub async fn reactivate(
    State(state): State<AppState>,
    client: ApiClient,
    Path(IdPath { id }): Path<IdPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_active(state, client, id, headers, true).await
}

/// Send (or send again) a person's invitation e-mail.
#[utoipa::path(post, path = "/api/v1/users/{id}/invite", params(("id" = uuid::Uuid, Path, description = "The person's id")),
    responses((status = 202, description = "The invitation is on its way"), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn invite(State(state): State<AppState>, client: ApiClient, Path(IdPath { id }): Path<IdPath>) -> Result<StatusCode, ApiError> {
    client.require(ApiScope::Write)?;
    roster_app::admin::invite(&state, client.ctx.org.id, client.actor(), user_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Unlink a person from the connection that provisions them: its runs stop changing them, and
/// they can be changed (and erased) here. Unlinking someone no connection provisions changes nothing.
#[utoipa::path(post, path = "/api/v1/users/{id}/unlink", params(("id" = uuid::Uuid, Path, description = "The person's id")),
    responses((status = 200, body = UserDto), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn unlink(State(state): State<AppState>, client: ApiClient, Path(IdPath { id }): Path<IdPath>) -> Result<Response, ApiError> {
    client.require(ApiScope::Write)?;
    let id = user_id(&id)?;
    people::unlink(&state, client.ctx.org.id, &client.acting(), id).await?;
    Ok(tagged(StatusCode::OK, current(&state, &client, id).await?))
}

/// Erase a person (a data-protection request): their personal data is replaced by a
/// placeholder everywhere Roster holds it. Refused for someone a connection provisions.
#[utoipa::path(post, path = "/api/v1/users/{id}/erase", params(("id" = uuid::Uuid, Path, description = "The person's id"), ("If-Match" = Option<String>, Header, description = "The ETag of the version this change is based on")),
    responses((status = 200, body = UserDto, description = "The person as they are now: a placeholder"), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 412, body = crate::error::Problem)))]
pub async fn erase(
    State(state): State<AppState>,
    client: ApiClient,
    Path(IdPath { id }): Path<IdPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    client.require(ApiScope::Write)?;
    let id = user_id(&id)?;
    check_if_match(&headers, &current(&state, &client, id).await?)?;
    people::erase(&state, client.ctx.org.id, &client.acting(), id).await?;
    Ok(tagged(StatusCode::OK, current(&state, &client, id).await?))
}
