//! Why a SAML message or an identity provider's metadata was refused. The words are for admins:
//! each says what was wrong and, where it can, what to change.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    /// Not XML Roster reads (bad base64, a DOCTYPE, too large, not a SAML response).
    #[error("the SAML message is malformed: {0}")]
    Malformed(String),
    /// No signature where one is required, or one that does not verify.
    #[error("the SAML signature is not acceptable: {0}")]
    Signature(String),
    /// Signed and well-formed, but not for us, not now, or not a success.
    #[error("{0}")]
    Rejected(String),
    /// The identity provider's metadata cannot be used.
    #[error("the identity provider's metadata cannot be used: {0}")]
    Metadata(String),
}

impl From<crate::xml::XmlError> for SamlError {
    fn from(e: crate::xml::XmlError) -> Self {
        SamlError::Malformed(e.0)
    }
}
