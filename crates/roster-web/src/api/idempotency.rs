//! `Idempotency-Key` on the API's writes: the first answer to a key is kept a day and sent
//! again, unchanged, to a retry of the same request, so a client that lost an answer can retry
//! without creating a second person. The same key on a different request is refused (422), and
//! a retry while the first is still being handled waits its turn (409).

use super::ApiClient;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use roster_store::{IdempotencyClaim, KeptAnswer};
use sha2::{Digest, Sha256};

const HEADER: &str = "idempotency-key";
/// Marks an answer sent again for a retry.
const REPLAYED: &str = "idempotent-replayed";
/// A request body larger than this is refused by the body limit before it gets here; answers
/// of the write API are a resource or a problem, far smaller.
const LARGEST_BODY: usize = 2 * 1024 * 1024;
/// A claim this old and unanswered belonged to a request that died: a retry takes it over.
const ABANDONED_AFTER_SECS: i64 = 60;
/// The answer's headers that are kept with it.
const KEPT_HEADERS: [HeaderName; 3] = [axum::http::header::CONTENT_TYPE, axum::http::header::LOCATION, axum::http::header::ETAG];

/// A key is 1 to 255 visible ASCII characters (a UUID is the usual choice).
fn parse_key(value: &HeaderValue) -> Result<String, ApiError> {
    let key = value.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()));
    key.map(str::to_owned).ok_or_else(|| ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters, such as a UUID".into()))
}

/// Answers worth keeping: what the request did, or a refusal a retry would meet again. Not a
/// refusal that depends on the moment (a conflict, a stale version, throttling) or on the key
/// (authentication), nor a server error: a retry of those deserves a fresh attempt.
fn worth_keeping(status: StatusCode) -> bool {
    status.is_success()
        || (status.is_client_error()
            && ![
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::REQUEST_TIMEOUT,
                StatusCode::CONFLICT,
                StatusCode::PRECONDITION_FAILED,
                StatusCode::TOO_MANY_REQUESTS,
            ]
            .contains(&status))
}

pub async fn replay(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get(HEADER).cloned() else { return next.run(request).await };
    match handle(state, raw_key, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(state: AppState, raw_key: HeaderValue, request: Request, next: Next) -> Result<Response, ApiError> {
    let key = parse_key(&raw_key)?;
    let (mut parts, body) = request.into_parts();
    // Keys belong to the API key that sent them: another client's key is another key.
    let client = ApiClient::from_request_parts(&mut parts, &state).await?;
    parts.extensions.insert(client.clone());
    let body = axum::body::to_bytes(body, LARGEST_BODY).await.map_err(|_| ApiError::BadRequest("the request body could not be read".into()))?;
    let mut digest = Sha256::new();
    digest.update(parts.method.as_str());
    digest.update(b" ");
    digest.update(parts.uri.path_and_query().map_or("", |p| p.as_str()));
    digest.update(b"\n");
    digest.update(&body);
    let fingerprint = hex::encode(digest.finalize());

    let (org, client_id) = (client.ctx.org.id, client.key_id.to_string());
    let now = state.clock.now();
    let claim =
        state.store.claim_idempotency_key(org, &client_id, &key, &fingerprint, now, now - chrono::Duration::seconds(ABANDONED_AFTER_SECS)).await?;
    match claim {
        IdempotencyClaim::InFlight => Err(ApiError::Conflict("a request with this Idempotency-Key is still being handled; retry in a moment".into())),
        IdempotencyClaim::Answered { fingerprint: first, .. } if first != fingerprint => {
            Err(ApiError::Unprocessable("this Idempotency-Key was used for a different request; use a new key for a new request".into()))
        }
        IdempotencyClaim::Answered { answer, .. } => Ok(replayed(answer)),
        IdempotencyClaim::Claimed => {
            let response = next.run(Request::from_parts(parts, Body::from(body))).await;
            let (head, body) = response.into_parts();
            let body = axum::body::to_bytes(body, LARGEST_BODY).await.map_err(|e| ApiError::Internal(format!("an answer could not be read: {e}")))?;
            let text = String::from_utf8(body.to_vec()).ok();
            match text.filter(|_| worth_keeping(head.status)) {
                Some(text) => {
                    let headers = KEPT_HEADERS
                        .iter()
                        .filter_map(|name| head.headers.get(name).and_then(|v| v.to_str().ok()).map(|v| (name.as_str().to_owned(), v.to_owned())))
                        .collect();
                    let answer = KeptAnswer { status: head.status.as_u16(), headers, body: text };
                    state.store.keep_idempotent_answer(org, &client_id, &key, &answer).await?;
                }
                None => state.store.release_idempotency_key(org, &client_id, &key).await?,
            }
            Ok(Response::from_parts(head, Body::from(body)))
        }
    }
}

fn replayed(answer: KeptAnswer) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response.headers_mut().insert(HeaderName::from_static(REPLAYED), HeaderValue::from_static("true"));
    response
}
