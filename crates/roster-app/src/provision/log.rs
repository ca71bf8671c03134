//! The per-person provisioning log. What a run changed is in the audit log (each change, with
//! its run); what it decided without changing anyone (a record skipped and why, a
//! deactivation the guard held) is kept here, for 30 days, so an admin can search both by a
//! person's address or from their page.

use chrono::{DateTime, Utc};
use roster_core::{ConnectionId, OrgId, RunId, RunReport, UserId};
use roster_store::{AuditEntry, Decision, DecisionOutcome, Store, StoreError, DECISIONS_KEPT_DAYS};

/// Who an issue's record names: its address, before any " (id)" a source adds.
fn subject_of(record: &str) -> String {
    record.split(" (").next().unwrap_or(record).trim().to_lowercase()
}

/// The decisions in a run's report that changed nobody: every skipped record and, when the
/// guard held the run, every deactivation it would have made.
pub fn decisions(
    org: OrgId,
    connection: Option<ConnectionId>,
    run: Option<RunId>,
    report: &RunReport,
    held: bool,
    at: DateTime<Utc>,
) -> Vec<Decision> {
    let decision = |person: Option<UserId>, subject: String, outcome: DecisionOutcome, detail: String| Decision {
        id: uuid::Uuid::now_v7(),
        org,
        connection,
        run,
        at,
        person,
        subject,
        outcome,
        detail,
    };
    let mut out: Vec<Decision> = report
        .issues
        .iter()
        .map(|issue| decision(None, subject_of(&issue.record), DecisionOutcome::Skipped, format!("{}: {}", issue.kind.label(), issue.message)))
        .collect();
    if held {
        out.extend(report.would_deactivate.iter().map(|w| {
            decision(
                Some(w.id),
                w.email.to_lowercase(),
                DecisionOutcome::Held,
                format!("would be deactivated ({}), held by the deactivation guard", w.cause.describe()),
            )
        }));
    }
    out
}

/// Keeps a run's decisions. The log is a view for admins: when it cannot be written, the run
/// still stands (its report keeps the same facts), and the failure is logged.
pub async fn keep(store: &dyn Store, decisions: &[Decision]) {
    if decisions.is_empty() {
        return;
    }
    if let Err(error) = store.log_decisions(decisions).await {
        tracing::warn!(%error, count = decisions.len(), "could not keep the run's decisions for the provisioning log");
    }
}

/// One line of a person's provisioning log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    /// `user.updated`, `skipped`, `held`, ...
    pub what: String,
    pub detail: String,
    /// Who decided: the connection, or the admin who provisioned them on demand.
    pub by: String,
}

/// What provisioning did and decided about a person (by id, when Roster has them) or any of
/// their addresses (a source may have named them by another), over the last 30 days, newest
/// first.
pub async fn for_person(
    store: &dyn Store,
    org: OrgId,
    person: Option<UserId>,
    addresses: &[&str],
    now: DateTime<Utc>,
) -> Result<Vec<LogLine>, StoreError> {
    let since = now - chrono::Duration::days(DECISIONS_KEPT_DAYS);
    let mut subjects: Vec<String> = addresses.iter().map(|a| a.trim().to_lowercase()).filter(|a| !a.is_empty()).collect();
    subjects.dedup();
    let mut found: Vec<Decision> = Vec::new();
    for subject in subjects.iter().map(Some).chain(subjects.is_empty().then_some(None)) {
        for decision in store.decisions(org, person, subject.map_or("", String::as_str), since, 200).await? {
            if !found.iter().any(|d| d.id == decision.id) {
                found.push(decision);
            }
        }
    }
    let mut lines: Vec<LogLine> = found
        .into_iter()
        .map(|d| LogLine {
            at: d.at,
            what: d.outcome.as_str().to_owned(),
            detail: d.detail,
            by: d.connection.map(|c| format!("connection:{c}")).unwrap_or_default(),
        })
        .collect();
    if let Some(person) = person {
        let changed = store.audit_for_person(org, person, 200).await?;
        lines.extend(changed.into_iter().filter(|a| a.at >= since && by_provisioning(a)).map(|a| LogLine {
            at: a.at,
            what: a.action.clone(),
            detail: roster_core::preview::describe_audit(&a.detail),
            by: a.actor,
        }));
    }
    lines.sort_by_key(|l| std::cmp::Reverse(l.at));
    Ok(lines)
}

/// Changes a provisioning source made (a connection, or a CSV import), not an admin's edits.
fn by_provisioning(entry: &AuditEntry) -> bool {
    entry.actor.starts_with("connection:") || entry.actor.starts_with("csv import") || entry.run.is_some() && entry.action.starts_with("user.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::guard::{DeactivationCause, WouldDeactivate};
    use roster_core::plan::RecordIssue;
    use roster_core::IssueKind;

    #[test]
    fn a_reports_skipped_records_and_held_deactivations_become_decisions() {
        let mut report = RunReport::default();
        report.issues.push(RecordIssue::new("Ada@Acme.example (0000-1111)", IssueKind::Invalid, "no usable e-mail"));
        let id = UserId::from_uuid(uuid::Uuid::nil());
        report.would_deactivate.push(WouldDeactivate {
            id,
            name: "Bo".into(),
            email: "Bo@acme.example".into(),
            cause: DeactivationCause::NoLongerInSource,
        });
        let org = OrgId::from_uuid(uuid::Uuid::nil());
        let open = decisions(org, None, None, &report, false, Utc::now());
        assert_eq!(open.len(), 1, "a run that applied holds nothing back");
        assert_eq!((open[0].subject.as_str(), open[0].outcome), ("ada@acme.example", DecisionOutcome::Skipped));
        let held = decisions(org, None, None, &report, true, Utc::now());
        assert_eq!((held[1].subject.as_str(), held[1].person, held[1].outcome), ("bo@acme.example", Some(id), DecisionOutcome::Held));
    }
}
