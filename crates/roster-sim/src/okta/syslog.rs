//! System Log events (LogEvents), and which of them event hooks may deliver (§4).

use chrono::Utc;
use rand::Rng;
use serde_json::{json, Value};

use super::org::{stamp, User};
use super::OrgState;

/// The event-hook-eligible types of §4. Everything else stays in the System Log only.
pub const ELIGIBLE: &[&str] = &[
    "user.lifecycle.create",
    "user.lifecycle.activate",
    "user.lifecycle.deactivate",
    "user.lifecycle.suspend",
    "user.lifecycle.unsuspend",
    "user.lifecycle.reactivate",
    "user.lifecycle.delete.initiated",
    "user.account.update_profile",
    "application.user_membership.add",
    "application.user_membership.remove",
    "application.user_membership.update",
    "application.user_membership.change_password",
    "group.user_membership.add",
    "group.user_membership.remove",
];

pub fn is_eligible(event_type: &str) -> bool {
    ELIGIBLE.contains(&event_type)
}

/// `displayMessage` as Okta's event type catalog words it.
fn display_message(event_type: &str) -> &'static str {
    match event_type {
        "user.lifecycle.create" => "Create Okta user",
        "user.lifecycle.activate" => "Activate Okta user",
        "user.lifecycle.deactivate" => "Deactivate Okta user",
        "user.lifecycle.suspend" => "Suspend Okta user",
        "user.lifecycle.unsuspend" => "Unsuspend Okta user",
        "user.lifecycle.reactivate" => "Reactivate Okta user",
        "user.account.update_profile" => "Update user profile for Okta",
        "application.user_membership.add" => "Add user to application membership",
        "application.user_membership.remove" => "Remove user's application membership",
        "application.user_membership.provision" => "User provisioned to application",
        "application.user_membership.revoke" => "User revoked from application",
        "application.user_membership.deprovision" => "User deprovisioned from application",
        "event_hook.verified" => "Event hook verified",
        "event_hook.delivery" => "Event hook delivery failed",
        _ => "Okta event",
    }
}

pub fn user_target(user: &User) -> Value {
    json!({ "id": user.id, "type": "User", "alternateId": user.login(), "displayName": user.display_name(), "detailEntry": null })
}

/// Targets of an app membership event: the AppUser, the AppInstance and the User, in that
/// order, so a receiver has to pick targets by `type` rather than by position.
pub fn membership_targets(s: &OrgState, user: &User, app_user_id: &str) -> Vec<Value> {
    let label = &s.org.app_label;
    vec![
        json!({ "id": app_user_id, "type": "AppUser", "alternateId": user.login(), "displayName": user.display_name(), "detailEntry": null }),
        json!({ "id": s.org.app_id, "type": "AppInstance", "alternateId": label, "displayName": label, "detailEntry": null }),
        user_target(user),
    ]
}

fn random_uuid(s: &mut OrgState) -> String {
    uuid::Builder::from_random_bytes(s.rng.gen()).into_uuid().to_string()
}

impl OrgState {
    /// Records a successful admin-made event; eligible ones are queued for the hook.
    pub fn log(&mut self, event_type: &str, targets: Vec<Value>, debug_data: Value) {
        self.log_with_outcome(event_type, targets, debug_data, "SUCCESS", None);
    }

    pub fn log_with_outcome(&mut self, event_type: &str, targets: Vec<Value>, debug_data: Value, result: &str, reason: Option<&str>) {
        let actor = self.org.users.get(&self.org.admin_id).map_or(
            Value::Null,
            |admin| json!({ "id": admin.id, "type": "User", "alternateId": admin.login(), "displayName": admin.display_name(), "detailEntry": null }),
        );
        let transaction_id = super::org::okta_id(&mut self.rng, "aZ");
        let event = json!({
            "uuid": random_uuid(self),
            "published": stamp(Utc::now()),
            "eventType": event_type,
            "version": "0",
            "displayMessage": display_message(event_type),
            "severity": if result == "SUCCESS" { "INFO" } else { "WARN" },
            "actor": actor,
            "client": { "userAgent": { "rawUserAgent": "Roster Okta simulator" }, "zone": "null", "device": "Unknown" },
            "outcome": { "result": result, "reason": reason },
            "target": targets,
            "transaction": { "type": "WEB", "id": transaction_id, "detail": {} },
            "debugContext": { "debugData": debug_data },
        });
        // Okta only delivers events that happen while a verified hook is subscribed.
        if is_eligible(event_type) && self.hooks.config.is_some() {
            self.hooks.queue.push_back(event.clone());
        }
        if self.system_log.len() >= super::MAX_RECORDS {
            self.system_log.drain(..super::MAX_RECORDS / 2);
        }
        self.system_log.push(event);
    }

    pub fn new_uuid(&mut self) -> String {
        random_uuid(self)
    }
}
