//! Connections: an organisation's integrations with identity providers. A connection is created
//! disabled; only owners and admins configure it. Secrets are sealed by the caller before they
//! reach the store, so this type never holds one in the clear.

use crate::ids::{ConnectionId, OrgId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    /// Microsoft Entra ID through Microsoft Graph (pull).
    Entra,
    /// A SCIM 2.0 client pushing into Roster (Okta, Entra, OneLogin, ...).
    Scim,
    /// Okta event hooks plus the Okta API (pull).
    Okta,
    /// Sign-in with OpenID Connect.
    Oidc,
    /// Sign-in with SAML 2.0.
    Saml,
}

impl ConnectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Entra => "entra",
            ConnectionKind::Scim => "scim",
            ConnectionKind::Okta => "okta",
            ConnectionKind::Oidc => "oidc",
            ConnectionKind::Saml => "saml",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ConnectionKind::Entra => "Microsoft Entra ID",
            ConnectionKind::Scim => "SCIM provisioning",
            ConnectionKind::Okta => "Okta",
            ConnectionKind::Oidc => "OpenID Connect sign-in",
            ConnectionKind::Saml => "SAML sign-in",
        }
    }

    /// Provisioning connections own the people they link; sign-in connections own nobody.
    pub fn provisions(self) -> bool {
        matches!(self, ConnectionKind::Entra | ConnectionKind::Scim | ConnectionKind::Okta)
    }
}

impl fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectionKind {
    type Err = crate::person::UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "entra" => Ok(ConnectionKind::Entra),
            "scim" => Ok(ConnectionKind::Scim),
            "okta" => Ok(ConnectionKind::Okta),
            "oidc" => Ok(ConnectionKind::Oidc),
            "saml" => Ok(ConnectionKind::Saml),
            _ => Err(crate::person::UnknownVariant { what: "connection kind", value: s.to_owned(), expected: "entra scim okta oidc saml" }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub org: OrgId,
    pub kind: ConnectionKind,
    pub name: String,
    /// New connections start disabled; an admin enables them when ready.
    pub enabled: bool,
    /// Non-secret settings, per kind (e.g. Entra's group id and options).
    pub settings: serde_json::Value,
    /// Secrets sealed with the master key, by name (e.g. `tenant_id`, `client_secret`).
    pub sealed: BTreeMap<String, Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
