//! Changes an admin makes in Okta. Each one updates what the API shows (`lastUpdated`,
//! `statusChanged`) and records the System Log event(s) Okta would, which the hook delivers.

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::org::{new_profile, okta_id, Assignment, Status, User};
use super::syslog::{membership_targets, user_target};
use super::{OktaSim, OktaSimError, OrgState};

/// A lifecycle operation: the statuses it starts from, where it leads and what it logs.
struct Transition {
    operation: &'static str,
    /// The new status and event type for a current status, or `None` where Okta refuses.
    rule: fn(Status) -> Option<(Status, &'static str)>,
}

const SUSPEND: Transition =
    Transition { operation: "suspend", rule: |s| matches!(s, Status::Active).then_some((Status::Suspended, "user.lifecycle.suspend")) };
const UNSUSPEND: Transition =
    Transition { operation: "unsuspend", rule: |s| matches!(s, Status::Suspended).then_some((Status::Active, "user.lifecycle.unsuspend")) };
const DEACTIVATE: Transition =
    Transition { operation: "deactivate", rule: |s| (s != Status::Deprovisioned).then_some((Status::Deprovisioned, "user.lifecycle.deactivate")) };
/// Bringing a person back. A DEPROVISIONED (or STAGED) user goes through Okta's *activate*
/// operation and logs `user.lifecycle.activate`; Okta's *reactivate* operation only exists for
/// PROVISIONED and RECOVERY users and logs `user.lifecycle.reactivate`. Either way the user is
/// PROVISIONED, not ACTIVE: they must finish the activation email (set a password) first.
const REACTIVATE: Transition = Transition {
    operation: "reactivate",
    rule: |s| match s {
        Status::Deprovisioned | Status::Staged => Some((Status::Provisioned, "user.lifecycle.activate")),
        Status::Provisioned | Status::Recovery => Some((Status::Provisioned, "user.lifecycle.reactivate")),
        _ => None,
    },
};

impl OrgState {
    fn user_mut(&mut self, user_id: &str) -> Result<&mut User, OktaSimError> {
        self.org.users.get_mut(user_id).ok_or_else(|| OktaSimError::UnknownUser(user_id.into()))
    }

    fn transition(&mut self, user_id: &str, t: &Transition) -> Result<(), OktaSimError> {
        let now = Utc::now();
        let user = self.user_mut(user_id)?;
        let Some((next, event_type)) = (t.rule)(user.status) else {
            return Err(OktaSimError::InvalidTransition { user_id: user_id.into(), operation: t.operation, status: user.status.as_str().into() });
        };
        if matches!(user.status, Status::Deprovisioned | Status::Staged) && next != Status::Deprovisioned {
            user.activated = Some(now);
        }
        // Re-running an operation that keeps the status (reactivating a PROVISIONED user) is
        // an update, not a status change.
        if user.status != next {
            user.status_changed = Some(now);
        }
        user.status = next;
        user.last_updated = now;
        let target = user_target(user);
        if let Some(a) = self.org.assignments.get_mut(user_id) {
            let app_status = next.app_user_status();
            if a.status != app_status {
                a.status = app_status;
                a.status_changed = now;
                a.last_updated = now;
            }
        }
        self.log(event_type, vec![target], json!({}));
        Ok(())
    }

    /// One `user.account.update_profile` event per update, however many attributes change.
    fn update_profile_fields(&mut self, user_id: &str, fields: Map<String, Value>) -> Result<(), OktaSimError> {
        let now = Utc::now();
        let user = self.user_mut(user_id)?;
        if user.status == Status::Deprovisioned {
            return Err(OktaSimError::Deprovisioned(user_id.into()));
        }
        let login_changed = fields.contains_key("login");
        let changed: Vec<String> = fields.keys().cloned().collect();
        user.profile.extend(fields);
        user.last_updated = now;
        let target = user_target(user);
        if login_changed {
            self.org.reindex_logins();
        }
        // The app profile is mapped from the Okta profile, so the assignment changes too.
        if let Some(a) = self.org.assignments.get_mut(user_id) {
            a.last_updated = now;
        }
        self.log("user.account.update_profile", vec![target], json!({ "changedAttributes": changed.join(",") }));
        Ok(())
    }
}

impl OktaSim {
    /// Creates an ACTIVE user (with a password, so no activation email), not assigned to the
    /// app; logs `user.lifecycle.create` and `user.lifecycle.activate`. Okta refuses a second
    /// user with the same login; here that login's existing id is returned and nothing changes.
    pub fn create_user(&self, login: &str, first: &str, last: &str) -> String {
        self.with(|s| {
            if let Some(existing) = s.org.user_by_login(login) {
                return existing.id.clone();
            }
            let now = Utc::now();
            let id = okta_id(&mut s.rng, "00u");
            let user = User {
                id: id.clone(),
                status: Status::Active,
                created: now,
                activated: Some(now),
                status_changed: Some(now),
                last_login: None,
                last_updated: now,
                password_changed: Some(now),
                profile: new_profile(login, first, last),
            };
            let target = user_target(&user);
            s.org.insert_user(user);
            s.log("user.lifecycle.create", vec![target.clone()], json!({}));
            s.log("user.lifecycle.activate", vec![target], json!({}));
            id
        })
    }

    /// Assigns the user to the app (`application.user_membership.add`). Assigning an assigned
    /// user changes nothing, as in Okta.
    pub fn assign(&self, user_id: &str) -> Result<(), OktaSimError> {
        self.with(|s| {
            let user = s.org.users.get(user_id).ok_or_else(|| OktaSimError::UnknownUser(user_id.into()))?.clone();
            if s.org.assignments.contains_key(user_id) {
                return Ok(());
            }
            let now = Utc::now();
            let status = user.status.app_user_status();
            let app_user_id = okta_id(&mut s.rng, "0ua");
            let targets = membership_targets(s, &user, &app_user_id);
            s.org.assignments.insert(user_id.into(), Assignment { app_user_id, status, created: now, last_updated: now, status_changed: now });
            s.log("application.user_membership.add", targets, json!({}));
            Ok(())
        })
    }

    /// Removes the assignment (`application.user_membership.remove`).
    pub fn unassign(&self, user_id: &str) -> Result<(), OktaSimError> {
        self.with(|s| {
            let user = s.org.users.get(user_id).ok_or_else(|| OktaSimError::UnknownUser(user_id.into()))?.clone();
            let assignment = s.org.assignments.remove(user_id).ok_or_else(|| OktaSimError::NotAssigned(user_id.into()))?;
            let targets = membership_targets(s, &user, &assignment.app_user_id);
            s.log("application.user_membership.remove", targets, json!({}));
            Ok(())
        })
    }

    /// Sets one profile attribute (`Value::Null` clears it); `user.account.update_profile`.
    pub fn update_profile(&self, user_id: &str, field: &str, value: Value) -> Result<(), OktaSimError> {
        let mut fields = Map::new();
        fields.insert(field.to_string(), value);
        self.update_profile_many(user_id, fields)
    }

    /// Sets several attributes in one update, which Okta logs as one event.
    pub fn update_profile_many(&self, user_id: &str, fields: Map<String, Value>) -> Result<(), OktaSimError> {
        self.with(|s| s.update_profile_fields(user_id, fields))
    }

    /// ACTIVE -> SUSPENDED (`user.lifecycle.suspend`); assignments are kept.
    pub fn suspend(&self, user_id: &str) -> Result<(), OktaSimError> {
        self.with(|s| s.transition(user_id, &SUSPEND))
    }

    /// SUSPENDED -> ACTIVE (`user.lifecycle.unsuspend`).
    pub fn unsuspend(&self, user_id: &str) -> Result<(), OktaSimError> {
        self.with(|s| s.transition(user_id, &UNSUSPEND))
    }

    /// Any status but DEPROVISIONED -> DEPROVISIONED (`user.lifecycle.deactivate`). The
    /// assignment stays listed with AppUser status INACTIVE, so a pull must read the user status.
    pub fn deactivate(&self, user_id: &str) -> Result<(), OktaSimError> {
        self.with(|s| s.transition(user_id, &DEACTIVATE))
    }

    /// DEPROVISIONED or STAGED -> PROVISIONED (`user.lifecycle.activate`); PROVISIONED or
    /// RECOVERY -> PROVISIONED (`user.lifecycle.reactivate`), as Okta's activate and reactivate
    /// operations do; PROVISIONED because the person must finish activation before ACTIVE.
    pub fn reactivate(&self, user_id: &str) -> Result<(), OktaSimError> {
        self.with(|s| s.transition(user_id, &REACTIVATE))
    }

    /// Sets `profile.managerId` and `profile.manager` (the manager's login), or clears both.
    pub fn set_manager(&self, user_id: &str, manager_id: Option<&str>) -> Result<(), OktaSimError> {
        self.with(|s| {
            let manager_login = match manager_id {
                Some(m) => Some(s.org.users.get(m).ok_or_else(|| OktaSimError::UnknownUser(m.into()))?.login().to_string()),
                None => None,
            };
            let mut fields = Map::new();
            fields.insert("managerId".into(), manager_id.map_or(Value::Null, |m| json!(m)));
            fields.insert("manager".into(), manager_login.map_or(Value::Null, Value::String));
            s.update_profile_fields(user_id, fields)
        })
    }
}
