//! The DynamoDB store against moto_server (a real DynamoDB-compatible server).
//!
//! Run through `scripts/test`, which starts moto and exports
//! `AWS_ENDPOINT_URL_DYNAMODB`; or start moto yourself and export it (plus
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_REGION`). Start moto
//! single-threaded (see `MOTO_HINT`): `moto_server` serves requests on
//! threads without making a conditional write atomic, so the `racing_*`
//! contract tests would see two winners that DynamoDB never produces.
//! Every test gets its own freshly created table.

mod store_contract;

use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, KeySchemaElement, KeyType, ProjectionType, StreamViewType,
};
use std::collections::HashMap;
use std::sync::Arc;
use wxopen::secret::Secret;
use wxopen::store::dynamo::{self, DynamoStore};
use wxopen::store::*;

const COMPONENT: &str = "wxcomponent0001";
const ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL_DYNAMODB";
/// How to start a single-threaded moto by hand.
const MOTO_HINT: &str = "python3 -c 'from werkzeug.serving import run_simple; \
from moto.moto_server.werkzeug_app import DomainDispatcherApplication as D, create_backend_app as c; \
run_simple(\"127.0.0.1\", 5005, D(c), threaded=False)' &";

/// A store over a new, empty table (unique name) on the moto endpoint.
async fn fresh_store() -> DynamoStore {
    if std::env::var_os(ENDPOINT_VARIABLE).is_none() {
        panic!(
            "{ENDPOINT_VARIABLE} is not set: the DynamoDB store tests need a DynamoDB endpoint. \
             Run scripts/test (it starts moto), or start moto single-threaded with\n  {MOTO_HINT}\nand \
             export {ENDPOINT_VARIABLE}=http://127.0.0.1:5005 AWS_ACCESS_KEY_ID=testing \
             AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"
        );
    }
    for (name, default) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ] {
        if std::env::var_os(name).is_none() {
            panic!("{name} is not set: export {name}={default} (scripts/test does) to run the DynamoDB store tests");
        }
    }
    let table = format!("wxopen-test-{}", uuid::Uuid::new_v4());
    let store = DynamoStore::from_env(&table, COMPONENT).await;
    if let Err(e) = dynamo::create_table(store.client(), &table).await {
        panic!(
            "creating table {table} on {ENDPOINT_VARIABLE} failed (is moto_server running?): {e:?}"
        );
    }
    store
}

/// The whole contract runs with credentials sealed.
async fn fresh() -> Arc<dyn StateStore> {
    let keys = wxopen::crypto::at_rest::DataKeys::new(store_contract::at_rest::K1, None);
    Arc::new(fresh_store().await.with_data_keys(keys))
}

store_contract::contract_tests!(fresh);
store_contract::events::event_contract_tests!(fresh);

#[tokio::test]
async fn namespaces_sharing_a_table_do_not_see_each_other() {
    let a = fresh_store().await;
    let b = DynamoStore::new(a.client().clone(), a.table(), "wxcomponent0002");
    store_contract::namespacing::namespaces_do_not_see_each_other(Arc::new(a), Arc::new(b)).await;
}

async fn raw_item(store: &DynamoStore, pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    let out = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(pk.to_owned()))
        .key("sk", AttributeValue::S(sk.to_owned()))
        .send()
        .await;
    match out {
        Ok(out) => out.item.unwrap_or_default(),
        Err(e) => panic!("raw GetItem failed: {e:?}"),
    }
}

async fn put_raw(store: &DynamoStore, item: HashMap<String, AttributeValue>) {
    if let Err(e) = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
    {
        panic!("raw PutItem failed: {e:?}");
    }
}

fn grant(appid: &str, tenant: Option<&str>, code: &str, expires_at: u64) -> AuthorizationGrant {
    AuthorizationGrant {
        appid: appid.to_owned(),
        tenant: tenant.map(str::to_owned),
        auth_code_hash: code.to_owned(),
        access_token: Secret::new(format!("access-{code}")),
        expires_at,
        refresh_token: Secret::new(format!("refresh-{code}")),
        func_info: vec![1, 15],
        now: 1_000,
    }
}

fn job(id: &str, chunk_count: u32) -> Job {
    Job {
        id: id.to_owned(),
        appid: "wxauth1".to_owned(),
        tenant: "t1".to_owned(),
        kind: "template".to_owned(),
        payload: "{}".to_owned(),
        total: chunk_count * 2,
        chunk_count,
        chunks_done: 0,
        chunks_stopped: 0,
        state: JobState::Queued,
        stop_reason: None,
        created_at: 1_000,
        expires_at: 1_000_000,
    }
}

fn chunk(job_id: &str, index: u32) -> Chunk {
    Chunk {
        job_id: job_id.to_owned(),
        index,
        appid: "wxauth1".to_owned(),
        recipients: vec![format!("o{index}a"), format!("o{index}b")],
        results: Vec::new(),
        state: ChunkState::Pending,
        lease_owner: None,
        lease_until: 0,
        attempts: 0,
        expires_at: 1_000_000,
    }
}

// --- the table ---

#[tokio::test]
async fn create_table_builds_the_template_table() {
    let store = fresh_store().await;
    let described = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .map(|d| d.table);
    let Ok(Some(table)) = described else {
        panic!("DescribeTable failed: {described:?}");
    };
    let keys = key_schema(table.key_schema());
    assert_eq!(keys, vec![("pk", &KeyType::Hash), ("sk", &KeyType::Range)]);
    let index = table
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(dynamo::GSI_NAME));
    let Some(index) = index else {
        panic!("no {} index", dynamo::GSI_NAME);
    };
    let index_keys = key_schema(index.key_schema());
    assert_eq!(
        index_keys,
        vec![
            (dynamo::GSI_KEY_PK, &KeyType::Hash),
            (dynamo::GSI_KEY_SK, &KeyType::Range)
        ]
    );
    let projection = index.projection();
    assert_eq!(
        projection.and_then(|p| p.projection_type()),
        Some(&ProjectionType::Include)
    );
    let tenant_index = table
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(dynamo::TENANT_INDEX_NAME));
    let Some(tenant_index) = tenant_index else {
        panic!("no {} index", dynamo::TENANT_INDEX_NAME);
    };
    let tenant_keys = key_schema(tenant_index.key_schema());
    assert_eq!(
        tenant_keys,
        vec![
            (dynamo::TENANT_INDEX_PK, &KeyType::Hash),
            (dynamo::TENANT_INDEX_SK, &KeyType::Range)
        ]
    );
    assert_eq!(
        tenant_index.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::KeysOnly)
    );
    assert_eq!(
        projection.map(|p| p.non_key_attributes()),
        Some(&[dynamo::TTL_ATTRIBUTE.to_owned()][..])
    );
    assert_eq!(
        table
            .stream_specification()
            .and_then(|s| s.stream_view_type()),
        Some(&StreamViewType::NewImage)
    );
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .ok()
        .and_then(|t| t.time_to_live_description)
        .and_then(|d| d.attribute_name);
    assert_eq!(ttl.as_deref(), Some(dynamo::TTL_ATTRIBUTE));
}

/// A key schema as (attribute, HASH/RANGE) pairs, in order.
fn key_schema(schema: &[KeySchemaElement]) -> Vec<(&str, &KeyType)> {
    schema
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect()
}

// --- TTL safety: tokens must never carry the TTL attribute ---

#[tokio::test]
async fn authorizer_and_component_token_items_have_no_ttl_attribute() {
    let store = fresh_store().await;
    store
        .put_grant(&grant("wxauth1", Some("t1"), "c1", 8_200))
        .await
        .ok();
    assert_eq!(
        store
            .acquire_component_lease("w1", 0, 1_000, 1_030)
            .await
            .ok(),
        Some(LeaseOutcome::Acquired)
    );
    store
        .complete_component_renewal("w1", &Secret::new("ctoken"), 8_200)
        .await
        .ok();

    let authorizer = raw_item(
        &store,
        &format!("{COMPONENT}#authorizer#wxauth1"),
        "profile",
    )
    .await;
    let token = raw_item(&store, &format!("{COMPONENT}#component"), "token").await;

    for item in [&authorizer, &token] {
        assert!(!item.is_empty(), "item not written");
        assert!(
            !item.contains_key(dynamo::TTL_ATTRIBUTE),
            "a token record carries the TTL attribute"
        );
        assert_eq!(
            item.get(dynamo::TOKEN_EXPIRES_AT_ATTRIBUTE),
            Some(&AttributeValue::N("8200".to_owned()))
        );
    }
}

#[tokio::test]
async fn records_meant_to_disappear_carry_the_ttl_attribute() {
    let store = fresh_store().await;
    store
        .create_job(&job("j1", 1), &[chunk("j1", 0)])
        .await
        .ok();
    let chunk_item = raw_item(&store, &format!("{COMPONENT}#job#j1"), "chunk#00000").await;
    assert_eq!(
        chunk_item.get(dynamo::TTL_ATTRIBUTE),
        Some(&AttributeValue::N("1000000".to_owned()))
    );
    assert_eq!(
        chunk_item.get(dynamo::KIND_ATTRIBUTE),
        Some(&AttributeValue::S(dynamo::KIND_CHUNK.to_owned()))
    );
}

// --- malformed items ---

#[tokio::test]
async fn an_authorizer_with_an_unknown_status_is_corrupt_naming_the_attribute() {
    let store = fresh_store().await;
    store
        .put_grant(&grant("wxauth1", None, "c1", 8_200))
        .await
        .ok();
    let mut item = raw_item(
        &store,
        &format!("{COMPONENT}#authorizer#wxauth1"),
        "profile",
    )
    .await;
    item.insert("status".to_owned(), AttributeValue::S("bogus".to_owned()));
    put_raw(&store, item).await;

    match store.get_authorizer("wxauth1").await {
        Err(StoreError::Corrupt {
            record, attribute, ..
        }) => {
            assert_eq!((record, attribute.as_str()), ("authorizer", "status"));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn an_authorizer_missing_an_attribute_is_corrupt_naming_it() {
    let store = fresh_store().await;
    store
        .put_grant(&grant("wxauth1", None, "c1", 8_200))
        .await
        .ok();
    let mut item = raw_item(
        &store,
        &format!("{COMPONENT}#authorizer#wxauth1"),
        "profile",
    )
    .await;
    item.remove("authorized_at");
    put_raw(&store, item).await;

    match store.get_authorizer("wxauth1").await {
        Err(StoreError::Corrupt { attribute, .. }) => assert_eq!(attribute, "authorized_at"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

// --- the sparse index ---

#[tokio::test]
async fn due_authorizers_pages_through_the_index_and_skips_revoked_ones() {
    let store = fresh_store().await;
    for (i, expiry) in [(1, 2_000), (2, 2_100), (3, 2_200), (4, 9_000)] {
        store
            .put_grant(&grant(&format!("wxauth{i}"), None, "c", expiry))
            .await
            .ok();
    }
    store.revoke_authorizer("wxauth2", 1_500).await.ok();

    let mut due = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = match store.due_authorizers(3_000, cursor.as_deref(), 1).await {
            Ok(page) => page,
            Err(e) => panic!("due_authorizers failed: {e:?}"),
        };
        due.extend(page.items.into_iter().map(|a| a.appid));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    due.sort();
    assert_eq!(due, vec!["wxauth1".to_owned(), "wxauth3".to_owned()]);
    let revoked = raw_item(
        &store,
        &format!("{COMPONENT}#authorizer#wxauth2"),
        "profile",
    )
    .await;
    assert!(!revoked.contains_key(dynamo::GSI_KEY_PK));
}

#[tokio::test]
async fn a_tenant_listing_reads_its_index_never_the_whole_table() {
    let store = fresh_store().await;
    for i in 0..7 {
        store
            .put_grant(&grant(&format!("wxmine{i}"), Some("tenant-a"), "c", 9_000))
            .await
            .ok();
    }
    for i in 0..30 {
        store
            .put_grant(&grant(
                &format!("wxother{i:02}"),
                Some("tenant-b"),
                "c",
                9_000,
            ))
            .await
            .ok();
    }
    let before = store.request_counts();
    let page = match store.list_authorizers(Some("tenant-a"), None, 5).await {
        Ok(page) => page,
        Err(e) => panic!("list_authorizers failed: {e:?}"),
    };
    let used = store.request_counts().since(&before);
    let appids: Vec<&str> = page.items.iter().map(|a| a.appid.as_str()).collect();
    assert_eq!(
        appids,
        ["wxmine0", "wxmine1", "wxmine2", "wxmine3", "wxmine4"]
    );
    assert_eq!(
        (used.scan, used.query, used.batch_get_item),
        (0, 1, 1),
        "{used:?}"
    );
    let next = page.next.unwrap_or_else(|| panic!("a second page"));

    // The cursor pages on within tenant-a; another tenant cannot continue from it.
    let rest = store
        .list_authorizers(Some("tenant-a"), Some(&next), 5)
        .await
        .map(|p| p.items.into_iter().map(|a| a.appid).collect::<Vec<_>>());
    assert_eq!(
        rest.ok(),
        Some(vec!["wxmine5".to_owned(), "wxmine6".to_owned()])
    );
    let foreign = store
        .list_authorizers(Some("tenant-b"), Some(&next), 5)
        .await;
    assert!(
        matches!(foreign, Err(StoreError::Invalid(_))),
        "{foreign:?}"
    );
}

// --- configuration and cost ---

#[tokio::test]
async fn from_env_reaches_the_endpoint_in_aws_endpoint_url_dynamodb() {
    // fresh_store builds its client with `from_env` only: the table it
    // created is found on the endpoint, so the variable was honoured.
    let store = fresh_store().await;
    let described = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await;
    assert!(described.is_ok(), "{described:?}");
}

#[tokio::test]
async fn every_operation_of_a_renewal_is_one_request() {
    let store = fresh_store().await;
    let before = store.request_counts();
    store
        .acquire_component_lease("a", 0, 1_000, 1_030)
        .await
        .ok();
    store
        .complete_component_renewal("a", &Secret::new("tok"), 8_200)
        .await
        .ok();
    let used = store.request_counts().since(&before);
    assert_eq!((used.update_item, used.total()), (2, 2));
}

mod at_rest {
    use super::*;
    use futures::FutureExt;
    use store_contract::at_rest::{Dump, Open};
    use wxopen::crypto::at_rest::DataKeys;

    /// Stores over one table (with given keys) and a raw Scan of every item
    /// through the SDK client, not through the store.
    async fn on_one_table() -> (Open, Dump) {
        let first = fresh_store().await;
        let (client, table) = (first.client().clone(), first.table().to_owned());
        let (open_client, open_table) = (client.clone(), table.clone());
        let open: Open = Box::new(move |keys: Option<DataKeys>| {
            let store = DynamoStore::new(open_client.clone(), &open_table, COMPONENT);
            let store: Arc<dyn StateStore> = match keys {
                Some(keys) => Arc::new(store.with_data_keys(keys)),
                None => Arc::new(store),
            };
            async move { store }.boxed()
        });
        let dump: Dump = Box::new(move || {
            let (client, table) = (client.clone(), table.clone());
            async move {
                let mut out = String::new();
                let mut start = None;
                loop {
                    let page = client
                        .scan()
                        .table_name(&table)
                        .consistent_read(true)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .expect("raw scan");
                    for item in page.items() {
                        for value in item.values() {
                            out.push_str(&format!("{value:?}\n"));
                        }
                    }
                    match page.last_evaluated_key() {
                        Some(k) if !k.is_empty() => start = Some(k.clone()),
                        _ => break,
                    }
                }
                out
            }
            .boxed()
        });
        (open, dump)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_credential_is_stored_in_plaintext() {
        let (open, dump) = on_one_table().await;
        store_contract::at_rest::no_credential_is_stored_in_plaintext(open, dump).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn legacy_plaintext_reads_and_is_sealed_on_the_next_write() {
        let (open, dump) = on_one_table().await;
        store_contract::at_rest::legacy_plaintext_reads_and_is_sealed_on_the_next_write(open, dump)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rotation_opens_with_the_previous_key_and_reseals() {
        let (open, dump) = on_one_table().await;
        store_contract::at_rest::rotation_opens_with_the_previous_key_and_reseals(open, dump).await;
    }
}

#[tokio::test]
async fn a_chunk_of_a_job_no_longer_stored_is_not_finished_nor_its_job_made_again() {
    // Given a job whose chunk is claimed, and whose job item then disappears
    // (expired, deleted by TTL before its chunk)
    let store = fresh_store().await;
    store
        .create_job(&job("gone", 1), &[chunk("gone", 0)])
        .await
        .unwrap();
    let at = ChunkRef {
        job_id: "gone".to_owned(),
        index: 0,
    };
    let claimed = store.claim_chunk(&at, "w1", 1_000, 1_060).await.unwrap();
    assert!(matches!(claimed, ClaimOutcome::Claimed(_)), "{claimed:?}");
    let job_pk = format!("{COMPONENT}#job#gone");
    if let Err(e) = store
        .client()
        .delete_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(job_pk.clone()))
        .key("sk", AttributeValue::S("job".to_owned()))
        .send()
        .await
    {
        panic!("raw DeleteItem failed: {e:?}");
    }
    // When the chunk is finished
    let outcome = store
        .finish_chunk(&at, "w1", &[], ChunkState::Done)
        .await
        .unwrap();
    // Then the finish is refused, the chunk left as it was, and no stray job
    // item is made by its count
    assert_eq!(outcome, CheckpointOutcome::LostLease);
    let chunks = store.list_chunks("gone").await.unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].state, ChunkState::Pending);
    assert!(raw_item(&store, &job_pk, "job").await.is_empty());
}
