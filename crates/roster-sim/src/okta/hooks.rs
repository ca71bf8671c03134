//! Event hooks (§4): a one-time verification GET, then POSTs of batched LogEvents that are
//! best-effort, unordered and at-least-once. Each POST has a 3 s timeout and at most one retry,
//! made only after a 5xx or a timeout; a 4xx is final.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde_json::{json, Value};

use super::org::{okta_id, stamp};
use super::{OktaSim, OktaSimError, OrgState};

pub const HOOK_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_BATCH_SIZE: usize = 50;

/// How deliveries misbehave, within what Okta's "best-effort, at least once, unordered" allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOptions {
    /// Events per POST at most (at least 1).
    pub batch_size: usize,
    /// Send every batch twice, with the same `eventId` (at-least-once delivery).
    pub duplicate_every_batch: bool,
    /// Send each batch's events newest first (receivers must order by `published`).
    pub reverse_each_batch: bool,
    /// Lose the next this many batches without any request (hooks Okta never delivers).
    pub drop_next: usize,
}

impl Default for HookOptions {
    fn default() -> Self {
        Self { batch_size: DEFAULT_BATCH_SIZE, duplicate_every_batch: false, reverse_each_batch: false, drop_next: 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutcome {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer within 3 s.
    TimedOut,
    /// No answer at all (connection refused, reset ...).
    Failed(String),
}

/// One POST of one batch, for tests.
#[derive(Debug, Clone)]
pub struct HookAttempt {
    /// The batch's `eventId`; a retry or a duplicate carries the same one.
    pub event_id: String,
    /// 1, or 2 for the retry.
    pub attempt: u8,
    pub event_types: Vec<String>,
    pub event_uuids: Vec<String>,
    pub outcome: HookOutcome,
    pub at: DateTime<Utc>,
}

/// What one `deliver_pending_hooks` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookReport {
    /// Events taken from the queue.
    pub events: usize,
    /// Batches sent (duplicates included, dropped ones not).
    pub batches: usize,
    pub attempts: usize,
    /// Batches answered with a 2xx.
    pub delivered: usize,
    /// Batches given up on after their last attempt.
    pub failed: usize,
    pub dropped: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct HookConfig {
    pub id: String,
    pub url: String,
    pub authorization: String,
}

#[derive(Debug, Default)]
pub(crate) struct HookState {
    /// Set once the endpoint passed verification; only then are events queued.
    pub config: Option<HookConfig>,
    pub options: HookOptions,
    /// Eligible events not yet delivered, in the order they happened.
    pub queue: VecDeque<Value>,
    pub attempts: Vec<HookAttempt>,
}

#[derive(Debug, Clone)]
struct Batch {
    event_id: String,
    body: Value,
    event_types: Vec<String>,
    event_uuids: Vec<String>,
}

fn hook_target(id: &str, url: &str) -> Value {
    json!({ "id": id, "type": "EventHook", "alternateId": url, "displayName": "Roster", "detailEntry": null })
}

/// Takes the queued events and cuts them into the batches to send, applying the options.
fn plan(s: &mut OrgState) -> Option<(HookConfig, Vec<Batch>, HookReport)> {
    let config = s.hooks.config.clone()?;
    if s.hooks.queue.is_empty() {
        return None;
    }
    let events: Vec<Value> = s.hooks.queue.drain(..).collect();
    let mut report = HookReport { events: events.len(), ..HookReport::default() };
    let source = format!("{}/api/v1/eventHooks/{}", s.org_url, config.id);
    let options = s.hooks.options.clone();
    let mut batches = Vec::new();
    for chunk in events.chunks(options.batch_size.max(1)) {
        if s.hooks.options.drop_next > 0 {
            s.hooks.options.drop_next -= 1;
            report.dropped += 1;
            continue;
        }
        let mut chunk = chunk.to_vec();
        if options.reverse_each_batch {
            chunk.reverse();
        }
        let event_id = s.new_uuid();
        let field = |e: &Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
        let batch = Batch {
            event_types: chunk.iter().map(|e| field(e, "eventType")).collect(),
            event_uuids: chunk.iter().map(|e| field(e, "uuid")).collect(),
            body: json!({
                "eventType": "com.okta.event_hook",
                "eventTypeVersion": "1.0",
                "cloudEventsVersion": "0.1",
                "source": source,
                "eventId": event_id,
                "eventTime": stamp(Utc::now()),
                "contentType": "application/json",
                "data": { "events": chunk },
            }),
            event_id,
        };
        if options.duplicate_every_batch {
            batches.push(batch.clone());
        }
        batches.push(batch);
    }
    report.batches = batches.len();
    Some((config, batches, report))
}

impl OktaSim {
    /// Registers the org's event hook: sends the one-time verification GET with an
    /// `x-okta-verification-challenge` header and requires `200 {"verification": <challenge>}`.
    /// Only a verified hook receives events, and only events that happen from then on.
    pub async fn register_event_hook(&self, url: &str, authorization: &str) -> Result<(), OktaSimError> {
        let (hook_id, challenge) = self.with(|s| (okta_id(&mut s.rng, "who"), s.new_uuid()));
        let result = self.verify(url, authorization, &challenge).await;
        self.with(|s| {
            let target = vec![hook_target(&hook_id, url)];
            match &result {
                Ok(()) => {
                    s.hooks.config = Some(HookConfig { id: hook_id.clone(), url: url.into(), authorization: authorization.into() });
                    s.log("event_hook.verified", target, json!({}));
                }
                Err(e) => s.log_with_outcome("event_hook.verified", target, json!({}), "FAILURE", Some(&e.to_string())),
            }
        });
        result
    }

    async fn verify(&self, url: &str, authorization: &str, challenge: &str) -> Result<(), OktaSimError> {
        let fail = |why: String| OktaSimError::HookVerification(why);
        let resp = self
            .http
            .get(url)
            .header("x-okta-verification-challenge", challenge)
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, authorization)
            .timeout(HOOK_TIMEOUT)
            .send()
            .await
            .map_err(|e| fail(format!("the endpoint could not be reached: {e}")))?;
        if resp.status().as_u16() != 200 {
            return Err(fail(format!("the endpoint answered {}", resp.status().as_u16())));
        }
        let body: Value = resp.json().await.map_err(|_| fail("the answer is not JSON".into()))?;
        match body.get("verification").and_then(Value::as_str) {
            Some(echo) if echo == challenge => Ok(()),
            _ => Err(fail("the answer does not echo the challenge as {\"verification\": ...}".into())),
        }
    }

    pub fn hook_options(&self, options: HookOptions) {
        self.with(|s| s.hooks.options = options);
    }

    /// Every delivery attempt so far, oldest first.
    pub fn hook_deliveries(&self) -> Vec<HookAttempt> {
        self.with(|s| s.hooks.attempts.clone())
    }

    /// Delivers the queued events now. A served simulator also does this every ~100 ms.
    pub async fn deliver_pending_hooks(&self) -> HookReport {
        let Some((config, batches, mut report)) = self.with(plan) else { return HookReport::default() };
        for batch in &batches {
            if self.deliver_batch(&config, batch, &mut report).await {
                report.delivered += 1;
            } else {
                report.failed += 1;
            }
        }
        report
    }

    async fn deliver_batch(&self, config: &HookConfig, batch: &Batch, report: &mut HookReport) -> bool {
        for attempt in 1..=2u8 {
            let outcome = self.post(config, &batch.body).await;
            report.attempts += 1;
            let delivered = matches!(outcome, HookOutcome::Status(code) if (200..300).contains(&code));
            let retry = match &outcome {
                HookOutcome::Status(code) => (500..600).contains(code),
                HookOutcome::TimedOut | HookOutcome::Failed(_) => true,
            };
            let reason = format!("{outcome:?}");
            self.with(|s| {
                s.hooks.attempts.push(HookAttempt {
                    event_id: batch.event_id.clone(),
                    attempt,
                    event_types: batch.event_types.clone(),
                    event_uuids: batch.event_uuids.clone(),
                    outcome,
                    at: Utc::now(),
                })
            });
            if delivered {
                return true;
            }
            if !retry || attempt == 2 {
                // Okta records its failed deliveries in the System Log (not itself deliverable).
                self.with(|s| {
                    let debug = json!({ "eventId": batch.event_id });
                    s.log_with_outcome("event_hook.delivery", vec![hook_target(&config.id, &config.url)], debug, "FAILURE", Some(&reason))
                });
                break;
            }
        }
        false
    }

    async fn post(&self, config: &HookConfig, body: &Value) -> HookOutcome {
        // `.json` sets `Content-Type: application/json`.
        let sent = self
            .http
            .post(&config.url)
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, &config.authorization)
            .json(body)
            .timeout(HOOK_TIMEOUT)
            .send()
            .await;
        match sent {
            Ok(resp) => HookOutcome::Status(resp.status().as_u16()),
            Err(e) if e.is_timeout() => HookOutcome::TimedOut,
            Err(e) => HookOutcome::Failed(e.to_string()),
        }
    }
}
