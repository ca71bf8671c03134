//! SAML 2.0 routes: Roster's SP metadata, the assertion consumer service, and the step after
//! it. The ACS takes a cross-site POST from the identity provider, which carries no Lax
//! cookie: it verifies the response and redeems the request it answers, then sends the browser
//! on to `/saml/continue` with a one-time token. That same-site step reads the cookie set when
//! the sign-in started, so a response cannot be planted in another browser, and only then
//! starts the session. Where the browser lands is never read from the request.

use super::{refuse, TestedPage};
use crate::error::PageError;
use crate::pages::Chrome;
use crate::routing::OrgCtx;
use crate::session::{cookie_value, set_cookie, start_session};
use crate::sso::flow::{self, FlowError};
use crate::sso::saml::{self, AcsForm};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

pub async fn metadata(State(state): State<AppState>, ctx: OrgCtx) -> Response {
    let xml = roster_saml::sp_metadata(&saml::sp_entity_id(&state, &ctx.org), &saml::acs_url(&state, &ctx.org));
    let mut response = xml.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml; charset=utf-8"));
    response
}

pub async fn acs(State(state): State<AppState>, ctx: OrgCtx, Form(form): Form<AcsForm>) -> Response {
    let started = std::time::Instant::now();
    let response = match saml::verify(&state, &ctx.org, &form).await {
        Err(e) => refuse(&state, &ctx, e).await,
        Ok(verified) if verified.test => {
            let matched = match flow::match_identity(&state, &ctx.org, &verified.connection, &verified.subject, verified.claimed_email.clone()).await
            {
                Ok(p) => Ok(p.email.as_str().to_owned()),
                Err(FlowError::Refused(r)) => Err(r.reason),
                Err(FlowError::Store(e)) => return PageError::from(e).into_response(),
            };
            let (connection, subject, received) = (verified.connection.name.clone(), verified.subject.clone(), verified.received.clone());
            TestedPage { chrome: Chrome::anonymous(&ctx), connection, subject, received, matched }.into_response()
        }
        Ok(verified) => match flow::match_identity(&state, &ctx.org, &verified.connection, &verified.subject, verified.claimed_email.clone()).await {
            Err(e) => refuse(&state, &ctx, e).await,
            // On to a same-site step, where the browser's cookie can be read.
            Ok(person) => match saml::hand_over(&state, &ctx.org, &verified, &person).await {
                Ok(token) => Redirect::to(&format!("{}/saml/continue?t={token}", ctx.base)).into_response(),
                Err(e) => PageError::from(e).into_response(),
            },
        },
    };
    tracing::debug!(micros = started.elapsed().as_micros() as u64, "saml acs");
    response
}

#[derive(Deserialize)]
pub struct ContinueQuery {
    #[serde(default)]
    t: String,
}

/// The step after the ACS: the browser that started the sign-in gets its session.
pub async fn resume(State(state): State<AppState>, ctx: OrgCtx, headers: HeaderMap, Query(query): Query<ContinueQuery>) -> Response {
    let cookie = cookie_value(&headers, saml::BROWSER_COOKIE).filter(|c| !c.is_empty());
    let mut response = match saml::take_over(&state, &ctx.org, &query.t, cookie.as_deref()).await {
        Err(e) => refuse(&state, &ctx, e).await,
        Ok(person) => match start_session(&state, &ctx, &person).await {
            Ok(session) => {
                metrics::counter!("roster_sign_ins_total", "result" => "ok_saml").increment(1);
                // Always the organisation's front page: RelayState is never an address.
                let mut r = Redirect::to(&format!("{}/", ctx.base)).into_response();
                r.headers_mut().append(header::SET_COOKIE, session);
                r
            }
            Err(e) => e.into_response(),
        },
    };
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, &ctx, saml::BROWSER_COOKIE, "", 0));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
