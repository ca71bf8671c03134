//! A simulated tenant on loopback, an organisation with an Entra connection pointing at it,
//! and the checks every scenario ends with.

#![allow(dead_code, reason = "scenarios use different parts of the harness")]

use chrono::{DateTime, TimeZone, Utc};
use roster_app::provision::entra::sync::{full_sync, EntraSettings, NoProgress, RunOutcome, SyncError, SyncOptions};
use roster_core::{Actor, Connection, ConnectionId, ConnectionKind, Org, OrgId, OrgSlug, Person, Status, UserId};
use roster_entra::{GraphConfig, RetryPolicy};
use roster_sim::{spawn_loopback, EntraSim, RunningSim, TenantInfo, TenantSpec};
use roster_store::Store;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub sim: EntraSim,
    pub info: TenantInfo,
    pub running: RunningSim,
    pub org: OrgId,
    pub connection: Connection,
    pub page_size: u16,
    /// Multiplies every wait of the client; 1 % unless a test needs real waits.
    pub time_scale: f64,
    /// Attempts per request (the client's default unless a test rides out long storms).
    pub max_attempts: u32,
    /// The users the test expects in scope (the simulator's members, adjusted as tests move people).
    pub in_scope: HashSet<String>,
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("a valid time")
}

impl Harness {
    pub async fn new(store: Arc<dyn Store>, users: usize) -> Harness {
        Self::with_spec(store, TenantSpec { users, seed: 7, photo_ratio: 0.5, disabled_ratio: 0.1, ..TenantSpec::default() }, 999).await
    }

    pub async fn with_spec(store: Arc<dyn Store>, spec: TenantSpec, page_size: u16) -> Harness {
        let sim = EntraSim::generate(spec);
        let info = sim.info();
        let running = spawn_loopback(sim.clone()).await.expect("bind loopback");
        let org = Org { id: OrgId::from_uuid(Uuid::now_v7()), slug: OrgSlug::parse("acme").expect("slug"), name: "Acme".into(), created_at: now() };
        store.create_org(&org).await.expect("create org");
        let mut settings = EntraSettings::new(&info.top_group_id, &info.client_id);
        settings.photos = true;
        settings.login_base = Some(format!("{}/", running.base_url));
        settings.graph_base = Some(format!("{}/v1.0/", running.base_url));
        let connection = Connection {
            id: ConnectionId::from_uuid(Uuid::now_v7()),
            org: org.id,
            kind: ConnectionKind::Entra,
            name: "Simulated tenant".into(),
            enabled: true,
            settings: settings.to_json(),
            sealed: BTreeMap::new(),
            created_at: now(),
            updated_at: now(),
        };
        store.create_connection(&connection, &Actor::Cli).await.expect("create connection");
        let in_scope = info.member_user_ids.iter().cloned().collect();
        Harness {
            store,
            sim,
            info,
            running,
            org: org.id,
            connection,
            page_size,
            time_scale: 0.01,
            max_attempts: RetryPolicy::default().max_attempts,
            in_scope,
        }
    }

    pub fn settings(&self) -> EntraSettings {
        EntraSettings::from_connection(&self.connection).expect("settings")
    }

    /// The client's settings with waits scaled to 1 %, so Retry-After is honoured quickly.
    pub fn config(&self) -> GraphConfig {
        let settings = self.settings();
        let mut config =
            GraphConfig::new(settings.login_base(), settings.graph_base(), &self.info.tenant_id, &self.info.client_id, &self.sim.client_secret())
                .expect("config");
        config.retry = RetryPolicy {
            time_scale: self.time_scale,
            total_budget: Duration::from_secs(30),
            max_attempts: self.max_attempts,
            ..RetryPolicy::default()
        };
        config.page_size = self.page_size;
        config
    }

    pub async fn sync(&self) -> Result<RunOutcome, SyncError> {
        let settings = self.settings();
        let options = SyncOptions::from_settings(&settings, now());
        full_sync(self.store.as_ref(), &self.connection, self.config(), &settings.mapping(), &options, &NoProgress).await
    }

    pub async fn sync_ok(&self) -> RunOutcome {
        match self.sync().await {
            Ok(outcome) => outcome,
            Err(error) => panic!("the sync failed: {error}"),
        }
    }

    pub async fn people(&self) -> Vec<Person> {
        self.store.snapshot(self.org).await.expect("snapshot").people
    }

    pub async fn linked(&self) -> HashMap<String, Person> {
        self.people()
            .await
            .into_iter()
            .filter_map(|p| p.source.clone().filter(|l| l.connection == self.connection.id).map(|l| (l.external_id, p)))
            .collect()
    }

    pub async fn audit_count(&self) -> usize {
        self.store.recent_audit(self.org, 100_000).await.expect("audit").len()
    }

    /// Take a user out of every group of the tenant's tree.
    pub fn move_out(&mut self, user: &str) {
        let mut groups = vec![self.info.top_group_id.clone()];
        groups.extend(self.info.nested_group_ids.iter().cloned());
        for group in groups {
            self.sim.remove_member(&group, user).expect("remove member");
        }
        self.in_scope.remove(user);
    }

    pub fn move_back(&mut self, user: &str) {
        self.sim.add_member(&self.info.top_group_id, user).expect("add member");
        self.in_scope.insert(user.to_owned());
    }

    fn enabled(&self, user: &str) -> bool {
        self.sim.user_property(user, "accountEnabled") != Some(serde_json::Value::Bool(false))
    }

    /// A user of the tenant with the given properties, in scope and enabled.
    pub fn pick(&self, mut wanted: impl FnMut(&str) -> bool) -> String {
        let mut ids: Vec<&String> = self.in_scope.iter().collect();
        ids.sort();
        ids.into_iter().find(|id| self.enabled(id) && wanted(id)).cloned().expect("a matching user")
    }

    /// The directory holds exactly what the simulator says, and the audit log explains it.
    pub async fn assert_matches_tenant(&self) {
        let linked = self.linked().await;
        let by_id: HashMap<UserId, &Person> = linked.values().map(|p| (p.id, p)).collect();
        for user in &self.in_scope {
            let person = linked.get(user);
            if !self.enabled(user) {
                assert!(person.is_none_or(|p| p.status == Status::Deactivated), "disabled user {user} must not be active");
                continue;
            }
            let person = person.unwrap_or_else(|| panic!("enabled member {user} is missing from the directory"));
            assert_ne!(person.status, Status::Deactivated, "{user} is in scope and enabled");
            let upn = self.sim.user_property(user, "userPrincipalName").and_then(|v| v.as_str().map(str::to_lowercase));
            assert_eq!(Some(person.email.as_str().to_owned()), upn, "e-mail of {user}");
            let department = self.sim.user_property(user, "department").and_then(|v| v.as_str().map(str::to_owned));
            assert_eq!(person.profile.department, department, "department of {user}");
            let expected_manager = self.sim.manager_of(user).and_then(|m| linked.get(&m)).map(|m| m.id);
            assert_eq!(person.manager, expected_manager, "manager of {user}");
            if let Some(manager) = person.manager {
                assert!(by_id.contains_key(&manager));
            }
            let avatar = self.store.avatar(self.org, person.id).await.expect("avatar").map(|a| a.etag);
            assert_eq!(avatar, self.sim.photo_etag(user), "avatar of {user}");
            self.assert_audited(person.id, "user.created").await;
        }
        for (user, person) in &linked {
            if !self.in_scope.contains(user) {
                assert_eq!(person.status, Status::Deactivated, "{user} left the group");
                self.assert_audited(person.id, "user.deactivated").await;
            }
        }
    }

    /// The person's audit trail names the change and this connection as its cause.
    pub async fn assert_audited(&self, person: UserId, action: &str) {
        let entries = self.store.audit_for_person(self.org, person, 1000).await.expect("audit");
        let actor = Actor::Connection { id: self.connection.id }.label();
        assert!(
            entries.iter().any(|e| e.action == action && e.actor == actor),
            "no {action} by {actor} for {person}: {:?}",
            entries.iter().map(|e| (&e.action, &e.actor)).collect::<Vec<_>>()
        );
    }
}
