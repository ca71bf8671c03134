//! REST API v1 for the host platform: API keys as bearer tokens, JSON answers, JSON problems.

pub mod events;
pub mod idempotency;
pub mod teams;
pub mod teams_write;
pub mod users;
pub mod users_write;
pub mod versions;
pub mod webhooks;

use crate::error::ApiError;
use crate::routing::OrgCtx;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::Json;
use roster_core::secret::token_digest;
use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// A request authenticated by one of this organisation's API keys.
#[derive(Clone)]
pub struct ApiClient {
    pub ctx: OrgCtx,
    pub key_id: uuid::Uuid,
    pub key_name: String,
    pub scopes: Vec<roster_store::ApiScope>,
}

impl ApiClient {
    /// Refuse (403) unless the key was given `scope`.
    pub fn require(&self, scope: roster_store::ApiScope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            return Ok(());
        }
        Err(ApiError::Forbidden(match scope {
            roster_store::ApiScope::Read => "this API key has no 'read' scope: create one with it to read people and teams",
            roster_store::ApiScope::Events => "this API key has no 'events' scope: create one with it to read the events feed or manage webhooks",
            roster_store::ApiScope::Write => "this API key has no 'write' scope: create one with it to change people and teams",
        }))
    }
}

impl FromRequestParts<AppState> for ApiClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Authenticated already in front of the handler (`idempotency::replay`): not looked up twice.
        if let Some(client) = parts.extensions.get::<ApiClient>() {
            return Ok(client.clone());
        }
        let ctx = parts.extensions.get::<OrgCtx>().cloned().ok_or(ApiError::NotFound)?;
        // A header that is not visible ASCII cannot hold a key: treat it as absent (401).
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let Some(raw) = header.strip_prefix("Bearer ").map(str::trim).filter(|k| !k.is_empty()) else {
            return Err(ApiError::Unauthorized("send an API key as 'Authorization: Bearer <key>'"));
        };
        let key = state.store.api_key(&token_digest(raw), state.clock.now()).await?;
        // A key of another organisation is treated exactly like an unknown key.
        match key {
            Some(key) if key.org == ctx.org.id => Ok(ApiClient { ctx, key_id: key.id, key_name: key.name, scopes: key.scopes }),
            _ => Err(ApiError::Unauthorized("the API key is unknown or revoked")),
        }
    }
}

impl ApiClient {
    /// Who the audit log and the events name for this key's writes.
    pub fn actor(&self) -> roster_core::Actor {
        roster_core::Actor::ApiKey { name: self.key_name.clone() }
    }

    /// A key acts with an admin's authority: what an admin may not do in the pages (make or
    /// unmake an owner), a key may not do either.
    pub fn acting(&self) -> roster_app::admin::people::Acting {
        roster_app::admin::people::Acting { actor: self.actor(), role: Some(roster_core::Role::Admin) }
    }
}

/// A JSON request body; one that is not the JSON asked for is a problem naming what is wrong
/// (a missing field, a misspelt one, a wrong type: 400 or 422; not JSON at all: 415).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = axum::response::Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                let status = rejection.status();
                Err(crate::error::problem(status, status.canonical_reason().unwrap_or("Bad Request"), rejection.body_text()))
            }
        }
    }
}

/// A resource's id in the address (beside the organisation's slug, when there is one).
#[derive(Deserialize)]
pub struct IdPath {
    pub id: String,
}

/// Point a created resource's answer (201) at its address.
pub fn located(mut response: axum::response::Response, state: &AppState, client: &ApiClient, path: &str) -> axum::response::Response {
    let location = state.config.org_url(client.ctx.org.slug.as_str(), path);
    if let Ok(value) = axum::http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// For a field a PATCH may leave out (unchanged), set, or set to null (cleared): absent is
/// `None`, null is `Some(None)`.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The API's routes, with `Idempotency-Key` honoured on every write.
pub fn routes(state: AppState) -> axum::Router<AppState> {
    use axum::routing::{get, post, put};
    axum::Router::new()
        .route("/api/v1/users", get(users::list).post(users_write::create))
        .route("/api/v1/users/{id}", get(users::get).patch(users_write::update))
        .route("/api/v1/users/{id}/deactivate", post(users_write::deactivate))
        .route("/api/v1/users/{id}/reactivate", post(users_write::reactivate))
        .route("/api/v1/users/{id}/invite", post(users_write::invite))
        .route("/api/v1/users/{id}/erase", post(users_write::erase))
        .route("/api/v1/users/{id}/unlink", post(users_write::unlink))
        .route("/api/v1/teams", get(teams::list).post(teams_write::create))
        .route("/api/v1/teams/{id}", get(teams_write::get).patch(teams_write::update).delete(teams_write::delete))
        .route("/api/v1/teams/{id}/managers", put(teams_write::set_managers))
        .route("/api/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/api/v1/webhooks/{id}", get(webhooks::get).delete(webhooks::delete))
        .route("/api/v1/webhooks/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/api/v1/webhooks/{id}/redeliver", post(webhooks::redeliver))
        .route("/api/v1/events", get(events::feed))
        .route_layer(axum::middleware::from_fn_with_state(state, idempotency::replay))
        .route("/api/v1/openapi.json", get(openapi))
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An API key created in Settings or with `roster apikey create`."))
                .build(),
        );
        openapi.components.get_or_insert_with(Default::default).add_security_scheme("api_key", scheme);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Roster API", version = "1", description = "The directory of one organisation: people, teams, and the feed of their changes (`/api/v1/events`: every change in commit order after an opaque cursor, at least once; store the cursor of the last event handled and resume from it; `wait` holds an empty answer up to 30 s). Paths are relative to the organisation's address (`https://<slug>.<domain>` or `/o/<slug>`)."),
    paths(
        users::list, users::get, users_write::create, users_write::update, users_write::deactivate, users_write::reactivate, users_write::invite, users_write::unlink, users_write::erase,
        teams::list, teams_write::get, teams_write::create, teams_write::update, teams_write::delete, teams_write::set_managers,
        events::feed,
        webhooks::list, webhooks::get, webhooks::create, webhooks::rotate_secret, webhooks::redeliver, webhooks::delete,
    ),
    components(schemas(
        users::UserDto, users::UserPage, users::SourceDto, users_write::CreateUser, users_write::UpdateUser,
        teams::TeamDto, teams::TeamList, teams_write::TeamDetail, teams_write::CreateTeam, teams_write::UpdateTeam, teams_write::TeamManagers,
        events::EventDto, events::EventPage,
        webhooks::WebhookDto, webhooks::WebhookList, webhooks::WebhookWithSecret, webhooks::CreateWebhook, webhooks::Redeliver,
        webhooks::WebhookMessage, webhooks::WebhookEventData,
        crate::error::Problem
    )),
    modifiers(&BearerAuth),
    security(("api_key" = []))
)]
pub struct ApiDoc;

/// The OpenAPI document, with what webhooks post (which the derive cannot describe).
fn document_value() -> serde_json::Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    if let Some(object) = document.as_object_mut() {
        object.insert("webhooks".into(), webhooks::openapi_webhooks());
    }
    document
}

/// The OpenAPI document as pretty JSON, for `roster openapi`.
pub fn document() -> String {
    serde_json::to_string_pretty(&document_value()).unwrap_or_default()
}

/// The OpenAPI document; public, so integrators can read it before they have a key.
pub async fn openapi() -> Json<serde_json::Value> {
    Json(document_value())
}
