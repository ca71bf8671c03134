//! "Test connection": can Roster sign in, and which permissions are granted?
//!
//! App-only tokens are opaque to clients, so each permission is probed with the cheapest call
//! that needs it.

use reqwest::Method;

use crate::calls::{MEMBER_PERMISSION, USER_PERMISSION};
use crate::client::GraphClient;
use crate::GraphError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStatus {
    Ok,
    Missing,
    /// The probe failed for another reason (group not found, Graph unavailable ...).
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionCheck {
    /// The permission(s) that satisfy this need, e.g. "GroupMember.Read.All or Group.Read.All".
    pub permission: &'static str,
    pub needed_for: &'static str,
    pub status: CheckStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionReport {
    pub checks: Vec<PermissionCheck>,
}

impl PermissionReport {
    pub fn all_ok(&self) -> bool {
        self.checks.iter().all(|c| c.status == CheckStatus::Ok)
    }

    pub fn missing(&self) -> Vec<&'static str> {
        self.checks.iter().filter(|c| c.status == CheckStatus::Missing).map(|c| c.permission).collect()
    }
}

impl GraphClient {
    /// Signs in (an error here is the answer: wrong secret, unknown tenant ...), then reports
    /// each permission Roster needs as ok or missing. With a group id, also checks the group.
    pub async fn check_permissions(&self, group_id: Option<&str>) -> Result<PermissionReport, GraphError> {
        self.access_token().await?;
        let users = self.graph_url(&["users"], &[("$select", "id".into()), ("$top", "1".into())])?;
        let members = match group_id {
            Some(g) => self.graph_url(&["groups", g, "transitiveMembers"], &[("$select", "id".into()), ("$top", "1".into())])?,
            None => self.graph_url(&["groups"], &[("$select", "id".into()), ("$top", "1".into())])?,
        };
        let probes =
            [(USER_PERMISSION, "read people, their managers and photos", users), (MEMBER_PERMISSION, "list the members of the sync group", members)];
        let mut checks = Vec::with_capacity(probes.len());
        for (permission, needed_for, url) in probes {
            let reply = self.send(Method::GET, url, &[], None).await?;
            let status = match reply.status {
                s if (200..300).contains(&s) => CheckStatus::Ok,
                403 => CheckStatus::Missing,
                404 if group_id.is_some() && permission == MEMBER_PERMISSION => {
                    CheckStatus::Failed(GraphError::GroupNotFound { group_id: group_id.unwrap_or_default().to_string() }.to_string())
                }
                s => CheckStatus::Failed(format!("HTTP {s}")),
            };
            checks.push(PermissionCheck { permission, needed_for, status });
        }
        Ok(PermissionReport { checks })
    }
}
