//! From the change log to queued change notifications, one per change and subscription.
//!
//! Fan-out reads the log after every `EntraSim` call (and on every tick of the delivery task),
//! so the mutation methods stay unaware of subscriptions. A subscription hears of the changes
//! made after it was created, and only while it lives.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::clock::{graph_time, ticks};
use super::subscriptions::Subscription;
use super::tenant::{Change, ChangeKind, ObjectKind};
use super::SimState;

/// A notification waiting for (another) delivery attempt.
#[derive(Debug, Clone)]
pub struct Pending {
    pub subscription_id: String,
    pub url: String,
    pub body: Value,
    /// The object it names (`resourceData.id`).
    pub resource_id: String,
    /// Not before this time (sim clock).
    pub due: DateTime<Utc>,
    /// When it was first sent (sim clock): retries stop 4 hours later.
    pub first_attempt: Option<DateTime<Utc>>,
    /// Failed attempts so far.
    pub failures: u32,
    /// Already held back once by the slow-endpoint rule.
    pub delayed: bool,
}

/// `updated` for creation, updates and soft deletion (as Graph reports them), `deleted` for a
/// deletion for good.
fn change_type(change: &Change) -> &'static str {
    match change.what {
        ChangeKind::Purged => "deleted",
        _ => "updated",
    }
}

fn notification(sub: &Subscription, change: &Change, tenant_id: &str, now: DateTime<Utc>, sequence: i64) -> Option<Value> {
    if !sub.watched.covers(change) || !sub.wants(change_type(change)) {
        return None;
    }
    let (odata_type, collection) = match change.kind {
        ObjectKind::User => ("#Microsoft.Graph.User", "Users"),
        ObjectKind::Group => ("#Microsoft.Graph.Group", "Groups"),
        ObjectKind::OrgContact | ObjectKind::Device => return None,
    };
    let resource = format!("{collection}/{}", change.object_id);
    let mut data = json!({
        "@odata.type": odata_type,
        "@odata.id": resource,
        "id": change.object_id,
        "organizationId": tenant_id,
        "eventTime": graph_time(now),
        "sequenceNumber": sequence,
    });
    // Observed on `groups` subscriptions: the membership change itself, ids only.
    let member = match &change.what {
        ChangeKind::MemberAdded { member } => Some(json!({ "id": member })),
        ChangeKind::MemberRemoved { member } => Some(json!({ "id": member, "@removed": { "reason": "deleted" } })),
        _ => None,
    };
    if let (Some(member), Some(obj)) = (member, data.as_object_mut()) {
        obj.insert("members@delta".into(), json!([member]));
    }
    Some(json!({
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": graph_time(sub.expires),
        "clientState": sub.client_state,
        "changeType": change_type(change),
        "resource": resource,
        "tenantId": tenant_id,
        "resourceData": data,
    }))
}

/// Queues the notifications for changes not yet fanned out; true when any were queued.
pub fn fanout(s: &mut SimState) -> bool {
    let version = s.tenant.version;
    if version <= s.notify.fanned_version {
        return false;
    }
    let from = std::mem::replace(&mut s.notify.fanned_version, version);
    let now = s.clock.now();
    s.subs.prune(now);
    if s.subs.by_id.is_empty() {
        return false;
    }
    let mut queued = false;
    for change in s.tenant.changes_after(from) {
        for sub in s.subs.by_id.values().filter(|sub| change.version > sub.since_version) {
            // Strictly increasing, and shaped like Graph's (.NET ticks of the event).
            let sequence = ticks(now).max(s.notify.last_sequence + 1);
            let Some(body) = notification(sub, change, &s.tenant.id, now, sequence) else { continue };
            s.notify.last_sequence = sequence;
            s.notify.queue.push_back(Pending {
                subscription_id: sub.id.clone(),
                url: sub.notification_url.clone(),
                body,
                resource_id: change.object_id.clone(),
                due: now,
                first_attempt: None,
                failures: 0,
                delayed: false,
            });
            queued = true;
        }
    }
    queued
}
