//! Failures, worded for the admin who has to fix them.

use serde_json::Value;

/// Everything that can go wrong talking to Entra and Graph. Each message says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    #[error("Entra rejected the client secret for app {client_id} (AADSTS7000215). Paste the secret's Value, not its Secret ID, from App registrations > Certificates & secrets.")]
    WrongSecret { client_id: String },

    #[error("The client secret for app {client_id} has expired (AADSTS7000222). Create a new secret under App registrations > Certificates & secrets and save it in Roster.")]
    SecretExpired { client_id: String },

    #[error("Tenant '{tenant}' was not found (AADSTS90002). Copy the Directory (tenant) ID from the app registration's Overview page, and check Roster points at the right cloud.")]
    UnknownTenant { tenant: String },

    #[error("'{tenant}' is not a tenant ID or domain (AADSTS900023). Use the Directory (tenant) ID, a GUID.")]
    MalformedTenant { tenant: String },

    #[error("'{tenant}' cannot be used for app-only sign-in (AADSTS9001023). Use the Directory (tenant) ID instead of common, organizations or consumers.")]
    MultiTenantEndpoint { tenant: String },

    #[error("App {client_id} was not found in tenant {tenant} (AADSTS700016). Check the Application (client) ID, and that an admin of that tenant granted consent.")]
    AppNotInTenant { client_id: String, tenant: String },

    #[error("Entra refused to issue a token: {error} (AADSTS{code}): {description}")]
    TokenRejected { error: String, code: u32, description: String },

    #[error("The app is missing the Microsoft Graph application permission {needed}, needed to {action}. Add it under API permissions, then grant admin consent.")]
    MissingPermission { needed: String, action: String },

    #[error("Group {group_id} was not found. Check the group's Object ID under Entra ID > Groups.")]
    GroupNotFound { group_id: String },

    #[error("Microsoft Graph found no {what}.")]
    NotFound { what: String },

    #[error("Microsoft Graph rejected the access token even after a fresh one was issued ({code}). Check the tenant and that the app is enabled.")]
    Unauthorized { code: String },

    #[error("Microsoft Graph kept throttling Roster (HTTP 429) after {attempts} attempts. Sync will try again later.")]
    Throttled { attempts: u32 },

    #[error("Microsoft Graph was unavailable (HTTP {status}) after {attempts} attempts. Sync will try again later.")]
    Unavailable { status: u16, attempts: u32 },

    #[error("Microsoft Graph refused the request (HTTP {status}, {code}): {message}")]
    Rejected { status: u16, code: String, message: String },

    #[error("Could not reach {host}: {detail}. Check the network and proxy settings.")]
    Network { host: String, detail: String },

    /// A delta link Graph no longer honours (older than 7 days, `syncStateNotFound`,
    /// `resyncRequired`, or 410 Gone): only a full read brings the state back.
    #[error("Microsoft Graph no longer knows this change history ({code}); a full sync starts over.")]
    DeltaExpired { code: String },

    #[error("Unexpected answer from Microsoft Graph: {0}")]
    InvalidResponse(String),

    #[error("Invalid Graph settings: {0}")]
    Config(String),
}

impl GraphError {
    /// Whether trying again later can help (as opposed to an admin fixing a setting).
    pub fn is_transient(&self) -> bool {
        matches!(self, GraphError::Throttled { .. } | GraphError::Unavailable { .. } | GraphError::Network { .. })
    }
}

/// `{"error":{"code","message"}}` from a Graph error body, if it has one.
pub(crate) fn graph_error_parts(body: &[u8]) -> (String, String) {
    // A body that is not JSON still fails the call: only its code and message are unknown.
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = parsed.pointer("/error/code").and_then(Value::as_str).unwrap_or("unknown").to_string();
    let message = parsed.pointer("/error/message").and_then(Value::as_str).unwrap_or("").to_string();
    (code, message)
}

/// Maps a token-endpoint error body. Microsoft warns AADSTS texts change, so only the codes
/// and the `error` field are read; the description is kept for anything unrecognised.
pub(crate) fn token_error(body: &[u8], status: u16, tenant: &str, client_id: &str) -> GraphError {
    // A body that is not JSON still fails the call: it is then described by its HTTP status.
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = parsed.get("error").and_then(Value::as_str).unwrap_or("unknown_error").to_string();
    let code = parsed
        .get("error_codes")
        .and_then(Value::as_array)
        .and_then(|codes| codes.first())
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0);
    let description = parsed
        .get("error_description")
        .and_then(Value::as_str)
        .map(|d| d.lines().next().unwrap_or(d).to_string())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let (tenant, client_id) = (tenant.to_string(), client_id.to_string());
    match code {
        7000215 => GraphError::WrongSecret { client_id },
        7000222 => GraphError::SecretExpired { client_id },
        90002 => GraphError::UnknownTenant { tenant },
        900023 => GraphError::MalformedTenant { tenant },
        9001023 => GraphError::MultiTenantEndpoint { tenant },
        700016 => GraphError::AppNotInTenant { client_id, tenant },
        _ => GraphError::TokenRejected { error, code, description },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_map_by_code() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}"#;
        let err = token_error(body, 401, "t", "app-1");
        assert_eq!(err, GraphError::WrongSecret { client_id: "app-1".into() });
        assert!(err.to_string().contains("not its Secret ID"));
        let other = token_error(
            br#"{"error":"invalid_scope","error_description":"AADSTS70011: bad scope\r\nTrace ID: y","error_codes":[70011]}"#,
            400,
            "t",
            "a",
        );
        assert_eq!(other.to_string(), "Entra refused to issue a token: invalid_scope (AADSTS70011): AADSTS70011: bad scope");
        assert!(matches!(token_error(b"<html>", 502, "t", "a"), GraphError::TokenRejected { code: 0, .. }));
    }
}
