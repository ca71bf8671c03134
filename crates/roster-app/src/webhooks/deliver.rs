//! The delivery worker. Every tick it leases the endpoints that are due and delivers each one's
//! next events in its own task, so a slow or failing endpoint holds up nobody else. Within an
//! endpoint, each person's (or team's) events go in commit order, several people at once. An
//! event is posted until the endpoint answers 2xx; the cursor moves past what was delivered. A failure is retried
//! with back-off (5 s, doubling, at most an hour apart) for three days, then the endpoint is
//! disabled and the organisation's owners and admins are e-mailed.

use super::{address, secrets, signing, GIVE_UP_AFTER_DAYS};
use crate::jobs::supervisor::Signals;
use crate::App;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use roster_store::{OutboundEvent, WebhookDelivery, WebhookEndpoint, WebhookRetry};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How often due endpoints are looked for: an event reaches its endpoints within about this.
const TICK: Duration = Duration::from_millis(50);
/// Endpoints delivering at once in this process.
const IN_FLIGHT: usize = 32;
/// Requests one endpoint gets at once, each about a different person or team.
const LANES: usize = 16;
/// One endpoint's turn: this many events, for at most this long, then others get a turn.
const BATCH: u32 = 100;
const TURN: Duration = Duration::from_secs(30);
/// Longer than a turn, so a lease never lapses while its turn runs.
const LEASE_SECS: i64 = 90;
/// One request's limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer the delivery log keeps.
const RESPONSE_KEPT: usize = 500;

/// The client deliveries go through: a time limit, and no redirects (one could lead to an
/// address the checks refused).
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(REQUEST_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build()
}

/// Deliver until the process stops.
pub async fn deliver_forever(app: App, signals: Signals) {
    let client = match client() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "webhooks cannot be delivered: no HTTP client");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut turns = tokio::task::JoinSet::new();
    while signals.pause(TICK).await {
        while turns.try_join_next().is_some() {}
        let free = slots.available_permits();
        if free == 0 {
            continue;
        }
        let now = app.clock.now();
        let endpoints = match app.store.claim_webhooks(free as u32, now, now + chrono::Duration::seconds(LEASE_SECS)).await {
            Ok(endpoints) => endpoints,
            Err(error) => {
                tracing::warn!(%error, "could not look for due webhooks");
                continue;
            }
        };
        for endpoint in endpoints {
            let Ok(slot) = slots.clone().acquire_owned().await else { break };
            let (app, client) = (app.clone(), client.clone());
            turns.spawn(async move {
                turn(&app, &client, endpoint).await;
                drop(slot);
            });
        }
    }
    // Stopping: turns in flight end here. What they sent but did not record is sent again by
    // whichever process leases the endpoint next (at least once, never lost).
    turns.abort_all();
    while turns.join_next().await.is_some() {}
}

/// Which events must keep their order: those about one person (or team, or connection).
/// Different subjects are delivered side by side.
fn lane_of(event: &OutboundEvent) -> String {
    ["/id", "/person/id", "/connection_id"]
        .iter()
        .find_map(|pointer| event.data.pointer(pointer).filter(|v| !v.is_null()).map(|v| v.to_string()))
        .unwrap_or_else(|| event.kind.clone())
}

/// How a lane ended: the first event it did not deliver, and whether that was a failure (or
/// only the turn's time running out).
struct LaneEnd {
    undelivered: Option<(i64, bool)>,
    log: Vec<WebhookDelivery>,
}

/// One lane of a turn: its events in order, until one fails or the turn's time is up.
async fn lane(app: &App, client: &reqwest::Client, endpoint: &WebhookEndpoint, events: Vec<&OutboundEvent>, started: Instant) -> LaneEnd {
    let mut log = Vec::with_capacity(events.len());
    for event in events {
        if started.elapsed() > TURN {
            return LaneEnd { undelivered: Some((event.seq, false)), log };
        }
        if post(app, client, endpoint, event, &mut log).await.is_err() {
            return LaneEnd { undelivered: Some((event.seq, true)), log };
        }
    }
    LaneEnd { undelivered: None, log }
}

/// One endpoint's turn: its next events, each person's (or team's) in commit order, up to
/// `LANES` people at once, until the events run out, one fails or the turn ends. The cursor
/// then moves to just before the first event not delivered: what was delivered after it is
/// sent again later (at least once, never lost, never out of order for one person).
pub async fn turn(app: &App, client: &reqwest::Client, endpoint: WebhookEndpoint) {
    let started = Instant::now();
    // Every kind, so that the cursor passes the events this endpoint does not want.
    let events = match app.store.event_feed(endpoint.org, endpoint.cursor_seq, &[], BATCH).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, webhook = %endpoint.id, "could not read the events to deliver");
            release(app, &endpoint, endpoint.cursor_seq).await;
            return;
        }
    };
    let Some(last) = events.last().map(|e| e.seq) else {
        release(app, &endpoint, endpoint.cursor_seq).await;
        return;
    };
    let mut lanes: Vec<Vec<&OutboundEvent>> = Vec::new();
    let mut lane_index: HashMap<String, usize> = HashMap::new();
    for event in events.iter().filter(|e| endpoint.types.is_empty() || endpoint.types.contains(&e.kind)) {
        let index = *lane_index.entry(lane_of(event)).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[index].push(event);
    }
    let runs: Vec<_> = lanes.into_iter().map(|events| lane(app, client, &endpoint, events, started)).collect();
    let ends: Vec<LaneEnd> = futures::stream::iter(runs).buffer_unordered(LANES).collect().await;
    let first_undelivered = ends.iter().filter_map(|end| end.undelivered.map(|(seq, _)| seq)).min();
    let failed = ends.iter().any(|end| matches!(end.undelivered, Some((_, true))));
    let log: Vec<WebhookDelivery> = ends.into_iter().flat_map(|end| end.log).collect();
    record(app, &endpoint, &log).await;
    let through = first_undelivered.map_or(last, |seq| seq - 1);
    if !failed {
        release(app, &endpoint, through).await;
        return;
    }
    // A failure decides when to try again; what was delivered before it stays delivered.
    let mut endpoint = endpoint;
    if through > endpoint.cursor_seq {
        let _ = app.store.webhook_advanced(endpoint.id, endpoint.cursor_seq, through, app.clock.now()).await;
        (endpoint.attempts, endpoint.failing_since) = (0, None);
    }
    give_up_or_retry(app, &endpoint).await;
}

/// The turn's attempts, in one write (before the cursor moves: a crash in between only sends
/// an event again).
async fn record(app: &App, endpoint: &WebhookEndpoint, log: &[WebhookDelivery]) {
    if let Err(error) = app.store.record_deliveries(log).await {
        tracing::warn!(%error, webhook = %endpoint.id, "could not log webhook deliveries");
    }
}

async fn release(app: &App, endpoint: &WebhookEndpoint, through: i64) {
    if let Err(error) = app.store.webhook_advanced(endpoint.id, endpoint.cursor_seq, through, app.clock.now()).await {
        tracing::warn!(%error, webhook = %endpoint.id, "could not record a webhook's progress; its events will be sent again");
    }
}

/// The body of an event's delivery.
pub fn payload(event: &OutboundEvent) -> serde_json::Value {
    serde_json::json!({
        "type": event.kind,
        "timestamp": event.at,
        "data": {
            "event_id": event.id,
            "cursor": roster_core::feed::cursor_of(event.seq),
            "occurred_at": event.at,
            "actor": event.actor,
            "run_id": event.run,
            "change": event.data,
        }
    })
}

/// Post one event and add the attempt to `log`. Ok when the endpoint answered 2xx.
async fn post(
    app: &App,
    client: &reqwest::Client,
    endpoint: &WebhookEndpoint,
    event: &OutboundEvent,
    log: &mut Vec<WebhookDelivery>,
) -> Result<(), ()> {
    let now = app.clock.now();
    let started = Instant::now();
    let outcome = send(app, client, endpoint, &event.id.to_string(), &payload(event), now).await;
    let (status, response, error) = match &outcome {
        Ok((status, body)) => (Some(i32::from(*status)), Some(body.clone()), None),
        Err(error) => (None, None, Some(error.clone())),
    };
    log.push(WebhookDelivery {
        id: Uuid::now_v7(),
        org: endpoint.org,
        endpoint: endpoint.id,
        event: event.id,
        event_type: event.kind.clone(),
        at: now,
        status,
        duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
        response,
        error,
    });
    match outcome {
        Ok((status, _)) if (200..300).contains(&status) => Ok(()),
        _ => Err(()),
    }
}

/// One signed request: the status and the start of the answer, or why there was none.
pub async fn send(
    app: &App,
    client: &reqwest::Client,
    endpoint: &WebhookEndpoint,
    message_id: &str,
    body: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(u16, String), String> {
    let url = address::check(&endpoint.url, app.config.webhook_allow_private).await?;
    let secrets = secrets(app, endpoint).map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let timestamp = now.timestamp();
    let signature = signing::signature_header(&secrets, message_id, timestamp, &body).ok_or("the endpoint's secret is damaged")?;
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "Roster-Webhooks/1")
        .header("webhook-id", message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| if e.is_timeout() { "no answer within 10 seconds".to_owned() } else { format!("could not connect: {}", e.without_url()) })?;
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    Ok((status, text.chars().take(RESPONSE_KEPT).collect()))
}

/// After a failure: try again later, or, after three days of failures, disable and tell.
async fn give_up_or_retry(app: &App, endpoint: &WebhookEndpoint) {
    let now = app.clock.now();
    let failing_since = endpoint.failing_since.unwrap_or(now);
    let attempts = u32::try_from(endpoint.attempts).unwrap_or(0).min(20);
    let delay = chrono::Duration::seconds((5i64 << attempts.min(10)).min(3600));
    let give_up = now - failing_since >= chrono::Duration::days(GIVE_UP_AFTER_DAYS);
    let retry = WebhookRetry {
        next_attempt_at: now + delay,
        failing_since,
        disable: give_up.then(|| format!("no successful delivery for {GIVE_UP_AFTER_DAYS} days")),
    };
    if let Err(error) = app.store.webhook_failed(endpoint.id, &retry).await {
        tracing::warn!(%error, webhook = %endpoint.id, "could not record a failed webhook delivery");
        return;
    }
    if give_up {
        tracing::warn!(webhook = %endpoint.id, "a webhook endpoint failed for days and was disabled");
        if let Ok(people) = crate::provision::guard::owners_and_admins(app, endpoint.org).await {
            for person in people {
                let email = roster_store::OutgoingEmail::WebhookDisabled {
                    to: person.email.clone(),
                    name: person.display_name(),
                    person: person.id,
                    url: endpoint.url.clone(),
                };
                if let Err(error) = app.store.enqueue_email(endpoint.org, &email, now).await {
                    tracing::warn!(%error, "could not queue the e-mail about a disabled webhook");
                }
            }
        }
    }
}
