//! The events feed: every change to the organisation's people and teams, in commit order, after
//! an opaque cursor. A consumer stores the cursor of the last event it handled and asks again
//! from there; with `wait`, an empty answer is held until something happens (long polling).

use super::ApiClient;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// The largest page of events, and the longest wait.
const MAX_LIMIT: u32 = 1000;
const MAX_WAIT_SECS: u64 = 30;
/// How often a held request looks for new events: well inside the promise of 100 ms.
const POLL_EVERY: Duration = Duration::from_millis(40);
use roster_core::feed::cursor_of;

fn seq_of(cursor: &str) -> Result<i64, ApiError> {
    roster_core::feed::seq_of(cursor).ok_or_else(|| ApiError::BadRequest("'after' is not a cursor this feed gave out".into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The cursor of the last event handled; absent for the oldest event still kept.
    pub after: Option<String>,
    /// Comma-separated event types (`user.created,user.deactivated`); absent for all.
    pub types: Option<String>,
    /// 1 to 1000; default 100.
    pub limit: Option<u32>,
    /// Seconds (0 to 30) to hold the request when there is nothing new yet; default 0.
    pub wait: Option<u64>,
}

/// One change.
#[derive(Serialize, ToSchema)]
pub struct EventDto {
    /// Unique; the same event delivered twice has the same id.
    pub id: uuid::Uuid,
    /// Where to resume after this event.
    pub cursor: String,
    /// `user.created`, `user.updated`, `user.deactivated`, `team.renamed`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// Who made it, as the audit log names them: `person:<id>`, `connection:<id>`, `api key:<name>`, `cli`, `system`.
    pub actor: Option<String>,
    /// The run it belongs to (a sync, an import, an admin's action), when it came from one.
    pub run_id: Option<uuid::Uuid>,
    /// The change: the person or team's id and, for each field changed, its value before and
    /// after; `resource` holds the person or team as they were just after it (as `/users/{id}` or `/teams/{id}` show them).
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<EventDto>,
    /// Where to resume: the last event's cursor, or the `after` given when there was none.
    pub next_cursor: Option<String>,
    /// More events are waiting: ask again at once.
    pub has_more: bool,
}

/// The organisation's events after a cursor, oldest first.
#[utoipa::path(get, path = "/api/v1/events", params(FeedParams),
    responses((status = 200, body = EventPage), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn feed(State(state): State<AppState>, client: ApiClient, Query(params): Query<FeedParams>) -> Result<Json<EventPage>, ApiError> {
    client.require(roster_store::ApiScope::Events)?;
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let wait = params.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::BadRequest(format!("wait must be between 0 and {MAX_WAIT_SECS} seconds")));
    }
    let after = params.after.as_deref().map(seq_of).transpose()?.unwrap_or(0);
    let kinds = roster_core::feed::parse_types(params.types.as_deref().unwrap_or_default().split(','))
        .ok_or_else(|| ApiError::BadRequest("types is a comma-separated list of event types, such as user.created".into()))?;
    let org = client.ctx.org.id;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    // One more than asked for says whether more are waiting.
    let mut events = state.store.event_feed_raw(org, after, &kinds, limit + 1).await?;
    while events.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL_EVERY).await;
        events = state.store.event_feed_raw(org, after, &kinds, limit + 1).await?;
    }
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next_cursor = events.last().map(|e| cursor_of(e.seq)).or(params.after);
    let data = events
        .into_iter()
        .map(|e| EventDto { id: e.id, cursor: cursor_of(e.seq), kind: e.kind, occurred_at: e.at, actor: e.actor, run_id: e.run, data: e.data })
        .collect();
    Ok(Json(EventPage { data, next_cursor, has_more }))
}
