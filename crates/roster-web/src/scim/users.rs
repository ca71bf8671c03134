//! `/Users`: every write plans the resource through `roster_app::provision::scim::plan_user`
//! and stores the resource and the plan in one transaction. A refused plan changes nothing.

use super::auth::require;
use super::list::{list_of, IdPath, ListParams, RawQuery};
use super::render::{resource_response, to_json, Projection};
use super::{back_off, check_if_match, parse_id, ScimBody, ScimClient, ScimResult, WRITE_ATTEMPTS};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use roster_app::provision::scim::{plan_user, UserPlan, UserPlanError};
use roster_app::provision::ProvisionError;
use roster_core::{IssueKind, Plan, UserId};
use roster_scim::{apply_patch, apply_put, prepare_create, PatchMode, Schema, ScimError};
use roster_store::{ScimDelete, ScimResource, ScimResourceType, ScimWrite, ScimWriteOutcome};
use serde_json::Value;
use uuid::Uuid;

const KIND: ScimResourceType = ScimResourceType::User;

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
    let resource = require(state.store.scim_resource(client.ctx.org.id, KIND, id).await?, "User")?;
    respond(&state, &client, StatusCode::OK, &resource, &ListParams::from_query(&query).projection.projection()).await
}

async fn respond(
    state: &AppState,
    client: &ScimClient,
    status: StatusCode,
    resource: &ScimResource,
    projection: &Projection,
) -> ScimResult<Response> {
    let groups = state.store.scim_groups_of(client.ctx.org.id, resource.id).await?;
    resource_response(status, resource, &client.base_url, &groups, projection)
}

pub async fn create(
    State(state): State<AppState>,
    client: ScimClient,
    axum::extract::Query(query): RawQuery,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let document = super::off_the_workers(move || prepare_create(&body, Schema::user())).await?;
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
    for attempt in 0..WRITE_ATTEMPTS {
        back_off(attempt).await;
        if let Some(written) = write(&state, &client, resource.clone(), None, now).await? {
            return respond(&state, &client, StatusCode::CREATED, &written, &ListParams::from_query(&query).projection.projection()).await;
        }
    }
    Err(ScimError::conflict("the User was created by another request at the same time").into())
}

pub async fn replace(
    State(state): State<AppState>,
    client: ScimClient,
    Path(path): Path<IdPath>,
    headers: HeaderMap,
    axum::extract::Query(query): RawQuery,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    update(&state, &client, &path.id, &headers, &query, move |current| apply_put(current, &body, Schema::user())).await
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
    update(&state, &client, &path.id, &headers, &query, move |current| apply_patch(current, &body, Schema::user(), mode)).await
}

/// Entra's leniencies by default (they never hurt an Okta client); `strict_patch` in the
/// connection's settings follows RFC 7644 to the letter.
pub(super) fn patch_mode(client: &ScimClient) -> PatchMode {
    if client.settings.strict_patch {
        PatchMode::strict()
    } else {
        PatchMode::entra()
    }
}

/// Read, change, write; again when another writer of the same User committed in between.
async fn update(
    state: &AppState,
    client: &ScimClient,
    raw_id: &str,
    headers: &HeaderMap,
    query: &std::collections::HashMap<String, String>,
    change: impl Fn(&Value) -> Result<Value, ScimError> + Send + Sync + 'static,
) -> ScimResult<Response> {
    let change = std::sync::Arc::new(change);
    let id = parse_id(raw_id)?;
    for attempt in 0..WRITE_ATTEMPTS {
        back_off(attempt).await;
        let current = require(state.store.scim_resource(client.ctx.org.id, KIND, id).await?, "User")?;
        check_if_match(headers, current.version)?;
        let (change, before) = (change.clone(), to_json(&current, &client.base_url, &[]));
        let document = stored_form(super::off_the_workers(move || change(&before)).await?);
        let now = state.clock.now();
        let next = ScimResource { document, version: current.version + 1, updated_at: now, ..current.clone() };
        if let Some(written) = write(state, client, next, Some(current.version), now).await? {
            return respond(state, client, StatusCode::OK, &written, &ListParams::from_query(query).projection.projection()).await;
        }
    }
    Err(ScimError::conflict("the User is being changed by other requests; try again").into())
}

/// What is stored: the client's attributes without the server's `id`, `meta` and `groups`.
pub(super) fn stored_form(mut document: Value) -> Value {
    if let Value::Object(map) = &mut document {
        for key in ["id", "meta", "groups"] {
            map.remove(key);
        }
    }
    document
}

pub async fn delete(State(state): State<AppState>, client: ScimClient, Path(path): Path<IdPath>, headers: HeaderMap) -> ScimResult<Response> {
    let id = parse_id(&path.id)?;
    for attempt in 0..WRITE_ATTEMPTS {
        back_off(attempt).await;
        let current = require(state.store.scim_resource(client.ctx.org.id, KIND, id).await?, "User")?;
        check_if_match(&headers, current.version)?;
        // The person is deactivated, never deleted: their history stays.
        let now = state.clock.now();
        let (plan, person, hold) = plan_for(&state, &client, &current, Some(false)).await?;
        let hold_deactivation = person.filter(|_| hold).map(|p| (p, client.connection.id));
        let groups = groups_without(&state, &client, id, now).await?;
        let outcome = state
            .store
            .scim_delete(
                &ScimDelete { org: client.ctx.org.id, kind: KIND, id, expected_version: current.version, also: &groups, hold_deactivation },
                &plan,
                now,
            )
            .await?;
        if outcome == ScimWriteOutcome::Written {
            if hold_deactivation.is_some() {
                roster_app::provision::waiting::notify_first_waiting(&state, client.ctx.org.id, &client.connection).await?;
            }
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
    Err(ScimError::conflict("the User is being changed by other requests; try again").into())
}

/// The Groups `member` is in, rewritten without it, so that no Group lists a deleted User.
async fn groups_without(state: &AppState, client: &ScimClient, member: Uuid, now: DateTime<Utc>) -> ScimResult<Vec<ScimWrite>> {
    let org = client.ctx.org.id;
    let ids: Vec<Uuid> = state.store.scim_groups_of(org, member).await?.into_iter().map(|(id, _)| id).collect();
    let mut writes = Vec::with_capacity(ids.len());
    for group in state.store.scim_resources(org, ScimResourceType::Group, &ids).await? {
        let mut document = group.document.clone();
        if let Some(Value::Array(members)) = document.get_mut("members") {
            members.retain(|m| m.get("value").and_then(Value::as_str) != Some(member.to_string().as_str()));
        }
        let remaining = state.store.scim_members(org, group.id).await?.into_iter().filter(|m| *m != member).collect();
        let expected = group.version;
        let resource = ScimResource { document, version: group.version + 1, updated_at: now, ..group };
        writes.push(ScimWrite { resource, expected_version: Some(expected), members: Some(remaining), hold_deactivation: false });
    }
    Ok(writes)
}

/// Plan and store one User; `None` when another writer got there first.
async fn write(
    state: &AppState,
    client: &ScimClient,
    mut resource: ScimResource,
    expected: Option<i64>,
    now: DateTime<Utc>,
) -> ScimResult<Option<ScimResource>> {
    let user_name = resource
        .document
        .get("userName")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_value("\"userName\" is required"))?;
    if let Some(holder) = state.store.scim_user_by_name(client.ctx.org.id, &user_name).await? {
        if holder.id != resource.id {
            return Err(ScimError::uniqueness(roster_store::SCIM_USER_NAME_TAKEN).into());
        }
    }
    resource.user_name = Some(user_name);
    resource.external_id = resource.document.get("externalId").and_then(Value::as_str).map(str::to_owned);
    resource.display_name = resource.document.get("displayName").and_then(Value::as_str).map(str::to_owned);
    let (plan, person, hold_deactivation) = plan_for(state, client, &resource, None).await?;
    resource.person = person;
    let write = ScimWrite { resource, expected_version: expected, members: None, hold_deactivation };
    match state.store.scim_write(&write, &plan, now).await {
        Ok(ScimWriteOutcome::Written) => {
            if write.hold_deactivation {
                roster_app::provision::waiting::notify_first_waiting(state, client.ctx.org.id, &client.connection).await?;
            }
            Ok(Some(write.resource))
        }
        // Another writer created the department's team first: plan again.
        Ok(ScimWriteOutcome::Stale) => Ok(None),
        Err(race) if race.is_team_race() => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The plan that brings the directory in line with `resource` (with `active` overridden when
/// given), and the person it provisions. A refused plan is the client's error, in SCIM's terms.
async fn plan_for(state: &AppState, client: &ScimClient, resource: &ScimResource, active: Option<bool>) -> ScimResult<(Plan, Option<UserId>, bool)> {
    let planned = plan_user(state, client.ctx.org.id, &client.connection, &client.settings, resource.id, &resource.document, active).await;
    let UserPlan { plan, person, hold_deactivation } = match planned {
        Ok(planned) => planned,
        Err(UserPlanError::Mapping(message)) => return Err(ScimError::invalid_value(message).into()),
        Err(UserPlanError::Provision(ProvisionError::Store(error))) => return Err(error.into()),
        Err(UserPlanError::Provision(held @ ProvisionError::Held(_))) => return Err(ScimError::conflict(held.to_string()).into()),
        Err(UserPlanError::Provision(ProvisionError::Refused(plan))) => {
            return Err(refusal(&plan).unwrap_or_else(|| ScimError::invalid_value("the User was refused")).into())
        }
    };
    if let Some(error) = refusal(&plan) {
        return Err(error.into());
    }
    Ok((plan, person, hold_deactivation))
}

/// A manager the reconciler cannot resolve (not provisioned yet, the person themself, a
/// reporting loop) leaves the rest of the write standing; any other issue refuses it whole.
fn refusal(plan: &Plan) -> Option<ScimError> {
    let issue = plan.report.issues.iter().find(|i| !i.kind.is_manager_note())?;
    Some(match issue.kind {
        IssueKind::Conflict | IssueKind::Duplicate => ScimError::uniqueness(issue.message.clone()),
        IssueKind::Protected => ScimError::forbidden(issue.message.clone()),
        _ => ScimError::invalid_value(issue.message.clone()),
    })
}
