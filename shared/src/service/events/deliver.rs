//! Webhook delivery (issue #15): one attempt of one delivery under its lease
//! (claimed, or leased to this worker when its event was recorded: see
//! `announce`). Who works deliveries, and when, is `workers`.
//!
//! An attempt is a signed POST of the event's JSON with a 10 s budget for the
//! whole exchange; the answer is read to at most 64 KiB (the first 1 KiB is
//! recorded). Any 2xx succeeds. Otherwise the delivery is due again after the
//! next step of [`BACKOFF_SECS`] (with jitter), and after the last one it is
//! `failed` and stays replayable. The retry is the stored `due_at`, so it
//! survives any process; a worker that dies mid-attempt leaves a lease that
//! simply runs out.

use super::announce::STREAM_OWNER;
use super::model::EventBody;
use super::signing::{signature_header, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER};
use super::webhooks::{policy, signing_secrets};
use crate::app::App;
use crate::outbound;
#[cfg(test)]
use crate::outbound::Policy;
use crate::store::{
    Attempt, AttemptRecorded, Delivery, DeliveryClaim, DeliveryRef, DeliveryState, EventRecord,
    NextStep, StoreError, Webhook, DELIVERY_LEASE_SECS,
};
use crate::telemetry;
use std::time::{Duration, Instant};

/// The whole exchange with a receiver.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The most of an answer recorded with the attempt.
pub const RECORDED_RESPONSE_BYTES: usize = 1024;
/// Waits before the 2nd, 3rd, … attempt: 15 attempts over ~26 h.
pub const BACKOFF_SECS: [u64; 14] = [
    10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 21600, 21600, 21600, 21600,
];
/// A subscription failing continuously this long is disabled.
pub const DISABLE_AFTER_SECS: u64 = 3 * 86400;
/// How much of its lease a delivery leased when recorded must have left to be
/// attempted without a claim: the whole exchange, and room to record it.
const LEASE_MARGIN_SECS: u64 = ATTEMPT_TIMEOUT.as_secs() + 5;

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Worked {
    Succeeded,
    Retrying {
        at: u64,
    },
    Failed,
    /// Nothing done: not due, taken by another worker, or finished already.
    Skipped,
    /// The lease ran out during the attempt and another worker took it.
    LostLease,
}

/// When the delivery after `attempts` failed attempts is next tried, or `None`
/// when the retries are used up. `jitter` in 0..1 adds up to a fifth.
pub fn next_attempt(attempts: u32, now: u64, jitter: f64) -> Option<u64> {
    let wait = *BACKOFF_SECS.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    let extra = (wait as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as u64;
    Some(now.saturating_add(wait).saturating_add(extra))
}

/// The client for webhook calls under this process's policy.
pub fn client(app: &App) -> reqwest::Result<reqwest::Client> {
    outbound::client(policy(app), ATTEMPT_TIMEOUT)
}

/// Claims `reference` and, if it is due, makes one attempt and records it.
pub async fn work_one(
    app: &App,
    client: &reqwest::Client,
    reference: &DeliveryRef,
    owner: &str,
) -> Result<Worked, StoreError> {
    let now = app.now();
    let claimed = match app
        .store
        .claim_delivery(reference, owner, now, now + DELIVERY_LEASE_SECS)
        .await?
    {
        DeliveryClaim::Claimed(d) => d,
        _ => return Ok(Worked::Skipped),
    };
    load_and_attempt(app, client, &claimed, owner).await
}

/// Whether a delivery leased when it was recorded still has time for a whole
/// attempt before its lease ends (and a poller may take it).
fn lease_left(delivery: &Delivery, now: u64) -> bool {
    delivery.due_at > now.saturating_add(LEASE_MARGIN_SECS)
}

/// The first attempt of a delivery leased to this process when its event was
/// recorded (and announced on its queue): no claim, one write. Skipped when
/// too little of the lease is left; the poller takes it once it runs out.
pub async fn work_leased(
    app: &App,
    client: &reqwest::Client,
    delivery: &Delivery,
    event: &EventRecord,
    webhook: &Webhook,
) -> Result<Worked, StoreError> {
    let Some(owner) = delivery.lease_owner.as_deref() else {
        return Ok(Worked::Skipped);
    };
    if !lease_left(delivery, app.now()) {
        return Ok(Worked::Skipped);
    }
    attempt_and_record(app, client, delivery, owner, Some(event), Some(webhook)).await
}

/// The first attempt of a delivery the stream announced: without a claim when
/// it is still leased to the stream (recorded by a push), claimed otherwise
/// (a lifecycle event's, or one whose lease ran out).
pub async fn work_streamed(
    app: &App,
    client: &reqwest::Client,
    reference: &DeliveryRef,
    owner: &str,
) -> Result<Worked, StoreError> {
    let now = app.now();
    let leased = app
        .store
        .list_deliveries(&reference.event_id)
        .await?
        .into_iter()
        .find(|d| {
            d.webhook_id == reference.webhook_id
                && d.state == DeliveryState::Pending
                && d.lease_owner.as_deref() == Some(STREAM_OWNER)
                && lease_left(d, now)
        });
    match leased {
        Some(delivery) => load_and_attempt(app, client, &delivery, STREAM_OWNER).await,
        None => work_one(app, client, reference, owner).await,
    }
}

/// One attempt of `held` (by `owner`) with its event and subscription as
/// stored now (either may be gone: the attempt then records why).
async fn load_and_attempt(
    app: &App,
    client: &reqwest::Client,
    held: &Delivery,
    owner: &str,
) -> Result<Worked, StoreError> {
    let event = app.store.get_event(&held.event_id, app.now()).await?;
    let webhook = app.store.get_webhook(&held.webhook_id).await?;
    attempt_and_record(app, client, held, owner, event.as_ref(), webhook.as_ref()).await
}

/// One attempt of `claimed` (held by `owner`), recorded with what follows it.
async fn attempt_and_record(
    app: &App,
    client: &reqwest::Client,
    claimed: &Delivery,
    owner: &str,
    event: Option<&EventRecord>,
    webhook: Option<&Webhook>,
) -> Result<Worked, StoreError> {
    let now = app.now();
    let (attempt, ok) = match (event, webhook) {
        (None, _) => (refusal(now, "the event has expired"), None),
        (_, None) => (refusal(now, "the webhook was deleted"), None),
        (_, Some(w)) if w.disabled => (refusal(now, "the webhook is disabled"), None),
        (Some(event), Some(w)) => {
            let body = serde_json::to_vec(&EventBody::from(event)).map_err(|e| {
                StoreError::Invalid(format!("event {} cannot be encoded: {e}", event.id))
            })?;
            let attempt = attempt(app, client, w, &event.id, &event.event_type, &body).await;
            let ok = attempt.error.is_none();
            (attempt, Some(ok))
        }
    };
    let count = claimed.attempt_count.saturating_add(1);
    let next = match ok {
        Some(true) => NextStep::Succeeded,
        // No event or subscription to deliver to: nothing to retry.
        None => NextStep::Failed,
        Some(false) => match next_attempt(count, app.now(), rand::random::<f64>()) {
            Some(at) => NextStep::RetryAt(at),
            None => NextStep::Failed,
        },
    };
    let recorded = app
        .store
        .record_attempt(claimed, owner, &attempt, next)
        .await?;
    if recorded == AttemptRecorded::LostLease {
        tracing::warn!(event_id = %claimed.event_id, webhook_id = %claimed.webhook_id, "delivery lease ran out during the attempt; another worker has it");
        return Ok(Worked::LostLease);
    }
    log_attempt(claimed, &attempt, next, count);
    if let (Some(ok), Some(w)) = (ok, webhook) {
        track_health(app, w, ok).await;
    }
    Ok(match next {
        NextStep::Succeeded => Worked::Succeeded,
        NextStep::RetryAt(at) => Worked::Retrying { at },
        NextStep::Failed => Worked::Failed,
    })
}

fn refusal(now: u64, why: &str) -> Attempt {
    Attempt {
        at: now,
        status: None,
        latency_ms: 0,
        error: Some(why.to_owned()),
        response: None,
    }
}

fn log_attempt(d: &Delivery, attempt: &Attempt, next: NextStep, count: u32) {
    let outcome = match next {
        NextStep::Succeeded => "succeeded",
        NextStep::RetryAt(_) => "retrying",
        NextStep::Failed => "failed",
    };
    telemetry::count("Deliveries", &[("Outcome", outcome)]);
    match next {
        NextStep::Succeeded => tracing::info!(
            event_id = %d.event_id, webhook_id = %d.webhook_id, attempt = count,
            status = attempt.status, latency_ms = attempt.latency_ms, "webhook delivered"
        ),
        NextStep::RetryAt(at) => tracing::warn!(
            event_id = %d.event_id, webhook_id = %d.webhook_id, attempt = count,
            status = attempt.status, error = attempt.error.as_deref(), retry_at = at,
            "webhook delivery failed; will retry"
        ),
        NextStep::Failed => tracing::error!(
            event_id = %d.event_id, webhook_id = %d.webhook_id, attempt = count,
            status = attempt.status, error = attempt.error.as_deref(),
            "webhook delivery failed for good; replayable with a redelivery"
        ),
    }
}

/// One signed POST: `Wxopen-Signature`, `Wxopen-Event-Id`, `Wxopen-Event-Type`.
async fn attempt(
    app: &App,
    client: &reqwest::Client,
    webhook: &Webhook,
    event_id: &str,
    event_type: &str,
    body: &[u8],
) -> Attempt {
    let started_at = app.now();
    let started = Instant::now();
    let mut attempt = Attempt {
        at: started_at,
        status: None,
        latency_ms: 0,
        error: None,
        response: None,
    };
    // Checked again before every attempt: a name may resolve elsewhere now
    // (the client's resolver checks the address it connects to as well).
    if let Err(why) = outbound::check_url(&webhook.url, policy(app)).await {
        attempt.error = Some(format!("url refused: {why}"));
        return attempt;
    }
    let signature = signature_header(&signing_secrets(webhook, started_at), started_at, body);
    let sent = client
        .post(&webhook.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(EVENT_ID_HEADER, event_id)
        .header(EVENT_TYPE_HEADER, event_type)
        .body(body.to_vec())
        .send()
        .await;
    let result = match sent {
        Ok(resp) => {
            let status = resp.status();
            attempt.status = Some(status.as_u16());
            // A 2xx is success even if its body breaks off: the status is the answer.
            let answer = read_capped(resp, MAX_RESPONSE_BYTES).await;
            let shown = &answer[..answer.len().min(RECORDED_RESPONSE_BYTES)];
            attempt.response =
                (!shown.is_empty()).then(|| String::from_utf8_lossy(shown).into_owned());
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", status.as_u16()))
            }
        }
        Err(e) if e.is_timeout() => Err(format!("timed out after {}s", ATTEMPT_TIMEOUT.as_secs())),
        Err(e) if e.is_connect() => Err(format!("could not connect: {}", root_cause(&e))),
        Err(e) => Err(format!("request failed: {}", root_cause(&e))),
    };
    attempt.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    attempt.error = result.err();
    attempt
}

/// The innermost cause of a client error (no URL query, no header values).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string().chars().take(200).collect()
}

/// The answer's body, at most `cap` bytes (the rest is never read); what had
/// arrived when the body broke off.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = cap - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= cap {
            break;
        }
    }
    out
}

/// A success heals the subscription; failing continuously for
/// [`DISABLE_AFTER_SECS`] disables it (with a metric and an error log).
async fn track_health(app: &App, webhook: &Webhook, ok: bool) {
    let now = app.now();
    let change = match (ok, webhook.failing_since) {
        (true, Some(_)) => Some((None, false)),
        (true, None) => None,
        (false, None) => Some((Some(now), false)),
        (false, Some(since)) if now.saturating_sub(since) >= DISABLE_AFTER_SECS => {
            telemetry::count("WebhooksDisabled", &[]);
            tracing::error!(webhook_id = %webhook.id, failing_since = since, "webhook failing for 3 days; disabled");
            Some((Some(since), true))
        }
        (false, Some(_)) => None,
    };
    if let Some((since, disabled)) = change {
        if let Err(e) = app
            .store
            .set_webhook_health(&webhook.id, since, disabled)
            .await
        {
            tracing::warn!(webhook_id = %webhook.id, error = %e, "could not record webhook health");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A receiver answering `status` with an endless body.
    async fn endless_receiver(status: u16) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = format!("HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\n\r\n");
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let garbage = vec![b'z'; 16 * 1024];
            // Until the client hangs up: it must stop reading at the cap.
            while socket.write_all(&garbage).await.is_ok() {}
        });
        format!("http://{addr}/hook")
    }

    #[tokio::test]
    async fn an_endless_answer_is_read_to_the_cap_only() {
        let url = endless_receiver(500).await;
        let client = outbound::client(
            Policy {
                allow_private: true,
            },
            ATTEMPT_TIMEOUT,
        )
        .unwrap();
        let started = Instant::now();
        let resp = client.post(&url).body("{}").send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 500);
        let read = read_capped(resp, MAX_RESPONSE_BYTES).await;
        assert_eq!(read.len(), MAX_RESPONSE_BYTES);
        assert!(read.iter().all(|b| *b == b'z'));
        assert!(
            started.elapsed() < ATTEMPT_TIMEOUT,
            "it did not wait for the end"
        );
    }

    #[test]
    fn retries_back_off_for_more_than_a_day_then_stop() {
        assert_eq!(next_attempt(1, 1000, 0.0), Some(1010));
        assert_eq!(next_attempt(2, 1000, 0.0), Some(1030));
        assert_eq!(next_attempt(1, 1000, 1.0), Some(1012));
        let total: u64 = BACKOFF_SECS.iter().sum();
        assert!(total >= 86400, "{total}");
        assert_eq!(next_attempt(BACKOFF_SECS.len() as u32 + 1, 0, 0.0), None);
        assert_eq!(next_attempt(0, 0, 0.0), None);
    }
}
