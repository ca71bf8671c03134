//! Roster's SAML 2.0 service provider, as a library without I/O: read an identity provider's
//! metadata, build the sign-in request, and verify the response that comes back. Storage of
//! outstanding requests and of used assertion IDs (replay) is the caller's.

pub mod c14n;
mod cert;
pub mod dsig;
mod error;
pub mod metadata;
mod request;
pub mod response;
#[cfg(feature = "testing")]
pub mod testing;
pub mod xml;

pub use cert::Certificate;
pub use error::SamlError;
pub use metadata::{parse_idp_metadata, sp_metadata, IdpMetadata};
pub use request::{authn_request, AuthnRequest};
pub use response::{decode_post, validate, Assertion, Expectations};

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
