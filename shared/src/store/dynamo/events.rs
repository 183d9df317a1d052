//! `EventStore` on the one table. An event is item `{cappid}#evt#{id}` /
//! `evt`; its deliveries are items of the same partition (`dlv#{webhook}`), so
//! `GET /v1/events/{id}` is one Query. A tenant's feed is `gsi2` (partition
//! `{cappid}#feed#{tenant}`, sort key the feed key); pending deliveries are in
//! `gsi1` (partition `{cappid}#deliveries`, sort key `due_at`), which is both
//! the queue the sweep reads and the lease (a claim moves `due_at` ahead).
//! Deliveries carry `kind = delivery`: the worker's stream filter.

use super::error::{sdk_error, service_error, WriteError};
use super::items::{key, n, s, Item, Reader};
use super::requests::bump;
use super::table::{
    GSI_KEY_PK, GSI_KEY_SK, KIND_ATTRIBUTE, TABLE_KEY_PK, TABLE_KEY_SK, TENANT_INDEX_NAME,
    TENANT_INDEX_PK, TENANT_INDEX_SK, TTL_ATTRIBUTE,
};
use super::{DynamoStore, Values};
use crate::store::{
    check_delivery_count, check_feed_cursor, Attempt, AttemptRecorded, Delivery, DeliveryClaim,
    DeliveryRef, DeliveryState, EventRecord, EventStore, FeedQuery, NextStep, Page, StoreError,
    StoreResult,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};

/// The `kind` of delivery items (the worker's stream filter matches it).
pub const KIND_DELIVERY: &str = "delivery";
const KIND_EVENT: &str = "inbound_event";
const SK_EVENT: &str = "evt";
const SK_DELIVERY_PREFIX: &str = "dlv#";
/// Feed keys read per feed call at most, matching or not.
const FEED_SCAN_LIMIT: usize = 1000;

mod attr {
    pub const ID: &str = "id";
    pub const EVENT_TYPE: &str = "event_type";
    pub const APPID: &str = "appid";
    pub const TENANT: &str = "tenant";
    pub const CREATED_AT: &str = "created_at";
    pub const DATA: &str = "data";
    pub const EVENT_ID: &str = "event_id";
    pub const WEBHOOK_ID: &str = "webhook_id";
    pub const STATE: &str = "state";
    pub const DUE_AT: &str = "due_at";
    pub const ATTEMPT_COUNT: &str = "attempt_count";
    pub const ATTEMPTS: &str = "attempts";
    pub const LEASE_OWNER: &str = "lease_owner";
}

impl DynamoStore {
    fn event_pk(&self, id: &str) -> String {
        format!("{}#evt#{id}", self.component_appid)
    }

    fn feed_partition(&self, tenant: &str) -> String {
        format!("{}#feed#{tenant}", self.component_appid)
    }

    fn deliveries_partition(&self) -> String {
        format!("{}#deliveries", self.component_appid)
    }

    fn delivery_key(&self, d: &DeliveryRef) -> Item {
        key(
            self.event_pk(&d.event_id),
            format!("{SK_DELIVERY_PREFIX}{}", d.webhook_id),
        )
    }

    fn event_item(&self, e: &EventRecord) -> StoreResult<Item> {
        let mut item = key(self.event_pk(&e.id), SK_EVENT);
        item.insert(KIND_ATTRIBUTE.into(), s(KIND_EVENT));
        item.insert(attr::ID.into(), s(&e.id));
        item.insert(attr::EVENT_TYPE.into(), s(&e.event_type));
        item.insert(attr::APPID.into(), s(&e.appid));
        item.insert(attr::CREATED_AT.into(), n(e.created_at));
        item.insert(attr::DATA.into(), s(encode(&e.data)?));
        item.insert(TTL_ATTRIBUTE.into(), n(e.expires_at));
        if let Some(tenant) = &e.tenant {
            item.insert(attr::TENANT.into(), s(tenant));
            item.insert(TENANT_INDEX_PK.into(), s(self.feed_partition(tenant)));
            item.insert(TENANT_INDEX_SK.into(), s(e.feed_key()));
        }
        Ok(item)
    }

    fn new_delivery_item(&self, d: &Delivery) -> Item {
        let mut item = self.delivery_key(&d.reference());
        item.insert(KIND_ATTRIBUTE.into(), s(KIND_DELIVERY));
        item.insert(attr::EVENT_ID.into(), s(&d.event_id));
        item.insert(attr::WEBHOOK_ID.into(), s(&d.webhook_id));
        item.insert(attr::STATE.into(), s(d.state.as_str()));
        item.insert(attr::DUE_AT.into(), n(d.due_at));
        item.insert(attr::ATTEMPT_COUNT.into(), n(d.attempt_count));
        item.insert(attr::ATTEMPTS.into(), s("[]"));
        item.insert(TTL_ATTRIBUTE.into(), n(d.expires_at));
        item.insert(GSI_KEY_PK.into(), s(self.deliveries_partition()));
        item.insert(GSI_KEY_SK.into(), n(d.due_at));
        if let Some(tenant) = &d.tenant {
            item.insert(attr::TENANT.into(), s(tenant));
        }
        if let Some(owner) = &d.lease_owner {
            item.insert(attr::LEASE_OWNER.into(), s(owner));
        }
        item
    }

    /// Every item of one partition whose sort key starts with `prefix`
    /// (consistent reads of the table itself).
    pub(super) async fn partition_items(&self, pk: String, prefix: &str) -> StoreResult<Vec<Item>> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            bump(&self.counter.query, 1);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", TABLE_KEY_PK)
                .expression_attribute_names("#sk", TABLE_KEY_SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            found.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(found),
            }
        }
    }
}

/// The delivery a stream record's keys name (pk `{cappid}#evt#{id}`, sk
/// `dlv#{webhook}`), or `None` for any other record or component.
pub fn delivery_of_keys(component_appid: &str, pk: &str, sk: &str) -> Option<DeliveryRef> {
    let event_id = pk.strip_prefix(component_appid)?.strip_prefix("#evt#")?;
    let webhook_id = sk.strip_prefix(SK_DELIVERY_PREFIX)?;
    (!event_id.is_empty() && !webhook_id.is_empty()).then(|| DeliveryRef {
        event_id: event_id.to_owned(),
        webhook_id: webhook_id.to_owned(),
    })
}

/// The deliveries a DynamoDB stream event (`{"Records": [...]}`) announces,
/// each with its record's sequence number (for batch item failures).
pub fn deliveries_in_stream(
    event: &serde_json::Value,
    component_appid: &str,
) -> Vec<(String, DeliveryRef)> {
    let records = event.get("Records").and_then(|r| r.as_array());
    records
        .into_iter()
        .flatten()
        .filter_map(|record| {
            let dynamodb = record.get("dynamodb")?;
            let sequence = dynamodb.get("SequenceNumber")?.as_str()?.to_owned();
            let key = |name: &str| dynamodb.get("Keys")?.get(name)?.get("S")?.as_str();
            let delivery =
                delivery_of_keys(component_appid, key(TABLE_KEY_PK)?, key(TABLE_KEY_SK)?)?;
            Some((sequence, delivery))
        })
        .collect()
}

fn encode<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("cannot encode value: {e}")))
}

fn corrupt(record: &'static str, attribute: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        record,
        attribute: attribute.to_owned(),
        reason: reason.into(),
    }
}

fn event_from_item(item: &Item) -> StoreResult<EventRecord> {
    let r = Reader::new("event", item);
    let data = match serde_json::from_str(&r.string(attr::DATA)?) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err(corrupt("event", attr::DATA, "not a JSON object")),
    };
    Ok(EventRecord {
        id: r.string(attr::ID)?,
        event_type: r.string(attr::EVENT_TYPE)?,
        appid: r.string(attr::APPID)?,
        tenant: r.opt_string(attr::TENANT)?,
        created_at: r.u64(attr::CREATED_AT)?,
        data,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

fn delivery_from_item(item: &Item) -> StoreResult<Delivery> {
    let r = Reader::new("delivery", item);
    let state = r.string(attr::STATE)?;
    let attempts: Vec<Attempt> = serde_json::from_str(&r.string(attr::ATTEMPTS)?)
        .map_err(|e| corrupt("delivery", attr::ATTEMPTS, format!("invalid JSON: {e}")))?;
    Ok(Delivery {
        event_id: r.string(attr::EVENT_ID)?,
        webhook_id: r.string(attr::WEBHOOK_ID)?,
        tenant: r.opt_string(attr::TENANT)?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| corrupt("delivery", attr::STATE, format!("unknown value `{state}`")))?,
        due_at: r.u64(attr::DUE_AT)?,
        attempt_count: u32::try_from(r.u64(attr::ATTEMPT_COUNT)?)
            .map_err(|_| corrupt("delivery", attr::ATTEMPT_COUNT, "out of range"))?,
        attempts,
        lease_owner: r.opt_string(attr::LEASE_OWNER)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

fn expired(item: &Item, now: u64) -> bool {
    super::items::is_expired(item, now)
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn record_event_leased(
        &self,
        event: &EventRecord,
        webhook_ids: &[String],
        leased_to: Option<&str>,
    ) -> StoreResult<bool> {
        check_delivery_count(webhook_ids)?;
        // New, or an expired record DynamoDB has not deleted yet.
        let new = "attribute_not_exists(#pk) OR #expires_at <= :now";
        let values = Values::new().with(":now", n(event.created_at));
        let item = self.event_item(event)?;
        if webhook_ids.is_empty() {
            return match self.put(item, Some(new), values).await {
                Ok(()) => Ok(true),
                // A retry of WeChat's push, or our own write whose answer was
                // lost and the SDK sent again: stored either way.
                Err(WriteError::ConditionFailed(_)) => Ok(false),
                Err(WriteError::Store(e)) => Err(e),
            };
        }
        let build = |e: aws_sdk_dynamodb::error::BuildError| {
            StoreError::backend("building a transaction item", e)
        };
        let put = |item: Item, condition: Option<&str>| -> StoreResult<TransactWriteItem> {
            let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
            if let Some(condition) = condition {
                put = put
                    .condition_expression(condition)
                    .expression_attribute_names("#pk", TABLE_KEY_PK)
                    .expression_attribute_names("#expires_at", TTL_ATTRIBUTE)
                    .expression_attribute_values(":now", n(event.created_at));
            }
            Ok(TransactWriteItem::builder()
                .put(put.build().map_err(build)?)
                .build())
        };
        let mut writes = vec![put(item, Some(new))?];
        for webhook_id in webhook_ids {
            let delivery = Delivery::new(event, webhook_id, leased_to);
            writes.push(put(self.new_delivery_item(&delivery), None)?);
        }
        bump(&self.counter.transact_write_items, 1);
        bump(&self.counter.transact_items, writes.len() as u64);
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(c)
                    if c.cancellation_reasons()
                        .first()
                        .is_some_and(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(false)
                }
                other => Err(service_error("TransactWriteItems", other)),
            },
        }
    }

    async fn get_event(&self, id: &str, now: u64) -> StoreResult<Option<EventRecord>> {
        match self.get(self.event_pk(id), SK_EVENT).await? {
            Some(item) if !expired(&item, now) => event_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn list_deliveries(&self, event_id: &str) -> StoreResult<Vec<Delivery>> {
        self.partition_items(self.event_pk(event_id), SK_DELIVERY_PREFIX)
            .await?
            .iter()
            .map(delivery_from_item)
            .collect()
    }

    async fn feed(&self, query: &FeedQuery, now: u64) -> StoreResult<Page<EventRecord>> {
        if query.limit == 0 {
            return Err(StoreError::Invalid("page limit must be at least 1".into()));
        }
        if let Some(after) = &query.after {
            check_feed_cursor(after)?;
        }
        let limit = query.limit as usize;
        let after = query.after.clone().unwrap_or_else(|| "0".to_owned());
        // '~' sorts after every character of an event id.
        let upper = format!("{:010}.~", query.until);
        let mut items = Vec::new();
        let mut last_seen = None;
        let mut scanned = 0;
        let mut start = None;
        loop {
            let values = Values::new()
                .with(":p", s(self.feed_partition(&query.tenant)))
                .with(":after", s(&after))
                .with(":upper", s(&upper));
            let want = (limit - items.len()).clamp(1, 100);
            let page = super::Query {
                index: Some(TENANT_INDEX_NAME),
                condition: "#gsi2pk = :p AND #gsi2sk BETWEEN :after AND :upper",
                filter: None,
                values,
            };
            let (keys, last) = self.query(&page, start.take(), want).await?;
            let mut batch: Vec<(String, Item)> = Vec::new();
            let mut records: std::collections::HashMap<String, Item> = self
                .batch_get(keys.iter().map(super::items::primary_key).collect())
                .await?
                .into_iter()
                .filter_map(|item| Some((item.get(TABLE_KEY_PK)?.as_s().ok()?.clone(), item)))
                .collect();
            for entry in &keys {
                let feed_key = entry
                    .get(TENANT_INDEX_SK)
                    .and_then(|v| v.as_s().ok())
                    .cloned();
                let pk = entry.get(TABLE_KEY_PK).and_then(|v| v.as_s().ok());
                if let (Some(feed_key), Some(record)) =
                    (feed_key, pk.and_then(|pk| records.remove(pk)))
                {
                    batch.push((feed_key, record));
                }
            }
            for (feed_key, record) in batch {
                scanned += 1;
                if feed_key == after {
                    continue;
                }
                last_seen = Some(feed_key);
                if expired(&record, now) {
                    continue;
                }
                let event = event_from_item(&record)?;
                if query.matches(&event) {
                    items.push(event);
                    if items.len() == limit {
                        break;
                    }
                }
            }
            match last {
                Some(k) if items.len() < limit && scanned < FEED_SCAN_LIMIT => start = Some(k),
                _ => break,
            }
        }
        Ok(Page {
            items,
            next: last_seen,
        })
    }

    async fn due_deliveries(&self, now: u64, limit: u32) -> StoreResult<Vec<DeliveryRef>> {
        let (found, _) = self
            .query_index(self.deliveries_partition(), now, None, limit, Some(now))
            .await?;
        let prefix = format!("{}#evt#", self.component_appid);
        Ok(found
            .iter()
            .filter_map(|item| {
                let pk = item.get(TABLE_KEY_PK)?.as_s().ok()?;
                let sk = item.get(TABLE_KEY_SK)?.as_s().ok()?;
                Some(DeliveryRef {
                    event_id: pk.strip_prefix(&prefix)?.to_owned(),
                    webhook_id: sk.strip_prefix(SK_DELIVERY_PREFIX)?.to_owned(),
                })
            })
            .collect())
    }

    async fn claim_delivery(
        &self,
        delivery: &DeliveryRef,
        owner: &str,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<DeliveryClaim> {
        let values = Values::new()
            .with(":pending", s(DeliveryState::Pending.as_str()))
            .with(":now", n(now))
            .with(":lease", n(lease_until))
            .with(":owner", s(owner));
        let result = self
            .update(
                self.delivery_key(delivery),
                "SET #due_at = :lease, #gsi1sk = :lease, #lease_owner = :owner",
                "#state = :pending AND #due_at <= :now AND #expires_at > :now",
                values,
                ReturnValue::AllNew,
            )
            .await;
        match result {
            Ok(Some(item)) => Ok(DeliveryClaim::Claimed(delivery_from_item(&item)?)),
            Ok(None) => Err(StoreError::Backend {
                message: "DynamoDB UpdateItem returned no attributes for ALL_NEW".into(),
                source: None,
            }),
            Err(WriteError::ConditionFailed(None)) => Ok(DeliveryClaim::NotFound),
            Err(WriteError::ConditionFailed(Some(old))) => {
                if expired(&old, now) {
                    return Ok(DeliveryClaim::NotFound);
                }
                let d = delivery_from_item(&old)?;
                // Our own claim whose answer was lost, sent again by the SDK.
                if d.lease_owner.as_deref() == Some(owner) && d.due_at == lease_until {
                    return Ok(DeliveryClaim::Claimed(d));
                }
                Ok(match d.state {
                    DeliveryState::Pending => DeliveryClaim::NotDue,
                    _ => DeliveryClaim::Finished,
                })
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn record_attempt(
        &self,
        claimed: &Delivery,
        owner: &str,
        attempt: &Attempt,
        next: NextStep,
    ) -> StoreResult<AttemptRecorded> {
        let attempts = encode(&claimed.attempts_after(attempt))?;
        let count = claimed.attempt_count.saturating_add(1);
        let (state, due_at) = match next {
            NextStep::Succeeded => (DeliveryState::Succeeded, claimed.due_at),
            NextStep::RetryAt(at) => (DeliveryState::Pending, at),
            NextStep::Failed => (DeliveryState::Failed, claimed.due_at),
        };
        let values = Values::new()
            .with(":pending", s(DeliveryState::Pending.as_str()))
            .with(":owner", s(owner))
            .with(":state", s(state.as_str()))
            .with(":due", n(due_at))
            .with(":count", n(count))
            .with(":attempts", s(attempts));
        // Pending stays in the queue at its retry time; finished leaves it.
        let update = if state == DeliveryState::Pending {
            "SET #state = :state, #due_at = :due, #gsi1sk = :due, #attempt_count = :count, \
             #attempts = :attempts REMOVE #lease_owner"
        } else {
            "SET #state = :state, #due_at = :due, #attempt_count = :count, #attempts = :attempts \
             REMOVE #lease_owner, #gsi1pk, #gsi1sk"
        };
        match self
            .update(
                self.delivery_key(&claimed.reference()),
                update,
                "#state = :pending AND #lease_owner = :owner",
                values,
                ReturnValue::None,
            )
            .await
        {
            Ok(_) => Ok(AttemptRecorded::Saved),
            Err(WriteError::ConditionFailed(Some(old))) => {
                // Our own write whose answer was lost: already applied.
                let d = delivery_from_item(&old)?;
                let ours = d.attempt_count == count
                    && d.state == state
                    && d.lease_owner.is_none()
                    && d.attempts.last() == Some(attempt);
                Ok(if ours {
                    AttemptRecorded::Saved
                } else {
                    AttemptRecorded::LostLease
                })
            }
            Err(WriteError::ConditionFailed(None)) => Ok(AttemptRecorded::LostLease),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn release_delivery(
        &self,
        delivery: &DeliveryRef,
        owner: &str,
        now: u64,
    ) -> StoreResult<()> {
        self.update_if(
            self.delivery_key(delivery),
            "SET #due_at = :now, #gsi1sk = :now REMOVE #lease_owner",
            "#state = :pending AND #lease_owner = :owner",
            Values::new()
                .with(":pending", s(DeliveryState::Pending.as_str()))
                .with(":owner", s(owner))
                .with(":now", n(now)),
        )
        .await
        .map(|_| ())
    }

    async fn redeliver(&self, event: &EventRecord, webhook_id: &str, now: u64) -> StoreResult<()> {
        let mut values = Values::new()
            .with(":kind", s(KIND_DELIVERY))
            .with(":event_id", s(&event.id))
            .with(":webhook_id", s(webhook_id))
            .with(":pending", s(DeliveryState::Pending.as_str()))
            .with(":now", n(now))
            .with(":queue", s(self.deliveries_partition()))
            .with(":zero", n(0))
            .with(":empty", s("[]"))
            .with(":expires", n(event.expires_at));
        let mut update = "SET #kind = :kind, #event_id = :event_id, #webhook_id = :webhook_id, \
                          #state = :pending, #due_at = :now, #gsi1pk = :queue, #gsi1sk = :now, \
                          #attempt_count = if_not_exists(#attempt_count, :zero), \
                          #attempts = if_not_exists(#attempts, :empty), #expires_at = :expires"
            .to_owned();
        if let Some(tenant) = &event.tenant {
            values = values.with(":tenant", s(tenant));
            update.push_str(", #tenant = :tenant");
        }
        update.push_str(" REMOVE #lease_owner");
        match self
            .update(
                self.delivery_key(&DeliveryRef {
                    event_id: event.id.clone(),
                    webhook_id: webhook_id.to_owned(),
                }),
                &update,
                "attribute_not_exists(#pk) OR #kind = :kind",
                values,
                ReturnValue::None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(WriteError::ConditionFailed(_)) => Err(StoreError::Invalid(
                "the delivery's key holds another record".into(),
            )),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn purge_expired_events(&self, _now: u64, _limit: u32) -> StoreResult<u64> {
        // The table's TTL deletes them; reads already skip what it has not yet.
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_records_of_deliveries_name_them_and_nothing_else() {
        let record = |seq: &str, pk: &str, sk: &str| json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": seq, "Keys": {"pk": {"S": pk}, "sk": {"S": sk}}}});
        let event = json!({"Records": [
            record("1", "wxc#evt#evt_ab", "dlv#wh_1"),
            record("2", "wxc#evt#evt_ab", "evt"),
            record("3", "wxother#evt#evt_ab", "dlv#wh_1"),
            record("4", "wxc#job#j1", "chunk#00001"),
        ]});
        assert_eq!(
            deliveries_in_stream(&event, "wxc"),
            vec![(
                "1".to_owned(),
                DeliveryRef {
                    event_id: "evt_ab".into(),
                    webhook_id: "wh_1".into()
                }
            )]
        );
    }
}
