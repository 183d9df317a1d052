//! The store contract against `SqliteStore`, on a file (the `wxopen serve`
//! configuration: WAL, a writer and readers) and in memory; plus what only
//! SQLite can show: namespaces sharing one file, migrations, corrupt rows.

mod store_contract;

use std::path::PathBuf;
use std::sync::Arc;
use store_contract::{Store, COMPONENT_APPID, NOW};
use wxopen::store::sqlite::SqliteStore;
use wxopen::store::{AuthorizationGrant, AuthorizerStore, ChunkState, StoreError};

/// A fresh directory under cargo's scratch space for integration tests
/// (`target/tmp`), kept after the test so a failure can be inspected.
#[tokio::test]
async fn a_dropped_store_ends_its_writer_thread_and_closes_the_file() {
    let path = scratch_dir().join("state.db");
    let store = file_store(&path, COMPONENT_APPID);
    store.put_grant(&grant("wxa1")).await.unwrap();
    let wal = path.with_file_name("state.db-wal");
    assert!(wal.exists(), "the store writes ahead");
    drop(store);
    // SQLite removes the write-ahead log when the last connection closes:
    // the readers close with the store, the writer with its thread.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while wal.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer connection is still open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

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

    /// On a file the whole contract runs with credentials sealed (in memory: plaintext).
    async fn fresh() -> Store {
        let keys = wxopen::crypto::at_rest::DataKeys::new(store_contract::at_rest::K1, None);
        Arc::new(
            SqliteStore::open(&scratch_dir().join("state.db"), COMPONENT_APPID)
                .expect("open sqlite store")
                .with_data_keys(keys),
        )
    }

    store_contract::contract_tests!(fresh);
    store_contract::events::event_contract_tests!(fresh);
}

mod in_memory {
    use super::*;

    async fn fresh() -> Store {
        Arc::new(SqliteStore::open_in_memory(COMPONENT_APPID).expect("open in-memory store"))
    }

    store_contract::contract_tests!(fresh);
    store_contract::events::event_contract_tests!(fresh);
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
    assert_eq!(version, 6);
}

/// A file from before stopped chunks were counted on their job: the migration
/// counts them from the chunks, so a stopped job in flight is still seen to end.
#[tokio::test]
async fn the_migration_counts_the_stopped_chunks_of_jobs_already_stored() {
    let path = scratch_dir().join("state.db");
    let store = file_store(&path, COMPONENT_APPID);
    let refs = store_contract::stored_job(&store, "J1", 3).await;
    let ends = [ChunkState::Done, ChunkState::Stopped, ChunkState::Stopped];
    for (c, state) in refs.iter().zip(ends) {
        store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
        store.finish_chunk(c, "w1", &[], state).await.unwrap();
    }
    drop(store);
    // the schema as it was before the column
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.execute_batch("ALTER TABLE job DROP COLUMN chunks_stopped; PRAGMA user_version = 5;")
        .unwrap();
    drop(conn);

    let j = file_store(&path, COMPONENT_APPID)
        .get_job("J1", NOW)
        .await
        .unwrap()
        .expect("job");
    assert_eq!((j.chunks_done, j.chunks_stopped), (1, 2));
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

/// SQLite has no TTL: `purge_expired` (run by the refresh sweep) deletes
/// every expiring record at or past its expiry, of this component only, and
/// nothing else (issue #18, item 8).
#[tokio::test]
async fn purge_deletes_expired_rows_of_every_kind_and_nothing_else() {
    use std::collections::BTreeMap;
    use wxopen::store::{
        Chunk, ChunkState, FinishEvent, IdempotencyRecord, Job, JobState, Link, PreAuth,
    };

    let path = scratch_dir().join("state.db");
    let store = file_store(&path, COMPONENT_APPID);
    let neighbour = file_store(&path, "wxcomponent0002");
    let (gone, live) = (NOW - 1, NOW + 3600);
    store.put_grant(&grant("wxa1")).await.unwrap();
    for (suffix, expires_at) in [("gone", gone), ("live", live)] {
        let link = Link {
            id: format!("link-{suffix}"),
            tenant: "tenant-a".into(),
            auth_type: 3,
            biz_appid: None,
            return_url: None,
            created_at: NOW - 7200,
            expires_at,
            used: false,
            used_by: None,
        };
        store.create_link(&link).await.unwrap();
        let preauth = PreAuth {
            code_hash: format!("preauth-{suffix}"),
            link_id: link.id.clone(),
            tenant: "tenant-a".into(),
            expires_at,
        };
        store.put_preauth(&preauth).await.unwrap();
        let idem = IdempotencyRecord {
            key_hash: format!("idem-{suffix}"),
            request_hash: "r".into(),
            response: None,
            expires_at,
        };
        store.insert_idempotency(&idem, NOW - 7200).await.unwrap();
        let event = FinishEvent {
            appid: "wxa1".into(),
            msg_id: if suffix == "gone" { 1 } else { 2 },
            kind: "mass".into(),
            status: "send success".into(),
            openid: None,
            counts: BTreeMap::new(),
            create_time: 1_699_999_000,
            expires_at,
        };
        store.put_finish_event(&event).await.unwrap();
        store
            .mark_push_seen(&format!("push-{suffix}"), NOW - 7200, expires_at)
            .await
            .unwrap();
        let job_id = format!("job-{suffix}");
        let job = Job {
            id: job_id.clone(),
            appid: "wxa1".into(),
            tenant: "tenant-a".into(),
            kind: "template".into(),
            payload: "{}".into(),
            total: 4,
            chunk_count: 2,
            chunks_done: 2,
            chunks_stopped: 0,
            state: JobState::Done,
            stop_reason: None,
            created_at: NOW - 7200,
            expires_at,
        };
        let chunks: Vec<Chunk> = (0..2)
            .map(|index| Chunk {
                job_id: job_id.clone(),
                index,
                appid: "wxa1".into(),
                recipients: vec!["o1".into(), "o2".into()],
                results: Vec::new(),
                state: ChunkState::Done,
                lease_owner: None,
                lease_until: 0,
                attempts: 1,
                expires_at,
            })
            .collect();
        store.create_job(&job, &chunks).await.unwrap();
    }
    neighbour
        .mark_push_seen("push-neighbour", NOW - 7200, gone)
        .await
        .unwrap();

    // When the expired ones are purged
    let deleted = store.purge_expired(NOW).await.unwrap();

    // Then exactly one of each kind went (two chunks), the live ones, the
    // authorizer and the other component's records stay
    assert_eq!(deleted, 8);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    for table in ["link", "preauth", "idempotency", "finish_event", "job"] {
        assert_eq!(
            count(&format!("SELECT count(*) FROM {table}")),
            1,
            "{table}"
        );
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM {table} WHERE expires_at < {NOW}"
            )),
            0,
            "{table}"
        );
    }
    assert_eq!(count("SELECT count(*) FROM chunk"), 2);
    assert_eq!(count("SELECT count(*) FROM seen_push"), 2);
    assert_eq!(
        count("SELECT count(*) FROM seen_push WHERE cappid = 'wxcomponent0002'"),
        1
    );
    assert_eq!(count("SELECT count(*) FROM authorizer"), 1);
    assert!(store.get_link("link-live", NOW).await.unwrap().is_some());
    // and a second purge finds nothing more
    assert_eq!(store.purge_expired(NOW).await.unwrap(), 0);
}

#[tokio::test]
async fn the_purge_deletes_expired_events_with_their_deliveries_and_nothing_live() {
    use wxopen::store::EventRecord;
    let store = file_store(&scratch_dir().join("state.db"), COMPONENT_APPID);
    let event = |id: &str, created_at: u64| EventRecord {
        id: id.into(),
        event_type: "message.text".into(),
        appid: "wxa1".into(),
        tenant: Some("acme".into()),
        created_at,
        data: serde_json::Map::new(),
        expires_at: created_at + 100,
    };
    store
        .record_event(&event("evt_old", NOW), &["wh_a".into()])
        .await
        .unwrap();
    store
        .record_event(&event("evt_new", NOW + 500), &["wh_a".into()])
        .await
        .unwrap();
    assert_eq!(store.purge_expired_events(NOW + 500, 10).await.unwrap(), 1);
    assert!(store.list_deliveries("evt_old").await.unwrap().is_empty());
    assert_eq!(store.list_deliveries("evt_new").await.unwrap().len(), 1);
    assert!(store
        .get_event("evt_new", NOW + 500)
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.purge_expired_events(NOW + 500, 10).await.unwrap(), 0);
}

mod at_rest {
    use super::*;
    use futures::FutureExt;
    use store_contract::at_rest::{Dump, Open};
    use wxopen::crypto::at_rest::DataKeys;

    /// Stores over one file (with given keys) and a raw dump of every value
    /// in every table, read with rusqlite on the file, not through the store.
    fn on_one_file() -> (Open, Dump) {
        let path = scratch_dir().join("state.db");
        let for_open = path.clone();
        let open: Open = Box::new(move |keys: Option<DataKeys>| {
            let path = for_open.clone();
            async move {
                let store = SqliteStore::open(&path, COMPONENT_APPID).expect("open sqlite store");
                let store: Store = match keys {
                    Some(keys) => Arc::new(store.with_data_keys(keys)),
                    None => Arc::new(store),
                };
                store
            }
            .boxed()
        });
        let dump: Dump = Box::new(move || {
            let path = path.clone();
            async move { raw_dump(&path) }.boxed()
        });
        (open, dump)
    }

    fn raw_dump(path: &std::path::Path) -> String {
        use rusqlite::types::ValueRef;
        let conn = rusqlite::Connection::open(path).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut out = String::new();
        for table in tables {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..columns {
                    match row.get_ref(i).unwrap() {
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            out.push_str(&String::from_utf8_lossy(t))
                        }
                        ValueRef::Integer(n) => out.push_str(&n.to_string()),
                        _ => {}
                    }
                    out.push('\n');
                }
            }
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_credential_is_stored_in_plaintext() {
        let (open, dump) = on_one_file();
        store_contract::at_rest::no_credential_is_stored_in_plaintext(open, dump).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn legacy_plaintext_reads_and_is_sealed_on_the_next_write() {
        let (open, dump) = on_one_file();
        store_contract::at_rest::legacy_plaintext_reads_and_is_sealed_on_the_next_write(open, dump)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rotation_opens_with_the_previous_key_and_reseals() {
        let (open, dump) = on_one_file();
        store_contract::at_rest::rotation_opens_with_the_previous_key_and_reseals(open, dump).await;
    }
}
