//! SQLite backend, for `wxopen serve` on one machine: one file per record
//! family beside the connection handling here.
//!
//! One writer connection (every write runs in an IMMEDIATE transaction, so the
//! guarded `UPDATE … WHERE lease_until <= ?now AND version = ?v` and the reads
//! that classify a lost race see one consistent state; writes queued together
//! share one commit on the writer's own thread, see `commits`) and a few
//! read-only connections; SQLite is synchronous, so reads run on the blocking
//! thread pool and nothing stalls the async runtime. WAL mode lets the readers
//! work while the writer commits.

mod api_keys;
mod authorizers;
mod commits;
mod component;
mod cursor;
mod events;
mod idempotency;
mod jobs;
mod jsapi;
mod links;
mod oauth;
mod purge;
mod pushes;
mod rows;
mod schema;
mod webhooks;

use crate::crypto::at_rest::DataKeys;
use crate::secret::Secret;
use crate::store::{Page, Sealer, StateStore, StoreError, StoreResult};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Transaction};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read-only connections of a file database (reads run beside the writer in WAL mode).
const READERS: usize = 3;

/// The SQLite store over one database, namespaced by a component appid.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    /// Seals credentials on write, opens them on read.
    sealer: Sealer,
}

impl StateStore for SqliteStore {
    fn component_appid(&self) -> &str {
        &self.inner.component_appid
    }
}

struct Inner {
    component_appid: String,
    /// Reads by operation name (`get_job`, `list_chunks`, …).
    reads_by_operation: Mutex<BTreeMap<&'static str, u64>>,
    /// Writes by operation name (what one follower push or one delivery costs).
    writes_by_operation: Mutex<BTreeMap<&'static str, u64>>,
    /// Used by the writer thread (and by reads of an in-memory database).
    writer: Arc<Mutex<Connection>>,
    /// Writes waiting for the writer thread, committed in groups.
    queue: Arc<commits::Queue>,
    /// Empty for an in-memory database: everything then uses the writer.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

/// A snapshot of [`SqliteStore::operation_counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationCounts {
    pub reads: u64,
    pub writes: u64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer thread commits what is queued, then ends.
        self.queue.close();
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("component_appid", &self.inner.component_appid)
            .finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        // rusqlite errors name the statement or column, never the bound values.
        StoreError::backend("sqlite call failed", err)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to
    /// date. Blocking: call it at start-up, or inside `spawn_blocking`.
    pub fn open(path: &Path, component_appid: &str) -> StoreResult<Self> {
        check_appid(component_appid)?;
        let mut writer = Connection::open(path)?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!(
                "database cannot use WAL mode (got {mode})"
            )));
        }
        // FULL: a refresh token WeChat just rotated must survive a power cut.
        writer.pragma_update(None, "synchronous", "FULL")?;
        schema::migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            reader.busy_timeout(BUSY_TIMEOUT)?;
            reader.pragma_update(None, "query_only", true)?;
            readers.push(Mutex::new(reader));
        }
        Self::from_parts(component_appid, writer, readers)
    }

    /// A private in-memory database (one connection), for tests and demos.
    pub fn open_in_memory(component_appid: &str) -> StoreResult<Self> {
        check_appid(component_appid)?;
        let mut conn = Connection::open_in_memory()?;
        schema::migrate(&mut conn)?;
        Self::from_parts(component_appid, conn, Vec::new())
    }

    /// The store over its connections, with its writer thread started.
    fn from_parts(
        component_appid: &str,
        writer: Connection,
        readers: Vec<Mutex<Connection>>,
    ) -> StoreResult<Self> {
        let writer = Arc::new(Mutex::new(writer));
        let queue = Arc::new(commits::Queue::default());
        {
            let (writer, queue, cappid) =
                (writer.clone(), queue.clone(), component_appid.to_owned());
            std::thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || queue.run_writer(&writer, &cappid))
                .map_err(|e| StoreError::backend("sqlite: the writer thread could not start", e))?;
        }
        Ok(SqliteStore {
            sealer: Sealer::new(component_appid, None),
            inner: Arc::new(Inner {
                component_appid: component_appid.to_owned(),
                reads_by_operation: Mutex::default(),
                writes_by_operation: Mutex::default(),
                writer,
                queue,
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// Credentials written from now on are sealed under `keys` (and sealed
    /// ones opened); without this, they are stored as plaintext (tests, tools).
    pub fn with_data_keys(mut self, keys: DataKeys) -> Self {
        self.sealer = Sealer::new(&self.inner.component_appid, Some(keys));
        self
    }

    /// Operations run so far by this store and its clones: one read or one
    /// write transaction per store call.
    pub fn operation_counts(&self) -> OperationCounts {
        OperationCounts {
            reads: lock(&self.inner.reads_by_operation).values().sum(),
            writes: lock(&self.inner.writes_by_operation).values().sum(),
        }
    }

    /// Write transactions run so far by this store and its clones, by
    /// operation (`record_event`, `record_attempt`, `claim_delivery`, …).
    pub fn writes_by_operation(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.inner.writes_by_operation).clone()
    }

    /// Reads run so far by this store and its clones, by operation
    /// (`get_job`, `list_chunks`, …).
    pub fn reads_by_operation(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.inner.reads_by_operation).clone()
    }

    /// Runs `f` on the writer in an IMMEDIATE transaction, possibly with other
    /// writes queued at the same time (see `commits`): its changes are kept
    /// if it returns Ok, and it is answered once they are committed.
    async fn write<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &str) -> StoreResult<T> + Send + 'static,
    {
        *lock(&self.inner.writes_by_operation).entry(op).or_default() += 1;
        // Queued before any await, and committed by the writer thread: a
        // caller that goes away still has its write done (or not) whole.
        let answer = self.inner.queue.push(f);
        let out = answer
            .await
            .map_err(|e| StoreError::backend(format!("sqlite {op}: write not answered"), e))?;
        out.map_err(|err| named(op, err))
    }

    /// One statement in its own write transaction, the component appid bound
    /// as `?1` and `values` after it: whether it changed a row.
    async fn execute(
        &self,
        op: &'static str,
        sql: &'static str,
        values: Vec<Value>,
    ) -> StoreResult<bool> {
        self.write(op, move |tx, cappid| {
            let bound = std::iter::once(text(cappid)).chain(values);
            let n = tx
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(bound))?;
            Ok(changed(n))
        })
        .await
    }

    /// Runs `f` on a reader connection (the writer for an in-memory database).
    async fn read<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &str) -> StoreResult<T> + Send + 'static,
    {
        *lock(&self.inner.reads_by_operation).entry(op).or_default() += 1;
        let inner = Arc::clone(&self.inner);
        blocking(op, move || {
            let conn = match inner.readers.len() {
                0 => lock(&inner.writer),
                n => {
                    let start = inner.next_reader.fetch_add(1, Ordering::Relaxed);
                    // Take the first idle reader; if all are busy, queue on one.
                    (0..n)
                        .find_map(|i| {
                            inner
                                .readers
                                .get((start + i) % n)
                                .and_then(|m| m.try_lock().ok())
                        })
                        .unwrap_or_else(|| lock(&inner.readers[start % n]))
                }
            };
            f(&conn, &inner.component_appid)
        })
        .await
    }
}

fn check_appid(component_appid: &str) -> StoreResult<()> {
    if component_appid.is_empty() {
        return Err(StoreError::Invalid(
            "component appid must not be empty".into(),
        ));
    }
    Ok(())
}

/// A panic inside an operation rolled its transaction back, so the connection
/// is still consistent (and a counter is just a counter): keep using it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn blocking<T, F>(op: &'static str, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    let joined = tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::backend(format!("sqlite {op}: task failed"), e))?;
    joined.map_err(|err| named(op, err))
}

/// A backend error prefixed with the operation that met it.
fn named(op: &'static str, err: StoreError) -> StoreError {
    match err {
        StoreError::Backend { message, source } => StoreError::Backend {
            message: format!("sqlite {op}: {message}"),
            source,
        },
        other => other,
    }
}

/// Rows a statement changed, as "did the guarded write happen".
pub(super) fn changed(rows: usize) -> bool {
    rows > 0
}

pub(super) fn sql_limit(limit: u32) -> StoreResult<i64> {
    if limit == 0 {
        return Err(StoreError::Invalid("page limit must be at least 1".into()));
    }
    Ok(i64::from(limit))
}

/// Cuts a `limit + 1` fetch to a page; `next` only when more rows exist.
pub(super) fn page<T>(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    if items.len() > limit {
        items.truncate(limit);
        let next = items.last().map(&cursor_of);
        Page { items, next }
    } else {
        Page { items, next: None }
    }
}

/// A text value to bind.
pub(super) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub(super) fn expose(s: &Secret) -> String {
    s.expose().to_owned()
}

/// Collects mapped rows whose conversion may itself fail as `Corrupt`.
pub(super) fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<StoreResult<T>>>,
) -> StoreResult<Vec<T>> {
    rows.map(|r| r?).collect()
}
