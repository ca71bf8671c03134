//! Every validation rule, with tokens signed here by keys generated here.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use std::sync::OnceLock;

const CLIENT: &str = "roster-client";
const ISSUER: &str = "https://idp.example/oauth2/default";
const NONCE: &str = "the-nonce";
const NOW: i64 = 1_800_000_000;

struct TestKey {
    der: Vec<u8>,
    jwk: Value,
}

fn rsa_key(kid: &str) -> TestKey {
    let mut rng = rand::rngs::OsRng;
    let key = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let jwk = json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    });
    TestKey { der: key.to_pkcs1_der().unwrap().as_bytes().to_vec(), jwk }
}

/// Key generation is slow without optimisations; two keys serve every test.
fn keys() -> &'static (TestKey, TestKey) {
    static KEYS: OnceLock<(TestKey, TestKey)> = OnceLock::new();
    KEYS.get_or_init(|| (rsa_key("k1"), rsa_key("k2")))
}

fn key_set() -> Vec<Jwk> {
    parse_key_set(&json!({ "keys": [keys().0.jwk, keys().1.jwk] }))
}

fn claims() -> Value {
    json!({ "iss": ISSUER, "sub": "user-1", "aud": CLIENT, "exp": NOW + 300, "iat": NOW - 5, "nonce": NONCE, "email": "ada@acme.example", "email_verified": true })
}

fn sign_with(claims: &Value, kid: &str, der: &[u8]) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der)).unwrap()
}

fn sign(claims: &Value) -> String {
    sign_with(claims, "k1", &keys().0.der)
}

fn expect() -> Expectations<'static> {
    Expectations { issuer: ISSUER, client_id: CLIENT, tenant: None, nonce: NONCE, now: NOW, leeway: 60, max_age: 600 }
}

fn check(token: &str, expect: &Expectations<'_>) -> Result<IdTokenClaims, SsoError> {
    let header = read_header(token)?;
    let set = key_set();
    let key = find_key(&set, &header)?;
    validate_id_token(token, key, &header, expect)
}

fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn unsigned(header: Value, claims: &Value) -> String {
    format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

#[test]
fn a_good_token_passes_with_its_claims() {
    let claims = check(&sign(&claims()), &expect()).unwrap();
    assert_eq!(claims.subject, "user-1");
    assert_eq!(claims.email.as_deref(), Some("ada@acme.example"));
    assert_eq!(claims.email_verified, Some(true));
    // The second key of the set verifies its own tokens too.
    assert!(check(&sign_with(&self::claims(), "k2", &keys().1.der), &expect()).is_ok());
}

#[test]
fn alg_none_is_refused() {
    let token = unsigned(json!({ "alg": "none", "kid": "k1" }), &claims());
    assert_eq!(check(&token, &expect()).unwrap_err(), SsoError::Algorithm { found: "none".into() });
    let token = unsigned(json!({ "kid": "k1" }), &claims());
    assert!(matches!(check(&token, &expect()), Err(SsoError::Algorithm { .. })));
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    let (n, kid) = (keys().0.jwk["n"].as_str().unwrap(), "k1");
    for secret in [n.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(n).unwrap(), keys().0.jwk.to_string().into_bytes()] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.into());
        let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(check(&token, &expect()).unwrap_err(), SsoError::Algorithm { found: "HS256".into() });
    }
}

#[test]
fn an_unknown_kid_or_a_missing_kid_is_refused() {
    let token = sign_with(&claims(), "k9", &keys().0.der);
    assert_eq!(check(&token, &expect()).unwrap_err(), SsoError::UnknownKey { kid: "k9".into() });
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims(), &EncodingKey::from_rsa_der(&keys().0.der)).unwrap();
    assert_eq!(check(&token, &expect()).unwrap_err(), SsoError::NoKeyId);
}

#[test]
fn a_signature_by_another_key_is_refused() {
    // Signed by k2's private key but claiming k1.
    let token = sign_with(&claims(), "k1", &keys().1.der);
    assert_eq!(check(&token, &expect()).unwrap_err(), SsoError::Signature { kid: "k1".into() });
    // Claims altered after signing.
    let good = sign(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(with(claims(), json!({"sub": "admin"})).to_string()), parts[2]);
    assert_eq!(check(&forged, &expect()).unwrap_err(), SsoError::Signature { kid: "k1".into() });
}

#[test]
fn an_es256_header_on_an_rsa_key_is_refused() {
    let header = read_header(&unsigned(json!({ "alg": "ES256", "kid": "k1" }), &claims())).unwrap();
    assert!(matches!(find_key(&key_set(), &header), Err(SsoError::KeyAlgorithm { .. })));
}

#[test]
fn the_issuer_must_match_exactly() {
    for iss in ["https://idp.example/oauth2/default/", "https://evil.example/oauth2/default", "https://IDP.example/oauth2/default"] {
        let err = check(&sign(&with(claims(), json!({ "iss": iss }))), &expect()).unwrap_err();
        assert!(matches!(err, SsoError::Issuer { .. }), "{iss}: {err}");
    }
}

#[test]
fn microsoft_template_issuers_resolve_with_the_tid_and_check_the_tenant() {
    let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
    let ours = "11111111-1111-1111-1111-111111111111";
    let theirs = "22222222-2222-2222-2222-222222222222";
    let e = Expectations { issuer: template, tenant: Some(ours), ..expect() };
    let token_for = |tid: &str| sign(&with(claims(), json!({ "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"), "tid": tid })));
    assert!(check(&token_for(ours), &e).is_ok());
    assert_eq!(check(&token_for(theirs), &e).unwrap_err(), SsoError::Tenant { found: theirs.into(), expected: ours.into() });
    // A tid that disagrees with the issuer it came with.
    let mixed = sign(&with(claims(), json!({ "iss": format!("https://login.microsoftonline.com/{theirs}/v2.0"), "tid": ours })));
    assert!(matches!(check(&mixed, &e), Err(SsoError::Issuer { .. })));
    let no_tid = sign(&with(claims(), json!({ "iss": format!("https://login.microsoftonline.com/{ours}/v2.0") })));
    assert_eq!(check(&no_tid, &e).unwrap_err(), SsoError::NoTenant);
    // No configured tenant: a template must not admit everyone.
    let open = Expectations { tenant: None, ..e.clone() };
    assert!(matches!(check(&token_for(ours), &open), Err(SsoError::Tenant { .. })));
    // A tenant-specific issuer still checks the tid.
    let exact = Expectations { issuer: "https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0", ..e.clone() };
    assert!(check(&token_for(ours), &exact).is_ok());
    let foreign_tid = sign(&with(claims(), json!({ "iss": exact.issuer, "tid": theirs })));
    assert!(matches!(check(&foreign_tid, &exact), Err(SsoError::Tenant { .. })));
}

#[test]
fn the_audience_must_be_ours_alone() {
    let err = check(&sign(&with(claims(), json!({ "aud": "someone-else" }))), &expect()).unwrap_err();
    assert_eq!(err, SsoError::Audience { found: "someone-else".into(), expected: CLIENT.into() });
    assert!(err.to_string().contains("expected this connection's client ID"));
    assert!(check(&sign(&with(claims(), json!({ "aud": [CLIENT] }))), &expect()).is_ok());
    let err = check(&sign(&with(claims(), json!({ "aud": [CLIENT, "api://other"] }))), &expect()).unwrap_err();
    assert_eq!(err, SsoError::ExtraAudience { extra: "api://other".into() });
    assert_eq!(check(&sign(&with(claims(), json!({ "aud": null }))), &expect()).unwrap_err(), SsoError::MissingClaim("aud"));
}

#[test]
fn a_foreign_authorized_party_is_refused() {
    assert!(check(&sign(&with(claims(), json!({ "azp": CLIENT }))), &expect()).is_ok());
    let err = check(&sign(&with(claims(), json!({ "azp": "other-app" }))), &expect()).unwrap_err();
    assert!(matches!(err, SsoError::AuthorizedParty { .. }));
}

#[test]
fn expiry_is_checked_with_a_small_leeway() {
    assert!(check(&sign(&with(claims(), json!({ "exp": NOW - 30 }))), &expect()).is_ok(), "within the leeway");
    let err = check(&sign(&with(claims(), json!({ "exp": NOW - 61 }))), &expect()).unwrap_err();
    assert_eq!(err, SsoError::Expired { exp: NOW - 61, ago: 61 });
    assert_eq!(check(&sign(&with(claims(), json!({ "exp": null }))), &expect()).unwrap_err(), SsoError::MissingClaim("exp"));
    // A string exp is refused, not skipped.
    let err = check(&sign(&with(claims(), json!({ "exp": "99999999999" }))), &expect()).unwrap_err();
    assert_eq!(err, SsoError::MissingClaim("exp"));
}

#[test]
fn issued_at_must_be_recent_and_not_in_the_future() {
    assert!(matches!(check(&sign(&with(claims(), json!({ "iat": NOW + 120 }))), &expect()), Err(SsoError::IssuedInFuture { .. })));
    assert!(matches!(check(&sign(&with(claims(), json!({ "iat": NOW - 3600 }))), &expect()), Err(SsoError::IssuedTooLongAgo { .. })));
    assert_eq!(check(&sign(&with(claims(), json!({ "iat": null }))), &expect()).unwrap_err(), SsoError::MissingClaim("iat"));
    assert!(matches!(check(&sign(&with(claims(), json!({ "nbf": NOW + 600 }))), &expect()), Err(SsoError::NotYetValid { .. })));
}

#[test]
fn the_nonce_must_be_this_sign_ins() {
    assert_eq!(check(&sign(&with(claims(), json!({ "nonce": "another" }))), &expect()).unwrap_err(), SsoError::Nonce);
    assert_eq!(check(&sign(&with(claims(), json!({ "nonce": null }))), &expect()).unwrap_err(), SsoError::Nonce);
}

#[test]
fn a_token_without_a_subject_is_refused() {
    assert_eq!(check(&sign(&with(claims(), json!({ "sub": null }))), &expect()).unwrap_err(), SsoError::MissingClaim("sub"));
}

#[test]
fn malformed_tokens_are_refused_before_any_key_work() {
    for token in ["", "a.b", "a.b.c.d", "!!!.e30.x"] {
        assert!(matches!(read_header(token), Err(SsoError::Malformed(_))), "{token}");
    }
}

#[test]
fn discovery_urls_for_entra_and_okta() {
    assert_eq!(entra_discovery_url(ENTRA_LOGIN, "t1"), "https://login.microsoftonline.com/t1/v2.0/.well-known/openid-configuration");
    assert_eq!(okta_discovery_url("acme.okta.com", "default"), "https://acme.okta.com/oauth2/default/.well-known/openid-configuration");
    assert_eq!(okta_discovery_url("https://acme.okta.com/", ""), "https://acme.okta.com/.well-known/openid-configuration");
}

mod network;
