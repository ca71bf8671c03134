//! A secret shown once across a redirect. A form that creates a secret (an API key, a webhook's
//! signing secret) redirects (Post/Redirect/Get, so a reload repeats nothing), and the secret
//! travels to the next page in a cookie sealed with the master key, bound to the session, that
//! lives a minute and is cleared by the page that shows it.

use crate::routing::OrgCtx;
use crate::session::{cookie_value, set_cookie, CurrentUser};
use crate::state::AppState;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const COOKIE: &str = "roster_once";
const LIFETIME_SECS: i64 = 60;

fn column(user: &CurrentUser) -> String {
    format!("flash:{}", user.csrf)
}

/// Redirect to `path` (below the organisation), carrying `secret` to the page there.
pub fn redirect(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, path: &str, secret: &str) -> Response {
    let sealed = state.master_key.seal(ctx.org.id, &column(user), secret.as_bytes());
    let cookie = set_cookie(state, ctx, COOKIE, &URL_SAFE_NO_PAD.encode(sealed), LIFETIME_SECS);
    let mut response = Redirect::to(&format!("{}{path}", ctx.base)).into_response();
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

/// Clears a carried secret from the browser once the page showing it is made.
pub struct Clear(Option<HeaderValue>);

impl Clear {
    pub fn on(self, mut response: Response) -> Response {
        if let Some(cookie) = self.0 {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
        response
    }
}

/// The secret carried here, if any, and what clears it.
pub fn take(state: &AppState, ctx: &OrgCtx, user: &CurrentUser, headers: &HeaderMap) -> (Option<String>, Clear) {
    let Some(raw) = cookie_value(headers, COOKIE) else { return (None, Clear(None)) };
    let secret = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|sealed| state.master_key.open(ctx.org.id, &column(user), &sealed).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    (secret, Clear(Some(set_cookie(state, ctx, COOKIE, "", 0))))
}
