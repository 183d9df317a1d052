//! DynamoDB backend: the single table of design.md §4, one file per record
//! family beside the request helpers here.
//!
//! Every state change is one conditional write (or one transaction), never a
//! read-modify-write: a lost race is the write's failed condition, classified
//! from the old item DynamoDB returns with it by the family's pure policy in
//! `store`. Reads check `expires_at` themselves because DynamoDB deletes
//! expired items late (and moto never does). Key formats are built and parsed
//! only in `keys.rs`.

mod api_keys;
mod authorizers;
mod client;
mod component;
mod cursor;
mod error;
mod events;
mod expr;
mod idempotency;
mod items;
mod jobs;
mod jsapi;
mod keys;
mod lease;
mod links;
mod oauth;
mod purge;
mod pushes;
mod requests;
mod table;
mod webhooks;

pub use client::{client_config, MAX_ATTEMPTS};
pub use error::DynamoFailure;
pub use events::{deliveries_in_stream, delivery_of_keys, KIND_DELIVERY};
pub use keys::chunk_of_stream_keys;
pub use requests::RequestCounts;
pub use table::{
    create_table, BILLING_MODE, GSI_KEY_PK, GSI_KEY_SK, GSI_NAME, GSI_PROJECTION, KIND_ATTRIBUTE,
    KIND_CHUNK, STREAM_VIEW_TYPE, TABLE_KEY_PK, TABLE_KEY_SK, TENANT_INDEX_NAME, TENANT_INDEX_PK,
    TENANT_INDEX_PROJECTION, TENANT_INDEX_SK, TTL_ATTRIBUTE,
};
/// The attribute holding a token's expiry (never `expires_at`, the TTL attribute).
pub const TOKEN_EXPIRES_AT_ATTRIBUTE: &str = items::attr::TOKEN_EXPIRES_AT;

use crate::crypto::at_rest::DataKeys;
use crate::store::{Sealer, StateStore, StoreError, StoreResult};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use aws_sdk_dynamodb::Client;
use error::{sdk_error, service_error, WriteError};
use expr::{names, Values};
use items::{key, n, s, Item};
use keys::Keys;
use requests::{bump, Counter};
use std::sync::Arc;

/// One Query's shape: on the table (read consistently) or on an index.
struct Query<'a> {
    index: Option<&'a str>,
    condition: &'a str,
    filter: Option<&'a str>,
    values: Values,
}

/// A transaction's failure: a conflict, worth sending again, or any other.
enum Cancelled {
    Conflict(StoreError),
    Write(WriteError),
}

/// BatchGetItem takes at most 100 keys.
const BATCH_GET_LIMIT: usize = 100;
/// Attempts of an optimistic read-then-conditional-write before giving up.
const OPTIMISTIC_ATTEMPTS: usize = 8;
/// Rounds of re-requesting BatchGetItem's unprocessed keys.
const UNPROCESSED_ROUNDS: usize = 8;

/// The DynamoDB store for one component appid.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    keys: Keys,
    component_appid: String,
    counter: Arc<Counter>,
    /// Seals credentials on write, opens them on read.
    sealer: Sealer,
}

impl StateStore for DynamoStore {
    fn component_appid(&self) -> &str {
        &self.component_appid
    }
}

impl DynamoStore {
    /// A store over `table`, namespaced by `component_appid`.
    pub fn new(client: Client, table: &str, component_appid: &str) -> Self {
        DynamoStore {
            client,
            table: table.to_owned(),
            keys: Keys::new(component_appid),
            component_appid: component_appid.to_owned(),
            counter: Arc::new(Counter::default()),
            sealer: Sealer::new(component_appid, None),
        }
    }

    /// Credentials written from now on are sealed under `keys` (and sealed
    /// ones opened); without this, they are stored as plaintext (tests, tools).
    pub fn with_data_keys(mut self, keys: DataKeys) -> Self {
        self.sealer = Sealer::new(&self.component_appid, Some(keys));
        self
    }

    /// A store using the AWS default configuration (credentials, region, and
    /// the `AWS_ENDPOINT_URL_DYNAMODB` endpoint override when set).
    pub async fn from_env(table: &str, component_appid: &str) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = Client::from_conf(client_config(&config).build());
        Self::new(client, table, component_appid)
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Requests sent so far by this store and its clones.
    pub fn request_counts(&self) -> RequestCounts {
        self.counter.snapshot()
    }

    // --- one request each ---

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        bump(&self.counter.get_item, 1);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    async fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Values,
    ) -> Result<(), WriteError> {
        bump(&self.counter.put_item, 1);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(condition) = condition {
            request = request
                .condition_expression(condition)
                .set_expression_attribute_names(names(&[condition]))
                .set_expression_attribute_values(values.into_map());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                    Err(WriteError::ConditionFailed(c.item))
                }
                other => Err(WriteError::Store(service_error("PutItem", other))),
            },
        }
    }

    /// A put that creates `item` or refuses with `Invalid(what already exists)`.
    async fn put_new(&self, item: Item, what: &str) -> StoreResult<()> {
        match self
            .put(item, Some("attribute_not_exists(#pk)"), Values::new())
            .await
        {
            Ok(()) => Ok(()),
            Err(WriteError::ConditionFailed(_)) => {
                Err(StoreError::Invalid(format!("{what} already exists")))
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    /// [`Self::put_new`], but a refusal caused by this very put (DynamoDB
    /// wrote it, the answer was lost, the SDK sent it again) is its success:
    /// the item carries a fresh write id, so only the put that wrote it
    /// recognises it, and a second, separate put of the same item is refused.
    async fn put_new_once(&self, mut item: Item, what: &str) -> StoreResult<()> {
        let write_id = stamp_write_id(&mut item);
        match self
            .put(item, Some("attribute_not_exists(#pk)"), Values::new())
            .await
        {
            Ok(()) => Ok(()),
            Err(WriteError::ConditionFailed(Some(old))) if written_by(&old, &write_id) => Ok(()),
            Err(WriteError::ConditionFailed(_)) => {
                Err(StoreError::Invalid(format!("{what} already exists")))
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    /// One UpdateItem; `returns` the new item (ALL_NEW) when asked.
    async fn update(
        &self,
        item_key: Item,
        update: &str,
        condition: &str,
        values: Values,
        returns: ReturnValue,
    ) -> Result<Option<Item>, WriteError> {
        bump(&self.counter.update_item, 1);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(names(&[update, condition]))
            .set_expression_attribute_values(values.into_map())
            .return_values(returns)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match request.send().await {
            Ok(out) => Ok(out.attributes),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                    Err(WriteError::ConditionFailed(c.item))
                }
                other => Err(WriteError::Store(service_error("UpdateItem", other))),
            },
        }
    }

    /// An UpdateItem whose failed condition only means "nothing to do".
    async fn update_if(
        &self,
        item_key: Item,
        update: &str,
        condition: &str,
        values: Values,
    ) -> StoreResult<bool> {
        match self
            .update(item_key, update, condition, values, ReturnValue::None)
            .await
        {
            Ok(_) => Ok(true),
            Err(WriteError::ConditionFailed(_)) => Ok(false),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn delete_if(
        &self,
        item_key: Item,
        condition: &str,
        values: Values,
    ) -> StoreResult<bool> {
        bump(&self.counter.delete_item, 1);
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item_key))
            .condition_expression(condition)
            .set_expression_attribute_names(names(&[condition]))
            .set_expression_attribute_values(values.into_map());
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(_) => {
                    Ok(false)
                }
                other => Err(service_error("DeleteItem", other)),
            },
        }
    }

    /// One TransactWriteItems: all of `writes` or none. A failed condition of
    /// any item is `ConditionFailed(None)` (a transaction returns no old item).
    ///
    /// A transaction cancelled for a conflict (another transaction on one of
    /// its items at the same moment, as when two chunks of a job finish at
    /// once and both count on the job) is sent again, a few times: cancelled,
    /// it wrote nothing, and the SDK does not retry it.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), WriteError> {
        let mut attempt = 1;
        loop {
            match self.transact_once(writes.clone()).await {
                Err(Cancelled::Conflict(e)) if attempt < OPTIMISTIC_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "transaction conflict; sending it again");
                    let jitter = rand::random_range(0..=10u64 << attempt.min(5));
                    tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
                    attempt += 1;
                }
                Err(Cancelled::Conflict(e)) => return Err(WriteError::Store(e)),
                Err(Cancelled::Write(e)) => return Err(e),
                Ok(()) => return Ok(()),
            }
        }
    }

    async fn transact_once(&self, writes: Vec<TransactWriteItem>) -> Result<(), Cancelled> {
        bump(&self.counter.transact_write_items, 1);
        bump(&self.counter.transact_items, writes.len() as u64);
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(c)
                    if c.cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Err(Cancelled::Write(WriteError::ConditionFailed(None)))
                }
                TransactWriteItemsError::TransactionCanceledException(c)
                    if c.cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict")) =>
                {
                    Err(Cancelled::Conflict(service_error(
                        "TransactWriteItems",
                        TransactWriteItemsError::TransactionCanceledException(c),
                    )))
                }
                other => Err(Cancelled::Write(WriteError::Store(service_error(
                    "TransactWriteItems",
                    other,
                )))),
            },
        }
    }

    /// A transaction item creating `item` (refused if it exists).
    fn new_item(&self, item: Item) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", TABLE_KEY_PK)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A transaction item updating `item_key` if `condition` holds.
    fn update_item(
        &self,
        item_key: Item,
        update: &str,
        condition: &str,
        values: Values,
    ) -> StoreResult<TransactWriteItem> {
        let update_item = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item_key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(names(&[update, condition]))
            .set_expression_attribute_values(values.into_map())
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update_item).build())
    }

    /// One page of `gsi1`: items of `partition` with `gsi1sk <= bound`, and
    /// when `live_at` is given only those not expired at it. Returns the items
    /// and the key to continue after.
    async fn query_index(
        &self,
        partition: String,
        bound: u64,
        start: Option<Item>,
        limit: u32,
        live_at: Option<u64>,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let values = Values::new()
            .with(":p", s(partition))
            .with(":bound", n(bound));
        let (filter, values) = match live_at {
            Some(now) => (
                Some("attribute_not_exists(#expires_at) OR #expires_at > :now"),
                values.with(":now", n(now)),
            ),
            None => (None, values),
        };
        let query = Query {
            index: Some(GSI_NAME),
            condition: "#gsi1pk = :p AND #gsi1sk <= :bound",
            filter,
            values,
        };
        self.query(&query, start, limit.max(1) as usize).await
    }

    /// Up to `limit` items matching `query`, from `start` on, over as many
    /// Query calls as it takes. Returns the items and the key to continue after.
    async fn query(
        &self,
        query: &Query<'_>,
        mut start: Option<Item>,
        limit: usize,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let expressions: Vec<&str> = [Some(query.condition), query.filter]
            .into_iter()
            .flatten()
            .collect();
        let mut found = Vec::new();
        loop {
            bump(&self.counter.query, 1);
            // Asking for no more than still wanted: a filtered page never overshoots.
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(str::to_owned))
                .consistent_read(query.index.is_none())
                .key_condition_expression(query.condition)
                .set_filter_expression(query.filter.map(str::to_owned))
                .set_expression_attribute_names(names(&expressions))
                .set_expression_attribute_values(query.values.clone().into_map())
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit - found.len()).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            found.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if found.len() < limit => start = Some(k),
                last => return Ok((found, last)),
            }
        }
    }

    /// One page of Scan with `filter`, up to `limit` matches; the cursor is the
    /// key of the last item returned, so no match is skipped or repeated.
    async fn scan_page(
        &self,
        filter: &str,
        values: &Values,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<Item>, Option<String>)> {
        let mut start = cursor.map(cursor::decode).transpose()?;
        let mut found = Vec::new();
        loop {
            bump(&self.counter.scan, 1);
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(filter)
                .set_expression_attribute_names(names(&[filter]))
                .set_expression_attribute_values(values.clone().into_map())
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error("Scan", e))?;
            let page = out.items.unwrap_or_default();
            let page_len = page.len();
            for (i, item) in page.into_iter().enumerate() {
                found.push(item);
                if found.len() == limit {
                    let more = i + 1 < page_len || out.last_evaluated_key.is_some();
                    let next = match found.last() {
                        Some(last) if more => Some(cursor::after_item(last)),
                        _ => None,
                    };
                    return Ok((found, next));
                }
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok((found, None)),
            }
        }
    }

    async fn scan_all(&self, filter: &str, values: &Values) -> StoreResult<Vec<Item>> {
        self.scan_page(filter, values, None, usize::MAX)
            .await
            .map(|(items, _)| items)
    }

    /// Consistent reads of `item_keys` (found items, in no particular order),
    /// retrying what DynamoDB leaves unprocessed.
    async fn batch_get(&self, item_keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(item_keys.len());
        for batch in item_keys.chunks(BATCH_GET_LIMIT) {
            let mut pending = batch.to_vec();
            for _ in 0..UNPROCESSED_ROUNDS {
                if pending.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::backend("building a BatchGetItem request", e))?;
                bump(&self.counter.batch_get_item, 1);
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchGetItem", e))?;
                found.extend(
                    out.responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::backend_msg(
                    "BatchGetItem left keys unprocessed after retries",
                ));
            }
        }
        Ok(found)
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::backend("building a DynamoDB request", e)
}

/// A failed condition where the write had none: a backend fault, not a race.
fn into_store_error(e: WriteError) -> StoreError {
    match e {
        WriteError::Store(e) => e,
        WriteError::ConditionFailed(_) => {
            StoreError::backend_msg("unexpected failed condition on an unconditional write")
        }
    }
}

/// An UpdateItem asked for attributes and got none.
fn no_attributes() -> StoreError {
    StoreError::backend_msg("UpdateItem returned no attributes")
}

/// Attribute holding a random id that a conditional insert writes, so that
/// when its answer is lost and the SDK sends it again, the repeat's failed
/// condition shows the item as this very write's.
const WRITE_ID_ATTRIBUTE: &str = "write_id";

/// Puts a fresh write id on `item`; returns it.
fn stamp_write_id(item: &mut Item) -> String {
    let write_id = uuid::Uuid::new_v4().to_string();
    item.insert(WRITE_ID_ATTRIBUTE.to_owned(), s(write_id.clone()));
    write_id
}

/// Whether `old` (the item a write's condition failed on) is that write's own.
fn written_by(old: &Item, write_id: &str) -> bool {
    old.get(WRITE_ID_ATTRIBUTE)
        .and_then(|v| v.as_s().ok())
        .is_some_and(|id| id == write_id)
}
