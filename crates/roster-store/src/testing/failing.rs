//! A store that fails on demand, for tests that prove a failure part-way through an action
//! returns an error and changes nothing. It wraps a real store and delegates every call; a
//! call named in `fail_on` fails instead (as `Unavailable`), the first time or every time.

use crate::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_core::query::PersonQuery;
use roster_core::reconcile::Snapshot;
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, Email, Org, OrgId, Person, Plan, RunId, Team, TeamId, UserId};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Wraps `inner`; arm it with [`FailingStore::fail_on`].
pub struct FailingStore {
    inner: Arc<dyn Store>,
    armed: Mutex<Vec<String>>,
}

impl FailingStore {
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self { inner, armed: Mutex::new(Vec::new()) })
    }

    /// The next call to the store method `method` fails (once per time it is armed).
    pub fn fail_on(&self, method: &str) {
        self.armed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(method.to_owned());
    }

    /// Calls armed and not yet failed.
    pub fn pending(&self) -> Vec<String> {
        self.armed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn check(&self, method: &str) -> StoreResult<()> {
        let mut armed = self.armed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match armed.iter().position(|m| m == method) {
            Some(at) => {
                armed.remove(at);
                Err(StoreError::Unavailable(format!("injected failure in {method}")))
            }
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Store for FailingStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.check("ping")?;
        self.inner.ping().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

#[async_trait]
impl OrgStore for FailingStore {
    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        self.check("create_org")?;
        self.inner.create_org(org).await
    }

    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<Org>> {
        self.check("org_by_slug")?;
        self.inner.org_by_slug(slug).await
    }

    async fn org_by_id(&self, id: OrgId) -> StoreResult<Option<Org>> {
        self.check("org_by_id")?;
        self.inner.org_by_id(id).await
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Org>> {
        self.check("list_orgs")?;
        self.inner.list_orgs().await
    }
}

#[async_trait]
impl PeopleStore for FailingStore {
    async fn snapshot(&self, org: OrgId) -> StoreResult<Snapshot> {
        self.check("snapshot")?;
        self.inner.snapshot(org).await
    }

    async fn snapshot_for(&self, org: OrgId, keys: &SnapshotKeys) -> StoreResult<Snapshot> {
        self.check("snapshot_for")?;
        self.inner.snapshot_for(org, keys).await
    }

    fn stream_people(&self, org: OrgId, query: &PersonQuery) -> PersonStream {
        match self.check("stream_people") {
            Ok(()) => self.inner.stream_people(org, query),
            Err(error) => Box::pin(futures::stream::once(async move { Err(error) })),
        }
    }

    async fn person(&self, org: OrgId, id: UserId) -> StoreResult<Option<Person>> {
        self.check("person")?;
        self.inner.person(org, id).await
    }

    async fn person_by_email(&self, org: OrgId, email: &Email) -> StoreResult<Option<Person>> {
        self.check("person_by_email")?;
        self.inner.person_by_email(org, email).await
    }

    async fn search_people(&self, org: OrgId, query: &PersonQuery) -> StoreResult<PersonPage> {
        self.check("search_people")?;
        self.inner.search_people(org, query).await
    }

    async fn count_people(&self, org: OrgId) -> StoreResult<PeopleCounts> {
        self.check("count_people")?;
        self.inner.count_people(org).await
    }
}

#[async_trait]
impl TeamStore for FailingStore {
    async fn teams(&self, org: OrgId) -> StoreResult<Vec<TeamSummary>> {
        self.check("teams")?;
        self.inner.teams(org).await
    }

    async fn team(&self, org: OrgId, id: TeamId) -> StoreResult<Option<Team>> {
        self.check("team")?;
        self.inner.team(org, id).await
    }

    async fn delete_team(&self, org: OrgId, team: TeamId, into: Option<TeamId>, actor: &Actor, now: DateTime<Utc>) -> StoreResult<u64> {
        self.check("delete_team")?;
        self.inner.delete_team(org, team, into, actor, now).await
    }

    async fn team_list(&self, org: OrgId) -> StoreResult<Vec<Team>> {
        self.check("team_list")?;
        self.inner.team_list(org).await
    }
}

#[async_trait]
impl PlanStore for FailingStore {
    async fn apply(&self, plan: &Plan, now: DateTime<Utc>) -> StoreResult<RunId> {
        self.check("apply")?;
        self.inner.apply(plan, now).await
    }
}

#[async_trait]
impl AuditStore for FailingStore {
    async fn audit_version(&self, org: OrgId) -> StoreResult<i64> {
        self.check("audit_version")?;
        self.inner.audit_version(org).await
    }

    async fn audit_for_person(&self, org: OrgId, person: UserId, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.check("audit_for_person")?;
        self.inner.audit_for_person(org, person, limit).await
    }

    async fn audit_log(&self, org: OrgId, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.check("audit_log")?;
        self.inner.audit_log(org, query).await
    }

    async fn recent_audit(&self, org: OrgId, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.check("recent_audit")?;
        self.inner.recent_audit(org, limit).await
    }
}

#[async_trait]
impl OutboxStore for FailingStore {
    async fn enqueue_email(&self, org: OrgId, email: &OutgoingEmail, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("enqueue_email")?;
        self.inner.enqueue_email(org, email, now).await
    }

    async fn emails(&self, org: OrgId, limit: u32) -> StoreResult<Vec<OutboxEmail>> {
        self.check("emails")?;
        self.inner.emails(org, limit).await
    }

    async fn claim_emails(&self, limit: u32, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> StoreResult<Vec<OutboxEmail>> {
        self.check("claim_emails")?;
        self.inner.claim_emails(limit, now, lease_until).await
    }

    async fn mark_email_sent(&self, id: uuid::Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("mark_email_sent")?;
        self.inner.mark_email_sent(id, now).await
    }

    async fn mark_email_failed(&self, id: uuid::Uuid, error: &str, retry_at: DateTime<Utc>) -> StoreResult<()> {
        self.check("mark_email_failed")?;
        self.inner.mark_email_failed(id, error, retry_at).await
    }

    async fn events(&self, org: OrgId, after_seq: i64, limit: u32) -> StoreResult<Vec<OutboundEvent>> {
        self.check("events")?;
        self.inner.events(org, after_seq, limit).await
    }

    async fn event_feed_raw(
        &self,
        org: OrgId,
        after_seq: i64,
        kinds: &[String],
        limit: u32,
    ) -> StoreResult<Vec<OutboundEvent<Box<serde_json::value::RawValue>>>> {
        self.check("event_feed_raw")?;
        self.inner.event_feed_raw(org, after_seq, kinds, limit).await
    }
    async fn event_feed(&self, org: OrgId, after_seq: i64, kinds: &[String], limit: u32) -> StoreResult<Vec<OutboundEvent>> {
        self.check("event_feed")?;
        self.inner.event_feed(org, after_seq, kinds, limit).await
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.check("purge_events")?;
        self.inner.purge_events(before).await
    }
    async fn publish_event(&self, org: OrgId, actor: &Actor, kind: &str, data: Value, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("publish_event")?;
        self.inner.publish_event(org, actor, kind, data, now).await
    }
}

#[async_trait]
impl AuthStore for FailingStore {
    async fn credentials(&self, org: OrgId, email: &Email) -> StoreResult<Option<Credentials>> {
        self.check("credentials")?;
        self.inner.credentials(org, email).await
    }

    async fn set_password(&self, org: OrgId, person: UserId, hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("set_password")?;
        self.inner.set_password(org, person, hash, now).await
    }

    async fn activate_on_sign_in(&self, org: OrgId, person: UserId, via: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check("activate_on_sign_in")?;
        self.inner.activate_on_sign_in(org, person, via, now).await
    }

    async fn issue_token(&self, token: &NewToken, now: DateTime<Utc>, handed_over_by: Option<&roster_core::Actor>) -> StoreResult<()> {
        self.check("issue_token")?;
        self.inner.issue_token(token, now, handed_over_by).await
    }

    async fn peek_token(&self, org: OrgId, purpose: TokenPurpose, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<UserId>> {
        self.check("peek_token")?;
        self.inner.peek_token(org, purpose, digest, now).await
    }

    async fn consume_token(&self, org: OrgId, purpose: TokenPurpose, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<UserId>> {
        self.check("consume_token")?;
        self.inner.consume_token(org, purpose, digest, now).await
    }

    async fn set_provisioning_allowed(
        &self,
        org: OrgId,
        person: UserId,
        allowed: bool,
        actor: &roster_core::Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.check("set_provisioning_allowed")?;
        self.inner.set_provisioning_allowed(org, person, allowed, actor, now).await
    }

    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.check("create_session")?;
        self.inner.create_session(session).await
    }

    async fn session(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<SessionRecord>> {
        self.check("session")?;
        self.inner.session(digest, now).await
    }

    async fn delete_session(&self, digest: &str) -> StoreResult<()> {
        self.check("delete_session")?;
        self.inner.delete_session(digest).await
    }

    async fn delete_sessions_of(&self, org: OrgId, person: UserId) -> StoreResult<()> {
        self.check("delete_sessions_of")?;
        self.inner.delete_sessions_of(org, person).await
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<ApiKeyInfo> {
        self.check("create_api_key")?;
        self.inner.create_api_key(key).await
    }

    async fn api_key(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<ApiKeyInfo>> {
        self.check("api_key")?;
        self.inner.api_key(digest, now).await
    }

    async fn api_keys(&self, org: OrgId) -> StoreResult<Vec<ApiKeyInfo>> {
        self.check("api_keys")?;
        self.inner.api_keys(org).await
    }

    async fn revoke_api_key(&self, org: OrgId, id: uuid::Uuid, actor: &Actor, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check("revoke_api_key")?;
        self.inner.revoke_api_key(org, id, actor, now).await
    }
}

#[async_trait]
impl JobStore for FailingStore {
    async fn enqueue_job(&self, job: &NewJob) -> StoreResult<Enqueued> {
        self.check("enqueue_job")?;
        self.inner.enqueue_job(job).await
    }

    async fn claim_jobs(&self, kind: &str, limit: u32, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> StoreResult<Vec<Job>> {
        self.check("claim_jobs")?;
        self.inner.claim_jobs(kind, limit, now, lease_until).await
    }

    async fn extend_job_lease(&self, id: Uuid, lease_until: DateTime<Utc>) -> StoreResult<bool> {
        self.check("extend_job_lease")?;
        self.inner.extend_job_lease(id, lease_until).await
    }

    async fn finish_job(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("finish_job")?;
        self.inner.finish_job(id, now).await
    }

    async fn fail_job(&self, id: Uuid, error: &str, retry_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("fail_job")?;
        self.inner.fail_job(id, error, retry_at, now).await
    }

    async fn job(&self, id: Uuid) -> StoreResult<Option<Job>> {
        self.check("job")?;
        self.inner.job(id).await
    }

    async fn try_lease(&self, name: &str, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<bool> {
        self.check("try_lease")?;
        self.inner.try_lease(name, holder, now, until).await
    }
}

#[async_trait]
impl RunStore for FailingStore {
    async fn create_run(&self, run: &SyncRun) -> StoreResult<()> {
        self.check("create_run")?;
        self.inner.create_run(run).await
    }

    async fn start_run(&self, org: OrgId, id: RunId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check("start_run")?;
        self.inner.start_run(org, id, now).await
    }

    async fn keep_run_alive(&self, org: OrgId, id: RunId, until: DateTime<Utc>) -> StoreResult<()> {
        self.check("keep_run_alive")?;
        self.inner.keep_run_alive(org, id, until).await
    }

    async fn fail_abandoned_runs(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.check("fail_abandoned_runs")?;
        self.inner.fail_abandoned_runs(now).await
    }

    async fn log_decisions(&self, decisions: &[Decision]) -> StoreResult<()> {
        self.check("log_decisions")?;
        self.inner.log_decisions(decisions).await
    }

    async fn decisions(&self, org: OrgId, person: Option<UserId>, subject: &str, since: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Decision>> {
        self.check("decisions")?;
        self.inner.decisions(org, person, subject, since, limit).await
    }

    async fn purge_decisions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.check("purge_decisions")?;
        self.inner.purge_decisions(before).await
    }

    async fn set_run_progress(&self, org: OrgId, id: RunId, progress: &Value) -> StoreResult<()> {
        self.check("set_run_progress")?;
        self.inner.set_run_progress(org, id, progress).await
    }

    async fn finish_run(&self, org: OrgId, id: RunId, end: &RunEnd<'_>) -> StoreResult<()> {
        self.check("finish_run")?;
        self.inner.finish_run(org, id, end).await
    }

    async fn decide_held_run(&self, org: OrgId, id: RunId, decision: RunStatus, actor: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.check("decide_held_run")?;
        self.inner.decide_held_run(org, id, decision, actor, at).await
    }

    async fn sync_run(&self, org: OrgId, id: RunId) -> StoreResult<Option<SyncRun>> {
        self.check("sync_run")?;
        self.inner.sync_run(org, id).await
    }

    async fn sync_runs(&self, org: OrgId, connection: ConnectionId, limit: u32) -> StoreResult<Vec<SyncRun>> {
        self.check("sync_runs")?;
        self.inner.sync_runs(org, connection, limit).await
    }

    async fn avatar_etags(&self, org: OrgId) -> StoreResult<HashMap<UserId, String>> {
        self.check("avatar_etags")?;
        self.inner.avatar_etags(org).await
    }

    async fn avatar(&self, org: OrgId, person: UserId) -> StoreResult<Option<Avatar>> {
        self.check("avatar")?;
        self.inner.avatar(org, person).await
    }

    async fn put_avatar(&self, org: OrgId, person: UserId, avatar: &Avatar, actor: &str) -> StoreResult<()> {
        self.check("put_avatar")?;
        self.inner.put_avatar(org, person, avatar, actor).await
    }

    async fn remove_avatar(&self, org: OrgId, person: UserId, actor: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check("remove_avatar")?;
        self.inner.remove_avatar(org, person, actor, now).await
    }
}

#[async_trait]
impl ScimStore for FailingStore {
    async fn create_scim_token(&self, token: &NewScimToken) -> StoreResult<ScimToken> {
        self.check("create_scim_token")?;
        self.inner.create_scim_token(token).await
    }

    async fn scim_token(&self, digest: &str, now: DateTime<Utc>) -> StoreResult<Option<ScimToken>> {
        self.check("scim_token")?;
        self.inner.scim_token(digest, now).await
    }

    async fn scim_tokens(&self, org: OrgId) -> StoreResult<Vec<ScimToken>> {
        self.check("scim_tokens")?;
        self.inner.scim_tokens(org).await
    }

    async fn revoke_scim_token(&self, org: OrgId, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check("revoke_scim_token")?;
        self.inner.revoke_scim_token(org, id, actor, now).await
    }

    async fn scim_resource(&self, org: OrgId, kind: ScimResourceType, id: Uuid) -> StoreResult<Option<ScimResource>> {
        self.check("scim_resource")?;
        self.inner.scim_resource(org, kind, id).await
    }

    async fn scim_resources(&self, org: OrgId, kind: ScimResourceType, ids: &[Uuid]) -> StoreResult<Vec<ScimResource>> {
        self.check("scim_resources")?;
        self.inner.scim_resources(org, kind, ids).await
    }

    async fn scim_user_by_name(&self, org: OrgId, user_name: &str) -> StoreResult<Option<ScimResource>> {
        self.check("scim_user_by_name")?;
        self.inner.scim_user_by_name(org, user_name).await
    }

    async fn scim_group_by_name(&self, org: OrgId, name: &str) -> StoreResult<Option<ScimResource>> {
        self.check("scim_group_by_name")?;
        self.inner.scim_group_by_name(org, name).await
    }

    async fn scim_list(&self, org: OrgId, kind: ScimResourceType, query: &ScimQuery<'_>) -> StoreResult<ScimPage> {
        self.check("scim_list")?;
        self.inner.scim_list(org, kind, query).await
    }

    async fn scim_groups_of(&self, org: OrgId, member: Uuid) -> StoreResult<Vec<(Uuid, String)>> {
        self.check("scim_groups_of")?;
        self.inner.scim_groups_of(org, member).await
    }

    async fn scim_members(&self, org: OrgId, group: Uuid) -> StoreResult<Vec<Uuid>> {
        self.check("scim_members")?;
        self.inner.scim_members(org, group).await
    }

    async fn scim_write(&self, write: &ScimWrite, plan: &Plan, now: DateTime<Utc>) -> StoreResult<ScimWriteOutcome> {
        self.check("scim_write")?;
        self.inner.scim_write(write, plan, now).await
    }

    async fn scim_guard_counts(&self, org: OrgId, connection: ConnectionId, since: DateTime<Utc>) -> StoreResult<ScimGuardCounts> {
        self.check("scim_guard_counts")?;
        self.inner.scim_guard_counts(org, connection, since).await
    }

    async fn provisioned_count(&self, org: OrgId, connection: ConnectionId) -> StoreResult<u64> {
        self.check("provisioned_count")?;
        self.inner.provisioned_count(org, connection).await
    }

    async fn pending_deactivations(&self, org: OrgId) -> StoreResult<Vec<PendingDeactivation>> {
        self.check("pending_deactivations")?;
        self.inner.pending_deactivations(org).await
    }

    async fn clear_pending_deactivations(&self, org: OrgId, people: &[UserId], applied: bool, actor: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        self.check("clear_pending_deactivations")?;
        self.inner.clear_pending_deactivations(org, people, applied, actor, now).await
    }

    async fn scim_delete(&self, delete: &ScimDelete<'_>, plan: &Plan, now: DateTime<Utc>) -> StoreResult<ScimWriteOutcome> {
        self.check("scim_delete")?;
        self.inner.scim_delete(delete, plan, now).await
    }

    async fn log_scim_requests(&self, entries: &[ScimRequestLog]) -> StoreResult<()> {
        self.check("log_scim_requests")?;
        self.inner.log_scim_requests(entries).await
    }

    async fn scim_requests(&self, org: OrgId, limit: u32) -> StoreResult<Vec<ScimRequestLog>> {
        self.check("scim_requests")?;
        self.inner.scim_requests(org, limit).await
    }
}

#[async_trait]
impl SsoStore for FailingStore {
    async fn create_sso_request(&self, request: &SsoRequest) -> StoreResult<()> {
        self.check("create_sso_request")?;
        self.inner.create_sso_request(request).await
    }

    async fn pending_sso_request(&self, org: OrgId, state_digest: &str, now: DateTime<Utc>) -> StoreResult<Option<SsoRequest>> {
        self.check("pending_sso_request")?;
        self.inner.pending_sso_request(org, state_digest, now).await
    }

    async fn consume_sso_request(&self, org: OrgId, state_digest: &str, now: DateTime<Utc>) -> StoreResult<Option<SsoRequest>> {
        self.check("consume_sso_request")?;
        self.inner.consume_sso_request(org, state_digest, now).await
    }

    async fn sso_linked_person(&self, org: OrgId, connection: ConnectionId, subject: &str) -> StoreResult<Option<UserId>> {
        self.check("sso_linked_person")?;
        self.inner.sso_linked_person(org, connection, subject).await
    }

    async fn record_sso_link(&self, org: OrgId, connection: ConnectionId, subject: &str, person: UserId, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("record_sso_link")?;
        self.inner.record_sso_link(org, connection, subject, person, now).await
    }

    async fn log_sso_refusal(&self, refusal: &SsoRefusal) -> StoreResult<()> {
        self.check("log_sso_refusal")?;
        self.inner.log_sso_refusal(refusal).await
    }

    async fn sso_refusals(&self, org: OrgId, limit: u32) -> StoreResult<Vec<SsoRefusal>> {
        self.check("sso_refusals")?;
        self.inner.sso_refusals(org, limit).await
    }

    async fn first_use_of_saml_assertion(
        &self,
        org: OrgId,
        issuer: &str,
        assertion_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.check("first_use_of_saml_assertion")?;
        self.inner.first_use_of_saml_assertion(org, issuer, assertion_id, until, now).await
    }

    async fn purge_expired_sign_ins(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.check("purge_expired_sign_ins")?;
        self.inner.purge_expired_sign_ins(now).await
    }

    async fn password_sign_in_allowed(&self, org: OrgId) -> StoreResult<bool> {
        self.check("password_sign_in_allowed")?;
        self.inner.password_sign_in_allowed(org).await
    }

    async fn set_password_sign_in(&self, org: OrgId, allowed: bool, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("set_password_sign_in")?;
        self.inner.set_password_sign_in(org, allowed, actor, now).await
    }
}

#[async_trait]
impl ConnectionStore for FailingStore {
    async fn create_connection(&self, connection: &Connection, actor: &Actor) -> StoreResult<()> {
        self.check("create_connection")?;
        self.inner.create_connection(connection, actor).await
    }

    async fn update_connection(&self, connection: &Connection, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("update_connection")?;
        self.inner.update_connection(connection, actor, now).await
    }

    async fn delete_connection(&self, org: OrgId, id: ConnectionId, actor: &Actor, now: DateTime<Utc>) -> StoreResult<u64> {
        self.check("delete_connection")?;
        self.inner.delete_connection(org, id, actor, now).await
    }

    async fn connection(&self, org: OrgId, id: ConnectionId) -> StoreResult<Option<Connection>> {
        self.check("connection")?;
        self.inner.connection(org, id).await
    }

    async fn connections(&self, org: OrgId) -> StoreResult<Vec<Connection>> {
        self.check("connections")?;
        self.inner.connections(org).await
    }

    async fn enabled_connections(&self, kind: ConnectionKind) -> StoreResult<Vec<Connection>> {
        self.check("enabled_connections")?;
        self.inner.enabled_connections(kind).await
    }
}

#[async_trait]
impl WebhookStore for FailingStore {
    async fn create_webhook(&self, endpoint: &WebhookEndpoint, actor: &Actor) -> StoreResult<()> {
        self.check("create_webhook")?;
        self.inner.create_webhook(endpoint, actor).await
    }
    async fn webhooks(&self, org: OrgId) -> StoreResult<Vec<WebhookEndpoint>> {
        self.check("webhooks")?;
        self.inner.webhooks(org).await
    }
    async fn webhook(&self, org: OrgId, id: Uuid) -> StoreResult<Option<WebhookEndpoint>> {
        self.check("webhook")?;
        self.inner.webhook(org, id).await
    }
    async fn delete_webhook(&self, org: OrgId, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check("delete_webhook")?;
        self.inner.delete_webhook(org, id, actor, now).await
    }
    async fn rotate_webhook_secret(
        &self,
        org: OrgId,
        id: Uuid,
        sealed: &[u8],
        previous_until: DateTime<Utc>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.check("rotate_webhook_secret")?;
        self.inner.rotate_webhook_secret(org, id, sealed, previous_until, actor, now).await
    }
    async fn rewind_webhook(&self, org: OrgId, id: Uuid, seq: i64, actor: &Actor, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check("rewind_webhook")?;
        self.inner.rewind_webhook(org, id, seq, actor, now).await
    }
    async fn claim_webhooks(&self, limit: u32, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> StoreResult<Vec<WebhookEndpoint>> {
        self.check("claim_webhooks")?;
        self.inner.claim_webhooks(limit, now, lease_until).await
    }
    async fn webhook_advanced(&self, id: Uuid, from: i64, seq: i64, next_attempt_at: DateTime<Utc>) -> StoreResult<()> {
        self.check("webhook_advanced")?;
        self.inner.webhook_advanced(id, from, seq, next_attempt_at).await
    }
    async fn webhook_failed(&self, id: Uuid, retry: &WebhookRetry) -> StoreResult<()> {
        self.check("webhook_failed")?;
        self.inner.webhook_failed(id, retry).await
    }
    async fn record_deliveries(&self, deliveries: &[WebhookDelivery]) -> StoreResult<()> {
        self.check("record_deliveries")?;
        self.inner.record_deliveries(deliveries).await
    }
    async fn webhook_deliveries(&self, org: OrgId, endpoint: Uuid, limit: u32) -> StoreResult<Vec<WebhookDelivery>> {
        self.check("webhook_deliveries")?;
        self.inner.webhook_deliveries(org, endpoint, limit).await
    }
}

#[async_trait]
impl TeamManagerStore for FailingStore {
    async fn team_managers(&self, org: OrgId) -> StoreResult<Vec<(TeamId, UserId)>> {
        self.check("team_managers")?;
        self.inner.team_managers(org).await
    }

    async fn set_team_managers(&self, org: OrgId, team: TeamId, managers: &[UserId], actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
        self.check("set_team_managers")?;
        self.inner.set_team_managers(org, team, managers, actor, now).await
    }
}

#[async_trait]
impl ErasureStore for FailingStore {
    async fn erase_person(&self, org: OrgId, person: UserId, actor: &Actor, now: DateTime<Utc>) -> StoreResult<Email> {
        self.check("erase_person")?;
        self.inner.erase_person(org, person, actor, now).await
    }

    async fn unlink_person(&self, org: OrgId, person: UserId, actor: &Actor, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check("unlink_person")?;
        self.inner.unlink_person(org, person, actor, now).await
    }
}

#[async_trait]
impl ThrottleStore for FailingStore {
    async fn blocked_until(&self, keys: &[&str], now: DateTime<Utc>) -> StoreResult<Option<DateTime<Utc>>> {
        self.check("blocked_until")?;
        self.inner.blocked_until(keys, now).await
    }

    async fn count_failure(&self, key: &str, rule: &ThrottleRule, now: DateTime<Utc>) -> StoreResult<ThrottleCount> {
        self.check("count_failure")?;
        self.inner.count_failure(key, rule, now).await
    }

    async fn clear_throttle(&self, key: &str) -> StoreResult<()> {
        self.check("clear_throttle")?;
        self.inner.clear_throttle(key).await
    }

    async fn purge_throttle(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<u64> {
        self.check("purge_throttle")?;
        self.inner.purge_throttle(before, now).await
    }
}

#[async_trait]
impl IdempotencyStore for FailingStore {
    async fn claim_idempotency_key(
        &self,
        org: OrgId,
        client: &str,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        abandoned_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim> {
        self.check("claim_idempotency_key")?;
        self.inner.claim_idempotency_key(org, client, key, fingerprint, now, abandoned_before).await
    }
    async fn keep_idempotent_answer(&self, org: OrgId, client: &str, key: &str, answer: &KeptAnswer) -> StoreResult<()> {
        self.check("keep_idempotent_answer")?;
        self.inner.keep_idempotent_answer(org, client, key, answer).await
    }
    async fn release_idempotency_key(&self, org: OrgId, client: &str, key: &str) -> StoreResult<()> {
        self.check("release_idempotency_key")?;
        self.inner.release_idempotency_key(org, client, key).await
    }
    async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.check("purge_idempotency_keys")?;
        self.inner.purge_idempotency_keys(before).await
    }
}

#[async_trait]
impl OktaHookStore for FailingStore {
    async fn record_hook_events(&self, org: OrgId, connection: ConnectionId, events: &[HookEvent], now: DateTime<Utc>) -> StoreResult<usize> {
        self.check("record_hook_events")?;
        self.inner.record_hook_events(org, connection, events, now).await
    }
    async fn pending_hook_users(&self, org: OrgId, connection: ConnectionId, limit: u32) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        self.check("pending_hook_users")?;
        self.inner.pending_hook_users(org, connection, limit).await
    }
    async fn forget_hook_users(&self, org: OrgId, connection: ConnectionId, users: &[(String, DateTime<Utc>)]) -> StoreResult<()> {
        self.check("forget_hook_users")?;
        self.inner.forget_hook_users(org, connection, users).await
    }
    async fn purge_hook_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.check("purge_hook_events")?;
        self.inner.purge_hook_events(before).await
    }
}

#[async_trait]
impl EntraLiveStore for FailingStore {
    async fn entra_live(&self, org: OrgId, connection: ConnectionId) -> StoreResult<EntraLive> {
        self.check("entra_live")?;
        self.inner.entra_live(org, connection).await
    }
    async fn note_entra_notification(&self, org: OrgId, connection: ConnectionId, at: DateTime<Utc>) -> StoreResult<()> {
        self.check("note_entra_notification")?;
        self.inner.note_entra_notification(org, connection, at).await
    }
    async fn settle_entra_notification(&self, org: OrgId, connection: ConnectionId, seen: DateTime<Utc>) -> StoreResult<bool> {
        self.check("settle_entra_notification")?;
        self.inner.settle_entra_notification(org, connection, seen).await
    }
    async fn save_entra_round(
        &self,
        org: OrgId,
        connection: ConnectionId,
        links: &DeltaLinks,
        changes: &MembershipChanges,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.check("save_entra_round")?;
        self.inner.save_entra_round(org, connection, links, changes, at).await
    }
    async fn clear_entra_links(&self, org: OrgId, connection: ConnectionId) -> StoreResult<()> {
        self.check("clear_entra_links")?;
        self.inner.clear_entra_links(org, connection).await
    }
    async fn entra_groups_of(&self, org: OrgId, connection: ConnectionId, members: &[String]) -> StoreResult<Vec<Membership>> {
        self.check("entra_groups_of")?;
        self.inner.entra_groups_of(org, connection, members).await
    }
    async fn entra_members_of(&self, org: OrgId, connection: ConnectionId, groups: &[String]) -> StoreResult<Vec<Membership>> {
        self.check("entra_members_of")?;
        self.inner.entra_members_of(org, connection, groups).await
    }
    async fn entra_subscriptions(&self, org: OrgId, connection: ConnectionId) -> StoreResult<Vec<EntraSubscription>> {
        self.check("entra_subscriptions")?;
        self.inner.entra_subscriptions(org, connection).await
    }
    async fn entra_subscription(&self, id: &str) -> StoreResult<Option<EntraSubscription>> {
        self.check("entra_subscription")?;
        self.inner.entra_subscription(id).await
    }
    async fn save_entra_subscription(&self, subscription: &EntraSubscription) -> StoreResult<()> {
        self.check("save_entra_subscription")?;
        self.inner.save_entra_subscription(subscription).await
    }
    async fn delete_entra_subscription(&self, id: &str) -> StoreResult<()> {
        self.check("delete_entra_subscription")?;
        self.inner.delete_entra_subscription(id).await
    }
    async fn entra_subscriptions_expiring(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<Vec<EntraSubscription>> {
        self.check("entra_subscriptions_expiring")?;
        self.inner.entra_subscriptions_expiring(before, limit).await
    }
}
