//! The store contract against `SqliteStore`, on a file (the `wxopen serve`
//! configuration: WAL, a writer and readers) and in memory; plus what only
//! SQLite can show: namespaces sharing one file, migrations, corrupt rows.

mod store_contract;

use std::path::PathBuf;
use std::sync::Arc;
use store_contract::{Store, COMPONENT_APPID, NOW};
use wxopen::store::sqlite::SqliteStore;
use wxopen::store::{AuthorizationGrant, AuthorizerStore, StoreError};

/// A fresh directory under cargo's scratch space for integration tests
/// (`target/tmp`), kept after the test so a failure can be inspected.
fn scratch_dir() -> PathBuf {
    tempfile::Builder::new()
        .prefix("store-sqlite-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("scratch dir")
        .keep()
}

fn file_store(path: &std::path::Path, component_appid: &str) -> Store {
    Arc::new(SqliteStore::open(path, component_appid).expect("open sqlite store"))
}

mod on_file {
    use super::*;

    async fn fresh() -> Store {
        file_store(&scratch_dir().join("state.db"), COMPONENT_APPID)
    }

    store_contract::contract_tests!(fresh);
}

mod in_memory {
    use super::*;

    async fn fresh() -> Store {
        Arc::new(SqliteStore::open_in_memory(COMPONENT_APPID).expect("open in-memory store"))
    }

    store_contract::contract_tests!(fresh);
}

fn grant(appid: &str) -> AuthorizationGrant {
    AuthorizationGrant {
        appid: appid.into(),
        tenant: Some("tenant-a".into()),
        auth_code_hash: "hash-c1".into(),
        access_token: "access-1".into(),
        expires_at: NOW + 7200,
        refresh_token: "refresh-1".into(),
        func_info: vec![1],
        now: NOW,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_component_appids_on_one_file_see_nothing_of_each_other() {
    let path = scratch_dir().join("shared.db");
    let a = file_store(&path, COMPONENT_APPID);
    let b = file_store(&path, "wxcomponent0002");
    store_contract::namespacing::namespaces_do_not_see_each_other(a, b).await;
}

#[tokio::test]
async fn reopening_keeps_records_and_schema() {
    let path = scratch_dir().join("state.db");
    file_store(&path, COMPONENT_APPID)
        .put_grant(&grant("wxa1"))
        .await
        .unwrap();

    let reopened = file_store(&path, COMPONENT_APPID);
    let a = reopened
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .expect("authorizer survives reopening");
    assert_eq!(
        a.refresh_token.as_ref().map(|t| t.expose()),
        Some("refresh-1")
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
}

#[test]
fn a_newer_schema_than_this_build_is_refused() {
    let path = scratch_dir().join("state.db");
    drop(SqliteStore::open(&path, COMPONENT_APPID).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteStore::open(&path, COMPONENT_APPID).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

#[test]
fn an_empty_component_appid_is_refused() {
    assert!(matches!(
        SqliteStore::open_in_memory(""),
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn an_unknown_status_reads_as_corrupt_naming_record_and_attribute() {
    let path = scratch_dir().join("state.db");
    let store = file_store(&path, COMPONENT_APPID);
    store.put_grant(&grant("wxa1")).await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE authorizer SET status = 'paused' WHERE appid = 'wxa1'",
            [],
        )
        .unwrap();

    let err = store.get_authorizer("wxa1").await.unwrap_err();
    match &err {
        StoreError::Corrupt {
            record, attribute, ..
        } => assert_eq!((*record, attribute.as_str()), ("authorizer", "status")),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(
        store.list_authorizers(None, None, 10).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_corrupt_token_column_never_shows_its_value() {
    let path = scratch_dir().join("state.db");
    let store = file_store(&path, COMPONENT_APPID);
    store.put_grant(&grant("wxa1")).await.unwrap();
    // a refresh token stored as a blob cannot be read as text
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE authorizer SET refresh_token = CAST('refresh-secret-value' AS BLOB) WHERE appid = 'wxa1'", [])
        .unwrap();

    let err = store.get_authorizer("wxa1").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                record: "authorizer",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err:?} {err}").contains("refresh-secret-value"));
}

#[tokio::test]
async fn a_malformed_due_cursor_is_invalid_input() {
    let store = SqliteStore::open_in_memory(COMPONENT_APPID).unwrap();
    let err = store
        .due_authorizers(NOW, Some("not-a-cursor"), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_race_for_a_lease_and_one_wins() {
    // given two processes (two stores, each with its own connections) on one file
    let path = scratch_dir().join("state.db");
    let stores = [
        file_store(&path, COMPONENT_APPID),
        file_store(&path, COMPONENT_APPID),
    ];
    // when 40 callers spread over both race for the component lease
    let barrier = Arc::new(tokio::sync::Barrier::new(40));
    let racers: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .acquire_component_lease(&format!("racer-{i}"), 0, NOW, NOW + 30)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut acquired = 0;
    for r in racers {
        if r.await.unwrap() == wxopen::store::LeaseOutcome::Acquired {
            acquired += 1;
        }
    }
    // then exactly one holds it, as both stores read back
    assert_eq!(acquired, 1);
    let owners: Vec<_> = [
        stores[0].get_component_token().await.unwrap(),
        stores[1].get_component_token().await.unwrap(),
    ]
    .into_iter()
    .map(|t| t.lease_owner)
    .collect();
    assert!(owners[0].is_some());
    assert_eq!(owners[0], owners[1]);
}
