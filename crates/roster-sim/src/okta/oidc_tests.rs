//! Sign-in with Okta, checked through the router and with the relying-party code Roster uses,
//! so the simulator and the validator agree on what an Okta token is.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tower::ServiceExt;

use crate::okta::org::Status;
use crate::okta::{lock, OktaSim, OktaSpec};

/// Loopback, so the relying party accepts the simulator's plain-HTTP endpoints.
const HOST: &str = "127.0.0.1:9";
const BASE: &str = "http://127.0.0.1:9";
const REDIRECT: &str = "http://127.0.0.1:8080/o/globex/sso/callback";

struct Reply {
    status: StatusCode,
    location: Option<String>,
    www_authenticate: Option<String>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn location_param(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(self.location.as_deref()?).ok()?;
        url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

async fn send(sim: &OktaSim, req: Request<Body>) -> Reply {
    let resp = sim.router().oneshot(req).await.expect("router answers");
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (status, location, www_authenticate) = (resp.status(), header("location"), header("www-authenticate"));
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    Reply { status, location, www_authenticate, text: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn get_with(sim: &OktaSim, path: &str, host: &str, authorization: Option<&str>) -> Reply {
    let mut req = Request::get(path).header("host", host);
    if let Some(auth) = authorization {
        req = req.header("authorization", auth);
    }
    send(sim, req.body(Body::empty()).unwrap()).await
}

async fn get(sim: &OktaSim, path: &str) -> Reply {
    get_with(sim, path, HOST, None).await
}

async fn post(sim: &OktaSim, path: &str, pairs: &[(&str, &str)], authorization: Option<&str>) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let mut req = Request::post(path).header("host", HOST).header("content-type", "application/x-www-form-urlencoded");
    if let Some(auth) = authorization {
        req = req.header("authorization", auth);
    }
    send(sim, req.body(Body::from(body)).unwrap()).await
}

fn sim() -> OktaSim {
    OktaSim::generate(OktaSpec { users: 24, assigned_share: 0.6, seed: 7 })
}

/// The id and login of a person with this status, assigned to the app or not.
fn person(sim: &OktaSim, status: Status, assigned: bool) -> (String, String) {
    let s = lock(&sim.state);
    let user = s.org.users.values().find(|u| u.status == status && s.org.assignments.contains_key(&u.id) == assigned).expect("such a person");
    (user.id.clone(), user.login().to_owned())
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

async fn metadata(sim: &OktaSim) -> roster_oidc::ProviderMetadata {
    let url = roster_oidc::okta_discovery_url(BASE, "");
    let reply = get(sim, &url[BASE.len()..]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    roster_oidc::ProviderMetadata::from_document(&url, reply.text.as_bytes()).expect("the relying party accepts the discovery document")
}

/// A sign-in started by Roster's own request builder: the page's request id and what Roster keeps.
struct Started {
    request_id: String,
    auth: roster_oidc::AuthorizationRequest,
}

async fn start(sim: &OktaSim, meta: &roster_oidc::ProviderMetadata) -> Started {
    let auth = roster_oidc::authorization_request(meta, &sim.oidc_client_id(), REDIRECT, "openid profile email", &mut rand::rngs::OsRng).unwrap();
    let page = get(sim, &auth.url[BASE.len()..]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    Started { request_id: request_id(&page.text), auth }
}

fn request_id(page: &str) -> String {
    let marker = "name=\"request\" value=\"";
    let at = page.find(marker).expect("the sign-in page") + marker.len();
    page[at..].split('"').next().unwrap().to_owned()
}

async fn sign_in(sim: &OktaSim, started: &Started, login: &str) -> Reply {
    post(sim, "/oauth2/v1/authorize", &[("request", &started.request_id), ("username", login), ("password", "anything")], None).await
}

/// Redeems with `client_secret_post`.
async fn redeem(sim: &OktaSim, code: &str, verifier: &str, secret: &str) -> Reply {
    let id = sim.oidc_client_id();
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", &id),
        ("client_secret", secret),
    ];
    post(sim, "/oauth2/v1/token", &pairs, None).await
}

/// Signs `login` in and returns the code and the started request.
async fn code_for(sim: &OktaSim, meta: &roster_oidc::ProviderMetadata, login: &str) -> (String, Started) {
    let started = start(sim, meta).await;
    let back = sign_in(sim, &started, login).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text);
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(back.location_param("state").as_deref(), Some(started.auth.state.as_str()));
    (back.location_param("code").expect("a code"), started)
}

async fn validate(
    sim: &OktaSim,
    meta: &roster_oidc::ProviderMetadata,
    id_token: &str,
    nonce: &str,
) -> Result<roster_oidc::IdTokenClaims, roster_oidc::SsoError> {
    let keys = roster_oidc::parse_key_set(&get(sim, &meta.jwks_uri[BASE.len()..]).await.json());
    let header = roster_oidc::read_header(id_token)?;
    let key = roster_oidc::find_key(&keys, &header)?;
    let client_id = sim.oidc_client_id();
    let expect = roster_oidc::Expectations {
        issuer: &meta.issuer,
        client_id: &client_id,
        tenant: None,
        nonce,
        now: chrono::Utc::now().timestamp(),
        leeway: 60,
        max_age: 600,
    };
    roster_oidc::validate_id_token(id_token, key, &header, &expect)
}

#[tokio::test]
async fn discovery_is_the_org_authorization_server_at_the_requested_host() {
    let sim = sim();
    let meta = metadata(&sim).await;
    assert_eq!(meta.issuer, BASE);
    assert_eq!(meta.authorization_endpoint, format!("{BASE}/oauth2/v1/authorize"));
    assert_eq!(meta.token_endpoint, format!("{BASE}/oauth2/v1/token"));
    assert_eq!(meta.jwks_uri, format!("{BASE}/oauth2/v1/keys"));
    assert_eq!(meta.client_auth(), roster_oidc::ClientAuth::Basic);
    roster_oidc::require_s256(&meta).expect("S256 is listed");
    let other = get_with(&sim, "/.well-known/openid-configuration", "localhost:4455", None).await.json();
    assert_eq!(other["issuer"], "http://localhost:4455", "the issuer follows Host");
    assert_eq!(other["userinfo_endpoint"], "http://localhost:4455/oauth2/v1/userinfo");
    assert_eq!(other["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));

    let custom = get(&sim, "/oauth2/default/.well-known/openid-configuration").await;
    assert_eq!(custom.status, StatusCode::NOT_FOUND);
    assert_eq!(custom.json()["errorCode"], "E0000007", "no custom authorization servers in this org");

    let keys = get(&sim, "/oauth2/v1/keys").await.json();
    assert!(roster_oidc::parse_key_set(&keys).len() >= 2, "{keys}");
    assert_eq!(keys["keys"][0]["alg"], "RS256");
    assert!(keys["keys"][0].get("issuer").is_none(), "Okta's keys carry no issuer");
}

#[tokio::test]
async fn an_assigned_active_person_gets_a_token_roster_accepts() {
    let sim = sim();
    let (user_id, login) = person(&sim, Status::Active, true);
    let meta = metadata(&sim).await;
    let (code, started) = code_for(&sim, &meta, &login.to_uppercase()).await;
    // Roster's default for a provider listing Basic.
    let pairs = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", &started.auth.pkce_verifier)];
    let reply = post(&sim, "/oauth2/v1/token", &pairs, Some(&basic(&sim.oidc_client_id(), &sim.oidc_client_secret()))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let tokens = reply.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "openid profile email");
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let claims = validate(&sim, &meta, id_token, &started.auth.nonce).await.expect("Roster's validator accepts it");
    assert_eq!(claims.issuer, BASE);
    assert_eq!(claims.subject, user_id, "sub is the Okta user id");
    assert_eq!(claims.audiences, vec![sim.oidc_client_id()]);
    assert_eq!(claims.email.as_deref(), Some(login.as_str()));
    assert_eq!(claims.preferred_username.as_deref(), Some(login.as_str()));
    assert!(claims.name.is_some());
    assert_eq!(claims.email_verified, None, "a thin ID token: the rest is at /userinfo");
    assert!(matches!(validate(&sim, &meta, id_token, "another").await, Err(roster_oidc::SsoError::Nonce)));

    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let info = get_with(&sim, "/oauth2/v1/userinfo", HOST, Some(&bearer)).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.text);
    let info = info.json();
    assert_eq!(info["sub"], user_id.as_str());
    assert_eq!(info["email_verified"], true);
    assert!(info["given_name"].is_string() && info["family_name"].is_string(), "{info}");
    let refused = get_with(&sim, "/oauth2/v1/userinfo", HOST, Some("Bearer made-up")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.www_authenticate.unwrap().contains("error=\"invalid_token\""));
}

#[tokio::test]
async fn only_people_whose_status_allows_it_get_a_code() {
    let sim = sim();
    let meta = metadata(&sim).await;
    let (id, login) = person(&sim, Status::Active, true);
    use Status::{Active, Deprovisioned, LockedOut, PasswordExpired, Provisioned, Recovery, Staged, Suspended};
    for status in [Active, PasswordExpired, Recovery, LockedOut, Suspended, Deprovisioned, Staged, Provisioned] {
        lock(&sim.state).org.users.get_mut(&id).unwrap().status = status;
        let started = start(&sim, &meta).await;
        let back = sign_in(&sim, &started, &login).await;
        assert_eq!(back.status, StatusCode::FOUND, "{status:?}: {}", back.text);
        let allowed = matches!(status, Active | PasswordExpired);
        assert_eq!(back.location_param("code").is_some(), allowed, "{status:?}");
        if !allowed {
            assert_eq!(back.location_param("error").as_deref(), Some("access_denied"), "{status:?}");
            assert!(back.location_param("error_description").unwrap().contains(status.as_str()));
        }
    }
}

#[tokio::test]
async fn unassigned_suspended_and_unknown_people_are_refused() {
    let sim = sim();
    let meta = metadata(&sim).await;
    let (_, stranger) = person(&sim, Status::Active, false);
    let started = start(&sim, &meta).await;
    let back = sign_in(&sim, &started, &stranger).await;
    assert_eq!(back.location_param("error").as_deref(), Some("access_denied"));
    assert_eq!(back.location_param("error_description").as_deref(), Some("User is not assigned to the client application."));
    assert_eq!(back.location_param("state").as_deref(), Some(started.auth.state.as_str()));
    let again = sign_in(&sim, &started, &stranger).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "a sign-in is answered once");

    let (id, login) = person(&sim, Status::Active, true);
    sim.suspend(&id).unwrap();
    let started = start(&sim, &meta).await;
    let back = sign_in(&sim, &started, &login).await;
    assert_eq!(back.location_param("error").as_deref(), Some("access_denied"));
    assert!(back.location_param("code").is_none());

    // Nothing is said about unknown people, and the page can be answered again.
    let started = start(&sim, &meta).await;
    let unknown = sign_in(&sim, &started, "nobody@elsewhere.example").await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(unknown.text.contains("Unable to sign in") && unknown.location.is_none());
    let (_, assigned) = person(&sim, Status::Active, true);
    assert!(sign_in(&sim, &started, &assigned).await.location_param("code").is_some());
}

#[tokio::test]
async fn codes_are_single_use_short_lived_and_bound_to_the_verifier() {
    let sim = sim();
    let meta = metadata(&sim).await;
    let secret = sim.oidc_client_secret();
    let (_, login) = person(&sim, Status::Active, true);
    let (first, a) = code_for(&sim, &meta, &login).await;
    let (second, b) = code_for(&sim, &meta, &login).await;

    let mismatch = redeem(&sim, &first, &b.auth.pkce_verifier, &secret).await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert_eq!(mismatch.json()["error"], "invalid_grant");
    assert_eq!(mismatch.json()["error_description"], "PKCE verification failed.");
    let spent = redeem(&sim, &first, &a.auth.pkce_verifier, &secret).await;
    assert_eq!(spent.json()["error"], "invalid_grant", "a failed redemption spends the code");

    let ok = redeem(&sim, &second, &b.auth.pkce_verifier, &secret).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let again = redeem(&sim, &second, &b.auth.pkce_verifier, &secret).await;
    assert_eq!(again.json()["error"], "invalid_grant");
    assert_eq!(again.json()["error_description"], "The authorization code is invalid or has expired.");
    let bearer = format!("Bearer {}", ok.json()["access_token"].as_str().unwrap());
    let revoked = get_with(&sim, "/oauth2/v1/userinfo", HOST, Some(&bearer)).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED, "a code presented twice revokes its token");

    let (late, c) = code_for(&sim, &meta, &login).await;
    let past = Instant::now().checked_sub(Duration::from_secs(301)).unwrap();
    lock(&sim.state).oidc.codes.get_mut(&late).unwrap().issued = past;
    assert_eq!(redeem(&sim, &late, &c.auth.pkce_verifier, &secret).await.json()["error"], "invalid_grant", "codes live 300 s");

    let (elsewhere, d) = code_for(&sim, &meta, &login).await;
    let id = sim.oidc_client_id();
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", elsewhere.as_str()),
        ("redirect_uri", "http://127.0.0.1:8080/elsewhere"),
        ("code_verifier", &d.auth.pkce_verifier),
        ("client_id", &id),
        ("client_secret", &secret),
    ];
    assert_eq!(post(&sim, "/oauth2/v1/token", &pairs, None).await.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn the_client_must_authenticate() {
    let sim = sim();
    let meta = metadata(&sim).await;
    let (_, login) = person(&sim, Status::Active, true);
    let (code, started) = code_for(&sim, &meta, &login).await;
    let verifier = started.auth.pkce_verifier.as_str();
    let secret = sim.oidc_client_secret();

    let wrong = redeem(&sim, &code, verifier, "not-the-secret").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert!(!wrong.text.contains(&secret));
    let pairs = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", verifier)];
    let wrong_basic = post(&sim, "/oauth2/v1/token", &pairs, Some(&basic(&sim.oidc_client_id(), "nope"))).await;
    assert_eq!(wrong_basic.json()["error"], "invalid_client");
    let stranger = post(&sim, "/oauth2/v1/token", &pairs, Some(&basic("0oaSomebodyElse00000", &secret))).await;
    assert_eq!(stranger.json()["error"], "invalid_client");
    let none = post(&sim, "/oauth2/v1/token", &pairs, None).await;
    assert_eq!((none.status, none.json()["error_description"].as_str()), (StatusCode::UNAUTHORIZED, Some("No client credentials found.")));
    let mut both = pairs.to_vec();
    both.push(("client_secret", &secret));
    let twice = post(&sim, "/oauth2/v1/token", &both, Some(&basic(&sim.oidc_client_id(), &secret))).await;
    assert_eq!(twice.json()["error"], "invalid_request");

    let ok = redeem(&sim, &code, verifier, &secret).await;
    assert_eq!(ok.status, StatusCode::OK, "failed client authentication leaves the code unspent: {}", ok.text);
    let id = sim.oidc_client_id();
    let cc = [("grant_type", "client_credentials"), ("client_id", id.as_str()), ("client_secret", secret.as_str())];
    assert_eq!(post(&sim, "/oauth2/v1/token", &cc, None).await.json()["error"], "invalid_client", "the org server wants private_key_jwt");
}

#[tokio::test]
async fn the_authorize_request_is_checked() {
    let sim = sim();
    let client = sim.oidc_client_id();
    let challenge = roster_oidc::pkce_challenge("a-verifier-that-is-long-enough-for-pkce-rules-000");
    let base = [
        ("client_id", client.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let try_with = |changes: &[(&'static str, &'static str)]| {
        let mut pairs: Vec<(&str, &str)> = base.iter().filter(|(k, _)| !changes.iter().any(|(c, _)| c == k)).copied().collect();
        pairs.extend(changes.iter().filter(|(_, v)| !v.is_empty()));
        format!("/oauth2/v1/authorize?{}", url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish())
    };
    assert_eq!(get(&sim, &try_with(&[])).await.status, StatusCode::OK);
    for bad in [("client_id", "0oaSomebodyElse00000"), ("redirect_uri", "javascript:alert(1)"), ("redirect_uri", "")] {
        let page = get(&sim, &try_with(&[bad])).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(page.location.is_none(), "{bad:?} is never redirected");
    }
    for (change, error) in [
        (("code_challenge", ""), "invalid_request"),
        (("code_challenge_method", "plain"), "invalid_request"),
        (("response_type", "id_token"), "unsupported_response_type"),
        (("scope", "openid groups"), "invalid_scope"),
        (("scope", ""), "invalid_scope"),
    ] {
        let back = get(&sim, &try_with(&[change])).await;
        assert_eq!(back.location_param("error").as_deref(), Some(error), "{change:?}");
        assert_eq!(back.location_param("state").as_deref(), Some("s1"), "{change:?}");
    }
    let stateless = get(&sim, &try_with(&[("state", "")])).await;
    assert_eq!(stateless.location_param("error").as_deref(), Some("invalid_request"), "Okta requires state");
}

/// Roster's own network client end to end: discovery, the exchange (Basic auth) and validation.
#[tokio::test]
async fn roster_signs_in_over_http() {
    let running = crate::okta::spawn_loopback(sim()).await.unwrap();
    let sim = &running.sim;
    let (user_id, login) = person(sim, Status::Active, true);
    let providers = roster_oidc::Providers::new(roster_oidc::http_client().unwrap());
    let discovery = roster_oidc::okta_discovery_url(&running.base_url, "");
    let meta = providers.metadata(&discovery).await.expect("discovery");
    let auth = roster_oidc::authorization_request(&meta, &sim.oidc_client_id(), REDIRECT, "openid email profile", &mut rand::rngs::OsRng).unwrap();
    let browser = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.get(&auth.url).send().await.unwrap().text().await.unwrap();
    let form = [("request", request_id(&page)), ("username", login.clone()), ("password", "pw".to_owned())];
    let back = browser.post(format!("{}/oauth2/v1/authorize", running.base_url)).form(&form).send().await.unwrap();
    let location = url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("a code");
    let (client_id, secret) = (sim.oidc_client_id(), sim.oidc_client_secret());
    let exchange = roster_oidc::CodeExchange {
        code: &code,
        redirect_uri: REDIRECT,
        pkce_verifier: &auth.pkce_verifier,
        client_id: &client_id,
        client_secret: &secret,
    };
    let id_token = providers.exchange_code(&meta, &exchange).await.expect("the exchange");
    let expect = roster_oidc::Expectations {
        issuer: &meta.issuer,
        client_id: &client_id,
        tenant: None,
        nonce: &auth.nonce,
        now: chrono::Utc::now().timestamp(),
        leeway: 60,
        max_age: 600,
    };
    let claims = providers.validate(&discovery, &meta, &id_token, &expect).await.expect("valid");
    assert_eq!((claims.subject.as_str(), claims.issuer.as_str()), (user_id.as_str(), running.base_url.as_str()));
}
