//! What an admin changes in the tenant. Each method records its changes in the change log, which
//! is all delta queries and change notifications read, so nothing here knows about either.

use serde_json::{Map, Value};

use super::tenant::{self, ChangeKind, DeletedUser, ObjectKind, Photo};
use super::{EntraSim, SimError, SimState};

fn new_id(s: &mut SimState) -> String {
    use rand::Rng;
    uuid::Builder::from_random_bytes(s.rng.gen()).into_uuid().to_string()
}

fn live_user(s: &SimState, user_id: &str) -> Result<(), SimError> {
    if s.tenant.users.contains_key(user_id) {
        Ok(())
    } else {
        Err(SimError::UnknownUser(user_id.into()))
    }
}

/// Takes `member` out of every group it is directly in; returns those groups, in tenant order.
fn unlink_everywhere(s: &mut SimState, member: &str) -> Vec<String> {
    let groups: Vec<String> =
        s.tenant.group_order.iter().filter(|g| s.tenant.groups.get(*g).is_some_and(|g| g.members.iter().any(|m| m == member))).cloned().collect();
    for gid in &groups {
        if let Some(group) = s.tenant.groups.get_mut(gid) {
            group.members.retain(|m| m != member);
        }
        s.tenant.record(gid, ObjectKind::Group, ChangeKind::MemberRemoved { member: member.into() });
    }
    groups
}

impl EntraSim {
    pub fn add_member(&self, group_id: &str, member_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            if s.tenant.kind_of(member_id).is_none() {
                return Err(SimError::UnknownObject(member_id.into()));
            }
            let group = s.tenant.groups.get_mut(group_id).ok_or_else(|| SimError::UnknownGroup(group_id.into()))?;
            if !group.members.iter().any(|m| m == member_id) {
                group.members.push(member_id.to_string());
                s.tenant.record(group_id, ObjectKind::Group, ChangeKind::MemberAdded { member: member_id.into() });
            }
            Ok(())
        })
    }

    pub fn remove_member(&self, group_id: &str, member_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            let group = s.tenant.groups.get_mut(group_id).ok_or_else(|| SimError::UnknownGroup(group_id.into()))?;
            let before = group.members.len();
            group.members.retain(|m| m != member_id);
            if group.members.len() != before {
                s.tenant.record(group_id, ObjectKind::Group, ChangeKind::MemberRemoved { member: member_id.into() });
            }
            Ok(())
        })
    }

    /// Removes every direct member of a group (one change per member); returns how many.
    pub fn empty_group(&self, group_id: &str) -> Result<usize, SimError> {
        self.with(|s| {
            let group = s.tenant.groups.get_mut(group_id).ok_or_else(|| SimError::UnknownGroup(group_id.into()))?;
            let members = std::mem::take(&mut group.members);
            for member in &members {
                s.tenant.record(group_id, ObjectKind::Group, ChangeKind::MemberRemoved { member: member.clone() });
            }
            Ok(members.len())
        })
    }

    /// Moves a user from one group to another: a removal and an addition, as an admin does it.
    pub fn move_user(&self, user_id: &str, from_group: &str, to_group: &str) -> Result<(), SimError> {
        self.with(|s| {
            live_user(s, user_id)?;
            if !s.tenant.groups.contains_key(to_group) {
                return Err(SimError::UnknownGroup(to_group.into()));
            }
            let from = s.tenant.groups.get_mut(from_group).ok_or_else(|| SimError::UnknownGroup(from_group.into()))?;
            if !from.members.iter().any(|m| m == user_id) {
                return Err(SimError::NotAMember { group: from_group.into(), member: user_id.into() });
            }
            from.members.retain(|m| m != user_id);
            s.tenant.record(from_group, ObjectKind::Group, ChangeKind::MemberRemoved { member: user_id.into() });
            let to = s.tenant.groups.get_mut(to_group).ok_or_else(|| SimError::UnknownGroup(to_group.into()))?;
            if !to.members.iter().any(|m| m == user_id) {
                to.members.push(user_id.into());
                s.tenant.record(to_group, ObjectKind::Group, ChangeKind::MemberAdded { member: user_id.into() });
            }
            Ok(())
        })
    }

    /// Sets (or with `Value::Null` clears) a user property by its Graph name.
    pub fn set_user_property(&self, user_id: &str, name: &str, value: Value) -> Result<(), SimError> {
        let mut props = Map::new();
        props.insert(name.to_string(), value);
        self.set_user_properties(user_id, props)
    }

    /// Sets several properties at once (null clears one): a single change in the log.
    pub fn set_user_properties(&self, user_id: &str, props: Map<String, Value>) -> Result<(), SimError> {
        self.with(|s| {
            let user = s.tenant.users.get_mut(user_id).ok_or_else(|| SimError::UnknownUser(user_id.into()))?;
            let names: Vec<String> = props.keys().cloned().collect();
            user.props.extend(props);
            if !names.is_empty() {
                s.tenant.record(user_id, ObjectKind::User, ChangeKind::Updated { properties: names });
            }
            Ok(())
        })
    }

    pub fn disable_user(&self, user_id: &str) -> Result<(), SimError> {
        self.set_user_property(user_id, "accountEnabled", Value::Bool(false))
    }

    pub fn enable_user(&self, user_id: &str) -> Result<(), SimError> {
        self.set_user_property(user_id, "accountEnabled", Value::Bool(true))
    }

    pub fn set_photo(&self, user_id: &str, bytes: Vec<u8>) -> Result<(), SimError> {
        self.with(|s| {
            let user = s.tenant.users.get_mut(user_id).ok_or_else(|| SimError::UnknownUser(user_id.into()))?;
            user.photo = Some(Photo::new(bytes));
            s.tenant.record(user_id, ObjectKind::User, ChangeKind::PhotoChanged);
            Ok(())
        })
    }

    pub fn remove_photo(&self, user_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            let user = s.tenant.users.get_mut(user_id).ok_or_else(|| SimError::UnknownUser(user_id.into()))?;
            if user.photo.take().is_some() {
                s.tenant.record(user_id, ObjectKind::User, ChangeKind::PhotoChanged);
            }
            Ok(())
        })
    }

    pub fn set_manager(&self, user_id: &str, manager_id: Option<&str>) -> Result<(), SimError> {
        self.with(|s| {
            if let Some(m) = manager_id {
                live_user(s, m)?;
            }
            let user = s.tenant.users.get_mut(user_id).ok_or_else(|| SimError::UnknownUser(user_id.into()))?;
            let previous = std::mem::replace(&mut user.manager, manager_id.map(str::to_string));
            s.tenant.record_manager_change(user_id, previous);
            Ok(())
        })
    }

    /// Creates a user from Graph properties and returns its new id.
    pub fn create_user(&self, props: Map<String, Value>) -> String {
        self.with(|s| {
            let id = new_id(s);
            let user = tenant::User { id: id.clone(), props: props.into_iter().collect(), manager: None, photo: None };
            s.tenant.users.insert(id.clone(), user);
            s.tenant.user_order.push(id.clone());
            s.tenant.record(&id, ObjectKind::User, ChangeKind::Created);
            id
        })
    }

    /// Soft-deletes a user: gone from `/users`, `/users/{id}` (404), every group and every
    /// transitive listing, as in Entra's recycle bin. Its memberships are kept for a restore;
    /// each one it leaves is recorded as a removal from that group.
    pub fn delete_user(&self, user_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            let user = s.tenant.users.remove(user_id).ok_or_else(|| SimError::UnknownUser(user_id.into()))?;
            s.tenant.user_order.retain(|u| u != user_id);
            s.tenant.record(user_id, ObjectKind::User, ChangeKind::Deleted);
            let groups = unlink_everywhere(s, user_id);
            s.tenant.deleted_users.insert(user_id.to_string(), DeletedUser { user, groups });
            Ok(())
        })
    }

    /// Brings a soft-deleted user back, into the groups it was in (those that still exist).
    pub fn restore_user(&self, user_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            let Some(deleted) = s.tenant.deleted_users.remove(user_id) else {
                return Err(if s.tenant.users.contains_key(user_id) {
                    SimError::NotDeleted(user_id.into())
                } else {
                    SimError::UnknownUser(user_id.into())
                });
            };
            s.tenant.users.insert(user_id.to_string(), deleted.user);
            s.tenant.user_order.push(user_id.to_string());
            s.tenant.record(user_id, ObjectKind::User, ChangeKind::Restored);
            for gid in deleted.groups {
                let Some(group) = s.tenant.groups.get_mut(&gid) else { continue };
                if !group.members.iter().any(|m| m == user_id) {
                    group.members.push(user_id.to_string());
                    s.tenant.record(&gid, ObjectKind::Group, ChangeKind::MemberAdded { member: user_id.into() });
                }
            }
            Ok(())
        })
    }

    /// Deletes a user for good, live or soft-deleted. Its memberships go, and so does every
    /// "reports to" link that points at it.
    pub fn hard_delete_user(&self, user_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            if s.tenant.users.remove(user_id).is_some() {
                s.tenant.user_order.retain(|u| u != user_id);
                unlink_everywhere(s, user_id);
            } else if s.tenant.deleted_users.remove(user_id).is_none() {
                return Err(SimError::UnknownUser(user_id.into()));
            }
            s.tenant.purged.insert(user_id.to_string(), ObjectKind::User);
            s.tenant.record(user_id, ObjectKind::User, ChangeKind::Purged);
            let reports: Vec<String> = s.tenant.users.values().filter(|u| u.manager.as_deref() == Some(user_id)).map(|u| u.id.clone()).collect();
            for report in reports {
                if let Some(user) = s.tenant.users.get_mut(&report) {
                    let previous = user.manager.take();
                    s.tenant.record_manager_change(&report, previous);
                }
            }
            Ok(())
        })
    }

    /// Whether a user is in the recycle bin (soft-deleted).
    pub fn is_soft_deleted(&self, user_id: &str) -> bool {
        self.with(|s| s.tenant.deleted_users.contains_key(user_id))
    }

    /// A user's id by id or userPrincipalName, live or soft-deleted.
    pub fn find_user_id(&self, key: &str) -> Option<String> {
        self.with(|s| s.tenant.find_any_user(key).map(|(id, _)| id))
    }

    /// Creates an empty security group and returns its id.
    pub fn create_group(&self, display_name: &str) -> String {
        self.with(|s| {
            let id = new_id(s);
            let nickname: String = display_name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
            let props = tenant::group_props(display_name, &nickname);
            s.tenant.groups.insert(id.clone(), tenant::Group { id: id.clone(), props, members: Vec::new() });
            s.tenant.group_order.push(id.clone());
            s.tenant.record(&id, ObjectKind::Group, ChangeKind::Created);
            id
        })
    }

    /// Sets (or with `Value::Null` clears) a group property by its Graph name.
    pub fn set_group_property(&self, group_id: &str, name: &str, value: Value) -> Result<(), SimError> {
        self.with(|s| {
            let group = s.tenant.groups.get_mut(group_id).ok_or_else(|| SimError::UnknownGroup(group_id.into()))?;
            group.props.insert(name.to_string(), value);
            s.tenant.record(group_id, ObjectKind::Group, ChangeKind::Updated { properties: vec![name.into()] });
            Ok(())
        })
    }

    /// Deletes a group (soft): it leaves the groups it was nested in and disappears from reads.
    pub fn delete_group(&self, group_id: &str) -> Result<(), SimError> {
        self.with(|s| {
            let group = s.tenant.groups.remove(group_id).ok_or_else(|| SimError::UnknownGroup(group_id.into()))?;
            s.tenant.group_order.retain(|g| g != group_id);
            s.tenant.record(group_id, ObjectKind::Group, ChangeKind::Deleted);
            unlink_everywhere(s, group_id);
            s.tenant.deleted_groups.insert(group_id.to_string(), group);
            Ok(())
        })
    }

    /// A group's id by id, displayName or mailNickname (case-insensitive), for the control API.
    pub fn find_group_id(&self, key: &str) -> Option<String> {
        self.with(|s| {
            if s.tenant.groups.contains_key(key) {
                return Some(key.to_string());
            }
            let named = |g: &&tenant::Group, prop: &str| g.props.get(prop).and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case(key));
            s.tenant.groups.values().find(|g| named(g, "displayName") || named(g, "mailNickname")).map(|g| g.id.clone())
        })
    }
}
