//! The one DynamoDB table of design.md §4: its names (the SAM template is
//! written from these consts) and `create_table` for tests and local setups.

use super::error::sdk_error;
use crate::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// Partition key attribute (S).
pub const TABLE_KEY_PK: &str = "pk";
/// Sort key attribute (S).
pub const TABLE_KEY_SK: &str = "sk";
/// The sparse index of due authorizers and pending chunks.
pub const GSI_NAME: &str = "gsi1";
/// Partition key of `gsi1` (S): `{cappid}#due` or `{cappid}#chunks`.
pub const GSI_KEY_PK: &str = "gsi1pk";
/// Sort key of `gsi1` (N): token expiry (authorizers) or lease end, 0 when free (chunks).
pub const GSI_KEY_SK: &str = "gsi1sk";
/// `gsi1` projects the keys and `expires_at` only (INCLUDE): the queries need
/// nothing else (expired chunks are filtered out), and writes that leave these
/// attributes alone (lease acquire, profile, …) cost no index write.
pub const GSI_PROJECTION: &str = "INCLUDE";
/// The non-key attributes `gsi1` projects.
pub const GSI_PROJECTED_ATTRIBUTES: &[&str] = &[TTL_ATTRIBUTE];
/// The index of bound authorizers by tenant, so a tenant's listing reads its
/// own authorizers instead of scanning the whole table.
pub const TENANT_INDEX_NAME: &str = "gsi2";
/// Partition key of `gsi2` (S): `{cappid}#tenant#{tenant}`.
pub const TENANT_INDEX_PK: &str = "gsi2pk";
/// Sort key of `gsi2` (S): the authorizer appid, so a listing pages in appid order.
pub const TENANT_INDEX_SK: &str = "gsi2sk";
/// `gsi2` holds keys only: its entries change when a tenant is bound and never
/// on token renewals, and the listing reads the records themselves, consistently.
pub const TENANT_INDEX_PROJECTION: &str = "KEYS_ONLY";
/// The table's TTL attribute: DynamoDB deletes an item some time after it.
/// Only records meant to disappear carry it.
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The record kind on every item (`chunk`, `authorizer`, …): the send worker's
/// stream filter matches `kind = chunk`.
pub const KIND_ATTRIBUTE: &str = "kind";
/// The `kind` value of chunk items.
pub const KIND_CHUNK: &str = "chunk";
/// The stream carries new images (the send worker reads new chunks from it).
pub const STREAM_VIEW_TYPE: &str = "NEW_IMAGE";
/// On-demand capacity.
pub const BILLING_MODE: &str = "PAY_PER_REQUEST";

/// How long `create_table` waits for the table to become ACTIVE.
const ACTIVE_DEADLINE: Duration = Duration::from_secs(120);

/// Create the table as the SAM template does and wait until it is ACTIVE.
pub async fn create_table(client: &Client, table: &str) -> StoreResult<()> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| {
        StoreError::backend("building the CreateTable request", e)
    };
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .map_err(build)
    };
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .map_err(build)
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(GSI_NAME)
        .key_schema(key(GSI_KEY_PK, KeyType::Hash)?)
        .key_schema(key(GSI_KEY_SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(
                    GSI_PROJECTED_ATTRIBUTES
                        .iter()
                        .map(|a| (*a).to_owned())
                        .collect(),
                ))
                .build(),
        )
        .build()
        .map_err(build)?;
    let tenant_index = GlobalSecondaryIndex::builder()
        .index_name(TENANT_INDEX_NAME)
        .key_schema(key(TENANT_INDEX_PK, KeyType::Hash)?)
        .key_schema(key(TENANT_INDEX_SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(build)?;
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewImage)
        .build()
        .map_err(build)?;
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute(TABLE_KEY_PK, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(TABLE_KEY_SK, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(GSI_KEY_PK, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(GSI_KEY_SK, ScalarAttributeType::N)?)
        .attribute_definitions(attribute(TENANT_INDEX_PK, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(TENANT_INDEX_SK, ScalarAttributeType::S)?)
        .key_schema(key(TABLE_KEY_PK, KeyType::Hash)?)
        .key_schema(key(TABLE_KEY_SK, KeyType::Range)?)
        .global_secondary_indexes(index)
        .global_secondary_indexes(tenant_index)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream)
        .send()
        .await
        .map_err(|e| sdk_error("CreateTable", e))?;
    wait_until_active(client, table).await?;
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TTL_ATTRIBUTE)
        .build()
        .map_err(build)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateTimeToLive", e))?;
    Ok(())
}

async fn wait_until_active(client: &Client, table: &str) -> StoreResult<()> {
    let deadline = tokio::time::Instant::now() + ACTIVE_DEADLINE;
    loop {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTable", e))?;
        let status = described.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Backend {
                message: format!(
                    "table did not become ACTIVE within {}s",
                    ACTIVE_DEADLINE.as_secs()
                ),
                source: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
