//! DynamoDB implementation of `StateStore`: the single table of design.md §4.
//!
//! Every state change is one conditional write (or one transaction for a new
//! job), never a read-modify-write: a lost race is the write's failed
//! condition, classified from the old item DynamoDB returns with it. Reads
//! check `expires_at` themselves because DynamoDB deletes expired items late
//! (and moto never does).

mod client;
mod error;
mod events;
mod items;
mod keys;
mod requests;
mod table;
mod webhooks;

pub use client::{client_config, MAX_ATTEMPTS};
pub use error::DynamoFailure;
pub use events::{deliveries_in_stream, delivery_of_keys, KIND_DELIVERY};
pub use requests::RequestCounts;
pub use table::{
    create_table, BILLING_MODE, GSI_KEY_PK, GSI_KEY_SK, GSI_NAME, GSI_PROJECTION, KIND_ATTRIBUTE,
    KIND_CHUNK, STREAM_VIEW_TYPE, TABLE_KEY_PK, TABLE_KEY_SK, TENANT_INDEX_NAME, TENANT_INDEX_PK,
    TENANT_INDEX_PROJECTION, TENANT_INDEX_SK, TTL_ATTRIBUTE,
};
/// The attribute holding a token's expiry (never `expires_at`, the TTL attribute).
pub const TOKEN_EXPIRES_AT_ATTRIBUTE: &str = items::attr::TOKEN_EXPIRES_AT;

use crate::domain::StopReason;
use crate::secret::Secret;
use crate::store::{
    ApiKey, AuthorizationGrant, Authorizer, AuthorizerProfile, AuthorizerStatus, CheckpointOutcome,
    Chunk, ChunkRef, ChunkState, ClaimOutcome, ConsumeOutcome, FinishEvent, GrantOutcome,
    IdempotencyOutcome, IdempotencyRecord, Job, JobState, LeaseOutcome, Link, Page, PreAuth,
    RecipientResult, RenewalOutcome, RenewedTokens, StateStore, StoreError, StoreResult, Ticket,
    TicketWrite, TokenState, TICKET_VALIDITY_SECS,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use base64::Engine as _;
use error::{sdk_error, service_error, WriteError};
use items::{attr, b, key, kind, n, s, Item};
use keys::Keys;
use requests::{bump, Counter};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Transactions hold at most 100 items: the job and 99 chunks.
const MAX_CHUNKS_PER_JOB: usize = 99;
/// BatchGetItem takes at most 100 keys.
const BATCH_GET_LIMIT: usize = 100;
/// Attempts of an optimistic read-then-conditional-write before giving up.
const OPTIMISTIC_ATTEMPTS: usize = 8;
/// Rounds of re-requesting BatchGetItem's unprocessed keys.
const UNPROCESSED_ROUNDS: usize = 8;

/// The DynamoDB `StateStore` for one component appid.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    keys: Keys,
    component_appid: String,
    counter: Arc<Counter>,
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
        }
    }

    /// A store using the AWS default configuration (credentials, region, and
    /// the `AWS_ENDPOINT_URL_DYNAMODB` endpoint override when set) with
    /// wxopen's retry and timeout settings ([`client_config`]).
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

    // --- request helpers ---

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
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item_key))
            .condition_expression(condition)
            .set_expression_attribute_names(names(&[condition]));
        request = request.set_expression_attribute_values(values.into_map());
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
        let condition = "#gsi1pk = :p AND #gsi1sk <= :bound";
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
        self.query_page(GSI_NAME, condition, filter, values, start, limit)
            .await
    }

    /// Up to `limit` items of `index` matching `condition` (and `filter`), from
    /// `start` on, over as many Query calls as it takes. Returns the items and
    /// the key to continue after.
    async fn query_page(
        &self,
        index: &str,
        condition: &str,
        filter: Option<&str>,
        values: Values,
        mut start: Option<Item>,
        limit: u32,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let limit = limit.max(1) as usize;
        let expressions: Vec<&str> = [Some(condition), filter].into_iter().flatten().collect();
        let mut found = Vec::new();
        loop {
            bump(&self.counter.query, 1);
            // Asking for no more than still wanted: a filtered page never overshoots.
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(condition)
                .set_filter_expression(filter.map(str::to_owned))
                .set_expression_attribute_names(names(&expressions))
                .set_expression_attribute_values(values.clone().into_map())
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
        let mut start = cursor.map(decode_cursor).transpose()?;
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
                        Some(last) if more => Some(encode_cursor(&primary_key(last))),
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

    /// A page of one tenant's authorizers in appid order. `gsi2` gives the keys
    /// (an index read, so a binding made a moment ago may not be listed yet);
    /// the records themselves are read consistently.
    async fn list_tenant_authorizers(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        let partition = self.keys.tenant_partition(tenant);
        let start = cursor
            .map(|cursor| tenant_index_cursor(cursor, &partition))
            .transpose()?;
        let values = Values::new().with(":p", s(partition));
        let (listed, last) = self
            .query_page(
                TENANT_INDEX_NAME,
                "#gsi2pk = :p",
                None,
                values,
                start,
                limit,
            )
            .await?;
        let next = last.map(|k| encode_cursor(&k));
        let mut records: HashMap<String, Item> = self
            .batch_get(listed.iter().map(primary_key).collect())
            .await?
            .into_iter()
            .filter_map(|item| Some((item.get(TABLE_KEY_PK)?.as_s().ok()?.clone(), item)))
            .collect();
        let mut items = Vec::with_capacity(listed.len());
        for entry in &listed {
            let record = entry
                .get(TABLE_KEY_PK)
                .and_then(|pk| pk.as_s().ok())
                .and_then(|pk| records.remove(pk));
            // An entry whose record is gone is skipped, not an error.
            if let Some(record) = record {
                let authorizer = items::authorizer_from_item(&record)?;
                if authorizer.tenant.as_deref() == Some(tenant) {
                    items.push(authorizer);
                }
            }
        }
        Ok(Page { items, next })
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
                return Err(StoreError::Backend {
                    message: "BatchGetItem left keys unprocessed after retries".to_owned(),
                    source: None,
                });
            }
        }
        Ok(found)
    }

    async fn scan_all(&self, filter: &str, values: &Values) -> StoreResult<Vec<Item>> {
        self.scan_page(filter, values, None, usize::MAX)
            .await
            .map(|(items, _)| items)
    }

    /// The values of `#gsi2pk = :by_tenant, #gsi2sk = :appid`, set wherever a
    /// tenant is bound: the tenant index entry follows the binding, which never changes.
    fn with_tenant_index(&self, values: Values, appid: &str, tenant: &str) -> Values {
        values
            .with(":by_tenant", s(self.keys.tenant_partition(tenant)))
            .with(":appid", s(appid))
    }

    /// The authorizer's due-index entry: active ones with a refresh token.
    fn due_entry(
        &self,
        status: AuthorizerStatus,
        has_refresh_token: bool,
        expires_at: u64,
    ) -> Option<(String, u64)> {
        (status == AuthorizerStatus::Active && has_refresh_token)
            .then(|| (self.keys.due_partition(), expires_at))
    }

    async fn read_authorizer(&self, appid: &str) -> StoreResult<Option<Authorizer>> {
        self.get(self.keys.authorizer(appid), keys::SK_PROFILE)
            .await?
            .map(|item| items::authorizer_from_item(&item))
            .transpose()
    }

    fn authorizer_key(&self, appid: &str) -> Item {
        key(self.keys.authorizer(appid), keys::SK_PROFILE)
    }

    fn component_token_key(&self) -> Item {
        key(self.keys.component(), keys::SK_TOKEN)
    }

    fn chunk_key(&self, chunk: &ChunkRef) -> Item {
        key(self.keys.job(&chunk.job_id), Keys::chunk_sk(chunk.index))
    }

    async fn acquire_lease(
        &self,
        item_key: Item,
        creates: bool,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        let free_and_current =
            "(attribute_not_exists(#lease_until) OR #lease_until <= :now) AND #version = :v";
        let mut values = Values::new()
            .with(":owner", s(owner))
            .with(":lease_until", n(lease_until))
            .with(":now", n(now))
            .with(":v", n(expected_version));
        let (update, condition) = if creates {
            values = values
                .with(":zero", n(0))
                .with(":kind", s(kind::COMPONENT_TOKEN));
            let update = "SET #lease_owner = :owner, #lease_until = :lease_until, \
                          #version = if_not_exists(#version, :zero), \
                          #token_expires_at = if_not_exists(#token_expires_at, :zero), #kind = :kind";
            let condition = if expected_version == 0 {
                format!("attribute_not_exists(#pk) OR ({free_and_current})")
            } else {
                free_and_current.to_owned()
            };
            (update, condition)
        } else {
            (
                "SET #lease_owner = :owner, #lease_until = :lease_until",
                format!("attribute_exists(#pk) AND {free_and_current}"),
            )
        };
        match self
            .update(item_key, update, &condition, values, ReturnValue::None)
            .await
        {
            Ok(_) => Ok(LeaseOutcome::Acquired),
            Err(WriteError::ConditionFailed(Some(old))) => {
                let token = items::token_state_from_item("token", &old)?;
                // Our own write, whose answer was lost: the SDK sent it again
                // and the lease it took refused the repeat (owners are unique).
                let ours =
                    token.lease_owner.as_deref() == Some(owner) && token.lease_until == lease_until;
                if ours {
                    Ok(LeaseOutcome::Acquired)
                } else if token.version != expected_version {
                    Ok(LeaseOutcome::VersionChanged)
                } else {
                    Ok(LeaseOutcome::Held)
                }
            }
            Err(WriteError::ConditionFailed(None)) if creates => Ok(LeaseOutcome::VersionChanged),
            Err(WriteError::ConditionFailed(None)) => Ok(LeaseOutcome::Missing),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn release_lease(&self, item_key: Item, owner: &str) -> StoreResult<()> {
        self.update_if(
            item_key,
            "REMOVE #lease_owner, #lease_until",
            "#lease_owner = :owner",
            Values::new().with(":owner", s(owner)),
        )
        .await
        .map(|_| ())
    }

    /// `Page` cursor of a LastEvaluatedKey.
    fn page_cursor(last: Option<Item>) -> Option<String> {
        last.map(|k| encode_cursor(&k))
    }
}

/// Expression attribute values, built in order.
#[derive(Debug, Clone, Default)]
struct Values(HashMap<String, AttributeValue>);

impl Values {
    fn new() -> Self {
        Values::default()
    }

    fn with(mut self, name: &str, value: AttributeValue) -> Self {
        self.0.insert(name.to_owned(), value);
        self
    }

    fn into_map(self) -> Option<HashMap<String, AttributeValue>> {
        (!self.0.is_empty()).then_some(self.0)
    }
}

/// Expression attribute names for every `#name` used in `expressions`: each
/// stands for the attribute of the same name (some, like `status`, are
/// reserved words in expressions).
fn names(expressions: &[&str]) -> Option<HashMap<String, String>> {
    let mut map = HashMap::new();
    for expression in expressions {
        let mut rest = *expression;
        while let Some(at) = rest.find('#') {
            let after = &rest[at + 1..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            if !name.is_empty() {
                map.insert(format!("#{name}"), name.to_owned());
            }
            rest = &after[end..];
        }
    }
    (!map.is_empty()).then_some(map)
}

fn primary_key(item: &Item) -> Item {
    [TABLE_KEY_PK, TABLE_KEY_SK]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// A cursor: base64url of a JSON map of key attribute → {"S": …} / {"N": …}.
fn encode_cursor(last_key: &Item) -> String {
    let map: serde_json::Map<String, serde_json::Value> = last_key
        .iter()
        .filter_map(|(name, value)| {
            let typed = match value {
                AttributeValue::S(v) => serde_json::json!({ "S": v }),
                AttributeValue::N(v) => serde_json::json!({ "N": v }),
                _ => return None,
            };
            Some((name.clone(), typed))
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::Value::Object(map).to_string())
}

fn decode_cursor(cursor: &str) -> StoreResult<Item> {
    let invalid = || StoreError::Invalid("malformed page cursor".to_owned());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let map: HashMap<String, HashMap<String, String>> =
        serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    map.into_iter()
        .map(|(name, typed)| {
            let value = match (typed.get("S"), typed.get("N")) {
                (Some(v), None) => AttributeValue::S(v.clone()),
                (None, Some(v)) if v.parse::<u64>().is_ok() => AttributeValue::N(v.clone()),
                _ => return Err(invalid()),
            };
            Ok((name, value))
        })
        .collect()
}

/// A cursor of a tenant listing: the four `gsi2` keys DynamoDB continues from,
/// within this tenant's partition.
fn tenant_index_cursor(cursor: &str, partition: &str) -> StoreResult<Item> {
    let start = cursor_of_keys(
        cursor,
        &[TABLE_KEY_PK, TABLE_KEY_SK, TENANT_INDEX_PK, TENANT_INDEX_SK],
    )?;
    match start.get(TENANT_INDEX_PK) {
        Some(AttributeValue::S(at)) if at == partition => Ok(start),
        _ => Err(foreign_cursor()),
    }
}

/// A decoded cursor holding exactly the string keys `names`. A cursor of
/// another listing is refused here rather than passed on for DynamoDB to reject
/// as a failed request.
fn cursor_of_keys(cursor: &str, names: &[&str]) -> StoreResult<Item> {
    let start = decode_cursor(cursor)?;
    let shaped = start.len() == names.len()
        && names
            .iter()
            .all(|name| matches!(start.get(*name), Some(AttributeValue::S(_))));
    if shaped {
        Ok(start)
    } else {
        Err(foreign_cursor())
    }
}

fn foreign_cursor() -> StoreError {
    StoreError::Invalid("page cursor is not from this listing".to_owned())
}

#[async_trait]
impl StateStore for DynamoStore {
    fn component_appid(&self) -> &str {
        &self.component_appid
    }

    // --- ticket ---

    async fn get_ticket(&self, now: u64) -> StoreResult<Option<Ticket>> {
        let Some(item) = self.get(self.keys.component(), keys::SK_TICKET).await? else {
            return Ok(None);
        };
        let ticket = items::ticket_from_item(&item)?;
        Ok((ticket.stored_at.saturating_add(TICKET_VALIDITY_SECS) > now).then_some(ticket))
    }

    async fn put_ticket_if_newer(
        &self,
        ticket: &Secret,
        create_time: i64,
        now: u64,
    ) -> StoreResult<TicketWrite> {
        let item = items::ticket_to_item(&self.keys, ticket, create_time, now);
        let condition = "attribute_not_exists(#pk) OR #create_time < :ct";
        match self
            .put(
                item,
                Some(condition),
                Values::new().with(":ct", n(create_time)),
            )
            .await
        {
            Ok(()) => Ok(TicketWrite::Stored),
            Err(WriteError::ConditionFailed(_)) => Ok(TicketWrite::Stale),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    // --- component token ---

    async fn get_component_token(&self) -> StoreResult<TokenState> {
        match self.get(self.keys.component(), keys::SK_TOKEN).await? {
            Some(item) => items::token_state_from_item("component_token", &item),
            None => Ok(TokenState::default()),
        }
    }

    async fn acquire_component_lease(
        &self,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        self.acquire_lease(
            self.component_token_key(),
            true,
            owner,
            expected_version,
            now,
            lease_until,
        )
        .await
    }

    async fn complete_component_renewal(
        &self,
        owner: &str,
        token: &Secret,
        expires_at: u64,
    ) -> StoreResult<RenewalOutcome> {
        let values = Values::new()
            .with(":owner", s(owner))
            .with(":token", s(token.expose()))
            .with(":expires", n(expires_at))
            .with(":one", n(1));
        let update =
            "SET #access_token = :token, #token_expires_at = :expires, #version = #version + :one \
                      REMOVE #lease_owner, #lease_until";
        renewal_outcome(
            self.update(
                self.component_token_key(),
                update,
                "#lease_owner = :owner",
                values,
                ReturnValue::UpdatedNew,
            )
            .await,
        )
    }

    async fn release_component_lease(&self, owner: &str) -> StoreResult<()> {
        self.release_lease(self.component_token_key(), owner).await
    }

    async fn invalidate_component_token(&self, version: u64) -> StoreResult<bool> {
        self.update_if(
            self.component_token_key(),
            "SET #token_expires_at = :zero REMOVE #access_token",
            "#version = :v",
            Values::new().with(":zero", n(0)).with(":v", n(version)),
        )
        .await
    }

    // --- authorizers ---

    async fn get_authorizer(&self, appid: &str) -> StoreResult<Option<Authorizer>> {
        self.read_authorizer(appid).await
    }

    async fn put_grant(&self, grant: &AuthorizationGrant) -> StoreResult<GrantOutcome> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let Some(existing) = self.read_authorizer(&grant.appid).await? else {
                let authorizer = Authorizer {
                    appid: grant.appid.clone(),
                    tenant: grant.tenant.clone(),
                    status: AuthorizerStatus::Active,
                    refresh_token: Some(grant.refresh_token.clone()),
                    token: TokenState {
                        access_token: Some(grant.access_token.clone()),
                        expires_at: grant.expires_at,
                        version: 1,
                        lease_owner: None,
                        lease_until: 0,
                    },
                    func_info: grant.func_info.clone(),
                    profile: AuthorizerProfile::default(),
                    last_auth_code_hash: Some(grant.auth_code_hash.clone()),
                    authorized_at: grant.now,
                    updated_at: grant.now,
                };
                let gsi = self.due_entry(AuthorizerStatus::Active, true, grant.expires_at);
                let item = items::authorizer_to_item(&self.keys, &authorizer, gsi);
                match self
                    .put(item, Some("attribute_not_exists(#pk)"), Values::new())
                    .await
                {
                    Ok(()) => return Ok(GrantOutcome::Created),
                    Err(WriteError::ConditionFailed(_)) => continue,
                    Err(WriteError::Store(e)) => return Err(e),
                }
            };
            if let (Some(bound), Some(wanted)) = (&existing.tenant, &grant.tenant) {
                if bound != wanted {
                    return Ok(GrantOutcome::TenantConflict {
                        existing_tenant: bound.clone(),
                    });
                }
            }
            let binds = existing.tenant.is_none() && grant.tenant.is_some();
            let bound_tenant = grant.tenant.as_deref().unwrap_or_default();
            let tenant_value = s(bound_tenant);
            if existing.last_auth_code_hash.as_deref() == Some(grant.auth_code_hash.as_str()) {
                if !binds {
                    return Ok(GrantOutcome::AlreadyDone);
                }
                let bound = self
                    .update_if(
                        self.authorizer_key(&grant.appid),
                        "SET #tenant = :tenant, #updated_at = :now, #gsi2pk = :by_tenant, #gsi2sk = :appid",
                        "attribute_exists(#pk) AND attribute_not_exists(#tenant)",
                        self.with_tenant_index(Values::new(), &grant.appid, bound_tenant)
                            .with(":tenant", tenant_value)
                            .with(":now", n(grant.now)),
                    )
                    .await?;
                if bound {
                    return Ok(GrantOutcome::AlreadyDone);
                }
                continue;
            }
            // A new code: replace the tokens in one write conditioned on the
            // record being as read; a renewal in flight loses its lease.
            let mut update = "SET #status = :active, #access_token = :access, #token_expires_at = :expires, \
                              #refresh_token = :refresh, #func_info = :func_info, #last_auth_code_hash = :code, \
                              #authorized_at = :now, #updated_at = :now, #version = #version + :one, \
                              #gsi1pk = :due, #gsi1sk = :expires"
                .to_owned();
            let mut values = Values::new()
                .with(":active", s(AuthorizerStatus::Active.as_str()))
                .with(":access", s(grant.access_token.expose()))
                .with(":expires", n(grant.expires_at))
                .with(":refresh", s(grant.refresh_token.expose()))
                .with(":func_info", items::func_info_value(&grant.func_info))
                .with(":code", s(grant.auth_code_hash.clone()))
                .with(":now", n(grant.now))
                .with(":one", n(1))
                .with(":due", s(self.keys.due_partition()))
                .with(":v", n(existing.token.version));
            let mut condition = "#version = :v".to_owned();
            match &existing.tenant {
                None if binds => {
                    update.push_str(", #tenant = :tenant, #gsi2pk = :by_tenant, #gsi2sk = :appid");
                    values = self
                        .with_tenant_index(values, &grant.appid, bound_tenant)
                        .with(":tenant", tenant_value);
                    condition.push_str(" AND attribute_not_exists(#tenant)");
                }
                None => condition.push_str(" AND attribute_not_exists(#tenant)"),
                Some(bound) => {
                    values = values.with(":seen_tenant", s(bound.clone()));
                    condition.push_str(" AND #tenant = :seen_tenant");
                }
            }
            update.push_str(" REMOVE #lease_owner, #lease_until");
            if self
                .update_if(
                    self.authorizer_key(&grant.appid),
                    &update,
                    &condition,
                    values,
                )
                .await?
            {
                return Ok(GrantOutcome::Updated);
            }
        }
        Err(StoreError::Backend {
            message: "put_grant: the authorizer kept changing under concurrent writes".to_owned(),
            source: None,
        })
    }

    async fn set_profile(
        &self,
        appid: &str,
        profile: &AuthorizerProfile,
        now: u64,
    ) -> StoreResult<()> {
        let mut sets = vec!["#updated_at = :now".to_owned()];
        let mut removes = Vec::new();
        let mut values = Values::new().with(":now", n(now));
        for (name, value) in [
            (attr::NICK_NAME, &profile.nick_name),
            (attr::HEAD_IMG, &profile.head_img),
            (attr::USER_NAME, &profile.user_name),
            (attr::PRINCIPAL_NAME, &profile.principal_name),
        ] {
            match value {
                Some(v) => {
                    sets.push(format!("#{name} = :{name}"));
                    values = values.with(&format!(":{name}"), s(v.clone()));
                }
                None => removes.push(format!("#{name}")),
            }
        }
        let mut update = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            update.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        self.update_if(
            self.authorizer_key(appid),
            &update,
            "attribute_exists(#pk)",
            values,
        )
        .await
        .map(|_| ())
    }

    async fn bind_tenant(&self, appid: &str, tenant: &str, now: u64) -> StoreResult<bool> {
        self.update_if(
            self.authorizer_key(appid),
            "SET #tenant = :tenant, #updated_at = :now, #gsi2pk = :by_tenant, #gsi2sk = :appid",
            "attribute_exists(#pk) AND (attribute_not_exists(#tenant) OR #tenant = :tenant)",
            self.with_tenant_index(Values::new(), appid, tenant)
                .with(":tenant", s(tenant))
                .with(":now", n(now)),
        )
        .await
    }

    async fn list_authorizers(
        &self,
        tenant: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        if let Some(tenant) = tenant {
            return self.list_tenant_authorizers(tenant, cursor, limit).await;
        }
        // Every authorizer, bound or not, is an admin's listing (the CLI's
        // status): a filtered Scan, paid per table size. Tenants read gsi2.
        let filter = "begins_with(#pk, :prefix) AND #sk = :sk";
        let values = Values::new()
            .with(":prefix", s(self.keys.authorizer_prefix()))
            .with(":sk", s(keys::SK_PROFILE));
        if let Some(cursor) = cursor {
            cursor_of_keys(cursor, &[TABLE_KEY_PK, TABLE_KEY_SK])?;
        }
        let (found, next) = self
            .scan_page(filter, &values, cursor, limit.max(1) as usize)
            .await?;
        let items = found
            .iter()
            .map(items::authorizer_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    async fn due_authorizers(
        &self,
        due_before: u64,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<String>> {
        let start = cursor.map(decode_cursor).transpose()?;
        let (found, last) = self
            .query_index(self.keys.due_partition(), due_before, start, limit, None)
            .await?;
        let items = found
            .iter()
            .filter_map(|item| {
                let pk = item.get(TABLE_KEY_PK)?.as_s().ok()?;
                self.keys.authorizer_appid(pk).map(str::to_owned)
            })
            .collect();
        Ok(Page {
            items,
            next: Self::page_cursor(last),
        })
    }

    async fn acquire_authorizer_lease(
        &self,
        appid: &str,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        self.acquire_lease(
            self.authorizer_key(appid),
            false,
            owner,
            expected_version,
            now,
            lease_until,
        )
        .await
    }

    async fn complete_authorizer_renewal(
        &self,
        appid: &str,
        owner: &str,
        tokens: &RenewedTokens,
        now: u64,
    ) -> StoreResult<RenewalOutcome> {
        // gsi1sk follows the expiry; the item is in the due index only while it
        // also has gsi1pk (active with a refresh token).
        let mut update = "SET #access_token = :token, #token_expires_at = :expires, #version = #version + :one, \
                          #updated_at = :now, #gsi1sk = :expires"
            .to_owned();
        let mut values = Values::new()
            .with(":owner", s(owner))
            .with(":token", s(tokens.access_token.expose()))
            .with(":expires", n(tokens.expires_at))
            .with(":one", n(1))
            .with(":now", n(now));
        if let Some(refresh) = &tokens.refresh_token {
            update.push_str(", #refresh_token = :refresh");
            values = values.with(":refresh", s(refresh.expose()));
        }
        update.push_str(" REMOVE #lease_owner, #lease_until");
        renewal_outcome(
            self.update(
                self.authorizer_key(appid),
                &update,
                "#lease_owner = :owner",
                values,
                ReturnValue::UpdatedNew,
            )
            .await,
        )
    }

    async fn release_authorizer_lease(&self, appid: &str, owner: &str) -> StoreResult<()> {
        self.release_lease(self.authorizer_key(appid), owner).await
    }

    async fn invalidate_authorizer_token(&self, appid: &str, version: u64) -> StoreResult<bool> {
        // Expiry 0 also makes it due at once for the refresh sweep.
        self.update_if(
            self.authorizer_key(appid),
            "SET #token_expires_at = :zero, #gsi1sk = :zero REMOVE #access_token",
            "#version = :v",
            Values::new().with(":zero", n(0)).with(":v", n(version)),
        )
        .await
    }

    async fn revoke_authorizer(&self, appid: &str, now: u64) -> StoreResult<bool> {
        // The lease goes too, so a renewal in flight cannot write tokens back.
        self.update_if(
            self.authorizer_key(appid),
            "SET #status = :revoked, #updated_at = :now, #token_expires_at = :zero \
             REMOVE #access_token, #refresh_token, #gsi1pk, #gsi1sk, #lease_owner, #lease_until",
            "attribute_exists(#pk)",
            Values::new()
                .with(":revoked", s(AuthorizerStatus::Revoked.as_str()))
                .with(":now", n(now))
                .with(":zero", n(0)),
        )
        .await
    }

    async fn mark_needs_reauth(&self, appid: &str, now: u64) -> StoreResult<bool> {
        self.update_if(
            self.authorizer_key(appid),
            "SET #status = :needs, #updated_at = :now REMOVE #gsi1pk, #gsi1sk",
            "attribute_exists(#pk)",
            Values::new()
                .with(":needs", s(AuthorizerStatus::NeedsReauth.as_str()))
                .with(":now", n(now)),
        )
        .await
    }

    async fn repair_refresh_token(
        &self,
        appid: &str,
        refresh_token: &Secret,
        now: u64,
    ) -> StoreResult<bool> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let Some(existing) = self.read_authorizer(appid).await? else {
                return Ok(false);
            };
            if existing.refresh_token.as_ref() == Some(refresh_token) {
                return Ok(false);
            }
            let status = match existing.status {
                AuthorizerStatus::NeedsReauth => AuthorizerStatus::Active,
                other => other,
            };
            let mut values = Values::new()
                .with(":refresh", s(refresh_token.expose()))
                .with(":status", s(status.as_str()))
                .with(":now", n(now))
                .with(":v", n(existing.token.version))
                .with(":seen_status", s(existing.status.as_str()));
            let mut update =
                "SET #refresh_token = :refresh, #status = :status, #updated_at = :now".to_owned();
            match self.due_entry(status, true, existing.token.expires_at) {
                Some((partition, due)) => {
                    update.push_str(", #gsi1pk = :due, #gsi1sk = :due_at");
                    values = values.with(":due", s(partition)).with(":due_at", n(due));
                }
                None => update.push_str(" REMOVE #gsi1pk, #gsi1sk"),
            }
            if self
                .update_if(
                    self.authorizer_key(appid),
                    &update,
                    "#version = :v AND #status = :seen_status",
                    values,
                )
                .await?
            {
                return Ok(true);
            }
        }
        Err(StoreError::Backend {
            message: "repair_refresh_token: the authorizer kept changing under concurrent writes"
                .to_owned(),
            source: None,
        })
    }

    // --- links and pre-auth codes ---

    async fn create_link(&self, link: &Link) -> StoreResult<()> {
        self.put(items::link_to_item(&self.keys, link), None, Values::new())
            .await
            .map_err(into_store_error)
    }

    async fn get_link(&self, id: &str, now: u64) -> StoreResult<Option<Link>> {
        match self.get(self.keys.link(id), keys::SK_LINK).await? {
            Some(item) if !items::is_expired(&item, now) => items::link_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn consume_link(&self, id: &str, appid: &str, now: u64) -> StoreResult<ConsumeOutcome> {
        let result = self
            .update(
                key(self.keys.link(id), keys::SK_LINK),
                "SET #used = :true, #used_by = :appid",
                "#used = :false AND #expires_at > :now",
                Values::new()
                    .with(":true", b(true))
                    .with(":false", b(false))
                    .with(":appid", s(appid))
                    .with(":now", n(now)),
                ReturnValue::AllNew,
            )
            .await;
        match result {
            Ok(Some(item)) => items::link_from_item(&item).map(ConsumeOutcome::Consumed),
            Ok(None) => Err(StoreError::Backend {
                message: "UpdateItem returned no attributes for ALL_NEW".to_owned(),
                source: None,
            }),
            Err(WriteError::ConditionFailed(None)) => Ok(ConsumeOutcome::NotFound),
            Err(WriteError::ConditionFailed(Some(old))) => {
                if items::is_expired(&old, now) {
                    Ok(ConsumeOutcome::Expired)
                } else {
                    items::link_from_item(&old).map(ConsumeOutcome::AlreadyUsed)
                }
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn put_preauth(&self, preauth: &PreAuth) -> StoreResult<()> {
        self.put(
            items::preauth_to_item(&self.keys, preauth),
            None,
            Values::new(),
        )
        .await
        .map_err(into_store_error)
    }

    async fn get_preauth(&self, code_hash: &str, now: u64) -> StoreResult<Option<PreAuth>> {
        match self
            .get(self.keys.preauth(code_hash), keys::SK_PREAUTH)
            .await?
        {
            Some(item) if !items::is_expired(&item, now) => {
                items::preauth_from_item(&item).map(Some)
            }
            _ => Ok(None),
        }
    }

    // --- API keys ---

    async fn put_api_key(&self, api_key: &ApiKey) -> StoreResult<()> {
        self.put(
            items::api_key_to_item(&self.keys, api_key),
            None,
            Values::new(),
        )
        .await
        .map_err(into_store_error)
    }

    async fn get_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.get(self.keys.api_key(hash), keys::SK_KEY)
            .await?
            .map(|item| items::api_key_from_item(&item))
            .transpose()
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let values = Values::new()
            .with(":prefix", s(self.keys.api_key_prefix()))
            .with(":sk", s(keys::SK_KEY));
        let found = self
            .scan_all("begins_with(#pk, :prefix) AND #sk = :sk", &values)
            .await?;
        let mut list = found
            .iter()
            .map(items::api_key_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        list.sort_by(|a, b| (a.created_at, &a.hash).cmp(&(b.created_at, &b.hash)));
        Ok(list)
    }

    async fn revoke_api_key(&self, hash: &str) -> StoreResult<bool> {
        self.update_if(
            key(self.keys.api_key(hash), keys::SK_KEY),
            "SET #revoked = :true",
            "attribute_exists(#pk)",
            Values::new().with(":true", b(true)),
        )
        .await
    }

    // --- jobs and chunks ---

    async fn create_job(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
        if chunks.len() > MAX_CHUNKS_PER_JOB {
            return Err(StoreError::Invalid(format!(
                "a job holds at most {MAX_CHUNKS_PER_JOB} chunks in one atomic write, got {}",
                chunks.len()
            )));
        }
        if let Some(stray) = chunks.iter().find(|c| c.job_id != job.id) {
            return Err(StoreError::Invalid(format!(
                "chunk {} belongs to another job",
                stray.index
            )));
        }
        let build = |e: aws_sdk_dynamodb::error::BuildError| {
            StoreError::backend("building a transaction item", e)
        };
        let new_item = |item: Item| -> StoreResult<TransactWriteItem> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", TABLE_KEY_PK)
                .build()
                .map_err(build)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let chunks_partition = self.keys.chunks_partition();
        let mut writes = vec![new_item(items::job_to_item(&self.keys, job))?];
        for chunk in chunks {
            writes.push(new_item(items::chunk_to_item(
                &self.keys,
                chunk,
                &chunks_partition,
            )?)?);
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
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(c)
                    if c.cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    // This very job already stored is an attempt whose answer
                    // was lost before the SDK sent it again (the transaction
                    // wrote its chunks with it).
                    if let Some(item) = self.get(self.keys.job(&job.id), keys::SK_JOB).await? {
                        if items::job_from_item(&item)? == *job {
                            return Ok(());
                        }
                    }
                    Err(StoreError::Invalid(
                        "a job with this id already exists".to_owned(),
                    ))
                }
                other => Err(service_error("TransactWriteItems", other)),
            },
        }
    }

    async fn get_job(&self, id: &str, now: u64) -> StoreResult<Option<Job>> {
        match self.get(self.keys.job(id), keys::SK_JOB).await? {
            Some(item) if !items::is_expired(&item, now) => items::job_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<Chunk>> {
        let condition = "#pk = :pk AND begins_with(#sk, :chunk)";
        let mut start = None;
        let mut chunks = Vec::new();
        loop {
            bump(&self.counter.query, 1);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_expression_attribute_names(names(&[condition]))
                .expression_attribute_values(":pk", s(self.keys.job(job_id)))
                .expression_attribute_values(":chunk", s(keys::SK_CHUNK_PREFIX))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for item in out.items() {
                chunks.push(items::chunk_from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(chunks),
            }
        }
    }

    async fn set_job_state(
        &self,
        id: &str,
        state: JobState,
        stop_reason: Option<&StopReason>,
    ) -> StoreResult<()> {
        let mut values = Values::new().with(":state", s(items::job_state_str(state)));
        let update = match stop_reason {
            Some(reason) => {
                values = values.with(":reason", s(reason.to_string()));
                "SET #state = :state, #stop_reason = :reason"
            }
            None => "SET #state = :state REMOVE #stop_reason",
        };
        self.update_if(
            key(self.keys.job(id), keys::SK_JOB),
            update,
            "attribute_exists(#pk)",
            values,
        )
        .await
        .map(|_| ())
    }

    async fn claimable_chunks(&self, now: u64, limit: u32) -> StoreResult<Vec<ChunkRef>> {
        let (found, _) = self
            .query_index(self.keys.chunks_partition(), now, None, limit, Some(now))
            .await?;
        Ok(found
            .iter()
            .filter_map(|item| {
                let pk = item.get(TABLE_KEY_PK)?.as_s().ok()?;
                let sk = item.get(TABLE_KEY_SK)?.as_s().ok()?;
                self.keys.chunk_ref(pk, sk)
            })
            .collect())
    }

    async fn claim_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<ClaimOutcome> {
        let result = self
            .update(
                self.chunk_key(chunk),
                "SET #lease_owner = :owner, #lease_until = :lease_until, #gsi1sk = :lease_until, \
                 #attempts = #attempts + :one",
                "#state = :pending AND (attribute_not_exists(#lease_until) OR #lease_until <= :now) \
                 AND #expires_at > :now",
                Values::new()
                    .with(":owner", s(owner))
                    .with(":lease_until", n(lease_until))
                    .with(":one", n(1))
                    .with(":pending", s(items::chunk_state_str(ChunkState::Pending)))
                    .with(":now", n(now)),
                ReturnValue::AllNew,
            )
            .await;
        match result {
            Ok(Some(item)) => items::chunk_from_item(&item).map(ClaimOutcome::Claimed),
            Ok(None) => Err(StoreError::Backend {
                message: "UpdateItem returned no attributes for ALL_NEW".to_owned(),
                source: None,
            }),
            Err(WriteError::ConditionFailed(None)) => Ok(ClaimOutcome::NotFound),
            Err(WriteError::ConditionFailed(Some(old))) => {
                if items::is_expired(&old, now) {
                    return Ok(ClaimOutcome::NotFound);
                }
                let current = items::chunk_from_item(&old)?;
                // Our own claim, whose answer was lost and whose repeat the new lease refused.
                let ours = current.lease_owner.as_deref() == Some(owner)
                    && current.lease_until == lease_until;
                Ok(if current.state == ChunkState::Pending && ours {
                    ClaimOutcome::Claimed(current)
                } else if current.state == ChunkState::Pending {
                    ClaimOutcome::Held
                } else {
                    ClaimOutcome::Finished
                })
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn checkpoint_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        lease_until: u64,
    ) -> StoreResult<CheckpointOutcome> {
        let saved = self
            .update_if(
                self.chunk_key(chunk),
                "SET #results = :results, #lease_until = :lease_until, #gsi1sk = :lease_until",
                "#lease_owner = :owner",
                Values::new()
                    .with(":results", items::results_value(results)?)
                    .with(":lease_until", n(lease_until))
                    .with(":owner", s(owner)),
            )
            .await?;
        Ok(checkpoint_outcome(saved))
    }

    async fn finish_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        state: ChunkState,
    ) -> StoreResult<CheckpointOutcome> {
        if state == ChunkState::Pending {
            return Err(StoreError::Invalid(
                "finish_chunk takes a final state (done or stopped)".to_owned(),
            ));
        }
        let saved = self
            .update_if(
                self.chunk_key(chunk),
                "SET #results = :results, #state = :state, #lease_until = :zero \
                 REMOVE #lease_owner, #gsi1pk, #gsi1sk",
                "#lease_owner = :owner",
                Values::new()
                    .with(":results", items::results_value(results)?)
                    .with(":state", s(items::chunk_state_str(state)))
                    .with(":zero", n(0))
                    .with(":owner", s(owner)),
            )
            .await?;
        Ok(checkpoint_outcome(saved))
    }

    async fn release_chunk(&self, chunk: &ChunkRef, owner: &str) -> StoreResult<()> {
        self.update_if(
            self.chunk_key(chunk),
            "SET #lease_until = :zero, #gsi1sk = :zero REMOVE #lease_owner",
            "#lease_owner = :owner",
            Values::new().with(":zero", n(0)).with(":owner", s(owner)),
        )
        .await
        .map(|_| ())
    }

    // --- idempotency ---

    async fn insert_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: u64,
    ) -> StoreResult<IdempotencyOutcome> {
        let mut item = items::idempotency_to_item(&self.keys, record);
        let write_id = stamp_write_id(&mut item);
        let condition = "attribute_not_exists(#pk) OR #expires_at <= :now";
        match self
            .put(item, Some(condition), Values::new().with(":now", n(now)))
            .await
        {
            Ok(()) => Ok(IdempotencyOutcome::Inserted),
            Err(WriteError::ConditionFailed(Some(old))) if written_by(&old, &write_id) => {
                Ok(IdempotencyOutcome::Inserted)
            }
            Err(WriteError::ConditionFailed(Some(old))) => {
                items::idempotency_from_item(&old).map(IdempotencyOutcome::Existing)
            }
            Err(WriteError::ConditionFailed(None)) => {
                // DynamoDB always returns the old item here; be safe if it did not.
                match self
                    .get(self.keys.idempotency(&record.key_hash), keys::SK_IDEM)
                    .await?
                {
                    Some(old) => {
                        items::idempotency_from_item(&old).map(IdempotencyOutcome::Existing)
                    }
                    None => Err(StoreError::Backend {
                        message: "idempotency record vanished during insert".to_owned(),
                        source: None,
                    }),
                }
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn complete_idempotency(
        &self,
        key_hash: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()> {
        self.update_if(
            key(self.keys.idempotency(key_hash), keys::SK_IDEM),
            "SET #response_status = :status, #response_body = :body",
            "attribute_exists(#pk)",
            Values::new()
                .with(":status", n(status))
                .with(":body", s(body)),
        )
        .await
        .map(|_| ())
    }

    async fn delete_idempotency(&self, key_hash: &str) -> StoreResult<()> {
        // Only an in-progress record: a completed one is the answer to replay.
        self.delete_if(
            key(self.keys.idempotency(key_hash), keys::SK_IDEM),
            "attribute_not_exists(#response_status)",
            Values::new(),
        )
        .await
        .map(|_| ())
    }

    // --- finish events and seen pushes ---

    async fn put_finish_event(&self, event: &FinishEvent) -> StoreResult<()> {
        self.put(items::event_to_item(&self.keys, event), None, Values::new())
            .await
            .map_err(into_store_error)
    }

    async fn get_finish_events(
        &self,
        appid: &str,
        msg_ids: &[u64],
        now: u64,
    ) -> StoreResult<Vec<FinishEvent>> {
        let mut seen = HashSet::new();
        let wanted: Vec<u64> = msg_ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        let item_keys = wanted
            .iter()
            .map(|id| key(self.keys.event(appid, *id), keys::SK_EVENT))
            .collect();
        let mut by_id = HashMap::new();
        for item in self.batch_get(item_keys).await? {
            if items::is_expired(&item, now) {
                continue;
            }
            let event = items::event_from_item(&item)?;
            by_id.insert(event.msg_id, event);
        }
        Ok(wanted.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    async fn mark_push_seen(&self, push_key: &str, now: u64, expires_at: u64) -> StoreResult<bool> {
        let mut item = items::seen_to_item(&self.keys, push_key, expires_at);
        let write_id = stamp_write_id(&mut item);
        let condition = "attribute_not_exists(#pk) OR #expires_at <= :now";
        match self
            .put(item, Some(condition), Values::new().with(":now", n(now)))
            .await
        {
            Ok(()) => Ok(true),
            Err(WriteError::ConditionFailed(Some(old))) if written_by(&old, &write_id) => Ok(true),
            Err(WriteError::ConditionFailed(_)) => Ok(false),
            Err(WriteError::Store(e)) => Err(e),
        }
    }
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

fn into_store_error(e: WriteError) -> StoreError {
    match e {
        WriteError::Store(e) => e,
        WriteError::ConditionFailed(_) => StoreError::Backend {
            message: "unexpected failed condition on an unconditional write".to_owned(),
            source: None,
        },
    }
}

fn renewal_outcome(result: Result<Option<Item>, WriteError>) -> StoreResult<RenewalOutcome> {
    match result {
        Ok(Some(new)) => {
            let version = items::Reader::new("token", &new).u64(attr::VERSION)?;
            Ok(RenewalOutcome::Stored { version })
        }
        Ok(None) => Err(StoreError::Backend {
            message: "UpdateItem returned no attributes for UPDATED_NEW".to_owned(),
            source: None,
        }),
        Err(WriteError::ConditionFailed(_)) => Ok(RenewalOutcome::LostLease),
        Err(WriteError::Store(e)) => Err(e),
    }
}

fn checkpoint_outcome(saved: bool) -> CheckpointOutcome {
    if saved {
        CheckpointOutcome::Saved
    } else {
        CheckpointOutcome::LostLease
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_collected_from_every_expression() {
        let map = names(&["SET #a = :x, #b_c = #b_c + :one", "attribute_exists(#pk)"])
            .unwrap_or_default();
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("#b_c").map(String::as_str), Some("b_c"));
    }

    #[test]
    fn a_cursor_round_trips_and_garbage_is_invalid() {
        let k = HashMap::from([("pk".to_owned(), s("a#b")), ("gsi1sk".to_owned(), n(12))]);
        assert_eq!(decode_cursor(&encode_cursor(&k)).ok(), Some(k));
        assert!(matches!(
            decode_cursor("not a cursor!"),
            Err(StoreError::Invalid(_))
        ));
    }
}
