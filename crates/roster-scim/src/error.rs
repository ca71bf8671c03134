//! SCIM error responses (RFC 7644 §3.12).

use serde_json::{json, Value};
use std::fmt;

/// The URN every SCIM error body carries in `schemas`.
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` values of RFC 7644 §3.12, Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error with everything the route layer needs to render it: the HTTP status,
/// the optional `scimType` and a sentence an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}{}: {detail}", scim_type.map(|t| format!(" {t}")).unwrap_or_default())]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type, detail: detail.into() }
    }

    fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }

    pub fn invalid_version(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidVers, detail)
    }

    pub fn sensitive(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Sensitive, detail)
    }

    /// Too many results for the server to return (RFC 7644 §3.4.2.4 / §3.12).
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::TooMany, detail)
    }

    /// The one `scimType` that is not a 400.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    /// 400 without a `scimType`, for bad requests the table does not name.
    pub fn bad_request_plain(detail: impl Into<String>) -> Self {
        Self::new(400, None, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, None, detail)
    }

    /// Okta's spec test requires a `detail` on 404, so one is always given.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, None, detail)
    }

    /// A stale `If-Match` (RFC 7644 §3.14).
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }

    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(413, None, detail)
    }

    /// The route layer adds `Retry-After` in integer seconds: Okta reads no other form.
    pub fn too_many_requests(detail: impl Into<String>) -> Self {
        Self::new(429, None, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, None, detail)
    }

    /// For `/Me`, `/Bulk` and anything else this server does not offer (RFC 7644 §3.11).
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }

    /// The RFC 7644 §3.12 body. `status` is a JSON string, as the RFC's examples show and
    /// as Okta and Entra parse it.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_URN],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(scim_type), Some(map)) = (self.scim_type, body.as_object_mut()) {
            map.insert("scimType".to_owned(), Value::String(scim_type.as_str().to_owned()));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniqueness_body_matches_rfc_example() {
        let body = ScimError::uniqueness("userName taken").to_json();
        assert_eq!(body, json!({"schemas":[ERROR_URN],"status":"409","scimType":"uniqueness","detail":"userName taken"}));
    }

    #[test]
    fn status_is_a_json_string() {
        for err in [
            ScimError::invalid_filter("x"),
            ScimError::not_found("no such user"),
            ScimError::precondition_failed("stale"),
            ScimError::payload_too_large("big"),
            ScimError::too_many_requests("slow down"),
            ScimError::not_implemented("no /Me"),
            ScimError::unauthorized("bad token"),
            ScimError::uniqueness("taken"),
        ] {
            let body = err.to_json();
            assert_eq!(body["status"], Value::String(err.status.to_string()));
            assert_eq!(body["schemas"][0], ERROR_URN);
        }
    }

    #[test]
    fn four_hundreds_carry_their_scim_type() {
        let cases = [
            (ScimError::invalid_filter("d"), "invalidFilter"),
            (ScimError::invalid_syntax("d"), "invalidSyntax"),
            (ScimError::invalid_path("d"), "invalidPath"),
            (ScimError::no_target("d"), "noTarget"),
            (ScimError::invalid_value("d"), "invalidValue"),
            (ScimError::mutability("d"), "mutability"),
            (ScimError::too_many("d"), "tooMany"),
            (ScimError::invalid_version("d"), "invalidVers"),
            (ScimError::sensitive("d"), "sensitive"),
        ];
        for (err, scim_type) in cases {
            assert_eq!(err.status, 400);
            assert_eq!(err.to_json()["scimType"], scim_type);
        }
    }

    #[test]
    fn plain_errors_have_no_scim_type_but_keep_detail() {
        let body = ScimError::not_found("User 42 not found").to_json();
        assert!(body.get("scimType").is_none());
        assert_eq!(body["detail"], "User 42 not found");
        assert_eq!(ScimError::not_implemented("x").status, 501);
        assert_eq!(ScimError::too_many_requests("x").status, 429);
    }

    #[test]
    fn display_names_status_type_and_detail() {
        assert_eq!(ScimError::no_target("nothing").to_string(), "400 noTarget: nothing");
        assert_eq!(ScimError::not_found("gone").to_string(), "404: gone");
    }
}
