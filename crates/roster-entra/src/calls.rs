//! The Graph calls Roster's sync makes.

use reqwest::header::{CONTENT_TYPE, ETAG};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;

use crate::client::{GraphClient, Purpose};
use crate::model::{GraphUser, GroupMembers, Photo, PhotoMeta, USER_SELECT};
use crate::GraphError;

pub(crate) const USER_PERMISSION: &str = "User.Read.All";
pub(crate) const MEMBER_PERMISSION: &str = "GroupMember.Read.All or Group.Read.All";

fn members_purpose(group_id: &str) -> Purpose {
    Purpose { permission: MEMBER_PERMISSION, action: "list the members of the sync group", group_id: Some(group_id.to_string()), what: "group" }
}

pub(crate) fn user_purpose(action: &'static str, what: &'static str) -> Purpose {
    Purpose { permission: USER_PERMISSION, action, group_id: None, what }
}

/// `$select` for users: Roster's set plus custom extras, each once.
pub(crate) fn user_select(extra: &[&str]) -> (String, Vec<String>) {
    let mut names: Vec<&str> = USER_SELECT.to_vec();
    let mut extras = Vec::new();
    for e in extra {
        let e = e.trim();
        if !e.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(e)) {
            names.push(e);
            extras.push(e.to_string());
        }
    }
    (names.join(","), extras)
}

/// Group members read page by page: each page's JSON becomes typed users and is dropped, so
/// 100,000 members never sit in memory as JSON.
struct MemberPages<'a> {
    extras: &'a [String],
    out: GroupMembers,
    seen: std::collections::HashSet<String>,
}

impl<'a> MemberPages<'a> {
    fn new(extras: &'a [String]) -> Self {
        Self { extras, out: GroupMembers::default(), seen: std::collections::HashSet::new() }
    }

    fn add(&mut self, values: Vec<Value>) {
        for value in values {
            let Some(obj) = value.as_object() else {
                continue;
            };
            let kind = obj.get("@odata.type").and_then(Value::as_str).unwrap_or("#microsoft.graph.user");
            let Some(id) = obj.get("id").and_then(Value::as_str) else {
                continue;
            };
            // Pages can repeat an object; keep the first.
            if !self.seen.insert(id.to_string()) {
                continue;
            }
            match kind {
                "#microsoft.graph.user" => match GraphUser::from_json(obj, self.extras) {
                    Some(user) => self.out.users.push(user),
                    None => self.out.skipped += 1,
                },
                "#microsoft.graph.group" => self.out.group_ids.push(id.to_string()),
                _ => self.out.skipped += 1,
            }
        }
    }

    fn finish(mut self, count: Option<u64>) -> GroupMembers {
        self.out.count = count;
        self.out.users.shrink_to_fit();
        self.out
    }
}

/// Without a user permission Graph still lists user members, but with every property null
/// (a user always has a userPrincipalName). Syncing that would blank everyone, so it is an error.
fn limited_check(members: GroupMembers) -> Result<GroupMembers, GraphError> {
    if !members.users.is_empty() && members.users.iter().all(|u| u.user_principal_name.is_none()) {
        return Err(GraphError::MissingPermission { needed: USER_PERMISSION.into(), action: "read the people in the sync group".into() });
    }
    Ok(members)
}

impl GraphClient {
    fn page_size(&self) -> String {
        self.config().page_size.clamp(1, 999).to_string()
    }

    /// Every user under `group_id`, through nested groups (cycles are Graph's problem: each
    /// object comes once), plus the nested group ids. `extra` adds properties for custom mappings.
    pub async fn transitive_member_users(&self, group_id: &str, extra: &[&str]) -> Result<GroupMembers, GraphError> {
        let (select, extras) = user_select(extra);
        let url = self.graph_url(&["groups", group_id, "transitiveMembers"], &[("$select", select), ("$top", self.page_size())])?;
        let mut pages = MemberPages::new(&extras);
        let count = self.get_all_pages(url, false, &members_purpose(group_id), |values| pages.add(values)).await?;
        limited_check(pages.finish(count))
    }

    /// Users only, through the advanced-query cast (`ConsistencyLevel: eventual` on every page,
    /// `$count=true`), with Graph's count. Nested group ids are not reported by this form.
    pub async fn transitive_user_members_counted(&self, group_id: &str, extra: &[&str]) -> Result<GroupMembers, GraphError> {
        let (select, extras) = user_select(extra);
        let url = self.graph_url(
            &["groups", group_id, "transitiveMembers", "microsoft.graph.user"],
            &[("$select", select), ("$top", self.page_size()), ("$count", "true".into())],
        )?;
        let mut pages = MemberPages::new(&extras);
        let count = self.get_all_pages(url, true, &members_purpose(group_id), |values| pages.add(values)).await?;
        limited_check(pages.finish(count))
    }

    /// The manager's object id, or `None` when the user has none (Graph answers 404).
    /// The group's display name, or `None` when there is no such group.
    pub async fn group_name(&self, group_id: &str) -> Result<Option<String>, GraphError> {
        let url = self.graph_url(&["groups", group_id], &[("$select", "id,displayName".into())])?;
        let reply = self.send(Method::GET, url, &[], None).await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => Ok(reply.json()?.get("displayName").and_then(Value::as_str).map(str::to_string)),
            _ => Err(members_purpose(group_id).error(&reply)),
        }
    }

    /// The managers of `wanted` users, read with the tenant's user listing and
    /// `$expand=manager` (999 users a request) instead of one request per user. Users the
    /// listing does not name keep no entry; a user without a manager maps to `None`.
    pub async fn managers_listed(&self, wanted: &std::collections::HashSet<&str>) -> Result<BTreeMap<String, Option<String>>, GraphError> {
        let url = self.graph_url(&["users"], &[("$select", "id".into()), ("$expand", "manager($select=id)".into()), ("$top", "999".into())])?;
        let purpose = user_purpose("read users' managers", "manager");
        let mut out = BTreeMap::new();
        self.get_all_pages(url, false, &purpose, |values| {
            for value in values {
                let Some(id) = value.get("id").and_then(Value::as_str) else { continue };
                if wanted.contains(id) {
                    let manager = value.get("manager").and_then(|m| m.get("id")).and_then(Value::as_str).map(str::to_string);
                    out.insert(id.to_string(), manager);
                }
            }
        })
        .await?;
        Ok(out)
    }

    pub async fn manager_id(&self, user_id: &str) -> Result<Option<String>, GraphError> {
        let url = self.graph_url(&["users", user_id, "manager"], &[("$select", "id".into())])?;
        let purpose = user_purpose("read users' managers", "manager");
        let reply = self.send(Method::GET, url, &[], None).await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => Ok(reply.json()?.get("id").and_then(Value::as_str).map(str::to_string)),
            _ => Err(purpose.error(&reply)),
        }
    }

    /// Photo metadata (its mediaEtag changes with the photo), or `None` without a photo.
    pub async fn photo_meta(&self, user_id: &str) -> Result<Option<PhotoMeta>, GraphError> {
        let url = self.graph_url(&["users", user_id, "photo"], &[])?;
        let purpose = user_purpose("read profile photos", "photo");
        let reply = self.send(Method::GET, url, &[], None).await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => Ok(PhotoMeta::from_json(&reply.json()?)),
            _ => Err(purpose.error(&reply)),
        }
    }

    /// The photo itself, or `None` without a photo.
    pub async fn photo(&self, user_id: &str) -> Result<Option<Photo>, GraphError> {
        let url = self.graph_url(&["users", user_id, "photo", "$value"], &[])?;
        let purpose = user_purpose("read profile photos", "photo");
        let reply = self.send(Method::GET, url, &[], None).await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => {
                let header = |name| reply.headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::to_string);
                Ok(Some(Photo { content_type: header(CONTENT_TYPE).unwrap_or_else(|| "image/jpeg".into()), etag: header(ETAG), bytes: reply.body }))
            }
            _ => Err(purpose.error(&reply)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_adds_extras_once() {
        let (select, extras) = user_select(&["employeeType", "department", " ", "employeeType"]);
        assert!(select.ends_with(",employeeType"));
        assert_eq!(select.matches("department").count(), 1);
        assert_eq!(extras, vec!["employeeType".to_string()]);
    }
}
