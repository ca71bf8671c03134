//! Delta queries: what changed in the tenant since a delta link, so a round with nothing to do
//! costs one request. Query options go in the first call only (Graph encodes them into the
//! links); entries may repeat, arrive in any order and replay, so they are merged by id.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Map, Value};
use url::Url;

use crate::calls::{user_purpose, user_select, MEMBER_PERMISSION};
use crate::client::{GraphClient, Purpose, Reply};
use crate::error::graph_error_parts;
use crate::model::GraphUser;
use crate::GraphError;

/// Where a delta round starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaFrom<'a> {
    /// Everything, as it stands: the initial round.
    Start,
    /// No data, only a link from now on (`$deltatoken=latest`).
    Now,
    /// The link the previous round ended with.
    Link(&'a str),
}

/// What a users round says of one user.
#[derive(Debug, Clone, PartialEq)]
pub enum UserDelta {
    /// Created, changed or restored: the user as they stand now.
    Changed { user: Box<GraphUser>, manager: ManagerDelta },
    /// Deleted: soft (restorable, `changed`) or for good (`deleted`).
    Removed { id: String, permanently: bool },
}

impl UserDelta {
    pub fn id(&self) -> &str {
        match self {
            UserDelta::Changed { user, .. } => &user.id,
            UserDelta::Removed { id, .. } => id,
        }
    }
}

/// The manager as a users round reports it: only when it changed (or in the initial round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerDelta {
    NotSent,
    Set(String),
    Cleared,
}

/// A member named by a groups round.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemberRef {
    pub id: String,
    pub is_group: bool,
}

/// What a groups round says of one group, merged over every page that repeated it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupDelta {
    /// The group itself was deleted.
    pub removed: bool,
    /// Membership changes in the order Graph listed them: `true` for added, `false` for left.
    pub members: Vec<(MemberRef, bool)>,
}

/// The users that changed, and the link the next round starts from.
#[derive(Debug, Clone, Default)]
pub struct UsersRound {
    pub users: Vec<UserDelta>,
    pub delta_link: String,
    pub pages: u32,
}

#[derive(Debug, Clone, Default)]
pub struct GroupsRound {
    pub groups: BTreeMap<String, GroupDelta>,
    pub delta_link: String,
    pub pages: u32,
}

/// Graph's ways of saying a delta link is no good any more.
fn expired(reply: &Reply) -> Option<GraphError> {
    let (code, _) = graph_error_parts(&reply.body);
    match reply.status {
        410 => Some(GraphError::DeltaExpired { code: "410 Gone".into() }),
        400..=499 if code.eq_ignore_ascii_case("syncStateNotFound") || code.eq_ignore_ascii_case("resyncRequired") => {
            Some(GraphError::DeltaExpired { code })
        }
        _ => None,
    }
}

fn removal(obj: &Map<String, Value>) -> Option<bool> {
    let reason = obj.get("@removed")?.get("reason").and_then(Value::as_str).unwrap_or("changed");
    Some(reason.eq_ignore_ascii_case("deleted"))
}

fn manager_delta(obj: &Map<String, Value>) -> ManagerDelta {
    let Some(entries) = obj.get("manager@delta").and_then(Value::as_array) else { return ManagerDelta::NotSent };
    // The last live entry is the manager; an entry marked removed alone means none.
    match entries.iter().rev().find(|e| e.get("@removed").is_none()).and_then(|e| e.get("id")).and_then(Value::as_str) {
        Some(id) => ManagerDelta::Set(id.to_owned()),
        None if entries.is_empty() => ManagerDelta::NotSent,
        None => ManagerDelta::Cleared,
    }
}

impl GraphClient {
    /// Follows a round's pages to its deltaLink, handing each page's values to `on_page`.
    async fn delta_round(&self, first: Url, purpose: &Purpose, mut on_page: impl FnMut(Vec<Value>)) -> Result<(String, u32), GraphError> {
        const MAX_PAGES: u32 = 1_000_000;
        let mut url = first;
        for page in 1..=MAX_PAGES {
            let reply = self.send(Method::GET, url, &[], None).await?;
            if let Some(error) = expired(&reply) {
                return Err(error);
            }
            if !reply.ok() {
                return Err(purpose.error(&reply));
            }
            let mut body = reply.json()?;
            match body.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => on_page(items),
                _ => return Err(GraphError::InvalidResponse("a delta page has no value array".into())),
            }
            if let Some(link) = body.get("@odata.deltaLink").and_then(Value::as_str) {
                self.check_link(link)?;
                return Ok((link.to_owned(), page));
            }
            match body.get("@odata.nextLink").and_then(Value::as_str) {
                Some(link) => url = self.check_link(link)?,
                None => return Err(GraphError::InvalidResponse("a delta page has neither a nextLink nor a deltaLink".into())),
            }
        }
        Err(GraphError::InvalidResponse("the delta round did not end".into()))
    }

    fn delta_url(&self, resource: &str, from: DeltaFrom<'_>, select: String) -> Result<Url, GraphError> {
        match from {
            DeltaFrom::Link(link) => self.check_link(link),
            DeltaFrom::Start => self.graph_url(&[resource, "delta"], &[("$select", select)]),
            DeltaFrom::Now => self.graph_url(&[resource, "delta"], &[("$select", select), ("$deltatoken", "latest".into())]),
        }
    }

    /// Users changed since `from`, with the properties a sync reads, `extra`, and the manager.
    /// A user listed twice keeps its last entry.
    pub async fn users_delta(&self, from: DeltaFrom<'_>, extra: &[&str]) -> Result<UsersRound, GraphError> {
        let (select, extras) = user_select(extra);
        let url = self.delta_url("users", from, format!("{select},manager"))?;
        let mut by_id: BTreeMap<String, UserDelta> = BTreeMap::new();
        let purpose = user_purpose("read changes to users", "user");
        let (delta_link, pages) = self
            .delta_round(url, &purpose, |values| {
                for value in values {
                    let Some(obj) = value.as_object() else { continue };
                    let Some(id) = obj.get("id").and_then(Value::as_str) else { continue };
                    let entry = match removal(obj) {
                        Some(permanently) => UserDelta::Removed { id: id.to_owned(), permanently },
                        None => match GraphUser::from_json(obj, &extras) {
                            Some(user) => UserDelta::Changed { user: Box::new(user), manager: manager_delta(obj) },
                            None => continue,
                        },
                    };
                    by_id.insert(id.to_owned(), entry);
                }
            })
            .await?;
        Ok(UsersRound { users: by_id.into_values().collect(), delta_link, pages })
    }

    /// Groups whose membership changed since `from` (every group, with every member, in the
    /// initial round). A group repeated over pages has its member lists merged, never replaced.
    pub async fn groups_delta(&self, from: DeltaFrom<'_>) -> Result<GroupsRound, GraphError> {
        let url = self.delta_url("groups", from, "displayName,members".into())?;
        let purpose = Purpose { permission: MEMBER_PERMISSION, action: "read changes to group memberships", group_id: None, what: "group" };
        let mut groups: BTreeMap<String, GroupDelta> = BTreeMap::new();
        let (delta_link, pages) = self
            .delta_round(url, &purpose, |values| {
                for value in values {
                    let Some(obj) = value.as_object() else { continue };
                    let Some(id) = obj.get("id").and_then(Value::as_str) else { continue };
                    let group = groups.entry(id.to_owned()).or_default();
                    if removal(obj).is_some() {
                        group.removed = true;
                        continue;
                    }
                    group.removed = false;
                    for member in obj.get("members@delta").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
                        let Some(member_id) = member.get("id").and_then(Value::as_str) else { continue };
                        let kind = member.get("@odata.type").and_then(Value::as_str).unwrap_or("#microsoft.graph.user");
                        let is_group = kind.eq_ignore_ascii_case("#microsoft.graph.group");
                        // Contacts, devices and service principals are never people.
                        if !is_group && !kind.eq_ignore_ascii_case("#microsoft.graph.user") {
                            continue;
                        }
                        let added = member.get("@removed").is_none();
                        group.members.push((MemberRef { id: member_id.to_owned(), is_group }, added));
                    }
                }
            })
            .await?;
        Ok(GroupsRound { groups, delta_link, pages })
    }

    /// Users by id with the properties a sync reads, `extra`, and their manager's id, in
    /// batches; `None` for users the tenant no longer has.
    #[allow(clippy::type_complexity)]
    pub async fn users_with_managers(
        &self,
        user_ids: &[String],
        extra: &[&str],
    ) -> Result<BTreeMap<String, Option<(GraphUser, Option<String>)>>, GraphError> {
        let (select, extras) = user_select(extra);
        let purpose = user_purpose("read users", "user");
        let attempts = self.config().retry.max_attempts;
        self.per_user(
            user_ids,
            |u| format!("/users/{u}?$select={select}&$expand=manager($select=id)"),
            |answer| match answer.status {
                404 => Ok(None),
                _ if answer.ok() => {
                    let Some(obj) = answer.body.as_object() else { return Ok(None) };
                    let manager = obj.get("manager").and_then(|m| m.get("id")).and_then(Value::as_str).map(str::to_owned);
                    Ok(GraphUser::from_json(obj, &extras).map(|user| (user, manager)))
                }
                _ => Err(answer.error(&purpose, attempts)),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manager_entries() {
        let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(manager_delta(&obj(json!({"id": "u"}))), ManagerDelta::NotSent);
        assert_eq!(manager_delta(&obj(json!({"manager@delta": [{"id": "m1"}]}))), ManagerDelta::Set("m1".into()));
        assert_eq!(manager_delta(&obj(json!({"manager@delta": [{"id": "m1", "@removed": {"reason": "deleted"}}]}))), ManagerDelta::Cleared);
        assert_eq!(removal(&obj(json!({"@removed": {"reason": "deleted"}}))), Some(true));
        assert_eq!(removal(&obj(json!({"@removed": {"reason": "changed"}}))), Some(false));
    }
}
