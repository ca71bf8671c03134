//! Discovery, key refresh and the code exchange against a small provider served here.

use super::*;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The Authorization header and form of the last exchange.
type Exchange = (Option<String>, HashMap<String, String>);

#[derive(Clone, Default)]
struct Idp {
    base: Arc<Mutex<String>>,
    keys: Arc<Mutex<Vec<Value>>>,
    key_fetches: Arc<AtomicUsize>,
    last_exchange: Arc<Mutex<Option<Exchange>>>,
}

async fn serve(idp: Idp) -> String {
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(idp): State<Idp>| async move {
                let base = idp.base.lock().unwrap().clone();
                Json(json!({
                    "issuer": base, "authorization_endpoint": format!("{base}/authorize"), "token_endpoint": format!("{base}/token"),
                    "jwks_uri": format!("{base}/keys"), "code_challenge_methods_supported": ["S256"],
                }))
            }),
        )
        .route(
            "/keys",
            get(|State(idp): State<Idp>| async move {
                idp.key_fetches.fetch_add(1, Ordering::SeqCst);
                Json(json!({ "keys": idp.keys.lock().unwrap().clone() }))
            }),
        )
        .route(
            "/token",
            post(|State(idp): State<Idp>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>| async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
                *idp.last_exchange.lock().unwrap() = Some((auth, form.clone()));
                if form.get("code").map(String::as_str) == Some("good-code") {
                    (axum::http::StatusCode::OK, Json(json!({ "id_token": "the.id.token", "token_type": "Bearer" })))
                } else {
                    (axum::http::StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "error_description": "code already used" })))
                }
            }),
        )
        .with_state(idp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *idp.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_once_and_then_not_again_for_a_while() {
    let idp = Idp::default();
    *idp.keys.lock().unwrap() = vec![keys().0.jwk.clone()];
    let base = serve(idp.clone()).await;
    let discovery = format!("{base}{DISCOVERY_SUFFIX}");
    let providers = Providers::new(http_client().unwrap());
    let metadata = providers.metadata(&discovery).await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = with(claims(), json!({ "iss": base, "exp": now + 300, "iat": now }));
    let e = Expectations { issuer: &metadata.issuer, now, ..expect() };

    assert!(providers.validate(&discovery, &metadata, &sign(&claims), &e).await.is_ok());
    assert_eq!(idp.key_fetches.load(Ordering::SeqCst), 1);
    // The provider rolls to k2 without notice: one refetch finds it.
    *idp.keys.lock().unwrap() = vec![keys().0.jwk.clone(), keys().1.jwk.clone()];
    let rolled = sign_with(&claims, "k2", &keys().1.der);
    assert!(providers.validate(&discovery, &metadata, &rolled, &e).await.is_ok());
    assert_eq!(idp.key_fetches.load(Ordering::SeqCst), 2);
    // Forged kids do not make Roster hammer the provider.
    for _ in 0..5 {
        let forged = sign_with(&claims, "k-forged", &keys().1.der);
        let err = providers.validate(&discovery, &metadata, &forged, &e).await.unwrap_err();
        assert_eq!(err, SsoError::UnknownKey { kid: "k-forged".into() });
    }
    assert_eq!(idp.key_fetches.load(Ordering::SeqCst), 2, "no refetch within the rate limit");
}

#[tokio::test]
async fn the_code_exchange_sends_the_verifier_and_basic_auth_and_reports_refusals() {
    let idp = Idp::default();
    let base = serve(idp.clone()).await;
    let providers = Providers::new(http_client().unwrap());
    let metadata = providers.metadata(&format!("{base}{DISCOVERY_SUFFIX}")).await.unwrap();
    let exchange = CodeExchange {
        code: "good-code",
        redirect_uri: "http://r/cb",
        pkce_verifier: "v".repeat(43).leak(),
        client_id: CLIENT,
        client_secret: "s3cret",
    };
    assert_eq!(providers.exchange_code(&metadata, &exchange).await.unwrap(), "the.id.token");
    let (auth, form) = idp.last_exchange.lock().unwrap().clone().unwrap();
    assert!(auth.unwrap().starts_with("Basic "));
    assert_eq!(form["code_verifier"], "v".repeat(43));
    assert!(!form.contains_key("client_secret"), "basic auth keeps the secret out of the body");

    let replay = CodeExchange { code: "used-code", ..exchange };
    let err = providers.exchange_code(&metadata, &replay).await.unwrap_err();
    assert_eq!(err, SsoError::TokenEndpoint { error: "invalid_grant".into(), description: " (code already used)".into() });
    assert!(!err.to_string().contains("s3cret"));
}
