//! `/Groups`: a Group stands for the team of the same name (created when missing, matched
//! without regard to case). Its members get a SECONDARY membership of that team, never the
//! primary one, which the department decides. Deleting a Group ends those memberships and
//! keeps the team.

use super::auth::require;
use super::list::{list_of, IdPath, ListParams, RawQuery};
use super::render::{resource_response, to_json};
use super::users::{patch_mode, stored_form};
use super::{back_off, check_if_match, parse_id, ScimBody, ScimClient, ScimResult, WRITE_ATTEMPTS};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use roster_app::provision::scim::{member_people, plan_group};
use roster_core::{Actor, Change, Plan};
use roster_scim::{apply_patch, apply_put, prepare_create, Schema, ScimError};
use roster_store::{ScimDelete, ScimResource, ScimResourceType, ScimWrite, ScimWriteOutcome};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

const KIND: ScimResourceType = ScimResourceType::Group;

pub async fn list(State(state): State<AppState>, client: ScimClient, axum::extract::Query(query): RawQuery) -> ScimResult<Response> {
    list_of(&state, &client, KIND, &ListParams::from_query(&query)).await
}

pub async fn get(
    State(state): State<AppState>,
    client: ScimClient,
    Path(path): Path<IdPath>,
    axum::extract::Query(query): RawQuery,
) -> ScimResult<Response> {
    let id = parse_id(&path.id)?;
    let resource = require(state.store.scim_resource(client.ctx.org.id, KIND, id).await?, "Group")?;
    resource_response(StatusCode::OK, &resource, &client.base_url, &[], &ListParams::from_query(&query).projection.projection())
}

pub async fn create(
    State(state): State<AppState>,
    client: ScimClient,
    axum::extract::Query(query): RawQuery,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let document = super::off_the_workers(move || prepare_create(&body, Schema::group())).await?;
    let now = state.clock.now();
    let resource = ScimResource {
        org: client.ctx.org.id,
        connection: client.connection.id,
        resource_type: KIND,
        id: Uuid::now_v7(),
        external_id: None,
        user_name: None,
        display_name: None,
        document,
        version: 1,
        created_at: now,
        updated_at: now,
        person: None,
        team: None,
    };
    let written = write(&state, &client, resource, None, now).await?;
    let written = written.ok_or_else(|| ScimError::conflict("the Group was created by another request at the same time"))?;
    resource_response(StatusCode::CREATED, &written, &client.base_url, &[], &ListParams::from_query(&query).projection.projection())
}

pub async fn replace(
    State(state): State<AppState>,
    client: ScimClient,
    Path(path): Path<IdPath>,
    headers: HeaderMap,
    axum::extract::Query(query): RawQuery,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    update(&state, &client, &path.id, &headers, &query, move |current| apply_put(current, &body, Schema::group())).await
}

pub async fn patch(
    State(state): State<AppState>,
    client: ScimClient,
    Path(path): Path<IdPath>,
    headers: HeaderMap,
    axum::extract::Query(query): RawQuery,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let mode = patch_mode(&client);
    update(&state, &client, &path.id, &headers, &query, move |current| apply_patch(current, &body, Schema::group(), mode)).await
}

async fn update(
    state: &AppState,
    client: &ScimClient,
    raw_id: &str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    change: impl Fn(&Value) -> Result<Value, ScimError> + Send + Sync + 'static,
) -> ScimResult<Response> {
    let change = std::sync::Arc::new(change);
    let id = parse_id(raw_id)?;
    for attempt in 0..WRITE_ATTEMPTS {
        back_off(attempt).await;
        let current = require(state.store.scim_resource(client.ctx.org.id, KIND, id).await?, "Group")?;
        check_if_match(headers, current.version)?;
        let (change, before) = (change.clone(), to_json(&current, &client.base_url, &[]));
        let document = stored_form(super::off_the_workers(move || change(&before)).await?);
        let now = state.clock.now();
        let next = ScimResource { document, version: current.version + 1, updated_at: now, ..current.clone() };
        if let Some(written) = write(state, client, next, Some(current), now).await? {
            return resource_response(StatusCode::OK, &written, &client.base_url, &[], &ListParams::from_query(query).projection.projection());
        }
    }
    Err(ScimError::conflict("the Group is being changed by other requests; try again").into())
}

pub async fn delete(State(state): State<AppState>, client: ScimClient, Path(path): Path<IdPath>, headers: HeaderMap) -> ScimResult<Response> {
    let id = parse_id(&path.id)?;
    let org = client.ctx.org.id;
    for attempt in 0..WRITE_ATTEMPTS {
        back_off(attempt).await;
        let current = require(state.store.scim_resource(org, KIND, id).await?, "Group")?;
        check_if_match(&headers, current.version)?;
        let mut plan = Plan::new(org, Actor::Connection { id: client.connection.id });
        if let Some(team) = current.team {
            let members = state.store.scim_members(org, id).await?;
            for person in member_people(&state, org, &members).await?.into_values() {
                plan.changes.push(Change::RemoveSecondaryTeam { id: person, team });
            }
        }
        let outcome = state
            .store
            .scim_delete(
                &ScimDelete { org, kind: KIND, id, expected_version: current.version, also: &[], hold_deactivation: None },
                &plan,
                state.clock.now(),
            )
            .await?;
        if outcome == ScimWriteOutcome::Written {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
    Err(ScimError::conflict("the Group is being changed by other requests; try again").into())
}

/// Plan the team and its memberships, and store the Group; `None` when another writer of the
/// same Group committed first.
async fn write(
    state: &AppState,
    client: &ScimClient,
    mut resource: ScimResource,
    previous: Option<ScimResource>,
    now: DateTime<Utc>,
) -> ScimResult<Option<ScimResource>> {
    let planned = plan_group(state, client.ctx.org.id, client.connection.id, &resource, previous.as_ref()).await?;
    resource.display_name = Some(planned.display_name);
    resource.external_id = resource.document.get("externalId").and_then(Value::as_str).map(str::to_owned);
    resource.team = Some(planned.team);
    let write = ScimWrite { resource, expected_version: previous.map(|p| p.version), members: Some(planned.members), hold_deactivation: false };
    match state.store.scim_write(&write, &planned.plan, now).await? {
        ScimWriteOutcome::Written => Ok(Some(write.resource)),
        ScimWriteOutcome::Stale => Ok(None),
    }
}
