//! Sign-in with OpenID Connect, against a provider served by the test that signs what each
//! test asks it to: the happy path, then each attack, each of which must end refused with no
//! session.

use crate::support::{form_token, TestApp};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use roster_core::{Actor, Connection};
use roster_store::testing::Backend;
use roster_web::sso::{new_connection, MatchClaim, OidcProvider, OidcSettings};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub const CLIENT_ID: &str = "roster-test-client";
pub const CLIENT_SECRET: &str = "test-client-secret";

/// How the provider answers the code exchange.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Forgery {
    Honest,
    AlgNone,
    Hs256WithPublicKey,
    UnknownKid,
    WrongAudience,
    ExtraAudience,
    Expired,
    WrongNonce,
    ForeignTenant,
}

struct Key {
    der: Vec<u8>,
    jwk: Value,
}

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let jwk = json!({ "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1",
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()) });
        Key { der: private.to_pkcs1_der().unwrap().as_bytes().to_vec(), jwk }
    })
}

#[derive(Clone)]
pub struct Idp {
    issuer: Arc<Mutex<String>>,
    forgery: Arc<Mutex<Forgery>>,
    email: Arc<Mutex<String>>,
    /// code -> (nonce, code_challenge)
    codes: Arc<Mutex<HashMap<String, (String, String)>>>,
    challenge_methods: Arc<Mutex<Vec<String>>>,
    /// The secret the provider expects (an admin may rotate it).
    pub secret: Arc<Mutex<String>>,
}

fn sign(idp: &Idp, nonce: &str) -> String {
    let forgery = *idp.forgery.lock().unwrap();
    let iss = idp.issuer.lock().unwrap().clone();
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({ "iss": iss, "sub": "subject-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce,
        "email": idp.email.lock().unwrap().clone(), "email_verified": true, "tid": "tenant-a", "oid": "object-1" });
    match forgery {
        Forgery::WrongAudience => claims["aud"] = json!("someone-else"),
        Forgery::ExtraAudience => claims["aud"] = json!([CLIENT_ID, "api://untrusted"]),
        Forgery::Expired => claims["exp"] = json!(now - 3600),
        Forgery::WrongNonce => claims["nonce"] = json!("not-the-nonce"),
        Forgery::ForeignTenant => claims["tid"] = json!("tenant-b"),
        _ => {}
    }
    let header = |alg: Algorithm, kid: &str| {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        h
    };
    match forgery {
        Forgery::AlgNone => {
            format!("{}.{}.", URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "kid": "k1" }).to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
        }
        Forgery::Hs256WithPublicKey => {
            let secret = key().jwk["n"].as_str().unwrap().as_bytes().to_vec();
            jsonwebtoken::encode(&header(Algorithm::HS256, "k1"), &claims, &EncodingKey::from_secret(&secret)).unwrap()
        }
        Forgery::UnknownKid => jsonwebtoken::encode(&header(Algorithm::RS256, "k-unknown"), &claims, &EncodingKey::from_rsa_der(&key().der)).unwrap(),
        _ => jsonwebtoken::encode(&header(Algorithm::RS256, "k1"), &claims, &EncodingKey::from_rsa_der(&key().der)).unwrap(),
    }
}

pub async fn serve_idp() -> (Idp, String) {
    let idp = Idp {
        issuer: Arc::default(),
        forgery: Arc::new(Mutex::new(Forgery::Honest)),
        email: Arc::default(),
        codes: Arc::default(),
        challenge_methods: Arc::default(),
        secret: Arc::new(Mutex::new(CLIENT_SECRET.to_owned())),
    };
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(idp): State<Idp>| async move {
                let base = idp.issuer.lock().unwrap().clone();
                Json(json!({ "issuer": base, "authorization_endpoint": format!("{base}/authorize"), "token_endpoint": format!("{base}/token"),
                "jwks_uri": format!("{base}/keys"), "code_challenge_methods_supported": ["S256"] }))
            }),
        )
        .route("/keys", get(|| async { Json(json!({ "keys": [key().jwk.clone()] })) }))
        // A discovery URL that answers, but not with a discovery document.
        .route("/bogus/.well-known/openid-configuration", get(|| async { "ok" }))
        // Signs the test user in at once and sends the browser back with a code.
        .route(
            "/authorize",
            get(|State(idp): State<Idp>, Query(q): Query<HashMap<String, String>>| async move {
                idp.challenge_methods.lock().unwrap().push(q.get("code_challenge_method").cloned().unwrap_or_default());
                let code = format!("code-{}", uuid::Uuid::new_v4());
                idp.codes.lock().unwrap().insert(code.clone(), (q["nonce"].clone(), q["code_challenge"].clone()));
                let to = format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]);
                axum::response::Redirect::to(&to)
            }),
        )
        .route(
            "/token",
            post(|State(idp): State<Idp>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>| async move {
                let secret = idp.secret.lock().unwrap().clone();
                let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}")));
                let bad = |e: &str| (axum::http::StatusCode::BAD_REQUEST, Json(json!({ "error": e })));
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
                    return bad("invalid_client");
                }
                // A client that authenticated, but may not use this grant: as most providers answer.
                if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
                    return bad("unauthorized_client");
                }
                // Codes are single use, and only with the verifier of their challenge.
                let Some((nonce, challenge)) = idp.codes.lock().unwrap().remove(&f["code"]) else { return bad("invalid_grant") };
                if URL_SAFE_NO_PAD.encode(Sha256::digest(f["code_verifier"].as_bytes())) != challenge {
                    return bad("invalid_grant");
                }
                (axum::http::StatusCode::OK, Json(json!({ "id_token": sign(&idp, &nonce), "token_type": "Bearer" })))
            }),
        )
        .with_state(idp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *idp.issuer.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (idp, base)
}

pub struct World {
    pub idp: Idp,
    pub connection: Connection,
    pub acme: crate::support::TestOrg,
}

pub async fn world(app: &TestApp, provider: OidcProvider) -> World {
    let acme = app.org("acme").await;
    let (idp, base) = serve_idp().await;
    *idp.email.lock().unwrap() = acme.owner_email.to_uppercase();
    let settings = OidcSettings {
        provider,
        discovery_url: format!("{base}/.well-known/openid-configuration"),
        client_id: CLIENT_ID.into(),
        tenant_id: (provider == OidcProvider::Entra).then(|| "tenant-a".into()),
        match_claim: MatchClaim::Email,
    };
    let connection = new_connection(&app.state.master_key, acme.org.id, "Test IdP", &settings, CLIENT_SECRET, true, chrono::Utc::now()).unwrap();
    app.state.store.create_connection(&connection, &Actor::Cli).await.unwrap();
    World { idp, connection, acme }
}

/// Click "Sign in with Test IdP" on the login page; returns the provider's redirect to our callback.
/// The provider address on the page between the login form and the provider.
pub fn provider_link(html: &str) -> String {
    let marker = "id=\"continue\" href=\"";
    let start = html.find(marker).expect("a continue link") + marker.len();
    let end = html[start..].find('"').expect("end of link") + start;
    html[start..end].replace("&#38;", "&").replace("&amp;", "&").replace("&#61;", "=").replace("&#43;", "+").replace("&#47;", "/")
}

pub async fn start(app: &TestApp, w: &World, client: &reqwest::Client) -> String {
    let page = client.get(app.url("acme", "/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in with Test IdP"), "the login page shows the button");
    let started =
        client.post(app.url("acme", &format!("/sso/{}/start", w.connection.id))).form(&[("_csrf", form_token(&page))]).send().await.unwrap();
    assert_eq!(started.status(), 200, "a page that moves on to the provider");
    let authorize = provider_link(&started.text().await.unwrap());
    let back = client.get(&authorize).send().await.unwrap();
    back.headers()["location"].to_str().unwrap().to_owned()
}

pub fn sets_session(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("roster_session=") && !v.to_str().unwrap().starts_with("roster_session=;"))
}

pub async fn assert_refused(app: &TestApp, client: &reqwest::Client, response: reqwest::Response, why: &str) {
    assert_eq!(response.status(), 403, "{why}");
    assert!(!sets_session(&response), "{why}: no session");
    let page = response.text().await.unwrap();
    assert!(page.contains("/o/acme/login"), "{why}: the page links back to the login page");
    let me = client.get(app.url("acme", "/me")).send().await.unwrap();
    assert_eq!(me.status(), 303, "{why}: still signed out");
}

async fn signs_in_and_a_replayed_callback_is_refused(app: &TestApp) {
    let w = world(app, OidcProvider::Generic).await;
    let client = app.client();
    let callback = start(app, &w, &client).await;
    assert!(callback.starts_with(&app.url("acme", "/sso/callback")));
    // An off-origin target in the callback is ignored: the landing page is always ours.
    let signed_in = client.get(format!("{callback}&returnTo=https://evil.example/")).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/o/acme/");
    assert!(sets_session(&signed_in));
    let me = client.get(app.url("acme", "/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert!(me.text().await.unwrap().contains("owner@acme.example"));
    assert_eq!(w.idp.challenge_methods.lock().unwrap().as_slice(), ["S256"], "every request sent an S256 challenge");

    // The same callback again (state and code already used), from a fresh browser and from
    // the same one.
    let fresh = app.client();
    assert_refused(app, &fresh, fresh.get(&callback).send().await.unwrap(), "replay from another browser").await;
    let again = client.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 403, "replay in the same browser");
    assert!(!sets_session(&again));
    let log = app.state.store.sso_refusals(w.connection.org, 10).await.unwrap();
    assert!(log.iter().all(|r| r.reason.contains("state")), "{log:?}");
}

async fn callbacks_roster_did_not_start_are_refused(app: &TestApp) {
    let w = world(app, OidcProvider::Generic).await;
    let victim = app.client();
    assert_refused(app, &victim, victim.get(app.url("acme", "/sso/callback?code=x")).send().await.unwrap(), "no state").await;
    assert_refused(app, &victim, victim.get(app.url("acme", "/sso/callback?code=x&state=made-up")).send().await.unwrap(), "unknown state").await;
    // Login CSRF: the attacker's own callback (state bound to the attacker's browser) planted
    // in the victim's browser.
    let attacker = app.client();
    let planted = start(app, &w, &attacker).await;
    assert_refused(app, &victim, victim.get(&planted).send().await.unwrap(), "foreign state").await;
    // The flow cannot start except from the login page's form.
    let direct = victim.post(app.url("acme", &format!("/sso/{}/start", w.connection.id))).form(&[("_csrf", "x")]).send().await.unwrap();
    assert_eq!(direct.status(), 403);
    let unknown = victim.post(app.url("acme", "/sso/not-a-connection/start")).send().await.unwrap();
    assert!(!unknown.status().is_success());
}

async fn forged_tokens_are_refused(app: &TestApp) {
    let w = world(app, OidcProvider::Entra).await;
    for forgery in [
        Forgery::AlgNone,
        Forgery::Hs256WithPublicKey,
        Forgery::UnknownKid,
        Forgery::WrongAudience,
        Forgery::ExtraAudience,
        Forgery::Expired,
        Forgery::WrongNonce,
        Forgery::ForeignTenant,
    ] {
        *w.idp.forgery.lock().unwrap() = forgery;
        let client = app.client();
        let callback = start(app, &w, &client).await;
        assert_refused(app, &client, client.get(&callback).send().await.unwrap(), &format!("{forgery:?}")).await;
    }
    let log = app.state.store.sso_refusals(w.connection.org, 20).await.unwrap();
    let reasons: Vec<&str> = log.iter().rev().map(|r| r.reason.as_str()).collect();
    for (reason, expected) in
        reasons.iter().zip(["none", "HS256", "k-unknown", "audience is someone-else", "api://untrusted", "expired", "nonce", "tenant tenant-b"])
    {
        assert!(reason.contains(expected), "{reason:?} should mention {expected:?}");
    }
    assert_eq!(reasons.len(), 8);
    // The honest token still works on the same connection.
    *w.idp.forgery.lock().unwrap() = Forgery::Honest;
    let client = app.client();
    let callback = start(app, &w, &client).await;
    assert!(sets_session(&client.get(&callback).send().await.unwrap()));
}

async fn unknown_people_are_never_created(app: &TestApp) {
    let w = world(app, OidcProvider::Generic).await;
    *w.idp.email.lock().unwrap() = "stranger@acme.example".into();
    let before = app.state.store.count_people(w.connection.org).await.unwrap();
    let client = app.client();
    let callback = start(app, &w, &client).await;
    let refused = client.get(&callback).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("stranger@acme.example"));
    assert_eq!(format!("{:?}", app.state.store.count_people(w.connection.org).await.unwrap()), format!("{before:?}"));
    let log = app.state.store.sso_refusals(w.connection.org, 1).await.unwrap();
    assert!(log[0].reason.contains("no person has the address stranger@acme.example"));
}

async fn password_sign_in_can_be_turned_off_except_for_the_owner(app: &TestApp) {
    let w = world(app, OidcProvider::Generic).await;
    app.state.store.set_password_sign_in(w.connection.org, false, &Actor::Cli, chrono::Utc::now()).await.unwrap();
    let page = app.client().get(app.url("acme", "/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in with Test IdP"));
    // The owner is never locked out (their address is the provider's user here too).
    let owner = app.state.store.person_by_email(w.connection.org, &roster_core::Email::parse("owner@acme.example").unwrap()).await.unwrap().unwrap();
    assert_eq!(owner.role, roster_core::Role::Owner);
    let password = app.state.store.credentials(w.connection.org, &owner.email).await.unwrap();
    assert!(password.is_some());
}

/// Third-party-initiated login (`iss`, `target_link_uri`) is not a way in: Roster starts
/// sign-in only from its own login form, so such a request fetches nothing and sends nobody
/// off-origin.
async fn initiate_login_parameters_fetch_nothing_and_redirect_nowhere(app: &TestApp) {
    let _w = world(app, OidcProvider::Generic).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let unconfigured = format!("http://{}", listener.local_addr().unwrap());
    let contacted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = contacted.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let client = app.client();
    for path in ["/sso/initiate", "/login", "/sso/callback", "/saml/acs"] {
        let url = format!(
            "{}?iss={unconfigured}&target_link_uri=https://evil.example/&RelayState=https://evil.example/&returnTo=https://evil.example/",
            app.url("acme", path)
        );
        let response = client.get(&url).send().await.unwrap();
        let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
        assert!(!location.contains("evil.example") && !location.starts_with("http"), "{path} must not send the browser to {location}");
        assert!(!sets_session(&response), "{path}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(contacted.load(std::sync::atomic::Ordering::SeqCst), 0, "no request went to the unconfigured issuer");
}

/// Signing in is what makes an invited person active, by single sign-on too; their invitation
/// to choose a password stops working. A test sign-in activates nobody.
async fn single_sign_on_activates_an_invited_person(app: &TestApp) {
    let w = world(app, OidcProvider::Generic).await;
    let csv = "email,first_name,last_name\nivy@acme.example,Ivy,Invited\n";
    roster_app::admin::import_csv(&app.state, w.acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let ivy = app.state.store.person_by_email(w.acme.org.id, &roster_core::Email::parse("ivy@acme.example").unwrap()).await.unwrap().unwrap();
    assert_eq!(ivy.status, roster_core::Status::Invited);
    let link = roster_app::mail::mint_link(&app.state, w.acme.org.id, ivy.id, roster_store::TokenPurpose::Invitation, None).await.unwrap();
    *w.idp.email.lock().unwrap() = "ivy@acme.example".into();

    // An admin's test with Ivy's account changes nothing.
    let admin = app.signed_in("acme", &w.acme.owner_email, &w.acme.owner_password).await;
    let page = admin.get(app.url("acme", &format!("/settings/sso/{}", w.connection.id))).send().await.unwrap().text().await.unwrap();
    let started =
        admin.post(app.url("acme", &format!("/settings/sso/{}/test", w.connection.id))).form(&[("_csrf", form_token(&page))]).send().await.unwrap();
    let back = admin.get(provider_link(&started.text().await.unwrap())).send().await.unwrap();
    let tested = admin.get(back.headers()["location"].to_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(tested.contains("ivy@acme.example"), "{tested}");
    let still = app.state.store.person(w.acme.org.id, ivy.id).await.unwrap().unwrap();
    assert_eq!(still.status, roster_core::Status::Invited, "a test signs nobody in");

    let client = app.client();
    let callback = start(app, &w, &client).await;
    let signed_in = client.get(&callback).send().await.unwrap();
    assert!(sets_session(&signed_in), "Ivy signs in");
    let ivy = app.state.store.person(w.acme.org.id, ivy.id).await.unwrap().unwrap();
    assert_eq!((ivy.status, ivy.activated), (roster_core::Status::Active, true));
    let audit = app.state.store.audit_for_person(w.acme.org.id, ivy.id, 10).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "user.activated" && a.detail["via"] == "Test IdP"), "{audit:?}");
    let digest = roster_core::secret::token_digest(&link);
    let open = app.state.store.peek_token(w.acme.org.id, roster_store::TokenPurpose::Invitation, &digest, chrono::Utc::now()).await.unwrap();
    assert!(open.is_none(), "the invitation link is void");
}

/// Where people sign in only with single sign-on, an invitation names the button to press and
/// carries no link to choose a password.
async fn invitations_of_an_sso_only_organisation_name_the_button(app: &TestApp) {
    let w = world(app, OidcProvider::Generic).await;
    app.state.store.set_password_sign_in(w.acme.org.id, false, &Actor::Cli, chrono::Utc::now()).await.unwrap();
    let csv = "email,first_name,last_name\nsam@acme.example,Sam,Sso\n";
    roster_app::admin::import_csv(&app.state, w.acme.org.id, Actor::Cli, csv.as_bytes(), roster_core::reconcile::Invitations::Hold, false)
        .await
        .unwrap();
    let sam = app.state.store.person_by_email(w.acme.org.id, &roster_core::Email::parse("sam@acme.example").unwrap()).await.unwrap().unwrap();
    roster_app::admin::invite(&app.state, w.acme.org.id, Actor::Cli, sam.id).await.unwrap();
    let Some((host, port, maildir)) = crate::mail::smtp_server() else { return };
    let smtp = roster_app::config::SmtpConfig {
        host,
        port,
        username: None,
        password: None,
        from: "Roster <roster@test.example>".into(),
        security: roster_app::config::SmtpSecurity::Plain,
    };
    roster_app::mail::deliver_due(&app.state, &smtp).await.unwrap();
    let login = app.url("acme", "/login");
    let mut found = Vec::new();
    for _ in 0..50 {
        found = crate::mail::delivered_to(&maildir, "sam@acme.example").into_iter().filter(|m| m.contains(&login)).collect();
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mail = found.first().expect("the invitation was delivered");
    assert!(mail.contains("\"Sign in with Test IdP\"") && !mail.contains("token=") && mail.contains("no password to set"), "{mail}");
}

macro_rules! sso_on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use roster_store::testing::Backend;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::run(Backend::Sqlite, |app| Box::pin(super::$name(app))).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::run(Backend::Postgres, |app| Box::pin(super::$name(app))).await;
                }
            }
        )*
    };
}

/// Callbacks come back to the path-prefixed address, so the app runs without a base domain.
pub async fn run(backend: Backend, body: impl for<'a> FnOnce(&'a TestApp) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>) {
    if let Some(app) = TestApp::start_with(backend, |config| config.base_domain = None).await {
        body(&app).await;
        app.finish().await;
    }
}

sso_on_both_backends!(
    signs_in_and_a_replayed_callback_is_refused,
    callbacks_roster_did_not_start_are_refused,
    forged_tokens_are_refused,
    unknown_people_are_never_created,
    password_sign_in_can_be_turned_off_except_for_the_owner,
    initiate_login_parameters_fetch_nothing_and_redirect_nowhere,
    single_sign_on_activates_an_invited_person,
    invitations_of_an_sso_only_organisation_name_the_button,
);
