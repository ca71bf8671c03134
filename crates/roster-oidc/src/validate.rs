//! ID token validation (OIDC Core §3.1.3.7), in the order that fails cheapest first: the
//! header's algorithm against the allowlist, the key by `kid`, the signature, then every claim.
//! `jsonwebtoken` checks only the signature here; the claims are read and checked by this module
//! with typed numbers, so each refusal names the claim and value an admin can act on.

use crate::error::SsoError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// The signing algorithms a connection accepts. Never `none`, never HS* (an HMAC "keyed" with
/// the provider's public key would let anyone forge tokens).
pub const ALLOWED_ALGORITHMS: [&str; 2] = ["RS256", "ES256"];

/// The literal placeholder Microsoft's multi-tenant metadata puts in its issuer.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// What this sign-in expects of the token.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// The issuer from the connection's discovery document, possibly Microsoft's template.
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The tenant a Microsoft connection is for; its tokens must carry this `tid`.
    pub tenant: Option<&'a str>,
    /// The nonce this sign-in sent.
    pub nonce: &'a str,
    /// Now, in Unix seconds.
    pub now: i64,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: i64,
    /// How old `iat` may be: a sign-in that takes longer than this is refused.
    pub max_age: i64,
}

/// The claims Roster reads from a validated ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub expires_at: i64,
    pub issued_at: i64,
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    pub email: Option<String>,
    /// `None` when the provider did not say.
    pub email_verified: Option<bool>,
    pub preferred_username: Option<String>,
    pub upn: Option<String>,
    pub name: Option<String>,
}

/// The parts of the header validation needs, read before any key is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    pub algorithm: Algorithm,
    pub key_id: String,
}

/// Read the header and refuse a disallowed algorithm before anything else happens. The raw
/// `alg` string is checked, so `none` and unknown names are named in the refusal.
pub fn read_header(token: &str) -> Result<TokenHeader, SsoError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(SsoError::Malformed("a JWT has exactly three dot-separated parts".into()));
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| SsoError::Malformed("the header is not base64url".into()))?;
    let header: Value = serde_json::from_slice(&bytes).map_err(|_| SsoError::Malformed("the header is not JSON".into()))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("no algorithm");
    let algorithm = match alg {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        other => return Err(SsoError::Algorithm { found: other.chars().take(20).collect() }),
    };
    let key_id = header.get("kid").and_then(Value::as_str).ok_or(SsoError::NoKeyId)?;
    Ok(TokenHeader { algorithm, key_id: key_id.to_owned() })
}

/// The key matching the header in the provider's key set; `UnknownKey` asks the caller to
/// refresh the set once.
pub fn find_key<'k>(keys: &'k [Jwk], header: &TokenHeader) -> Result<&'k Jwk, SsoError> {
    let key = keys
        .iter()
        .find(|k| k.common.key_id.as_deref() == Some(header.key_id.as_str()))
        .ok_or_else(|| SsoError::UnknownKey { kid: header.key_id.clone() })?;
    // A key declared for another algorithm, or of another family, must not verify this token.
    let family_matches = matches!(
        (&key.algorithm, header.algorithm),
        (AlgorithmParameters::RSA(_), Algorithm::RS256) | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256)
    );
    let declared_matches = match key.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::RS256) => header.algorithm == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => header.algorithm == Algorithm::ES256,
        Some(_) => false,
    };
    if family_matches && declared_matches {
        Ok(key)
    } else {
        Err(SsoError::KeyAlgorithm {
            kid: header.key_id.clone(),
            key_alg: key.common.key_algorithm.map_or_else(|| "another key type".to_owned(), |a| format!("{a:?}")),
            token_alg: format!("{:?}", header.algorithm),
        })
    }
}

/// Check the signature with `key`, then every claim against `expect`.
pub fn validate_id_token(token: &str, key: &Jwk, header: &TokenHeader, expect: &Expectations<'_>) -> Result<IdTokenClaims, SsoError> {
    let decoding_key = DecodingKey::from_jwk(key).map_err(|_| SsoError::Signature { kid: header.key_id.clone() })?;
    let mut validation = Validation::new(header.algorithm);
    // The claims are checked below, each with its own message.
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(token, &decoding_key, &validation).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => SsoError::Signature { kid: header.key_id.clone() },
        other => SsoError::Malformed(format!("{other:?}")),
    })?;
    check_claims(&data.claims, expect)
}

fn string_claim(claims: &Value, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// Numeric dates only: a string `exp` is refused rather than skipped.
fn time_claim(claims: &Value, name: &'static str) -> Result<Option<i64>, SsoError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).map(Some).ok_or(SsoError::MissingClaim(name)),
    }
}

/// Check the claims of a token whose signature has been verified.
pub fn check_claims(claims: &Value, expect: &Expectations<'_>) -> Result<IdTokenClaims, SsoError> {
    let issuer = string_claim(claims, "iss").ok_or(SsoError::MissingClaim("iss"))?;
    let tenant_id = string_claim(claims, "tid");
    check_issuer(&issuer, tenant_id.as_deref(), expect)?;

    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => return Err(SsoError::MissingClaim("aud")),
    };
    if !audiences.iter().any(|a| a == expect.client_id) {
        return Err(SsoError::Audience { found: audiences.join(", "), expected: expect.client_id.to_owned() });
    }
    if let Some(extra) = audiences.iter().find(|a| *a != expect.client_id) {
        return Err(SsoError::ExtraAudience { extra: extra.clone() });
    }
    if let Some(azp) = string_claim(claims, "azp") {
        if azp != expect.client_id {
            return Err(SsoError::AuthorizedParty { found: azp, expected: expect.client_id.to_owned() });
        }
    }

    let expires_at = time_claim(claims, "exp")?.ok_or(SsoError::MissingClaim("exp"))?;
    if expires_at + expect.leeway <= expect.now {
        return Err(SsoError::Expired { exp: expires_at, ago: expect.now - expires_at });
    }
    let issued_at = time_claim(claims, "iat")?.ok_or(SsoError::MissingClaim("iat"))?;
    if issued_at > expect.now + expect.leeway {
        return Err(SsoError::IssuedInFuture { iat: issued_at, ahead: issued_at - expect.now });
    }
    if issued_at < expect.now - expect.max_age - expect.leeway {
        return Err(SsoError::IssuedTooLongAgo { iat: issued_at });
    }
    if let Some(nbf) = time_claim(claims, "nbf")? {
        if nbf > expect.now + expect.leeway {
            return Err(SsoError::NotYetValid { nbf });
        }
    }
    let nonce = string_claim(claims, "nonce").ok_or(SsoError::Nonce)?;
    if !constant_time_eq(nonce.as_bytes(), expect.nonce.as_bytes()) {
        return Err(SsoError::Nonce);
    }
    let subject = string_claim(claims, "sub").ok_or(SsoError::MissingClaim("sub"))?;

    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => Some(*b),
        // Some providers send the boolean as a string.
        Some(Value::String(s)) => Some(s.eq_ignore_ascii_case("true")),
        _ => None,
    };
    Ok(IdTokenClaims {
        issuer,
        subject,
        audiences,
        expires_at,
        issued_at,
        tenant_id,
        object_id: string_claim(claims, "oid"),
        email: string_claim(claims, "email"),
        email_verified,
        preferred_username: string_claim(claims, "preferred_username"),
        upn: string_claim(claims, "upn"),
        name: string_claim(claims, "name"),
    })
}

/// An exact issuer, or Microsoft's `{tenantid}` template filled with the token's `tid` and
/// compared, after which the `tid` must be the connection's tenant.
fn check_issuer(issuer: &str, tenant_id: Option<&str>, expect: &Expectations<'_>) -> Result<(), SsoError> {
    if expect.issuer.contains(TENANT_PLACEHOLDER) {
        let tid = tenant_id.ok_or(SsoError::NoTenant)?;
        // A tid that could rewrite the issuer's path is no tenant id.
        if tid.is_empty() || !tid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(SsoError::Issuer { found: issuer.to_owned(), expected: expect.issuer.to_owned() });
        }
        let resolved = expect.issuer.replace(TENANT_PLACEHOLDER, tid);
        if issuer != resolved {
            return Err(SsoError::Issuer { found: issuer.to_owned(), expected: resolved });
        }
        // Without a configured tenant a template issuer would admit every tenant in the world.
        let Some(expected) = expect.tenant else {
            return Err(SsoError::Tenant { found: tid.to_owned(), expected: "(none configured)".into() });
        };
        if !tid.eq_ignore_ascii_case(expected) {
            return Err(SsoError::Tenant { found: tid.to_owned(), expected: expected.to_owned() });
        }
        return Ok(());
    }
    if issuer != expect.issuer {
        return Err(SsoError::Issuer { found: issuer.to_owned(), expected: expect.issuer.to_owned() });
    }
    if let Some(expected) = expect.tenant {
        match tenant_id {
            Some(tid) if tid.eq_ignore_ascii_case(expected) => {}
            Some(tid) => return Err(SsoError::Tenant { found: tid.to_owned(), expected: expected.to_owned() }),
            None => return Err(SsoError::NoTenant),
        }
    }
    Ok(())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// Parse a JWKS document key by key, so one key of a type this crate does not know (an
/// encryption key, a new curve) does not hide the others.
pub fn parse_key_set(document: &Value) -> Vec<Jwk> {
    document
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok()).collect())
        .unwrap_or_default()
}
