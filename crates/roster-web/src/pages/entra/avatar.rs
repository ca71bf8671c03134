//! Profile photos synced from Entra, served to the organisation's signed-in people. Only image
//! types a browser renders safely are served as images; anything else is a download, so a
//! stored file can never run as a page.

use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::session::CurrentUser;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use roster_core::UserId;

const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

#[derive(serde::Deserialize)]
pub struct AvatarPath {
    id: UserId,
}

pub async fn show(State(state): State<AppState>, ctx: OrgCtx, _user: CurrentUser, Path(path): Path<AvatarPath>) -> Result<Response, PageError> {
    let avatar = state.store.avatar(ctx.org.id, path.id).await?.ok_or(PageError::NotFound)?;
    let content_type = if IMAGE_TYPES.contains(&avatar.content_type.as_str()) { avatar.content_type.as_str() } else { "application/octet-stream" };
    let mut response = avatar.bytes.into_response();
    let headers = response.headers_mut();
    // One of IMAGE_TYPES or the fallback, all valid header values: the default is unreachable.
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    // An ETag that is no valid header value is left out: the image is only not revalidated.
    if let Ok(etag) = HeaderValue::from_str(&avatar.etag) {
        headers.insert(header::ETAG, etag);
    }
    if content_type == "application/octet-stream" {
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    }
    Ok(response)
}
