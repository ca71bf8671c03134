//! REST API v1 for the host platform: API keys as bearer tokens, JSON answers, JSON problems.

pub mod events;
pub mod teams;
pub mod users;

use crate::error::ApiError;
use crate::routing::OrgCtx;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::Json;
use roster_core::secret::token_digest;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// A request authenticated by one of this organisation's API keys.
pub struct ApiClient {
    pub ctx: OrgCtx,
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
            roster_store::ApiScope::Events => "this API key has no 'events' scope: create one with it to read the events feed",
        }))
    }
}

impl FromRequestParts<AppState> for ApiClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = parts.extensions.get::<OrgCtx>().cloned().ok_or(ApiError::NotFound)?;
        // A header that is not visible ASCII cannot hold a key: treat it as absent (401).
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let Some(raw) = header.strip_prefix("Bearer ").map(str::trim).filter(|k| !k.is_empty()) else {
            return Err(ApiError::Unauthorized("send an API key as 'Authorization: Bearer <key>'"));
        };
        let key = state.store.api_key(&token_digest(raw), state.clock.now()).await?;
        // A key of another organisation is treated exactly like an unknown key.
        match key {
            Some(key) if key.org == ctx.org.id => Ok(ApiClient { ctx, key_name: key.name, scopes: key.scopes }),
            _ => Err(ApiError::Unauthorized("the API key is unknown or revoked")),
        }
    }
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
    paths(users::list, users::get, teams::list, events::feed),
    components(schemas(users::UserDto, users::UserPage, users::SourceDto, teams::TeamDto, teams::TeamList, events::EventDto, events::EventPage, crate::error::Problem)),
    modifiers(&BearerAuth),
    security(("api_key" = []))
)]
pub struct ApiDoc;

/// The OpenAPI document; public, so integrators can read it before they have a key.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
