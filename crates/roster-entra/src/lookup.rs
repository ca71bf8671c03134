//! Looking things up for an admin rather than syncing: groups by name (the setup page's
//! picker), one user and the groups they are in (for "why isn't this person here?" and
//! provisioning one person on demand).

use reqwest::Method;
use serde_json::Value;

use crate::calls::{user_purpose, user_select, MEMBER_PERMISSION};
use crate::client::{GraphClient, Purpose};
use crate::model::GraphUser;
use crate::GraphError;

/// How many groups a search returns: enough to pick from, few enough to read.
pub const GROUP_SEARCH_LIMIT: usize = 25;

/// A group as a picker shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: String,
    pub display_name: String,
}

fn groups_purpose(action: &'static str) -> Purpose {
    Purpose { permission: MEMBER_PERMISSION, action, group_id: None, what: "group" }
}

fn group_refs(values: &[Value]) -> Vec<GroupRef> {
    values
        .iter()
        .filter(|v| v.get("@odata.type").and_then(Value::as_str).is_none_or(|t| t == "#microsoft.graph.group"))
        .filter_map(|v| {
            let id = v.get("id").and_then(Value::as_str)?;
            let name = v.get("displayName").and_then(Value::as_str).unwrap_or(id);
            Some(GroupRef { id: id.to_owned(), display_name: name.to_owned() })
        })
        .collect()
}

impl GraphClient {
    /// Groups whose name has words starting with those of `term` (Graph's `$search`, an
    /// advanced query), at most `GROUP_SEARCH_LIMIT`.
    pub async fn search_groups(&self, term: &str) -> Result<Vec<GroupRef>, GraphError> {
        // Quotes and backslashes would end Graph's quoted search string early.
        let words: String = term.chars().filter(|c| *c != '"' && *c != '\\').collect();
        let query = [
            ("$search", format!("\"displayName:{}\"", words.trim())),
            ("$select", "id,displayName".to_owned()),
            ("$top", GROUP_SEARCH_LIMIT.to_string()),
        ];
        let url = self.graph_url(&["groups"], &query)?;
        let reply = self.send(Method::GET, url, &[("ConsistencyLevel", "eventual")], None).await?;
        if !reply.ok() {
            return Err(groups_purpose("search groups by name").error(&reply));
        }
        let body = reply.json()?;
        Ok(group_refs(body.get("value").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()))
    }

    /// One user by object id or user principal name, with the properties a sync reads and
    /// `extra`; `None` when the tenant has no such user.
    pub async fn user(&self, key: &str, extra: &[&str]) -> Result<Option<GraphUser>, GraphError> {
        let (select, extras) = user_select(extra);
        let url = self.graph_url(&["users", key], &[("$select", select)])?;
        let reply = self.send(Method::GET, url, &[], None).await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => Ok(reply.json()?.as_object().and_then(|o| GraphUser::from_json(o, &extras))),
            _ => Err(user_purpose("read users", "user").error(&reply)),
        }
    }

    /// Every group the user is in, directly or through nested groups.
    pub async fn user_groups(&self, user_id: &str) -> Result<Vec<GroupRef>, GraphError> {
        let url = self.graph_url(&["users", user_id, "transitiveMemberOf"], &[("$select", "id,displayName".to_owned())])?;
        let mut groups = Vec::new();
        self.get_all_pages(url, false, &groups_purpose("read the groups a user is in"), |values| groups.extend(group_refs(&values))).await?;
        Ok(groups)
    }
}

impl GraphClient {
    /// The tenant's display name; `None` without the (optional) Organization.Read.All
    /// permission, which Roster does not require.
    pub async fn tenant_name(&self) -> Result<Option<String>, GraphError> {
        let url = self.graph_url(&["organization"], &[("$select", "id,displayName".to_owned())])?;
        let reply = self.send(Method::GET, url, &[], None).await?;
        match reply.status {
            403 => Ok(None),
            _ if reply.ok() => Ok(reply.json()?.pointer("/value/0/displayName").and_then(Value::as_str).map(str::to_owned)),
            _ => Err(groups_purpose("read the tenant's name").error(&reply)),
        }
    }
}
