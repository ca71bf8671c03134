//! What can go wrong in a sign-in, worded for the admin who reads the refusal log: each message
//! names the value that was wrong and what Roster expected instead. No message ever carries a
//! secret, a code or a whole token.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SsoError {
    #[error("the provider's discovery document at {url} could not be read: {reason}")]
    Discovery { url: String, reason: String },
    #[error("the discovery document names the issuer {found}, but it was fetched for {expected}; check the connection's discovery URL")]
    DiscoveryIssuer { found: String, expected: String },
    #[error("the provider's {what} endpoint {url} is not HTTPS (plain HTTP is allowed on loopback only)")]
    InsecureEndpoint { what: &'static str, url: String },
    #[error("the provider's signing keys at {url} could not be read: {reason}")]
    Jwks { url: String, reason: String },
    #[error(
        "the provider does not support PKCE with S256 (code_challenge_methods_supported is {found}); Roster will not start a sign-in without it"
    )]
    NoS256 { found: String },
    #[error("the token endpoint refused the code: {error}{description}")]
    TokenEndpoint { error: String, description: String },
    #[error("the token endpoint did not answer usefully: {0}")]
    TokenResponse(String),
    #[error("the ID token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the ID token is signed with {found}; this connection accepts only RS256 and ES256")]
    Algorithm { found: String },
    #[error("the ID token names no key id (kid); the provider's tokens must say which key signed them")]
    NoKeyId,
    #[error("the ID token was signed with key {kid}, which the provider's key set does not list (even after refreshing it)")]
    UnknownKey { kid: String },
    #[error("the provider's key {kid} is for {key_alg}, but the ID token says {token_alg}")]
    KeyAlgorithm { kid: String, key_alg: String, token_alg: String },
    #[error("the ID token's signature does not verify with the provider's key {kid}")]
    Signature { kid: String },
    #[error("the ID token's issuer is {found}, expected {expected}")]
    Issuer { found: String, expected: String },
    #[error("the ID token has no tenant (tid) claim, which a Microsoft multi-tenant issuer needs")]
    NoTenant,
    #[error("the ID token is from tenant {found}, but this connection is for tenant {expected}")]
    Tenant { found: String, expected: String },
    #[error("the ID token's audience is {found}, expected this connection's client ID {expected}")]
    Audience { found: String, expected: String },
    #[error("the ID token is also addressed to {extra}, which this connection does not trust")]
    ExtraAudience { extra: String },
    #[error("the ID token's authorized party (azp) is {found}, expected this connection's client ID {expected}")]
    AuthorizedParty { found: String, expected: String },
    #[error("the ID token expired at {exp} (Unix time), {ago} seconds ago; check the server clocks")]
    Expired { exp: i64, ago: i64 },
    #[error("the ID token was issued at {iat} (Unix time), {ahead} seconds in the future; check the server clocks")]
    IssuedInFuture { iat: i64, ahead: i64 },
    #[error("the ID token was issued at {iat} (Unix time), too long ago to belong to this sign-in")]
    IssuedTooLongAgo { iat: i64 },
    #[error("the ID token is not valid before {nbf} (Unix time)")]
    NotYetValid { nbf: i64 },
    #[error("the ID token's nonce does not match the one this sign-in sent (a replayed or foreign token)")]
    Nonce,
    #[error("the ID token lacks the {0} claim")]
    MissingClaim(&'static str),
}
