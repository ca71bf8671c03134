//! Webhook endpoints through the API, as in Settings → Webhooks: list, add (the signing secret
//! answered once), rotate the secret, deliver again from a cursor, delete. Needs the `events`
//! scope: an endpoint is another way to read the feed.

use super::{ApiClient, ApiJson, IdPath};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use roster_app::webhooks;
use roster_store::{ApiScope, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct WebhookDto {
    pub id: uuid::Uuid,
    pub url: String,
    /// The event types it receives; empty for all.
    pub types: Vec<String>,
    /// The cursor of the last event delivered (or not wanted).
    pub cursor: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Set when it failed for three days (or more) and was disabled; redeliver enables it.
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub disabled_reason: Option<String>,
    /// Set while deliveries fail; they are retried with back-off.
    pub failing_since: Option<chrono::DateTime<chrono::Utc>>,
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
}

impl From<WebhookEndpoint> for WebhookDto {
    fn from(e: WebhookEndpoint) -> Self {
        WebhookDto {
            id: e.id,
            cursor: roster_core::feed::cursor_of(e.cursor_seq),
            url: e.url,
            types: e.types,
            created_at: e.created_at,
            disabled_at: e.disabled_at,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            next_attempt_at: e.next_attempt_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<WebhookDto>,
}

/// An endpoint with its signing secret, answered only when it is made or rotated.
#[derive(Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookDto,
    /// `whsec_...`: verify each delivery's `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://...` (or `http://`); private and loopback addresses are refused unless the operator allows them.
    pub url: String,
    /// The event types to receive (`user.created`, ...); absent or empty for all.
    #[serde(default)]
    pub types: Vec<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Redeliver {
    /// Deliver every event after this cursor again; absent for every event still kept.
    pub after: Option<String>,
}

fn webhook_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::BadRequest(format!("'{raw}' is not a webhook id (a UUID)")))
}

async fn one(state: &AppState, client: &ApiClient, id: uuid::Uuid) -> Result<WebhookDto, ApiError> {
    Ok(WebhookDto::from(state.store.webhook(client.ctx.org.id, id).await?.ok_or(ApiError::NotFound)?))
}

/// The organisation's webhook endpoints.
#[utoipa::path(get, path = "/api/v1/webhooks", responses((status = 200, body = WebhookList), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn list(State(state): State<AppState>, client: ApiClient) -> Result<Json<WebhookList>, ApiError> {
    client.require(ApiScope::Events)?;
    let data = state.store.webhooks(client.ctx.org.id).await?.into_iter().map(WebhookDto::from).collect();
    Ok(Json(WebhookList { data }))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses((status = 200, body = WebhookDto), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn get(State(state): State<AppState>, client: ApiClient, Path(IdPath { id }): Path<IdPath>) -> Result<Json<WebhookDto>, ApiError> {
    client.require(ApiScope::Events)?;
    Ok(Json(one(&state, &client, webhook_id(&id)?).await?))
}

/// Add an endpoint; it receives the events committed from now on. The secret is answered only now.
#[utoipa::path(post, path = "/api/v1/webhooks", request_body = CreateWebhook,
    params(("Idempotency-Key" = Option<String>, Header, description = "Send the same key when you retry: the first answer is sent again (kept 24 hours)")),
    responses((status = 201, body = WebhookWithSecret), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    client: ApiClient,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    client.require(ApiScope::Events)?;
    let created = webhooks::add(&state, client.ctx.org.id, &client.actor(), &body.url, &body.types).await?;
    Ok((StatusCode::CREATED, Json(WebhookWithSecret { webhook: created.endpoint.into(), secret: created.secret })))
}

/// A new signing secret, answered only now; deliveries are signed with the old one too for 24 hours.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses((status = 200, body = WebhookWithSecret), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    client: ApiClient,
    Path(IdPath { id }): Path<IdPath>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    client.require(ApiScope::Events)?;
    let id = webhook_id(&id)?;
    let secret = webhooks::rotate_secret(&state, client.ctx.org.id, &client.actor(), id).await?;
    Ok(Json(WebhookWithSecret { webhook: one(&state, &client, id).await?, secret }))
}

/// Deliver again every event after a cursor (all kept, without one); a disabled endpoint is enabled again.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/redeliver", request_body = Redeliver, params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses((status = 200, body = WebhookDto), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn redeliver(
    State(state): State<AppState>,
    client: ApiClient,
    Path(IdPath { id }): Path<IdPath>,
    body: axum::body::Bytes,
) -> Result<Json<WebhookDto>, ApiError> {
    client.require(ApiScope::Events)?;
    let id = webhook_id(&id)?;
    // The body is optional: none redelivers everything kept.
    let after = match body.is_empty() {
        true => None,
        false => {
            serde_json::from_slice::<Redeliver>(&body).map_err(|e| ApiError::BadRequest(format!("the body is not a redelivery request: {e}")))?.after
        }
    };
    webhooks::redeliver(&state, client.ctx.org.id, &client.actor(), id, after.as_deref()).await?;
    Ok(Json(one(&state, &client, id).await?))
}

/// Delete an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses((status = 204, description = "Deleted"), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn delete(State(state): State<AppState>, client: ApiClient, Path(IdPath { id }): Path<IdPath>) -> Result<StatusCode, ApiError> {
    client.require(ApiScope::Events)?;
    webhooks::delete(&state, client.ctx.org.id, &client.actor(), webhook_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of every webhook delivery: one event, as in the feed.
#[derive(Serialize, ToSchema)]
pub struct WebhookMessage {
    /// The event type, e.g. `user.created`; `webhook.test` for a test message.
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: chrono::DateTime<chrono::Utc>,
    pub data: WebhookEventData,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEventData {
    /// The event's id (also in `webhook-id`): the same event delivered twice has the same id.
    pub event_id: uuid::Uuid,
    /// Its place in the events feed: resume the feed after it to reconcile.
    pub cursor: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// Who made it: `person:<id>`, `connection:<id>`, `api key:<name>`, `cli`, `system`.
    pub actor: Option<String>,
    pub run_id: Option<uuid::Uuid>,
    /// The change, as the feed's `data`.
    #[schema(value_type = Object)]
    pub change: serde_json::Value,
}

/// The `webhooks` section of the OpenAPI document (3.1): what Roster posts to an endpoint.
pub fn openapi_webhooks() -> serde_json::Value {
    serde_json::json!({
        "event": {
            "post": {
                "summary": "One event, posted to each endpoint that wants its type",
                "description": "Signed as the Standard Webhooks specification defines: verify `webhook-signature` (HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>` with the endpoint's secret; during a rotation two signatures are sent) and refuse an old timestamp. Delivered at least once, each person's (or team's) events in commit order, several people at once; answer 2xx within 10 seconds, or the event is retried with back-off for up to 3 days. Deduplicate on `webhook-id`.",
                "parameters": [
                    { "name": "webhook-id", "in": "header", "required": true, "schema": { "type": "string" }, "description": "The event's id" },
                    { "name": "webhook-timestamp", "in": "header", "required": true, "schema": { "type": "string" }, "description": "Seconds since 1970 when this attempt was signed" },
                    { "name": "webhook-signature", "in": "header", "required": true, "schema": { "type": "string" }, "description": "Space-separated `v1,<base64>` signatures" }
                ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/WebhookMessage" } } } },
                "responses": { "2XX": { "description": "Received; the next event follows" }, "default": { "description": "Not received: retried with back-off" } }
            }
        }
    })
}
