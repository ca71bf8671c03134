//! The HTTP application: routes, security headers, metrics, and the organisation resolver in
//! front of everything.

use crate::routing::resolve_org;
use crate::state::AppState;
use crate::{api, pages};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::time::Instant;
use tower::Layer;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

fn org_routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(pages::auth::home))
        .route("/login", get(pages::auth::show_login).post(pages::auth::login))
        .route("/logout", post(pages::auth::logout))
        .route("/password/forgot", get(pages::auth::show_forgot).post(pages::auth::forgot))
        .route("/password/set", get(pages::auth::show_set_password).post(pages::auth::set_password))
        .route("/me", get(pages::me::show))
        .route("/me/password", post(pages::me::change_password))
        .route("/dashboard", get(pages::dashboard::show))
        .route("/audit", get(pages::audit::show))
        .route("/audit.csv", get(pages::audit::export))
        .route("/sso/{connection}/start", post(pages::sso::start))
        .route("/sso/callback", get(pages::sso::callback_get).post(pages::sso::callback_post))
        .route("/saml/metadata", get(pages::sso::saml::metadata))
        .route("/saml/acs", post(pages::sso::saml::acs))
        .route("/saml/continue", get(pages::sso::saml::resume))
        .route("/settings/sso/saml", post(pages::sso::admin::add_saml))
        .route("/settings/sso", get(pages::sso::admin::show).post(pages::sso::admin::add))
        .route("/settings/sso/password", post(pages::sso::admin::password_policy))
        .route("/settings/sso/{connection}", get(pages::sso::connection::show))
        .route("/settings/sso/{connection}/edit", post(pages::sso::connection::edit))
        .route("/settings/sso/{connection}/signing", post(pages::sso::connection::signing))
        .route("/settings/sso/{connection}/check", post(pages::sso::connection::check))
        .route("/settings/sso/{connection}/delete", post(pages::sso::connection::delete))
        .route("/settings/sso/{connection}/test", post(pages::sso::admin::test))
        .route("/settings/sso/{connection}/{action}", post(pages::sso::admin::set_enabled))
        .route("/people", get(pages::people::list))
        .route("/people.csv", get(pages::people::export))
        .route("/people/bulk", post(pages::people_bulk::review))
        .route("/people/bulk/apply", post(pages::people_bulk::apply))
        .route("/people/{id}", get(pages::people::show))
        .route("/people/{id}/invite", post(pages::people::invite))
        .route("/people/{id}/invitation-link", post(pages::people::invitation_link))
        .route("/people/{id}/provisioning", post(pages::people::set_provisioning))
        .route("/people/{id}/status", post(pages::people::set_status))
        .route("/people/{id}/role", post(pages::people::set_role))
        .route("/people/{id}/profile", post(pages::people::update_profile))
        .route("/people/{id}/placement", post(pages::people::set_placement))
        .route("/people/{id}/unlink", post(pages::person_actions::unlink))
        .route("/people/{id}/erase", post(pages::person_actions::erase))
        .route("/teams", get(pages::teams::list).post(pages::teams::create))
        .route("/teams/{id}", post(pages::teams::update))
        .route("/teams/{id}/delete", post(pages::teams::delete))
        .route("/teams/{id}/managers", post(pages::teams::set_managers))
        .route("/import", get(pages::import::show).post(pages::import::upload))
        .route("/outbox", get(pages::outbox::list))
        .route("/settings", get(pages::settings::show))
        .route("/settings/api-keys", post(pages::settings::create_key))
        .route("/settings/webhooks", get(pages::webhooks::show).post(pages::webhooks::add))
        .route("/settings/webhooks/{id}", get(pages::webhooks::deliveries))
        .route("/settings/webhooks/{id}/rotate", post(pages::webhooks::rotate))
        .route("/settings/webhooks/{id}/delete", post(pages::webhooks::delete))
        .route("/settings/webhooks/{id}/redeliver", post(pages::webhooks::redeliver))
        .route("/settings/webhooks/{id}/test", post(pages::webhooks::test))
        .route("/settings/scim", get(pages::scim::show))
        .route("/settings/scim/tokens", post(pages::scim::create_token))
        .route("/settings/scim/tokens/{id}/revoke", post(pages::scim::revoke_token))
        .route("/settings/scim/requests", get(pages::scim::requests))
        .route("/settings/scim/rate", post(pages::scim::set_rate))
        .route("/settings/scim/delete", post(pages::scim::delete))
        .route("/settings/scim/waiting/apply", post(pages::scim::apply_waiting))
        .route("/settings/scim/waiting/discard", post(pages::scim::discard_waiting))
        .route("/settings/api-keys/{id}/revoke", post(pages::settings::revoke_key))
        .merge(api::routes(state))
        .route("/okta/hooks/{connection}", get(crate::okta_hooks::verify).post(crate::okta_hooks::deliver))
        .route("/entra/notifications/{connection}", post(crate::graph_notifications::change))
        .route("/entra/lifecycle/{connection}", post(crate::graph_notifications::lifecycle))
        .merge(pages::entra::routes())
        .merge(pages::okta::routes())
        .layer(middleware::from_fn(crate::error::styled_rejections))
}

/// The whole service, ready to serve; handlers can read the client's address (sign-in
/// throttling counts failures per address).
pub fn app(
    state: AppState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<
    impl tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send> + Clone + Send,
    std::net::SocketAddr,
> {
    let body_limit = state.config.max_body_bytes;
    let router = Router::new()
        .route("/", get(|| async { Html(include_str!("../templates/index.html")) }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/assets/{name}", get(asset))
        .route("/favicon.ico", get(|| async { axum::response::Redirect::permanent("/assets/favicon.svg") }))
        .route("/entra/consent", get(pages::entra::consent_answer))
        // The nested "/" only matches `/o/acme`; sign-in lands on `/o/acme/` (and a subdomain's `/`).
        .route("/o/{slug}/", get(pages::auth::home))
        .nest("/o/{slug}", org_routes(state.clone()))
        .nest("/o/{slug}/scim/v2", crate::scim::router(state.clone()))
        .fallback(|| async { crate::error::PageError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), crate::guard::refuse_control_characters))
        .layer(middleware::from_fn_with_state(state.clone(), crate::guard::share_fairly))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(observe))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state.clone());
    // Resolving the organisation rewrites subdomain requests, so it must run before routing.
    let service = middleware::from_fn_with_state(state, resolve_org).layer(router);
    axum::ServiceExt::<Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(service)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match name.as_str() {
        "htmx.min.js" => (include_bytes!("../assets/htmx.min.js"), "text/javascript"),
        "roster.css" => (include_bytes!("../assets/roster.css"), "text/css"),
        "favicon.svg" => (include_bytes!("../assets/favicon.svg"), "image/svg+xml"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    response
}

/// Count and time every request by its route template. Only the template is logged, never the
/// raw address: links carry single-use tokens in their query.
async fn observe(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let method = request.method().clone();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    // Lets clients and benchmarks separate the server's time from the network's.
    let waited =
        response.extensions().get::<crate::sso::ProviderTime>().map(|t| format!(", idp;dur={:.3}", t.0.as_secs_f64() * 1000.0)).unwrap_or_default();
    // Digits and ASCII punctuation only, always a valid header value: the Err is unreachable.
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={:.3}{waited}", elapsed.as_secs_f64() * 1000.0)) {
        response.headers_mut().insert("server-timing", value);
    }
    let status = response.status().as_u16();
    metrics::counter!("roster_http_requests_total", "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("roster_http_request_seconds", "route" => route.clone()).record(elapsed.as_secs_f64());
    tracing::info!(%method, %route, status, micros = elapsed.as_micros() as u64, "request");
    response
}
