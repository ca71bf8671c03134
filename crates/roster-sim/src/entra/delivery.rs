//! Delivering change notifications the way Graph does.
//!
//! A background task (started with the server) POSTs queued notifications to their URLs in
//! batches of up to 100, waking on every change and polling every ~10 ms for retries. A POST
//! counts as delivered on a 2xx within 3 s; otherwise its notifications are retried with
//! exponential back-off (5 s, doubling, capped at 10 min) for 4 hours, then dropped. An
//! endpoint that answers slowly (over 2.9 s) for 10 % of its notifications in a 10-minute
//! window gets every notification 10 minutes late; at 15 % they are dropped. Back-off, the
//! window and the 4 hours run on the simulator's clock, so tests can skip through them.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};
use rand::seq::SliceRandom;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::clock::graph_time;
use super::notify::Pending;
use super::{EntraSim, SimError, SimState, MAX_RECORDS};

/// Graph's delivery rules; tests shrink the real-time ones so they run fast.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationConfig {
    /// How long a validation request may take (10 s).
    pub validation_timeout: Duration,
    /// How long a delivery may take before it counts as failed (3 s).
    pub response_timeout: Duration,
    /// An answer slower than this is "slow" (2,900 ms).
    pub slow_threshold: Duration,
    /// The slow-endpoint tally covers this much time on the sim clock, then resets (10 min).
    pub slow_window: Duration,
    /// The rule applies once this many notifications were sent in the window (100).
    pub slow_minimum: usize,
    /// How late notifications to a slow endpoint come (10 min, sim clock).
    pub slow_delay: Duration,
    /// First retry after this long, doubling each time (5 s, sim clock).
    pub first_retry: Duration,
    /// Back-off cap (10 min).
    pub max_backoff: Duration,
    /// Retries stop this long after the first attempt (4 h).
    pub retry_for: Duration,
    /// Notifications per POST (100).
    pub batch_size: usize,
    /// How often the queue is checked for due retries (10 ms, real time).
    pub poll_interval: Duration,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            validation_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(3),
            slow_threshold: Duration::from_millis(2_900),
            slow_window: Duration::from_secs(600),
            slow_minimum: 100,
            slow_delay: Duration::from_secs(600),
            first_retry: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            retry_for: Duration::from_secs(4 * 3600),
            batch_size: 100,
            poll_interval: Duration::from_millis(10),
        }
    }
}

/// How an endpoint answered one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Status(u16),
    /// No answer within the response timeout.
    TimedOut,
    /// No answer at all (connection refused, reset ...).
    Failed(String),
}

impl DeliveryOutcome {
    pub fn is_success(&self) -> bool {
        matches!(self, DeliveryOutcome::Status(code) if (200..300).contains(code))
    }
}

/// One POST to a notification (or lifecycle) URL, for tests and benchmarks.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub url: String,
    /// Notifications in the POST.
    pub notifications: usize,
    pub subscription_ids: Vec<String>,
    /// The object each notification named (`resourceData.id`), in the order sent.
    pub resource_ids: Vec<String>,
    pub outcome: DeliveryOutcome,
    /// When the POST started (real time): the start of a notification's latency.
    pub sent_at: SystemTime,
    /// How long the answer took.
    pub elapsed: Duration,
    /// 1 for the first attempt, 2 for the first retry ...
    pub attempt: u32,
    /// The extra copy of the duplicate-delivery fault.
    pub duplicate: bool,
    /// A lifecycle notification rather than a change notification.
    pub lifecycle: bool,
}

#[derive(Debug, Clone, Copy)]
struct SlowWindow {
    start: DateTime<Utc>,
    sent: usize,
    slow: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Send,
    Delay,
    Drop,
}

/// Queued notifications, the delivery log and the per-URL slow tallies.
#[derive(Debug, Default)]
pub struct NotifyState {
    pub config: NotificationConfig,
    pub queue: VecDeque<Pending>,
    /// The change-log version fanned out so far.
    pub fanned_version: u64,
    pub last_sequence: i64,
    /// Notifications being POSTed right now.
    pub in_flight: usize,
    pub dropped: usize,
    pub records: Vec<DeliveryRecord>,
    windows: HashMap<String, SlowWindow>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl NotifyState {
    fn window(&mut self, url: &str, now: DateTime<Utc>) -> &mut SlowWindow {
        let length = delta(self.config.slow_window);
        let window = self.windows.entry(url.to_string()).or_insert(SlowWindow { start: now, sent: 0, slow: 0 });
        if now - window.start >= length {
            *window = SlowWindow { start: now, sent: 0, slow: 0 };
        }
        window
    }

    fn verdict(&mut self, url: &str, now: DateTime<Utc>) -> Verdict {
        let minimum = self.config.slow_minimum;
        let window = *self.window(url, now);
        if window.sent == 0 || window.sent < minimum {
            return Verdict::Send;
        }
        // Whole numbers: 15 % and 10 % exactly count, without float rounding.
        match window.slow * 100 {
            n if n >= window.sent * 15 => Verdict::Drop,
            n if n >= window.sent * 10 => Verdict::Delay,
            _ => Verdict::Send,
        }
    }

    fn push_record(&mut self, record: DeliveryRecord) {
        if self.records.len() >= MAX_RECORDS {
            self.records.drain(..MAX_RECORDS / 2);
        }
        self.records.push(record);
    }
}

/// One POST's worth of notifications.
struct Batch {
    items: Vec<Pending>,
    duplicate: bool,
}

/// The POSTs for one URL, sent one after the other.
struct Job {
    url: String,
    batches: Vec<Batch>,
    timeout: Duration,
}

/// POSTs in flight to one URL at most. Graph promises no order, and sends in parallel; a few at
/// a time keeps a slow receiver from delaying every change behind one answer, while what
/// arrives during a burst still collects into batches.
pub const PARALLEL_POSTS_PER_URL: usize = 4;

/// Takes the due notifications off the queue and cuts them into POSTs, URL by URL; a URL with
/// [`PARALLEL_POSTS_PER_URL`] POSTs running waits for one to finish.
fn plan(s: &mut SimState, busy: &HashMap<String, usize>) -> Vec<Job> {
    let now = s.clock.now();
    s.subs.prune(now);
    // Notifications of expired or lost subscriptions go with them.
    let before = s.notify.queue.len();
    let subs = &s.subs.by_id;
    s.notify.queue.retain(|p| subs.contains_key(&p.subscription_id));
    s.notify.dropped += before - s.notify.queue.len();
    if s.faults.pause_notifications || s.notify.queue.is_empty() {
        return Vec::new();
    }
    let mut by_url: Vec<(String, Vec<Pending>)> = Vec::new();
    let mut waiting = VecDeque::new();
    for p in s.notify.queue.drain(..) {
        if p.due > now || busy.get(&p.url).is_some_and(|n| *n >= PARALLEL_POSTS_PER_URL) {
            waiting.push_back(p);
        } else if let Some((_, list)) = by_url.iter_mut().find(|(url, _)| *url == p.url) {
            list.push(p);
        } else {
            by_url.push((p.url.clone(), vec![p]));
        }
    }
    s.notify.queue = waiting;
    let config = s.notify.config.clone();
    let mut jobs = Vec::new();
    for (url, items) in by_url {
        let verdict = s.notify.verdict(&url, now);
        if verdict == Verdict::Drop {
            s.notify.dropped += items.len();
            continue;
        }
        let mut ready = Vec::new();
        for mut p in items {
            if p.first_attempt.is_some_and(|first| now - first > delta(config.retry_for)) {
                s.notify.dropped += 1;
            } else if verdict == Verdict::Delay && !p.delayed {
                p.delayed = true;
                p.due = now + delta(config.slow_delay);
                s.notify.queue.push_back(p);
            } else {
                p.first_attempt.get_or_insert(now);
                ready.push(p);
            }
        }
        if ready.is_empty() {
            continue;
        }
        // One POST holds notifications of the same attempt, at most `batch_size` of them.
        ready.sort_by_key(|p| p.failures);
        let mut batches: Vec<Batch> = Vec::new();
        for p in ready {
            match batches.last_mut() {
                Some(b) if b.items.len() < config.batch_size.max(1) && b.items.first().is_some_and(|f| f.failures == p.failures) => b.items.push(p),
                _ => batches.push(Batch { items: vec![p], duplicate: false }),
            }
        }
        s.notify.in_flight += batches.iter().map(|b| b.items.len()).sum::<usize>();
        if s.faults.reorder_notifications {
            for batch in &mut batches {
                batch.items.shuffle(&mut s.rng);
            }
            batches.reverse();
        }
        if s.faults.duplicate_notifications {
            // Each POST goes out twice: the original, then a copy in a POST of its own.
            batches = batches
                .into_iter()
                .flat_map(|b| {
                    let copy = Batch { items: b.items.clone(), duplicate: true };
                    [b, copy]
                })
                .collect();
        }
        jobs.push(Job { url, batches, timeout: config.response_timeout });
    }
    jobs
}

fn backoff(config: &NotificationConfig, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1));
    config.first_retry.saturating_mul(factor).min(config.max_backoff)
}

/// Books one POST's outcome: the log, the slow tally, and the retry schedule on failure.
fn settle(s: &mut SimState, url: &str, batch: Batch, outcome: DeliveryOutcome, sent_at: SystemTime, elapsed: Duration) {
    let now = s.clock.now();
    let n = batch.items.len();
    s.notify.push_record(DeliveryRecord {
        url: url.to_string(),
        notifications: n,
        subscription_ids: batch.items.iter().map(|p| p.subscription_id.clone()).collect(),
        resource_ids: batch.items.iter().map(|p| p.resource_id.clone()).collect(),
        outcome: outcome.clone(),
        sent_at,
        elapsed,
        attempt: batch.items.first().map_or(1, |p| p.failures + 1),
        duplicate: batch.duplicate,
        lifecycle: false,
    });
    let slow = elapsed > s.notify.config.slow_threshold || outcome == DeliveryOutcome::TimedOut;
    let window = s.notify.window(url, now);
    window.sent += n;
    if slow {
        window.slow += n;
    }
    if batch.duplicate {
        return;
    }
    s.notify.in_flight = s.notify.in_flight.saturating_sub(n);
    if outcome.is_success() {
        return;
    }
    let late = s.notify.verdict(url, now) != Verdict::Send;
    let config = s.notify.config.clone();
    for mut p in batch.items {
        p.failures += 1;
        let mut wait = backoff(&config, p.failures);
        // An endpoint under the slow rule gets its failed notifications retried 10 min later.
        if late {
            wait = wait.max(config.slow_delay);
        }
        p.due = now + delta(wait);
        s.notify.queue.push_back(p);
    }
}

impl EntraSim {
    async fn post_json(&self, url: &str, body: &Value, timeout: Duration) -> (DeliveryOutcome, SystemTime, Duration) {
        let sent_at = SystemTime::now();
        let started = Instant::now();
        let outcome = match self.http.post(url).json(body).timeout(timeout).send().await {
            Ok(resp) => DeliveryOutcome::Status(resp.status().as_u16()),
            Err(e) if e.is_timeout() => DeliveryOutcome::TimedOut,
            Err(e) => DeliveryOutcome::Failed(e.to_string()),
        };
        (outcome, sent_at, started.elapsed())
    }

    async fn send_job(&self, job: Job) {
        for batch in job.batches {
            let value: Vec<Value> = batch.items.iter().map(|p| p.body.clone()).collect();
            let (outcome, sent_at, elapsed) = self.post_json(&job.url, &json!({ "value": value }), job.timeout).await;
            self.with(|s| settle(s, &job.url, batch, outcome, sent_at, elapsed));
        }
    }

    /// Every POST made so far (change and lifecycle notifications), oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.with(|s| s.notify.records.clone())
    }

    pub fn clear_deliveries(&self) {
        self.with(|s| s.notify.records.clear());
    }

    /// Notifications not yet delivered: queued, waiting for a retry or being sent.
    pub fn pending_notifications(&self) -> usize {
        self.with(|s| s.notify.queue.len() + s.notify.in_flight)
    }

    /// Notifications given up on: after 4 hours of retries, by the slow-endpoint rule, or
    /// with their subscription when it expired or was lost.
    pub fn dropped_notifications(&self) -> usize {
        self.with(|s| s.notify.dropped)
    }

    pub fn notification_config(&self) -> NotificationConfig {
        self.with(|s| s.notify.config.clone())
    }

    /// Replaces the delivery rules (Graph's by default), e.g. a 50 ms slow threshold in tests.
    pub fn set_notification_config(&self, config: NotificationConfig) {
        self.with(|s| s.notify.config = config);
        self.wake.notify_one();
    }

    /// POSTs a lifecycle notification (`reauthorizationRequired` is the only one users and
    /// groups have) to the subscription's lifecycle URL, or its notification URL without one.
    pub async fn send_lifecycle(&self, subscription_id: &str, event: &str) -> Result<DeliveryRecord, SimError> {
        let (url, body, timeout) = self.with(|s| {
            let now = s.clock.now();
            s.subs.prune(now);
            let sub = s.subs.by_id.get(subscription_id).ok_or_else(|| SimError::UnknownSubscription(subscription_id.into()))?;
            let body = json!({ "value": [{
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": graph_time(sub.expires),
                "tenantId": s.tenant.id,
                "clientState": sub.client_state,
                "lifecycleEvent": event,
            }]});
            let url = sub.lifecycle_url.clone().unwrap_or_else(|| sub.notification_url.clone());
            Ok((url, body, s.notify.config.response_timeout))
        })?;
        let (outcome, sent_at, elapsed) = self.post_json(&url, &body, timeout).await;
        let record = DeliveryRecord {
            url,
            notifications: 1,
            subscription_ids: vec![subscription_id.to_string()],
            resource_ids: Vec::new(),
            outcome,
            sent_at,
            elapsed,
            attempt: 1,
            duplicate: false,
            lifecycle: true,
        };
        self.with(|s| s.notify.push_record(record.clone()));
        Ok(record)
    }
}

/// The delivery task: plans POSTs whenever woken (a change, the clock) or every poll interval,
/// and sends them on tasks of their own so one slow endpoint holds up no other. The sending
/// tasks live in a `JoinSet`, so aborting this task stops them too.
pub fn spawn(sim: EntraSim) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut busy: HashMap<tokio::task::Id, String> = HashMap::new();
        loop {
            while let Some(done) = tasks.try_join_next_with_id() {
                busy.remove(&done.map_or_else(|e| e.id(), |(id, ())| id));
            }
            let mut urls: HashMap<String, usize> = HashMap::new();
            for url in busy.values() {
                *urls.entry(url.clone()).or_default() += 1;
            }
            let (jobs, poll) = sim.with(|s| (plan(s, &urls), s.notify.config.poll_interval));
            for job in jobs {
                let url = job.url.clone();
                let sender = sim.clone();
                let handle = tasks.spawn(async move { sender.send_job(job).await });
                busy.insert(handle.id(), url);
            }
            tokio::select! {
                () = sim.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    busy.remove(&done.map_or_else(|e| e.id(), |(id, ())| id));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_up_to_ten_minutes() {
        let config = NotificationConfig::default();
        let waits: Vec<u64> = (1..=9).map(|n| backoff(&config, n).as_secs()).collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(backoff(&config, 40).as_secs(), 600);
    }

    #[test]
    fn slow_verdicts_need_a_hundred_notifications() {
        let mut state = NotifyState::default();
        let now = Utc::now();
        let url = "http://127.0.0.1:1/hook";
        *state.window(url, now) = SlowWindow { start: now, sent: 99, slow: 99 };
        assert_eq!(state.verdict(url, now), Verdict::Send);
        *state.window(url, now) = SlowWindow { start: now, sent: 100, slow: 10 };
        assert_eq!(state.verdict(url, now), Verdict::Delay);
        *state.window(url, now) = SlowWindow { start: now, sent: 100, slow: 15 };
        assert_eq!(state.verdict(url, now), Verdict::Drop);
        *state.window(url, now) = SlowWindow { start: now, sent: 100, slow: 9 };
        assert_eq!(state.verdict(url, now), Verdict::Send);
        let later = now + TimeDelta::minutes(10);
        *state.window(url, now) = SlowWindow { start: now, sent: 100, slow: 50 };
        assert_eq!(state.verdict(url, later), Verdict::Send, "the tally resets every 10 minutes");
    }
}
