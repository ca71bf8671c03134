//! Listing and searching (GET with a query, `POST /.search`) and the discovery endpoints.

use super::render::{to_json, Projection};
use super::{scim_json, ScimBody, ScimClient, ScimResult, MAX_RESULTS};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_scim::schema::{resource_types_json, schemas_json, service_provider_config_json, DiscoveryLimits};
use roster_scim::{parse_filter, parse_sort, project, ListResponse, Paging, ScimError};
use roster_store::{check_scim_filter, check_scim_sort, ScimPage, ScimQuery, ScimResourceType};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// The query parameters of a list, or the body of a `.search` (RFC 7644 §3.4.3).
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub filter: Option<String>,
    #[serde(rename = "startIndex")]
    pub start_index: Option<Value>,
    pub count: Option<Value>,
    #[serde(rename = "sortBy")]
    pub sort_by: Option<String>,
    #[serde(rename = "sortOrder")]
    pub sort_order: Option<String>,
    #[serde(flatten)]
    pub projection: ProjectionParams,
}

/// `attributes` may be a comma-separated string (query) or an array (`.search` body).
#[derive(Debug, Default, Deserialize)]
pub struct ProjectionParams {
    pub attributes: Option<Value>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<Value>,
}

fn joined(value: &Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
        _ => None,
    }
}

impl ProjectionParams {
    pub fn projection(&self) -> Projection {
        Projection { attributes: joined(&self.attributes), excluded_attributes: joined(&self.excluded_attributes) }
    }
}

fn integer(value: &Option<Value>, name: &str) -> ScimResult<Option<i64>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer")).into()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, not \"{s}\"")).into())
        }
        Some(_) => Err(ScimError::invalid_value(format!("{name} must be an integer")).into()),
    }
}

/// One page of one resource type, as JSON resources, and the total.
async fn page_of(
    state: &AppState,
    client: &ScimClient,
    kind: ScimResourceType,
    params: &ListParams,
    offset: usize,
    count: usize,
) -> ScimResult<(usize, Vec<Value>)> {
    let schema = kind.schema();
    let filter = match params.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(raw) => {
            let filter = parse_filter(raw)?;
            filter.validate(schema)?;
            check_scim_filter(&filter, schema).map_err(ScimError::invalid_filter)?;
            Some(filter)
        }
        None => None,
    };
    let sort = parse_sort(params.sort_by.as_deref(), params.sort_order.as_deref(), schema)?;
    if let Some(sort) = &sort {
        check_scim_sort(sort, schema).map_err(ScimError::invalid_value)?;
    }
    let query = ScimQuery { filter: filter.as_ref(), sort: sort.as_ref(), offset, count };
    let ScimPage { total, resources } = state.store.scim_list(client.ctx.org.id, kind, &query).await?;
    let projection = params.projection.projection();
    let mut out = Vec::with_capacity(resources.len());
    for resource in &resources {
        let json = to_json(resource, &client.base_url, &[]);
        out.push(project(&json, projection.attributes.as_deref(), projection.excluded_attributes.as_deref(), schema)?);
    }
    Ok((total, out))
}

fn paging(params: &ListParams) -> ScimResult<Paging> {
    Ok(Paging::from_query(integer(&params.start_index, "startIndex")?, integer(&params.count, "count")?, MAX_RESULTS))
}

pub(super) async fn list_of(state: &AppState, client: &ScimClient, kind: ScimResourceType, params: &ListParams) -> ScimResult<Response> {
    let paging = paging(params)?;
    let (total, resources) = page_of(state, client, kind, params, paging.offset(), paging.count).await?;
    Ok(scim_json(StatusCode::OK, &ListResponse::page(total, paging, resources).to_json()))
}

pub async fn search_users(State(state): State<AppState>, client: ScimClient, ScimBody(body): ScimBody) -> ScimResult<Response> {
    let params = search_params(body)?;
    list_of(&state, &client, ScimResourceType::User, &params).await
}

pub async fn search_groups(State(state): State<AppState>, client: ScimClient, ScimBody(body): ScimBody) -> ScimResult<Response> {
    let params = search_params(body)?;
    list_of(&state, &client, ScimResourceType::Group, &params).await
}

/// `POST /.search` at the root: Users, then Groups, paged as one list. A filter that names an
/// attribute one type lacks selects nothing of that type.
pub async fn search_all(State(state): State<AppState>, client: ScimClient, ScimBody(body): ScimBody) -> ScimResult<Response> {
    let params = search_params(body)?;
    let paging = paging(&params)?;
    let mut total = 0;
    let mut resources = Vec::new();
    let mut offset = paging.offset();
    let mut errors = Vec::new();
    for kind in [ScimResourceType::User, ScimResourceType::Group] {
        let wanted = paging.count.saturating_sub(resources.len());
        match page_of(&state, &client, kind, &params, offset, wanted).await {
            Ok((kind_total, page)) => {
                offset = offset.saturating_sub(kind_total);
                total += kind_total;
                resources.extend(page);
            }
            Err(failure) if failure.error.status == 400 => errors.push(failure),
            Err(failure) => return Err(failure),
        }
    }
    if errors.len() == 2 {
        return Err(errors.remove(0));
    }
    Ok(scim_json(StatusCode::OK, &ListResponse::page(total, paging, resources).to_json()))
}

fn search_params(body: Value) -> ScimResult<ListParams> {
    serde_json::from_value(body).map_err(|e| ScimError::invalid_syntax(format!("not a SearchRequest: {e}")).into())
}

fn limits() -> DiscoveryLimits {
    DiscoveryLimits { max_results: MAX_RESULTS, documentation_uri: None }
}

pub async fn service_provider_config(client: ScimClient) -> Response {
    scim_json(StatusCode::OK, &service_provider_config_json(&client.base_url, &limits()))
}

pub async fn resource_types(client: ScimClient) -> ScimResult<Response> {
    Ok(scim_json(StatusCode::OK, &resource_types_json(&client.base_url, None)?))
}

pub async fn resource_type(client: ScimClient, Path(params): Path<NamePath>) -> ScimResult<Response> {
    Ok(scim_json(StatusCode::OK, &resource_types_json(&client.base_url, Some(&params.name))?))
}

pub async fn schemas(client: ScimClient) -> ScimResult<Response> {
    Ok(scim_json(StatusCode::OK, &schemas_json(&client.base_url, None)?))
}

pub async fn schema(client: ScimClient, Path(params): Path<IdPath>) -> ScimResult<Response> {
    Ok(scim_json(StatusCode::OK, &schemas_json(&client.base_url, Some(&params.id))?))
}

#[derive(Deserialize)]
pub struct NamePath {
    name: String,
}

#[derive(Deserialize)]
pub struct IdPath {
    pub id: String,
}

/// The query string of a list or a single resource, as given.
pub type RawQuery = Query<HashMap<String, String>>;

impl ListParams {
    pub fn from_query(query: &HashMap<String, String>) -> Self {
        let text = |name: &str| query.get(name).cloned();
        let value = |name: &str| query.get(name).map(|v| Value::String(v.clone()));
        ListParams {
            filter: text("filter"),
            start_index: value("startIndex"),
            count: value("count"),
            sort_by: text("sortBy"),
            sort_order: text("sortOrder"),
            projection: ProjectionParams { attributes: value("attributes"), excluded_attributes: value("excludedAttributes") },
        }
    }
}
