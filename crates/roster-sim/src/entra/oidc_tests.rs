//! Sign-in with Microsoft, checked through the router and with the relying-party code Roster
//! uses, so the simulator and the validator agree on what a Microsoft token is.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use crate::entra::{lock, EntraSim, TenantSpec};

/// Loopback, so the relying party accepts the simulator's plain-HTTP endpoints.
const HOST: &str = "127.0.0.1:9";
const BASE: &str = "http://127.0.0.1:9";
const REDIRECT: &str = "http://127.0.0.1:8080/o/acme/sso/callback";

struct Reply {
    status: StatusCode,
    location: Option<String>,
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

async fn send(sim: &EntraSim, req: Request<Body>) -> Reply {
    let resp = sim.router().oneshot(req).await.expect("router answers");
    let status = resp.status();
    let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    Reply { status, location, text: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn get(sim: &EntraSim, path: &str) -> Reply {
    send(sim, Request::get(path).header("host", HOST).body(Body::empty()).unwrap()).await
}

async fn post(sim: &EntraSim, path: &str, pairs: &[(&str, &str)]) -> Reply {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    let req =
        Request::post(path).header("host", HOST).header("content-type", "application/x-www-form-urlencoded").body(Body::from(form.finish())).unwrap();
    send(sim, req).await
}

fn sim() -> EntraSim {
    EntraSim::generate(TenantSpec { users: 12, ..TenantSpec::default() })
}

fn user_where(sim: &EntraSim, enabled: bool) -> (String, String) {
    let s = lock(&sim.state);
    let user = s
        .tenant
        .users
        .values()
        .find(|u| u.props.get("accountEnabled").and_then(Value::as_bool) == Some(enabled) && u.props.contains_key("userPrincipalName"))
        .expect("a user");
    (user.id.clone(), user.props["userPrincipalName"].as_str().unwrap().to_owned())
}

async fn metadata(sim: &EntraSim, tenant: &str) -> roster_oidc::ProviderMetadata {
    let url = format!("{BASE}/{tenant}/v2.0/.well-known/openid-configuration");
    let reply = get(sim, &url[BASE.len()..]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    roster_oidc::ProviderMetadata::from_document(&url, reply.text.as_bytes()).expect("the relying party accepts the discovery document")
}

/// A started sign-in: the page's request id, and what the relying party keeps.
struct Started {
    request_id: String,
    auth: roster_oidc::AuthorizationRequest,
    page: Reply,
}

async fn start(sim: &EntraSim, meta: &roster_oidc::ProviderMetadata) -> Started {
    let auth = roster_oidc::authorization_request(meta, &sim.client_id(), REDIRECT, "openid profile email", &mut rand::rngs::OsRng).unwrap();
    let page = get(sim, &auth.url[BASE.len()..]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let marker = "name=\"request\" value=\"";
    let at = page.text.find(marker).expect("the sign-in page") + marker.len();
    let request_id = page.text[at..].split('"').next().unwrap().to_owned();
    Started { request_id, auth, page }
}

async fn sign_in(sim: &EntraSim, segment: &str, started: &Started, login: &str, action: &str) -> Reply {
    let path = format!("/{segment}/oauth2/v2.0/authorize");
    post(sim, &path, &[("request", &started.request_id), ("login", login), ("action", action)]).await
}

async fn redeem(sim: &EntraSim, segment: &str, code: &str, verifier: &str, redirect: &str, secret: &str) -> Reply {
    let id = sim.client_id();
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
        ("client_id", id.as_str()),
        ("client_secret", secret),
    ];
    post(sim, &format!("/{segment}/oauth2/v2.0/token"), &pairs).await
}

async fn validate(
    sim: &EntraSim,
    meta: &roster_oidc::ProviderMetadata,
    id_token: &str,
    nonce: &str,
) -> Result<roster_oidc::IdTokenClaims, roster_oidc::SsoError> {
    let keys = get(sim, &meta.jwks_uri[BASE.len()..]).await.json();
    let keys = roster_oidc::parse_key_set(&keys);
    let header = roster_oidc::read_header(id_token)?;
    let key = roster_oidc::find_key(&keys, &header)?;
    let tenant = sim.tenant_id();
    let client_id = sim.client_id();
    let expect = roster_oidc::Expectations {
        issuer: &meta.issuer,
        client_id: &client_id,
        tenant: Some(&tenant),
        nonce,
        now: chrono::Utc::now().timestamp(),
        leeway: 60,
        max_age: 600,
    };
    roster_oidc::validate_id_token(id_token, key, &header, &expect)
}

/// Signs `upn` in through `tenant`'s endpoints and returns the token response.
async fn full_sign_in(sim: &EntraSim, tenant: &str, upn: &str) -> (roster_oidc::ProviderMetadata, Started, Value) {
    let meta = metadata(sim, tenant).await;
    let started = start(sim, &meta).await;
    let back = sign_in(sim, tenant, &started, upn, "signin").await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text);
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(back.location_param("state").as_deref(), Some(started.auth.state.as_str()));
    let code = back.location_param("code").expect("a code");
    let reply = redeem(sim, tenant, &code, &started.auth.pkce_verifier, REDIRECT, &sim.client_secret()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    (meta, started, reply.json())
}

#[tokio::test]
async fn discovery_names_the_tenant_or_the_template() {
    let sim = sim();
    let tid = sim.tenant_id();
    let meta = metadata(&sim, &tid).await;
    assert_eq!(meta.issuer, format!("{BASE}/{tid}/v2.0"));
    assert_eq!(meta.jwks_uri, format!("{BASE}/{tid}/discovery/v2.0/keys"));
    assert_eq!(meta.code_challenge_methods_supported, None, "Microsoft does not list it");
    for multi in ["common", "organizations"] {
        let meta = metadata(&sim, multi).await;
        assert_eq!(meta.issuer, format!("{BASE}/{{tenantid}}/v2.0"));
        assert_eq!(meta.authorization_endpoint, format!("{BASE}/{multi}/oauth2/v2.0/authorize"));
    }
    let unknown = get(&sim, "/00000000-0000-0000-0000-000000000001/v2.0/.well-known/openid-configuration").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.text.contains("AADSTS90002"), "{}", unknown.text);
}

#[tokio::test]
async fn the_jwks_lists_several_keys_and_rotation_takes_effect_at_once() {
    let sim = sim();
    let tid = sim.tenant_id();
    let keys = get(&sim, &format!("/{tid}/discovery/v2.0/keys")).await.json();
    assert!(roster_oidc::parse_key_set(&keys).len() >= 2, "{keys}");
    assert_eq!(keys["keys"][0]["kty"], "RSA");
    let (_, upn) = user_where(&sim, true);
    let (_, _, before) = full_sign_in(&sim, &tid, &upn).await;
    let old = sim.signing_key_id().unwrap();
    assert_eq!(roster_oidc::read_header(before["id_token"].as_str().unwrap()).unwrap().key_id, old);

    let new = sim.rotate_signing_key().unwrap();
    assert_ne!(new, old);
    let (meta, started, after) = full_sign_in(&sim, &tid, &upn).await;
    let token = after["id_token"].as_str().unwrap();
    assert_eq!(roster_oidc::read_header(token).unwrap().key_id, new);
    validate(&sim, &meta, token, &started.auth.nonce).await.expect("the new key is published");
    assert!(sim.published_key_ids().contains(&old), "the replaced key stays listed for a while");
    assert!(sim.retire_key(&old));
    assert!(!sim.published_key_ids().contains(&old));
}

#[tokio::test]
async fn a_sign_in_yields_a_microsoft_shaped_id_token() {
    let sim = sim();
    let tid = sim.tenant_id();
    let (user_id, upn) = user_where(&sim, true);
    let (meta, started, tokens) = full_sign_in(&sim, &tid, &upn.to_uppercase()).await;
    let token = tokens["id_token"].as_str().expect("an ID token");
    let claims = validate(&sim, &meta, token, &started.auth.nonce).await.expect("Roster's validator accepts it");
    assert_eq!(claims.tenant_id.as_deref(), Some(tid.as_str()));
    assert_eq!(claims.object_id.as_deref(), Some(user_id.as_str()), "oid is the Graph user id");
    assert_eq!(claims.preferred_username.as_deref(), Some(upn.as_str()));
    assert_eq!(claims.upn, None, "no upn in v2.0 tokens by default");
    assert_eq!(claims.issuer, format!("{BASE}/{tid}/v2.0"));
    assert!(claims.name.is_some());
    assert_ne!(claims.subject, user_id, "sub is pairwise, not the object id");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().is_some() && tokens["ext_expires_in"].as_u64().is_some());

    // Through the multi-tenant endpoints the issuer is the template, filled with the tid.
    let (meta, started, tokens) = full_sign_in(&sim, "organizations", &upn).await;
    let claims = validate(&sim, &meta, tokens["id_token"].as_str().unwrap(), &started.auth.nonce).await.unwrap();
    assert_eq!(claims.issuer, format!("{BASE}/{tid}/v2.0"));
    let wrong_nonce = validate(&sim, &meta, tokens["id_token"].as_str().unwrap(), "another").await;
    assert!(matches!(wrong_nonce, Err(roster_oidc::SsoError::Nonce)), "{wrong_nonce:?}");
}

#[tokio::test]
async fn a_tenant_nobody_onboarded_is_refused_by_the_relying_party() {
    let sim = sim();
    let (_, upn) = user_where(&sim, true);
    sim.sign_in_as_tenant(Some("72f988bf-86f1-41af-91ab-2d7cd011db47"));
    let (meta, started, tokens) = full_sign_in(&sim, "common", &upn).await;
    let refused = validate(&sim, &meta, tokens["id_token"].as_str().unwrap(), &started.auth.nonce).await;
    assert!(matches!(refused, Err(roster_oidc::SsoError::Tenant { .. })), "{refused:?}");
}

#[tokio::test]
async fn codes_are_single_use_and_bound_to_verifier_redirect_and_secret() {
    let sim = sim();
    let tid = sim.tenant_id();
    let (_, upn) = user_where(&sim, true);
    let meta = metadata(&sim, &tid).await;
    let secret = sim.client_secret();
    let mut codes = Vec::new();
    for _ in 0..4 {
        let started = start(&sim, &meta).await;
        let back = sign_in(&sim, &tid, &started, &upn, "signin").await;
        codes.push((back.location_param("code").unwrap(), started.auth.pkce_verifier.clone()));
    }
    let wrong_secret = redeem(&sim, &tid, &codes[0].0, &codes[0].1, REDIRECT, "nope").await;
    assert_eq!(wrong_secret.status, StatusCode::UNAUTHORIZED);
    assert!(wrong_secret.text.contains("AADSTS7000215"), "{}", wrong_secret.text);
    assert!(!wrong_secret.text.contains(&secret));

    let wrong_verifier = redeem(&sim, &tid, &codes[1].0, &codes[0].1, REDIRECT, &secret).await;
    assert_eq!(wrong_verifier.json()["error"], "invalid_grant");
    assert!(wrong_verifier.text.contains("AADSTS501481"), "{}", wrong_verifier.text);
    let spent = redeem(&sim, &tid, &codes[1].0, &codes[1].1, REDIRECT, &secret).await;
    assert!(spent.text.contains("AADSTS54005"), "a failed redemption spends the code: {}", spent.text);

    let wrong_redirect = redeem(&sim, &tid, &codes[2].0, &codes[2].1, "http://127.0.0.1:8080/elsewhere", &secret).await;
    assert!(wrong_redirect.text.contains("AADSTS500112"), "{}", wrong_redirect.text);

    let ok = redeem(&sim, &tid, &codes[3].0, &codes[3].1, REDIRECT, &secret).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let again = redeem(&sim, &tid, &codes[3].0, &codes[3].1, REDIRECT, &secret).await;
    assert!(again.text.contains("AADSTS54005"), "{}", again.text);
    let unknown = redeem(&sim, &tid, "made-up", &codes[3].1, REDIRECT, &secret).await;
    assert!(unknown.text.contains("AADSTS70008"), "{}", unknown.text);
}

#[tokio::test]
async fn cancel_unknown_and_disabled_people() {
    let sim = sim();
    let tid = sim.tenant_id();
    let meta = metadata(&sim, &tid).await;
    let started = start(&sim, &meta).await;
    assert!(started.page.text.contains("Cancel"));

    let unknown = sign_in(&sim, &tid, &started, "nobody@elsewhere.example", "signin").await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(unknown.text.contains("AADSTS50034"), "{}", unknown.text);
    let (id, disabled) = user_where(&sim, true);
    sim.disable_user(&id).unwrap();
    let refused = sign_in(&sim, &tid, &started, &disabled, "signin").await;
    assert!(refused.text.contains("AADSTS50057"), "{}", refused.text);

    let cancelled = sign_in(&sim, &tid, &started, "", "cancel").await;
    assert_eq!(cancelled.status, StatusCode::FOUND);
    assert_eq!(cancelled.location_param("error").as_deref(), Some("access_denied"));
    assert_eq!(cancelled.location_param("state").as_deref(), Some(started.auth.state.as_str()));
    let finished = sign_in(&sim, &tid, &started, "", "cancel").await;
    assert_eq!(finished.status, StatusCode::BAD_REQUEST, "a sign-in is answered once");
}

#[tokio::test]
async fn the_authorize_request_is_checked() {
    let sim = sim();
    let tid = sim.tenant_id();
    let client = sim.client_id();
    let query = |pairs: &[(&str, &str)]| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        format!("/{tid}/oauth2/v2.0/authorize?{}", q.finish())
    };
    let base = [("client_id", client.as_str()), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid"), ("state", "s1")];

    let no_pkce = get(&sim, &query(&base)).await;
    assert_eq!(no_pkce.location_param("error").as_deref(), Some("invalid_request"));
    assert_eq!(no_pkce.location_param("state").as_deref(), Some("s1"));
    let mut plain = base.to_vec();
    plain.extend([("code_challenge", "abc"), ("code_challenge_method", "plain")]);
    assert_eq!(get(&sim, &query(&plain)).await.location_param("error").as_deref(), Some("invalid_request"));

    let mut stranger = base.to_vec();
    stranger[0] = ("client_id", "11111111-2222-3333-4444-555555555555");
    let page = get(&sim, &query(&stranger)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.location.is_none() && page.text.contains("AADSTS700016"), "never redirect for an unknown app");

    let mut implicit = base.to_vec();
    implicit[2] = ("response_type", "id_token");
    implicit.extend([("code_challenge", "abc"), ("code_challenge_method", "S256")]);
    assert_eq!(get(&sim, &query(&implicit)).await.location_param("error").as_deref(), Some("unsupported_response_type"));
}

#[tokio::test]
async fn form_post_answers_with_a_self_submitting_form() {
    let sim = sim();
    let tid = sim.tenant_id();
    let (_, upn) = user_where(&sim, true);
    let meta = metadata(&sim, &tid).await;
    let mut started = start(&sim, &meta).await;
    started.auth.url.push_str("&response_mode=form_post");
    let page = get(&sim, &started.auth.url[BASE.len()..]).await;
    let marker = "name=\"request\" value=\"";
    let at = page.text.find(marker).unwrap() + marker.len();
    started.request_id = page.text[at..].split('"').next().unwrap().to_owned();
    let back = sign_in(&sim, &tid, &started, &upn, "signin").await;
    assert_eq!(back.status, StatusCode::OK);
    assert!(back.text.contains(&format!("action=\"{REDIRECT}\"")) && back.text.contains("name=\"code\""), "{}", back.text);
}
