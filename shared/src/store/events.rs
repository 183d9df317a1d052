//! Inbound events and their webhook deliveries (design.md §9): an event is
//! written once, with a pending delivery per matching subscription, in one
//! write that is also WeChat's retry dedupe (a conditional put on the event's
//! stable id); deliveries are queue items worked under a lease, their retries
//! found again by due time; the tenant's feed reads the same records in order.
//!
//! A delivery's lease and its next attempt are one field, `due_at`: a claim
//! moves it [`DELIVERY_LEASE_SECS`] ahead, so a worker that dies mid-attempt
//! leaves an item that is simply due again, and a retry hours ahead is a
//! record with a later `due_at`, not anything held in memory.
//!
//! A new delivery may be written already leased to the worker that will be
//! told of it (`serve`'s delivery loop, or the stream on AWS): its first
//! attempt then needs no claim, one write (the result) instead of two, and if
//! that worker never makes it the delivery is due when the lease ends.

use super::{Page, StoreResult};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How long a claim holds a delivery (a webhook call takes at most 10 s).
pub const DELIVERY_LEASE_SECS: u64 = 60;
/// Attempts kept on a delivery record (each at most ~1.2 KiB).
pub const MAX_RECORDED_ATTEMPTS: usize = 20;
/// Subscriptions one event may be delivered to (one write of the event and
/// its deliveries: DynamoDB's 100 items per transaction).
pub const MAX_DELIVERIES_PER_EVENT: usize = 99;

/// One event, as stored and as delivered (`data` is the JSON object sent).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// `evt_…`, derived from the push's identity: WeChat's retry has the same id.
    pub id: String,
    /// `message.text`, `event.subscribe`, `authorizer.revoked`, …
    pub event_type: String,
    pub appid: String,
    /// The authorizer's tenant when the event arrived; `None` while unbound.
    pub tenant: Option<String>,
    pub created_at: u64,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub expires_at: u64,
}

impl EventRecord {
    /// The feed's order: acceptance second, then id. Also the feed's cursor.
    pub fn feed_key(&self) -> String {
        feed_key(self.created_at, &self.id)
    }
}

/// The position of an event in its tenant's feed.
pub fn feed_key(created_at: u64, id: &str) -> String {
    format!("{created_at:010}.{id}")
}

/// An event is written with its deliveries in one write, so it may go to at
/// most [`MAX_DELIVERIES_PER_EVENT`] subscriptions; both stores refuse more.
pub fn check_delivery_count(webhook_ids: &[String]) -> StoreResult<()> {
    if webhook_ids.len() > MAX_DELIVERIES_PER_EVENT {
        return Err(super::StoreError::Invalid(format!(
            "an event is delivered to at most {MAX_DELIVERIES_PER_EVENT} subscriptions"
        )));
    }
    Ok(())
}

/// A feed cursor is a feed key: ten digits, a dot, an event id.
pub fn check_feed_cursor(cursor: &str) -> StoreResult<()> {
    let ok = cursor.len() <= 64
        && cursor.as_bytes().get(10) == Some(&b'.')
        && cursor[..10].bytes().all(|b| b.is_ascii_digit())
        && cursor[11..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(super::StoreError::Invalid("malformed feed cursor".into()))
    }
}

/// A delivery of one event to one subscription: the queue item's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryRef {
    pub event_id: String,
    pub webhook_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt (`due_at`), or being attempted.
    Pending,
    Succeeded,
    /// Every retry failed; replayable with a redelivery.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "succeeded" => Some(DeliveryState::Succeeded),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Unix seconds when it started.
    pub at: u64,
    /// The receiver's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why it did not succeed (`timed out`, `HTTP 500`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The first 1 KiB of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub webhook_id: String,
    pub tenant: Option<String>,
    pub state: DeliveryState,
    /// When it may next be attempted (or when the current attempt's lease ends).
    pub due_at: u64,
    /// Attempts made so far (all of them, even past the recorded ones).
    pub attempt_count: u32,
    /// The last [`MAX_RECORDED_ATTEMPTS`] attempts, oldest first.
    pub attempts: Vec<Attempt>,
    pub lease_owner: Option<String>,
    pub expires_at: u64,
}

impl Delivery {
    /// A new delivery of `event` to `webhook_id`: pending and due at once,
    /// or, with `leased_to`, held by that worker for [`DELIVERY_LEASE_SECS`].
    pub fn new(event: &EventRecord, webhook_id: &str, leased_to: Option<&str>) -> Delivery {
        Delivery {
            event_id: event.id.clone(),
            webhook_id: webhook_id.to_owned(),
            tenant: event.tenant.clone(),
            state: DeliveryState::Pending,
            due_at: match leased_to {
                Some(_) => event.created_at.saturating_add(DELIVERY_LEASE_SECS),
                None => event.created_at,
            },
            attempt_count: 0,
            attempts: Vec::new(),
            lease_owner: leased_to.map(str::to_owned),
            expires_at: event.expires_at,
        }
    }

    /// The attempts after `attempt`: appended, the oldest dropped past
    /// [`MAX_RECORDED_ATTEMPTS`].
    pub fn attempts_after(&self, attempt: &Attempt) -> Vec<Attempt> {
        let mut all = self.attempts.clone();
        all.push(attempt.clone());
        let excess = all.len().saturating_sub(MAX_RECORDED_ATTEMPTS);
        all.drain(..excess);
        all
    }

    pub fn reference(&self) -> DeliveryRef {
        DeliveryRef {
            event_id: self.event_id.clone(),
            webhook_id: self.webhook_id.clone(),
        }
    }
}

/// Result of claiming a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryClaim {
    Claimed(Delivery),
    /// Not due yet, or leased by another worker.
    NotDue,
    /// Succeeded or failed: nothing to do.
    Finished,
    NotFound,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    RetryAt(u64),
    Failed,
}

/// Result of recording an attempt under the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptRecorded {
    Saved,
    /// The lease ran out and another worker claimed it: nothing written.
    LostLease,
}

/// The feed's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedQuery {
    pub tenant: String,
    /// A feed key: events strictly after it.
    pub after: Option<String>,
    /// Only events created at or before this second (the feed's settle time).
    pub until: u64,
    /// Exact type, or a `prefix.*` pattern.
    pub event_type: Option<String>,
    pub appid: Option<String>,
    pub limit: u32,
}

impl FeedQuery {
    /// Whether `event` passes the type and appid filters.
    pub fn matches(&self, event: &EventRecord) -> bool {
        let type_ok = self
            .event_type
            .as_deref()
            .is_none_or(|p| type_filter_matches(p, &event.event_type));
        let appid_ok = self.appid.as_deref().is_none_or(|a| a == event.appid);
        type_ok && appid_ok
    }
}

/// Whether a type filter (`*`, `message.*`, an exact type) matches a type.
pub fn type_filter_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => prefix.ends_with('.') && event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores `event` and a pending delivery, due at `event.created_at`, for
    /// each of `webhook_ids`, in one write conditional on the event id being
    /// new. False (and nothing written) when it exists: WeChat retried.
    async fn record_event(&self, event: &EventRecord, webhook_ids: &[String]) -> StoreResult<bool> {
        self.record_event_leased(event, webhook_ids, None).await
    }
    /// [`EventStore::record_event`], each delivery written as
    /// [`Delivery::new`] makes it: with `leased_to`, held by that worker
    /// (which records its first attempt without claiming it).
    async fn record_event_leased(
        &self,
        event: &EventRecord,
        webhook_ids: &[String],
        leased_to: Option<&str>,
    ) -> StoreResult<bool>;
    async fn get_event(&self, id: &str, now: u64) -> StoreResult<Option<EventRecord>>;
    /// The event's deliveries, by webhook id.
    async fn list_deliveries(&self, event_id: &str) -> StoreResult<Vec<Delivery>>;
    /// The tenant's unexpired events after `query.after`, in feed order, at
    /// most `query.limit` matching the filters. `next` is the feed key of the
    /// last event looked at, so a follower resumes there even when the filters
    /// matched nothing; `None` when nothing was looked at.
    async fn feed(&self, query: &FeedQuery, now: u64) -> StoreResult<Page<EventRecord>>;
    /// Pending deliveries due at `now` (new, retries whose time has come,
    /// and those whose worker died mid-attempt), soonest first.
    async fn due_deliveries(&self, now: u64, limit: u32) -> StoreResult<Vec<DeliveryRef>>;
    /// Takes the delivery if pending and due: moves `due_at` to `lease_until`
    /// and records `owner`.
    async fn claim_delivery(
        &self,
        delivery: &DeliveryRef,
        owner: &str,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<DeliveryClaim>;
    /// Appends `attempt` to the `claimed` delivery's (keeping the last
    /// [`MAX_RECORDED_ATTEMPTS`]) and applies `next`, clearing the lease;
    /// conditional on `owner` still holding it (under the lease nobody else
    /// changes the attempts, so the claimed copy is the current one).
    async fn record_attempt(
        &self,
        claimed: &Delivery,
        owner: &str,
        attempt: &Attempt,
        next: NextStep,
    ) -> StoreResult<AttemptRecorded>;
    /// Gives the lease back (a worker stopping): due again at `now`.
    async fn release_delivery(
        &self,
        delivery: &DeliveryRef,
        owner: &str,
        now: u64,
    ) -> StoreResult<()>;
    /// Makes the delivery of `event` to `webhook_id` pending and due at `now`,
    /// creating it if the subscription had none (a redelivery). Attempts are kept.
    async fn redeliver(&self, event: &EventRecord, webhook_id: &str, now: u64) -> StoreResult<()>;
    /// Deletes up to `limit` events expired at `now` with their deliveries;
    /// how many events went. DynamoDB's TTL does this by itself (0 here);
    /// SQLite has no TTL, so `serve` calls it now and then.
    async fn purge_expired_events(&self, now: u64, limit: u32) -> StoreResult<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_goes_to_at_most_ninety_nine_subscriptions() {
        let ids = |n: usize| (0..n).map(|i| format!("wh_{i}")).collect::<Vec<_>>();
        assert!(check_delivery_count(&ids(MAX_DELIVERIES_PER_EVENT)).is_ok());
        let refused = check_delivery_count(&ids(MAX_DELIVERIES_PER_EVENT + 1));
        assert!(
            matches!(&refused, Err(crate::store::StoreError::Invalid(m)) if m.contains("at most 99")),
            "{refused:?}"
        );
    }

    #[test]
    fn feed_keys_sort_by_time_then_id_and_check_as_cursors() {
        assert!(feed_key(9, "evt_b") < feed_key(10, "evt_a"));
        assert!(feed_key(10, "evt_a") < feed_key(10, "evt_b"));
        assert!(check_feed_cursor(&feed_key(1_700_000_000, "evt_0af3")).is_ok());
        for bad in [
            "",
            "1700000000",
            "17000000x0.evt",
            "1700000000-evt",
            "1700000000.e'v",
        ] {
            assert!(check_feed_cursor(bad).is_err(), "{bad}");
        }
    }
}
