//! `EventStore` on SQLite: an `event` table (the tenant feed is an index on
//! it) and a `delivery` table whose partial index of pending rows by `due_at`
//! is the delivery queue.

use super::rows::int;
use super::{sql_limit, SqliteStore};
use crate::store::{
    Attempt, AttemptRecorded, Delivery, DeliveryClaim, DeliveryRef, DeliveryState, EventRecord,
    EventStore, FeedQuery, NextStep, Page, StoreError, StoreResult,
};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

/// The schema of events, deliveries and webhooks (appended to the migrations).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE event (
    cappid     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    appid      TEXT    NOT NULL,
    tenant     TEXT,
    created_at INTEGER NOT NULL,
    data       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (cappid, id)
) WITHOUT ROWID;
-- The tenant feed, in feed order (created_at, id).
CREATE INDEX event_feed ON event (cappid, tenant, created_at, id) WHERE tenant IS NOT NULL;
-- SQLite has no TTL: the purge finds expired events here.
CREATE INDEX event_expiry ON event (cappid, expires_at);

CREATE TABLE delivery (
    cappid        TEXT    NOT NULL,
    event_id      TEXT    NOT NULL,
    webhook_id    TEXT    NOT NULL,
    tenant        TEXT,
    state         TEXT    NOT NULL,
    due_at        INTEGER NOT NULL,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    attempts      TEXT    NOT NULL DEFAULT '[]',
    lease_owner   TEXT,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (cappid, event_id, webhook_id)
) WITHOUT ROWID;
-- The delivery queue: pending deliveries by the time they are due.
CREATE INDEX delivery_due ON delivery (cappid, due_at, event_id, webhook_id)
    WHERE state = 'pending';

CREATE TABLE webhook (
    cappid          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    tenant          TEXT,
    url             TEXT    NOT NULL,
    events          TEXT    NOT NULL,
    reply           INTEGER NOT NULL,
    secret          TEXT    NOT NULL,
    previous_secret TEXT,
    previous_until  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    failing_since   INTEGER,
    disabled        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cappid, id)
) WITHOUT ROWID;
"#;

/// Events read per feed call at most, matching or not (a filter that matches
/// rarely still answers quickly; the cursor resumes after the last one read).
const FEED_SCAN_LIMIT: usize = 1000;

const EVENT_COLUMNS: &str = "id, type, appid, tenant, created_at, data, expires_at";
const DELIVERY_COLUMNS: &str =
    "event_id, webhook_id, tenant, state, due_at, attempt_count, attempts, lease_owner, expires_at";

fn corrupt(record: &'static str, attribute: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        record,
        attribute: attribute.to_owned(),
        reason: reason.into(),
    }
}

fn column<T: rusqlite::types::FromSql>(
    row: &Row<'_>,
    record: &'static str,
    name: &str,
) -> StoreResult<T> {
    row.get(name)
        .map_err(|e| corrupt(record, name, e.to_string()))
}

fn uint(row: &Row<'_>, record: &'static str, name: &str) -> StoreResult<u64> {
    let v: i64 = column(row, record, name)?;
    u64::try_from(v).map_err(|_| corrupt(record, name, "negative number"))
}

fn event_row(row: &Row<'_>) -> StoreResult<EventRecord> {
    const R: &str = "event";
    let data: String = column(row, R, "data")?;
    let data = match serde_json::from_str(&data) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err(corrupt(R, "data", "not a JSON object")),
    };
    Ok(EventRecord {
        id: column(row, R, "id")?,
        event_type: column(row, R, "type")?,
        appid: column(row, R, "appid")?,
        tenant: column(row, R, "tenant")?,
        created_at: uint(row, R, "created_at")?,
        data,
        expires_at: uint(row, R, "expires_at")?,
    })
}

fn delivery_row(row: &Row<'_>) -> StoreResult<Delivery> {
    const R: &str = "delivery";
    let state: String = column(row, R, "state")?;
    let attempts: String = column(row, R, "attempts")?;
    let attempt_count = uint(row, R, "attempt_count")?;
    Ok(Delivery {
        event_id: column(row, R, "event_id")?,
        webhook_id: column(row, R, "webhook_id")?,
        tenant: column(row, R, "tenant")?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| corrupt(R, "state", format!("unknown value `{state}`")))?,
        due_at: uint(row, R, "due_at")?,
        attempt_count: u32::try_from(attempt_count)
            .map_err(|_| corrupt(R, "attempt_count", "out of range"))?,
        attempts: serde_json::from_str(&attempts)
            .map_err(|e| corrupt(R, "attempts", format!("bad JSON: {e}")))?,
        lease_owner: column(row, R, "lease_owner")?,
        expires_at: uint(row, R, "expires_at")?,
    })
}

fn encode<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("cannot encode value: {e}")))
}

/// A feed key split back into (created_at, id).
fn parse_feed_key(key: &str) -> StoreResult<(i64, String)> {
    crate::store::check_feed_cursor(key)?;
    let (at, id) = key.split_at(10);
    let at: u64 = at
        .parse()
        .map_err(|_| StoreError::Invalid("malformed feed cursor".into()))?;
    Ok((int(at), id[1..].to_owned()))
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn record_event_leased(
        &self,
        event: &EventRecord,
        webhook_ids: &[String],
        leased_to: Option<&str>,
    ) -> StoreResult<bool> {
        crate::store::check_delivery_count(webhook_ids)?;
        let event = event.clone();
        let data = encode(&event.data)?;
        let deliveries: Vec<Delivery> = webhook_ids
            .iter()
            .map(|w| Delivery::new(&event, w, leased_to))
            .collect();
        self.write("record_event", move |tx, cappid| {
            // An expired event of the same id is gone for good: replaced.
            tx.prepare_cached("DELETE FROM event WHERE cappid = ?1 AND id = ?2 AND expires_at <= ?3")?
                .execute(params![cappid, event.id, int(event.created_at)])?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO event (cappid, id, type, appid, tenant, created_at, data, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (cappid, id) DO NOTHING",
                )?
                .execute(params![
                    cappid,
                    event.id,
                    event.event_type,
                    event.appid,
                    event.tenant,
                    int(event.created_at),
                    data,
                    int(event.expires_at)
                ])?;
            if inserted == 0 {
                return Ok(false);
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO delivery (cappid, event_id, webhook_id, tenant, state, due_at, lease_owner, expires_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7)
                 ON CONFLICT (cappid, event_id, webhook_id) DO UPDATE SET
                     tenant = excluded.tenant, state = 'pending', due_at = excluded.due_at,
                     attempt_count = 0, attempts = '[]', lease_owner = excluded.lease_owner,
                     expires_at = excluded.expires_at",
            )?;
            for d in &deliveries {
                insert.execute(params![
                    cappid,
                    d.event_id,
                    d.webhook_id,
                    d.tenant,
                    int(d.due_at),
                    d.lease_owner,
                    int(d.expires_at)
                ])?;
            }
            Ok(true)
        })
        .await
    }

    async fn get_event(&self, id: &str, now: u64) -> StoreResult<Option<EventRecord>> {
        let id = id.to_owned();
        self.read("get_event", move |conn, cappid| {
            conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM event WHERE cappid = ?1 AND id = ?2 AND expires_at > ?3"
            ))?
            .query_row(params![cappid, id, int(now)], |row| Ok(event_row(row)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn list_deliveries(&self, event_id: &str) -> StoreResult<Vec<Delivery>> {
        let event_id = event_id.to_owned();
        self.read("list_deliveries", move |conn, cappid| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM delivery WHERE cappid = ?1 AND event_id = ?2 ORDER BY webhook_id"
            ))?;
            let rows = stmt.query_map(params![cappid, event_id], |row| Ok(delivery_row(row)))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row??);
            }
            Ok(out)
        })
        .await
    }

    async fn feed(&self, query: &FeedQuery, now: u64) -> StoreResult<Page<EventRecord>> {
        let limit = sql_limit(query.limit)? as usize;
        let after = query.after.as_deref().map(parse_feed_key).transpose()?;
        let query = query.clone();
        self.read("feed", move |conn, cappid| {
            let (after_at, after_id) = after.unwrap_or((-1, String::new()));
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM event
                 WHERE cappid = ?1 AND tenant = ?2 AND (created_at, id) > (?3, ?4) AND created_at <= ?5
                 ORDER BY created_at, id LIMIT ?6"
            ))?;
            let rows = stmt.query_map(
                params![
                    cappid,
                    query.tenant,
                    after_at,
                    after_id,
                    int(query.until),
                    FEED_SCAN_LIMIT as i64
                ],
                |row| Ok(event_row(row)),
            )?;
            let mut items = Vec::new();
            let mut last_seen = None;
            for row in rows {
                let event = row??;
                last_seen = Some(event.feed_key());
                if event.expires_at > now && query.matches(&event) {
                    items.push(event);
                    if items.len() == limit {
                        break;
                    }
                }
            }
            Ok(Page {
                items,
                next: last_seen,
            })
        })
        .await
    }

    async fn due_deliveries(&self, now: u64, limit: u32) -> StoreResult<Vec<DeliveryRef>> {
        let limit = sql_limit(limit)?;
        self.read("due_deliveries", move |conn, cappid| {
            let mut stmt = conn.prepare_cached(
                "SELECT event_id, webhook_id FROM delivery
                 WHERE cappid = ?1 AND state = 'pending' AND due_at <= ?2 AND expires_at > ?2
                 ORDER BY due_at, event_id, webhook_id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![cappid, int(now), limit], |row| {
                Ok(DeliveryRef {
                    event_id: row.get(0)?,
                    webhook_id: row.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn claim_delivery(
        &self,
        delivery: &DeliveryRef,
        owner: &str,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<DeliveryClaim> {
        let delivery = delivery.clone();
        let owner = owner.to_owned();
        self.write("claim_delivery", move |tx, cappid| {
            let claimed = tx
                .prepare_cached(&format!(
                    "UPDATE delivery SET due_at = ?4, lease_owner = ?5
                     WHERE cappid = ?1 AND event_id = ?2 AND webhook_id = ?3
                       AND state = 'pending' AND due_at <= ?6 AND expires_at > ?6
                     RETURNING {DELIVERY_COLUMNS}"
                ))?
                .query_row(
                    params![
                        cappid,
                        delivery.event_id,
                        delivery.webhook_id,
                        int(lease_until),
                        owner,
                        int(now)
                    ],
                    |row| Ok(delivery_row(row)),
                )
                .optional()?
                .transpose()?;
            if let Some(d) = claimed {
                return Ok(DeliveryClaim::Claimed(d));
            }
            let state: Option<String> = tx
                .prepare_cached(
                    "SELECT state FROM delivery WHERE cappid = ?1 AND event_id = ?2 AND webhook_id = ?3 AND expires_at > ?4",
                )?
                .query_row(
                    params![cappid, delivery.event_id, delivery.webhook_id, int(now)],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(match state.as_deref() {
                None => DeliveryClaim::NotFound,
                Some("pending") => DeliveryClaim::NotDue,
                Some(_) => DeliveryClaim::Finished,
            })
        })
        .await
    }

    async fn record_attempt(
        &self,
        claimed: &Delivery,
        owner: &str,
        attempt: &Attempt,
        next: NextStep,
    ) -> StoreResult<AttemptRecorded> {
        let attempts = encode(&claimed.attempts_after(attempt))?;
        let (state, due_at) = match next {
            NextStep::Succeeded => (DeliveryState::Succeeded, claimed.due_at),
            NextStep::RetryAt(at) => (DeliveryState::Pending, at),
            NextStep::Failed => (DeliveryState::Failed, claimed.due_at),
        };
        let reference = claimed.reference();
        let count = claimed.attempt_count.saturating_add(1);
        let owner = owner.to_owned();
        self.write("record_attempt", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE delivery SET state = ?5, due_at = ?6, attempt_count = ?7, attempts = ?8,
                         lease_owner = NULL
                     WHERE cappid = ?1 AND event_id = ?2 AND webhook_id = ?3
                       AND state = 'pending' AND lease_owner = ?4",
                )?
                .execute(params![
                    cappid,
                    reference.event_id,
                    reference.webhook_id,
                    owner,
                    state.as_str(),
                    int(due_at),
                    i64::from(count),
                    attempts
                ])?;
            Ok(if n > 0 {
                AttemptRecorded::Saved
            } else {
                AttemptRecorded::LostLease
            })
        })
        .await
    }

    async fn release_delivery(
        &self,
        delivery: &DeliveryRef,
        owner: &str,
        now: u64,
    ) -> StoreResult<()> {
        let delivery = delivery.clone();
        let owner = owner.to_owned();
        self.write("release_delivery", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE delivery SET due_at = ?5, lease_owner = NULL
                 WHERE cappid = ?1 AND event_id = ?2 AND webhook_id = ?3
                   AND state = 'pending' AND lease_owner = ?4",
            )?
            .execute(params![
                cappid,
                delivery.event_id,
                delivery.webhook_id,
                owner,
                int(now)
            ])?;
            Ok(())
        })
        .await
    }

    async fn redeliver(&self, event: &EventRecord, webhook_id: &str, now: u64) -> StoreResult<()> {
        let event = event.clone();
        let webhook_id = webhook_id.to_owned();
        self.write("redeliver", move |tx, cappid| {
            tx.prepare_cached(
                "INSERT INTO delivery (cappid, event_id, webhook_id, tenant, state, due_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)
                 ON CONFLICT (cappid, event_id, webhook_id) DO UPDATE SET
                     state = 'pending', due_at = excluded.due_at, lease_owner = NULL",
            )?
            .execute(params![
                cappid,
                event.id,
                webhook_id,
                event.tenant,
                int(now),
                int(event.expires_at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn purge_expired_events(&self, now: u64, limit: u32) -> StoreResult<u64> {
        let limit = sql_limit(limit)?;
        self.write("purge_expired_events", move |tx, cappid| {
            let ids: Vec<String> = tx
                .prepare_cached(
                    "SELECT id FROM event WHERE cappid = ?1 AND expires_at <= ?2 ORDER BY expires_at LIMIT ?3",
                )?
                .query_map(params![cappid, int(now), limit], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let mut deliveries =
                tx.prepare_cached("DELETE FROM delivery WHERE cappid = ?1 AND event_id = ?2")?;
            let mut events = tx.prepare_cached("DELETE FROM event WHERE cappid = ?1 AND id = ?2")?;
            for id in &ids {
                deliveries.execute(params![cappid, id])?;
                events.execute(params![cappid, id])?;
            }
            Ok(ids.len() as u64)
        })
        .await
    }
}
