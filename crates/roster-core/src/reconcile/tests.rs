use super::*;
use crate::ids::SequentialIds;
use crate::secret::SequentialTokens;
use chrono::TimeZone;
use uuid::Uuid;

fn org() -> OrgId {
    OrgId::from_uuid(Uuid::from_u128(0xA))
}

fn conn() -> ConnectionId {
    ConnectionId::from_uuid(Uuid::from_u128(0xC))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().unwrap_or_default()
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap_or_else(|e| unreachable!("{e}"))
}

fn wanted(addr: &str, dept: Option<&str>) -> DesiredPerson {
    DesiredPerson {
        record: addr.into(),
        external_id: Some(format!("ext-{addr}")),
        email: email(addr),
        profile: Profile {
            first_name: "First".into(),
            last_name: addr.into(),
            department: dept.map(Into::into),
            ..Profile::default()
        },
        active: true,
        role: None,
        manager: ManagerField::Untouched,
    }
}

fn entra_policy() -> Policy {
    Policy { connection: Some(conn()), scope: Scope::Full, invitations: Invitations::Hold, manage_managers: true }
}

fn plan(snapshot: &Snapshot, desired: &[DesiredPerson], policy: &Policy) -> Plan {
    let mut ids = SequentialIds::default();
    let mut tokens = SequentialTokens::default();
    let mut ctx = PlanContext { now: now(), ids: &mut ids, tokens: &mut tokens };
    reconcile(org(), Actor::Connection { id: conn() }, snapshot, desired, policy, &mut ctx)
}

/// Apply a plan to a snapshot in memory, the way the store does, so tests can run twice.
fn applied(snapshot: &Snapshot, plan: &Plan) -> Snapshot {
    let mut next = snapshot.clone();
    for change in &plan.changes {
        match change {
            Change::CreateTeam { id, name } => next.teams.push(Team { id: *id, org: org(), name: name.clone(), parent: None }),
            Change::CreatePerson { person } => next.people.push(Person {
                id: person.id,
                org: org(),
                email: person.email.clone(),
                profile: person.profile.clone(),
                status: person.status,
                role: person.role,
                primary_team: person.primary_team,
                secondary_teams: vec![],
                manager: None,
                avatar_url: None,
                source: person.source.clone(),
                activated: false,
                created_at: now(),
                updated_at: now(),
            }),
            other => {
                let Some(p) = next.people.iter_mut().find(|p| Some(p.id) == other.person()) else { continue };
                match other {
                    Change::UpdateProfile { after, .. } => p.profile = (**after).clone(),
                    Change::ChangeEmail { after, .. } => p.email = after.clone(),
                    Change::SetStatus { after, .. } => p.status = *after,
                    Change::SetRole { after, .. } => p.role = *after,
                    Change::SetPrimaryTeam { after, .. } => p.primary_team = *after,
                    Change::SetManager { after, .. } => p.manager = *after,
                    Change::LinkSource { link, .. } => p.source = Some(link.clone()),
                    _ => {}
                }
            }
        }
    }
    next
}

#[test]
fn new_people_are_created_with_their_department_as_primary_team() {
    let desired = [wanted("ada@x.com", Some("Research")), wanted("bob@x.com", Some("research"))];
    let plan = plan(&Snapshot::default(), &desired, &entra_policy());
    assert_eq!(plan.report.created, 2);
    assert_eq!(plan.report.teams_created, 1, "departments match teams without regard to case");
    let teams: Vec<_> = plan.changes.iter().filter(|c| matches!(c, Change::CreateTeam { .. })).collect();
    assert_eq!(teams.len(), 1);
}

#[test]
fn a_second_run_with_nothing_changed_plans_nothing() {
    let desired = [wanted("ada@x.com", Some("Research")), wanted("bob@x.com", None)];
    let first = plan(&Snapshot::default(), &desired, &entra_policy());
    let after = applied(&Snapshot::default(), &first);
    let second = plan(&after, &desired, &entra_policy());
    assert!(second.is_empty(), "{:?}", second.changes);
    assert_eq!(second.report.unchanged, 2);
}

#[test]
fn leaving_the_scope_deactivates_and_coming_back_reactivates() {
    let both = [wanted("ada@x.com", None), wanted("bob@x.com", None)];
    let start = applied(&Snapshot::default(), &plan(&Snapshot::default(), &both, &entra_policy()));

    let left = plan(&start, &both[..1], &entra_policy());
    assert_eq!(left.report.deactivated, 1);
    assert_eq!(left.deactivations(), 1);
    let after_leaving = applied(&start, &left);

    let back = plan(&after_leaving, &both, &entra_policy());
    assert_eq!(back.report.reactivated, 1);
    let bob = applied(&after_leaving, &back).people.into_iter().find(|p| p.email.as_str() == "bob@x.com");
    assert_eq!(bob.map(|p| p.status), Some(Status::Invited), "never activated, so back to invited");
}

#[test]
fn disabled_accounts_deactivate_and_are_never_created() {
    let mut ada = wanted("ada@x.com", None);
    let start = applied(&Snapshot::default(), &plan(&Snapshot::default(), &[ada.clone()], &entra_policy()));
    ada.active = false;
    let mut carl = wanted("carl@x.com", None);
    carl.active = false;
    let run = plan(&start, &[ada, carl], &entra_policy());
    assert_eq!((run.report.deactivated, run.report.created, run.report.skipped), (1, 0, 1));
}

#[test]
fn partial_scope_never_deactivates_the_absent() {
    let both = [wanted("ada@x.com", None), wanted("bob@x.com", None)];
    let start = applied(&Snapshot::default(), &plan(&Snapshot::default(), &both, &entra_policy()));
    let policy = Policy { scope: Scope::Partial, ..entra_policy() };
    assert!(plan(&start, &both[..1], &policy).is_empty());
}

#[test]
fn managers_resolve_within_the_run_and_outside_the_scope_is_reported() {
    let mut bob = wanted("bob@x.com", None);
    bob.manager = ManagerField::Set(ManagerRef::ExternalId("ext-ada@x.com".into()));
    let mut carl = wanted("carl@x.com", None);
    carl.manager = ManagerField::Set(ManagerRef::ExternalId("ext-nobody".into()));
    let run = plan(&Snapshot::default(), &[bob, wanted("ada@x.com", None), carl], &entra_policy());
    let managers: Vec<_> = run.changes.iter().filter(|c| matches!(c, Change::SetManager { .. })).collect();
    assert_eq!(managers.len(), 1);
    assert_eq!(run.report.issues.len(), 1);
    assert!(run.report.issues[0].message.contains("not in the directory"));
}

#[test]
fn a_renamed_principal_keeps_its_identity_by_external_id() {
    let start = applied(&Snapshot::default(), &plan(&Snapshot::default(), &[wanted("ada@x.com", None)], &entra_policy()));
    let mut renamed = wanted("ada@x.com", None);
    renamed.email = email("ada.lovelace@x.com");
    let run = plan(&start, &[renamed], &entra_policy());
    assert!(matches!(run.changes.as_slice(), [Change::ChangeEmail { .. }]), "{:?}", run.changes);
    assert_eq!(run.report.updated, 1);
}

#[test]
fn people_of_another_connection_or_duplicates_are_refused() {
    let start = applied(&Snapshot::default(), &plan(&Snapshot::default(), &[wanted("ada@x.com", None)], &entra_policy()));
    let other = Policy { connection: Some(ConnectionId::from_uuid(Uuid::from_u128(0xD))), ..entra_policy() };
    let run = plan(&start, &[wanted("ada@x.com", None), wanted("ada@x.com", None)], &other);
    assert!(run.changes.is_empty());
    assert_eq!(run.report.issues.len(), 2);
}

#[test]
fn invitations_follow_the_policy() {
    let policy = Policy { invitations: Invitations::Immediately, ..entra_policy() };
    let run = plan(&Snapshot::default(), &[wanted("ada@x.com", None)], &policy);
    assert_eq!(run.report.invited, 1);
    let held = plan(&Snapshot::default(), &[wanted("ada@x.com", None)], &entra_policy());
    assert_eq!(held.report.invited, 0);
}

#[test]
fn admins_hierarchy_and_manual_secondary_teams_are_left_alone() {
    let start = applied(&Snapshot::default(), &plan(&Snapshot::default(), &[wanted("ada@x.com", Some("Sales"))], &entra_policy()));
    let mut edited = start.clone();
    let parent = TeamId::from_uuid(Uuid::from_u128(0xFF));
    edited.teams.iter_mut().for_each(|t| t.parent = Some(parent));
    edited.people.iter_mut().for_each(|p| p.secondary_teams = vec![parent]);
    let run = plan(&edited, &[wanted("ada@x.com", Some("Sales"))], &entra_policy());
    assert!(run.is_empty(), "{:?}", run.changes);
}

#[test]
fn manual_edits_to_provisioned_fields_are_overwritten() {
    let start = applied(&Snapshot::default(), &plan(&Snapshot::default(), &[wanted("ada@x.com", None)], &entra_policy()));
    let mut edited = start.clone();
    edited.people.iter_mut().for_each(|p| p.profile.job_title = Some("Hand-edited".into()));
    let run = plan(&edited, &[wanted("ada@x.com", None)], &entra_policy());
    assert!(matches!(run.changes.as_slice(), [Change::UpdateProfile { .. }]));
}
