//! Versions of a resource for optimistic concurrency: an `ETag` on every answer that shows one
//! person or team, and `If-Match` on the writes that change them (412 when it names an older
//! version). The tag is a digest of the resource as the API shows it, so any visible change
//! makes a new one.

use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The strong entity tag of a resource as it is serialised.
pub fn etag_of<T: Serialize>(resource: &T) -> String {
    let bytes = serde_json::to_vec(resource).unwrap_or_default();
    format!("\"{}\"", hex::encode(&Sha256::digest(&bytes)[..12]))
}

/// Refuse the write when `If-Match` is sent and names none of the current version (`*`
/// matches any). Weak tags never match: `If-Match` compares strongly (RFC 9110, 13.1.1).
pub fn check_if_match<T: Serialize>(headers: &HeaderMap, current: &T) -> Result<(), ApiError> {
    let values: Vec<&str> = headers.get_all(header::IF_MATCH).iter().filter_map(|v| v.to_str().ok()).collect();
    if values.is_empty() {
        return Ok(());
    }
    let tag = etag_of(current);
    let matches = values.iter().flat_map(|v| v.split(',')).map(str::trim).any(|candidate| candidate == "*" || candidate == tag);
    if matches {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed(format!(
            "it changed since the version you sent in If-Match; read it again (its ETag is now {tag}) and retry"
        )))
    }
}

/// A JSON answer with the resource's `ETag`.
pub fn tagged<T: Serialize>(status: StatusCode, resource: T) -> Response {
    let tag = etag_of(&resource);
    let mut response = (status, Json(resource)).into_response();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
