//! Sessions: a random cookie whose digest names a row in the store, bound to one organisation.
//! Every form carries the session's CSRF token; forms shown before sign-in use a double-submit
//! cookie instead.

use crate::error::PageError;
use crate::routing::OrgCtx;
use crate::state::AppState;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::Duration;
use roster_app::secrets::password::random_token;
use roster_core::secret::token_digest;
use roster_core::{Person, Status};
use roster_store::SessionRecord;

pub const SESSION_COOKIE: &str = "roster_session";
pub const FORM_COOKIE: &str = "roster_form";
pub const SESSION_HOURS: i64 = 12;

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers).get(name).map(|cookie| cookie.value().to_owned())
}

/// A `Set-Cookie` value scoped to the organisation's path: HttpOnly, SameSite=Lax, and Secure
/// behind HTTPS. A max age of 0 removes the cookie.
pub fn set_cookie(state: &AppState, ctx: &OrgCtx, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .path(ctx.cookie_path())
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(max_age_secs))
        .secure(state.config.secure_cookies)
        .build();
    // Names and values are ours (constants, and URL-safe random tokens): always a valid header.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub use roster_app::secrets::same_secret;

/// Start a session for `person` and return the cookie that carries it.
pub async fn start_session(state: &AppState, ctx: &OrgCtx, person: &Person) -> Result<HeaderValue, PageError> {
    let raw = random_token();
    let now = state.clock.now();
    let record = SessionRecord {
        digest: token_digest(&raw),
        org: ctx.org.id,
        person: person.id,
        csrf: random_token(),
        created_at: now,
        expires_at: now + Duration::hours(SESSION_HOURS),
    };
    state.store.create_session(&record).await?;
    Ok(set_cookie(state, ctx, SESSION_COOKIE, &raw, SESSION_HOURS * 3600))
}

/// The signed-in person of this organisation.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub person: Person,
    pub csrf: String,
    pub session_digest: String,
}

impl CurrentUser {
    pub fn check_csrf(&self, submitted: &str) -> Result<(), PageError> {
        if same_secret(&self.csrf, submitted) {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }
}

async fn current_user(parts: &Parts, state: &AppState, ctx: &OrgCtx) -> Result<Option<CurrentUser>, PageError> {
    let Some(raw) = cookie_value(&parts.headers, SESSION_COOKIE) else { return Ok(None) };
    let digest = token_digest(&raw);
    let Some(session) = state.store.session(&digest, state.clock.now()).await? else { return Ok(None) };
    // A session of another organisation is no session here.
    if session.org != ctx.org.id {
        return Ok(None);
    }
    let person = state.store.person(ctx.org.id, session.person).await?;
    Ok(person.filter(|p| p.status != Status::Deactivated).map(|person| CurrentUser { person, csrf: session.csrf, session_digest: digest }))
}

/// Rejection for pages that need a signed-in person: off to the login page.
pub enum AuthRejection {
    Login(String),
    Page(PageError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Login(to) => Redirect::to(&to).into_response(),
            AuthRejection::Page(err) => err.into_response(),
        }
    }
}

impl From<PageError> for AuthRejection {
    fn from(err: PageError) -> Self {
        AuthRejection::Page(err)
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = OrgCtx::from_request_parts(parts, state).await?;
        current_user(parts, state, &ctx).await?.ok_or_else(|| AuthRejection::Login(format!("{}/login", ctx.base)))
    }
}

impl OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        let ctx = OrgCtx::from_request_parts(parts, state).await?;
        current_user(parts, state, &ctx).await
    }
}

/// A signed-in owner or admin; anyone else gets a 403 page.
#[derive(Clone, Debug)]
pub struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        if user.person.role.can_administer() {
            Ok(AdminUser(user))
        } else {
            Err(PageError::Forbidden("Only owners and admins of this organisation can open this page.").into())
        }
    }
}
