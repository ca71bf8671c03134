//! SAML 2.0 routes: Roster's SP metadata and the assertion consumer service. The ACS takes a
//! cross-site POST from the identity provider, so it relies on no cookie: the request ID it
//! answers is redeemed once server-side, and where the browser lands is never read from the
//! request.

use super::{refuse, TestedPage};
use crate::error::PageError;
use crate::pages::Chrome;
use crate::routing::OrgCtx;
use crate::session::start_session;
use crate::sso::flow::{self, FlowError};
use crate::sso::saml::{self, AcsForm};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

pub async fn metadata(State(state): State<AppState>, ctx: OrgCtx) -> Response {
    let xml = roster_saml::sp_metadata(&saml::sp_entity_id(&state, &ctx), &saml::acs_url(&state, &ctx));
    let mut response = xml.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml; charset=utf-8"));
    response
}

pub async fn acs(State(state): State<AppState>, ctx: OrgCtx, Form(form): Form<AcsForm>) -> Response {
    let started = std::time::Instant::now();
    let response = match saml::verify(&state, &ctx, &form).await {
        Err(e) => refuse(&state, &ctx, e).await,
        Ok(verified) if verified.test => {
            let matched = match flow::match_identity(&state, &ctx, &verified.connection, &verified.subject, verified.claimed_email.clone()).await {
                Ok(p) => Ok(p.email.as_str().to_owned()),
                Err(FlowError::Refused(r)) => Err(r.reason),
                Err(FlowError::Store(e)) => return PageError::from(e).into_response(),
            };
            TestedPage { chrome: Chrome::anonymous(&ctx), connection: verified.connection.name.clone(), subject: verified.subject.clone(), matched }.into_response()
        }
        Ok(verified) => match flow::match_identity(&state, &ctx, &verified.connection, &verified.subject, verified.claimed_email.clone()).await {
            Err(e) => refuse(&state, &ctx, e).await,
            Ok(person) => match start_session(&state, &ctx, &person).await {
                Ok(cookie) => {
                    metrics::counter!("roster_sign_ins_total", "result" => "ok_saml").increment(1);
                    // Always the organisation's front page: RelayState is never an address.
                    let mut r = Redirect::to(&format!("{}/", ctx.base)).into_response();
                    r.headers_mut().append(header::SET_COOKIE, cookie);
                    r
                }
                Err(e) => e.into_response(),
            },
        },
    };
    tracing::debug!(micros = started.elapsed().as_micros() as u64, "saml acs");
    response
}
