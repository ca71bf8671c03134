//! A simulator on 127.0.0.1:0 and a client pointed at it.

#![allow(dead_code, reason = "each test crate uses a different part of the harness")]
#![expect(clippy::expect_used, reason = "test set-up: a failure here should stop the test")]

use std::time::Duration;

use roster_entra::{GraphClient, GraphConfig, RetryPolicy};
use roster_sim::{spawn_loopback, EntraSim, RunningSim, TenantInfo, TenantSpec};

pub struct Harness {
    pub sim: EntraSim,
    pub info: TenantInfo,
    pub client: GraphClient,
    pub running: RunningSim,
}

/// Waits scaled to 1 %: a 2 s Retry-After becomes 20 ms, so tests can still see it honoured.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy { time_scale: 0.01, total_budget: Duration::from_secs(20), ..RetryPolicy::default() }
}

pub fn config(running: &RunningSim, tenant: &str, client_id: &str, secret: &str) -> GraphConfig {
    let mut config =
        GraphConfig::new(&format!("{}/", running.base_url), &format!("{}/v1.0/", running.base_url), tenant, client_id, secret).expect("config");
    config.retry = fast_policy();
    config
}

pub async fn harness_with(spec: TenantSpec, page_size: u16) -> Harness {
    let sim = EntraSim::generate(spec);
    let info = sim.info();
    let running = spawn_loopback(sim.clone()).await.expect("bind loopback");
    let mut cfg = config(&running, &info.tenant_id, &info.client_id, &info.client_secret);
    cfg.page_size = page_size;
    let client = GraphClient::new(cfg).expect("client");
    Harness { sim, info, client, running }
}

pub async fn harness(users: usize, page_size: u16) -> Harness {
    harness_with(TenantSpec { users, seed: 42, ..TenantSpec::default() }, page_size).await
}

pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

impl Harness {
    pub fn client_with(&self, tenant: &str, client_id: &str, secret: &str) -> GraphClient {
        GraphClient::new(config(&self.running, tenant, client_id, secret)).expect("client")
    }

    /// The expected in-scope users, from the generator rather than the server.
    pub fn expected_users(&self) -> Vec<String> {
        sorted(self.info.member_user_ids.clone())
    }
}
