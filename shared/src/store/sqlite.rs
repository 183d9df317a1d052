//! SQLite implementation of `StateStore`, for `wxopen serve` on one machine.
//!
//! One writer connection (every write is an IMMEDIATE transaction, so the
//! guarded `UPDATE … WHERE lease_until <= ?now AND version = ?v` and the reads
//! that classify a lost race see one consistent state) and a few read-only
//! connections; SQLite is synchronous, so every operation runs on the blocking
//! thread pool and never stalls the async runtime. WAL mode lets the readers
//! work while the writer commits.

mod events;
mod rows;
mod schema;
mod webhooks;

use crate::domain::StopReason;
use crate::secret::Secret;
use crate::store::{
    ApiKey, AuthorizationGrant, Authorizer, AuthorizerProfile, CheckpointOutcome, Chunk, ChunkRef,
    ChunkState, ClaimOutcome, ConsumeOutcome, FinishEvent, GrantOutcome, IdempotencyOutcome,
    IdempotencyRecord, Job, JobState, LeaseOutcome, Link, Page, PreAuth, RecipientResult,
    RenewalOutcome, RenewedTokens, StateStore, StoreError, StoreResult, Ticket, TicketWrite,
    TokenState, TICKET_VALIDITY_SECS,
};
use async_trait::async_trait;
use rows::{int, json};
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read-only connections of a file database (reads run beside the writer in WAL mode).
const READERS: usize = 3;
/// The most chunks one job may have: DynamoDB writes a job atomically as ≤ 100
/// items, and both stores accept the same jobs.
pub const MAX_CHUNKS_PER_JOB: usize = 99;

/// `StateStore` over one SQLite database, namespaced by a component appid.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    component_appid: String,
    writer: Mutex<Connection>,
    /// Empty for an in-memory database: everything then uses the writer.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
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
        Ok(Self::from_parts(component_appid, writer, readers))
    }

    /// A private in-memory database (one connection), for tests and demos.
    pub fn open_in_memory(component_appid: &str) -> StoreResult<Self> {
        check_appid(component_appid)?;
        let mut conn = Connection::open_in_memory()?;
        schema::migrate(&mut conn)?;
        Ok(Self::from_parts(component_appid, conn, Vec::new()))
    }

    fn from_parts(
        component_appid: &str,
        writer: Connection,
        readers: Vec<Mutex<Connection>>,
    ) -> Self {
        SqliteStore {
            inner: Arc::new(Inner {
                component_appid: component_appid.to_owned(),
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        }
    }

    /// Runs `f` in an IMMEDIATE transaction on the writer, committed if it returns Ok.
    async fn write<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &str) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        blocking(op, move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx, &inner.component_appid)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` on a reader connection (the writer for an in-memory database).
    async fn read<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &str) -> StoreResult<T> + Send + 'static,
    {
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
/// is still consistent: keep using it.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
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
    joined.map_err(|err| match err {
        StoreError::Backend { message, source } => StoreError::Backend {
            message: format!("sqlite {op}: {message}"),
            source,
        },
        other => other,
    })
}

/// Rows a statement changed, as "did the guarded write happen".
fn changed(rows: usize) -> bool {
    rows > 0
}

fn sql_limit(limit: u32) -> StoreResult<i64> {
    if limit == 0 {
        return Err(StoreError::Invalid("page limit must be at least 1".into()));
    }
    Ok(i64::from(limit))
}

/// Cuts a `limit + 1` fetch to a page; `next` only when more rows exist.
fn page<T>(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    if items.len() > limit {
        items.truncate(limit);
        let next = items.last().map(&cursor_of);
        Page { items, next }
    } else {
        Page { items, next: None }
    }
}

/// Why a guarded lease write changed nothing, from the record as it is now.
fn lease_refused(current_version: Option<u64>, expected_version: u64) -> LeaseOutcome {
    match current_version {
        None => LeaseOutcome::Missing,
        Some(v) if v != expected_version => LeaseOutcome::VersionChanged,
        Some(_) => LeaseOutcome::Held,
    }
}

fn stored_version(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        record: "token",
        attribute: "version".into(),
        reason: "negative number".into(),
    })
}

fn due_cursor(expires_at: u64, appid: &str) -> String {
    format!("{expires_at}/{appid}")
}

fn parse_due_cursor(cursor: &str) -> StoreResult<(i64, String)> {
    let malformed = || StoreError::Invalid("malformed due-authorizers cursor".into());
    let (at, appid) = cursor.split_once('/').ok_or_else(malformed)?;
    let at: u64 = at.parse().map_err(|_| malformed())?;
    Ok((int(at), appid.to_owned()))
}

fn expose(s: &Secret) -> String {
    s.expose().to_owned()
}

#[async_trait]
impl StateStore for SqliteStore {
    fn component_appid(&self) -> &str {
        &self.inner.component_appid
    }

    // --- ticket ---

    async fn get_ticket(&self, now: u64) -> StoreResult<Option<Ticket>> {
        self.read("get_ticket", move |conn, cappid| {
            conn.prepare_cached("SELECT value, create_time, stored_at FROM ticket WHERE cappid = ?1 AND expires_at > ?2")?
                .query_row(params![cappid, int(now)], |row| Ok(rows::ticket(row)))
                .optional()?
                .transpose()
        })
        .await
    }

    async fn put_ticket_if_newer(
        &self,
        ticket: &Secret,
        create_time: i64,
        now: u64,
    ) -> StoreResult<TicketWrite> {
        let value = expose(ticket);
        self.write("put_ticket_if_newer", move |tx, cappid| {
            let n = tx.prepare_cached(
                "INSERT INTO ticket (cappid, value, create_time, stored_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (cappid) DO UPDATE SET value = excluded.value, create_time = excluded.create_time,
                     stored_at = excluded.stored_at, expires_at = excluded.expires_at
                 WHERE excluded.create_time > ticket.create_time",
            )?
            .execute(params![cappid, value, create_time, int(now), int(now.saturating_add(TICKET_VALIDITY_SECS))])?;
            Ok(if changed(n) { TicketWrite::Stored } else { TicketWrite::Stale })
        })
        .await
    }

    // --- component token ---

    async fn get_component_token(&self) -> StoreResult<TokenState> {
        self.read("get_component_token", |conn, cappid| {
            let found = conn
                .prepare_cached(
                    "SELECT access_token, expires_at, version, lease_owner, lease_until FROM component_token WHERE cappid = ?1",
                )?
                .query_row([cappid], |row| Ok(rows::token_state(row, "component token")))
                .optional()?
                .transpose()?;
            Ok(found.unwrap_or_default())
        })
        .await
    }

    async fn acquire_component_lease(
        &self,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        let owner = owner.to_owned();
        self.write("acquire_component_lease", move |tx, cappid| {
            if expected_version == 0 {
                let created = tx
                    .prepare_cached(
                        "INSERT INTO component_token (cappid, version, lease_owner, lease_until) VALUES (?1, 0, ?2, ?3)
                         ON CONFLICT (cappid) DO NOTHING",
                    )?
                    .execute(params![cappid, owner, int(lease_until)])?;
                if changed(created) {
                    return Ok(LeaseOutcome::Acquired);
                }
            }
            let taken = tx
                .prepare_cached(
                    "UPDATE component_token SET lease_owner = ?2, lease_until = ?3
                     WHERE cappid = ?1 AND version = ?4 AND (lease_owner IS NULL OR lease_until <= ?5)",
                )?
                .execute(params![cappid, owner, int(lease_until), int(expected_version), int(now)])?;
            if changed(taken) {
                return Ok(LeaseOutcome::Acquired);
            }
            let version: Option<i64> = tx
                .prepare_cached("SELECT version FROM component_token WHERE cappid = ?1")?
                .query_row([cappid], |row| row.get(0))
                .optional()?;
            Ok(lease_refused(version.map(stored_version).transpose()?, expected_version))
        })
        .await
    }

    async fn complete_component_renewal(
        &self,
        owner: &str,
        token: &Secret,
        expires_at: u64,
    ) -> StoreResult<RenewalOutcome> {
        let owner = owner.to_owned();
        let token = expose(token);
        self.write("complete_component_renewal", move |tx, cappid| {
            let version: Option<i64> = tx
                .prepare_cached(
                    "UPDATE component_token SET access_token = ?3, expires_at = ?4, version = version + 1,
                         lease_owner = NULL, lease_until = 0
                     WHERE cappid = ?1 AND lease_owner = ?2 RETURNING version",
                )?
                .query_row(params![cappid, owner, token, int(expires_at)], |row| row.get(0))
                .optional()?;
            Ok(match version {
                Some(v) => RenewalOutcome::Stored { version: stored_version(v)? },
                None => RenewalOutcome::LostLease,
            })
        })
        .await
    }

    async fn release_component_lease(&self, owner: &str) -> StoreResult<()> {
        let owner = owner.to_owned();
        self.write("release_component_lease", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE component_token SET lease_owner = NULL, lease_until = 0 WHERE cappid = ?1 AND lease_owner = ?2",
            )?
            .execute(params![cappid, owner])?;
            Ok(())
        })
        .await
    }

    async fn invalidate_component_token(&self, version: u64) -> StoreResult<bool> {
        self.write("invalidate_component_token", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE component_token SET access_token = NULL, expires_at = 0 WHERE cappid = ?1 AND version = ?2",
                )?
                .execute(params![cappid, int(version)])?;
            Ok(changed(n))
        })
        .await
    }

    // --- authorizers ---

    async fn get_authorizer(&self, appid: &str) -> StoreResult<Option<Authorizer>> {
        let appid = appid.to_owned();
        self.read("get_authorizer", move |conn, cappid| {
            select_authorizer(conn, cappid, &appid)
        })
        .await
    }

    async fn put_grant(&self, grant: &AuthorizationGrant) -> StoreResult<GrantOutcome> {
        let grant = grant.clone();
        self.write("put_grant", move |tx, cappid| {
            store_grant(tx, cappid, &grant)
        })
        .await
    }

    async fn set_profile(
        &self,
        appid: &str,
        profile: &AuthorizerProfile,
        now: u64,
    ) -> StoreResult<()> {
        let appid = appid.to_owned();
        let profile = json(profile)?;
        self.write("set_profile", move |tx, cappid| {
            tx.prepare_cached("UPDATE authorizer SET profile = ?3, updated_at = ?4 WHERE cappid = ?1 AND appid = ?2")?
                .execute(params![cappid, appid, profile, int(now)])?;
            Ok(())
        })
        .await
    }

    async fn bind_tenant(&self, appid: &str, tenant: &str, now: u64) -> StoreResult<bool> {
        let appid = appid.to_owned();
        let tenant = tenant.to_owned();
        self.write("bind_tenant", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE authorizer SET tenant = ?3, updated_at = ?4
                     WHERE cappid = ?1 AND appid = ?2 AND (tenant IS NULL OR tenant = ?3)",
                )?
                .execute(params![cappid, appid, tenant, int(now)])?;
            Ok(changed(n))
        })
        .await
    }

    async fn list_authorizers(
        &self,
        tenant: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        let tenant = tenant.map(str::to_owned);
        let after = cursor.unwrap_or_default().to_owned();
        let fetch = sql_limit(limit)? + 1;
        self.read("list_authorizers", move |conn, cappid| {
            let cols = rows::AUTHORIZER_COLUMNS;
            let found = match &tenant {
                Some(tenant) => collect(
                    conn.prepare_cached(&format!(
                        "SELECT {cols} FROM authorizer WHERE cappid = ?1 AND tenant = ?2 AND appid > ?3 ORDER BY appid LIMIT ?4"
                    ))?
                    .query_map(params![cappid, tenant, after, fetch], |row| Ok(rows::authorizer(row)))?,
                )?,
                None => collect(
                    conn.prepare_cached(&format!(
                        "SELECT {cols} FROM authorizer WHERE cappid = ?1 AND appid > ?2 ORDER BY appid LIMIT ?3"
                    ))?
                    .query_map(params![cappid, after, fetch], |row| Ok(rows::authorizer(row)))?,
                )?,
            };
            Ok(page(found, limit, |a| a.appid.clone()))
        })
        .await
    }

    async fn due_authorizers(
        &self,
        due_before: u64,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<String>> {
        let (after_at, after_appid) = match cursor {
            Some(c) => parse_due_cursor(c)?,
            None => (-1, String::new()),
        };
        let fetch = sql_limit(limit)? + 1;
        self.read("due_authorizers", move |conn, cappid| {
            // The WHERE repeats the partial index's condition so SQLite uses it.
            let found: Vec<(String, i64)> = conn
                .prepare_cached(
                    "SELECT appid, expires_at FROM authorizer INDEXED BY authorizer_due
                     WHERE cappid = ?1 AND status = 'active' AND refresh_token IS NOT NULL
                       AND expires_at <= ?2 AND (expires_at, appid) > (?3, ?4)
                     ORDER BY expires_at, appid LIMIT ?5",
                )?
                .query_map(
                    params![cappid, int(due_before), after_at, after_appid, fetch],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?
                .collect::<Result<_, _>>()?;
            let cut = page(found, limit, |(appid, at)| {
                due_cursor((*at).max(0) as u64, appid)
            });
            Ok(Page {
                items: cut.items.into_iter().map(|(appid, _)| appid).collect(),
                next: cut.next,
            })
        })
        .await
    }

    async fn acquire_authorizer_lease(
        &self,
        appid: &str,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        let appid = appid.to_owned();
        let owner = owner.to_owned();
        self.write("acquire_authorizer_lease", move |tx, cappid| {
            let taken = tx
                .prepare_cached(
                    "UPDATE authorizer SET lease_owner = ?3, lease_until = ?4
                     WHERE cappid = ?1 AND appid = ?2 AND version = ?5 AND (lease_owner IS NULL OR lease_until <= ?6)",
                )?
                .execute(params![cappid, appid, owner, int(lease_until), int(expected_version), int(now)])?;
            if changed(taken) {
                return Ok(LeaseOutcome::Acquired);
            }
            let version: Option<i64> = tx
                .prepare_cached("SELECT version FROM authorizer WHERE cappid = ?1 AND appid = ?2")?
                .query_row(params![cappid, appid], |row| row.get(0))
                .optional()?;
            Ok(lease_refused(version.map(stored_version).transpose()?, expected_version))
        })
        .await
    }

    async fn complete_authorizer_renewal(
        &self,
        appid: &str,
        owner: &str,
        tokens: &RenewedTokens,
        now: u64,
    ) -> StoreResult<RenewalOutcome> {
        let appid = appid.to_owned();
        let owner = owner.to_owned();
        let access = expose(&tokens.access_token);
        let refresh = tokens.refresh_token.as_ref().map(expose);
        let expires_at = tokens.expires_at;
        self.write("complete_authorizer_renewal", move |tx, cappid| {
            // Access and refresh token in one write: a rotated refresh token is never lost.
            let version: Option<i64> = tx
                .prepare_cached(
                    "UPDATE authorizer SET access_token = ?4, expires_at = ?5,
                         refresh_token = COALESCE(?6, refresh_token), version = version + 1,
                         lease_owner = NULL, lease_until = 0, updated_at = ?7
                     WHERE cappid = ?1 AND appid = ?2 AND lease_owner = ?3 RETURNING version",
                )?
                .query_row(
                    params![
                        cappid,
                        appid,
                        owner,
                        access,
                        int(expires_at),
                        refresh,
                        int(now)
                    ],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(match version {
                Some(v) => RenewalOutcome::Stored {
                    version: stored_version(v)?,
                },
                None => RenewalOutcome::LostLease,
            })
        })
        .await
    }

    async fn release_authorizer_lease(&self, appid: &str, owner: &str) -> StoreResult<()> {
        let appid = appid.to_owned();
        let owner = owner.to_owned();
        self.write("release_authorizer_lease", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE authorizer SET lease_owner = NULL, lease_until = 0
                 WHERE cappid = ?1 AND appid = ?2 AND lease_owner = ?3",
            )?
            .execute(params![cappid, appid, owner])?;
            Ok(())
        })
        .await
    }

    async fn invalidate_authorizer_token(&self, appid: &str, version: u64) -> StoreResult<bool> {
        let appid = appid.to_owned();
        self.write("invalidate_authorizer_token", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE authorizer SET access_token = NULL, expires_at = 0 WHERE cappid = ?1 AND appid = ?2 AND version = ?3",
                )?
                .execute(params![cappid, appid, int(version)])?;
            Ok(changed(n))
        })
        .await
    }

    async fn revoke_authorizer(&self, appid: &str, now: u64) -> StoreResult<bool> {
        let appid = appid.to_owned();
        self.write("revoke_authorizer", move |tx, cappid| {
            // The version bump and cleared lease make an in-flight renewal lose its
            // lease instead of writing tokens back into a revoked record.
            let n = tx
                .prepare_cached(
                    "UPDATE authorizer SET status = 'revoked', access_token = NULL, refresh_token = NULL, expires_at = 0,
                         version = version + 1, lease_owner = NULL, lease_until = 0, updated_at = ?3
                     WHERE cappid = ?1 AND appid = ?2",
                )?
                .execute(params![cappid, appid, int(now)])?;
            Ok(changed(n))
        })
        .await
    }

    async fn mark_needs_reauth(&self, appid: &str, now: u64) -> StoreResult<bool> {
        let appid = appid.to_owned();
        self.write("mark_needs_reauth", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE authorizer SET status = 'needs_reauth', updated_at = ?3 WHERE cappid = ?1 AND appid = ?2",
                )?
                .execute(params![cappid, appid, int(now)])?;
            Ok(changed(n))
        })
        .await
    }

    async fn repair_refresh_token(
        &self,
        appid: &str,
        refresh_token: &Secret,
        now: u64,
    ) -> StoreResult<bool> {
        let appid = appid.to_owned();
        let refresh = expose(refresh_token);
        self.write("repair_refresh_token", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE authorizer SET refresh_token = ?3, updated_at = ?4,
                         status = CASE WHEN status = 'needs_reauth' THEN 'active' ELSE status END
                     WHERE cappid = ?1 AND appid = ?2 AND refresh_token IS NOT ?3",
                )?
                .execute(params![cappid, appid, refresh, int(now)])?;
            Ok(changed(n))
        })
        .await
    }

    // --- links and pre-auth codes ---

    async fn create_link(&self, link: &Link) -> StoreResult<()> {
        let link = link.clone();
        self.write("create_link", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "INSERT INTO link (cappid, id, tenant, auth_type, biz_appid, return_url, created_at, expires_at, used, used_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (cappid, id) DO NOTHING",
                )?
                .execute(params![
                    cappid,
                    link.id,
                    link.tenant,
                    link.auth_type,
                    link.biz_appid,
                    link.return_url,
                    int(link.created_at),
                    int(link.expires_at),
                    link.used,
                    link.used_by
                ])?;
            if !changed(n) {
                return Err(StoreError::Invalid("a link with this id already exists".into()));
            }
            Ok(())
        })
        .await
    }

    async fn get_link(&self, id: &str, now: u64) -> StoreResult<Option<Link>> {
        let id = id.to_owned();
        self.read("get_link", move |conn, cappid| {
            Ok(select_link(conn, cappid, &id)?.filter(|l| l.expires_at > now))
        })
        .await
    }

    async fn consume_link(&self, id: &str, appid: &str, now: u64) -> StoreResult<ConsumeOutcome> {
        let id = id.to_owned();
        let appid = appid.to_owned();
        self.write("consume_link", move |tx, cappid| {
            let Some(mut link) = select_link(tx, cappid, &id)? else {
                return Ok(ConsumeOutcome::NotFound);
            };
            if link.expires_at <= now {
                return Ok(ConsumeOutcome::Expired);
            }
            if link.used {
                return Ok(ConsumeOutcome::AlreadyUsed(link));
            }
            tx.prepare_cached(
                "UPDATE link SET used = 1, used_by = ?3 WHERE cappid = ?1 AND id = ?2 AND used = 0",
            )?
            .execute(params![cappid, id, appid])?;
            link.used = true;
            link.used_by = Some(appid);
            Ok(ConsumeOutcome::Consumed(link))
        })
        .await
    }

    async fn put_preauth(&self, preauth: &PreAuth) -> StoreResult<()> {
        let p = preauth.clone();
        self.write("put_preauth", move |tx, cappid| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO preauth (cappid, code_hash, link_id, tenant, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![cappid, p.code_hash, p.link_id, p.tenant, int(p.expires_at)])?;
            Ok(())
        })
        .await
    }

    async fn get_preauth(&self, code_hash: &str, now: u64) -> StoreResult<Option<PreAuth>> {
        let code_hash = code_hash.to_owned();
        self.read("get_preauth", move |conn, cappid| {
            conn.prepare_cached(
                "SELECT code_hash, link_id, tenant, expires_at FROM preauth
                 WHERE cappid = ?1 AND code_hash = ?2 AND expires_at > ?3",
            )?
            .query_row(params![cappid, code_hash, int(now)], |row| {
                Ok(rows::preauth(row))
            })
            .optional()?
            .transpose()
        })
        .await
    }

    // --- API keys ---

    async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let key = key.clone();
        let tenants = json(&key.tenants)?;
        let scopes = json(&key.scopes)?;
        self.write("put_api_key", move |tx, cappid| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO api_key (cappid, hash, prefix, tenants, scopes, label, created_at, revoked)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![cappid, key.hash, key.prefix, tenants, scopes, key.label, int(key.created_at), key.revoked])?;
            Ok(())
        })
        .await
    }

    async fn get_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        let hash = hash.to_owned();
        self.read("get_api_key", move |conn, cappid| {
            conn.prepare_cached(&format!(
                "SELECT {} FROM api_key WHERE cappid = ?1 AND hash = ?2",
                rows::API_KEY_COLUMNS
            ))?
            .query_row(params![cappid, hash], |row| Ok(rows::api_key(row)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read("list_api_keys", |conn, cappid| {
            collect(
                conn.prepare_cached(&format!(
                    "SELECT {} FROM api_key WHERE cappid = ?1 ORDER BY created_at, hash",
                    rows::API_KEY_COLUMNS
                ))?
                .query_map([cappid], |row| Ok(rows::api_key(row)))?,
            )
        })
        .await
    }

    async fn revoke_api_key(&self, hash: &str) -> StoreResult<bool> {
        let hash = hash.to_owned();
        self.write("revoke_api_key", move |tx, cappid| {
            let n = tx
                .prepare_cached("UPDATE api_key SET revoked = 1 WHERE cappid = ?1 AND hash = ?2")?
                .execute(params![cappid, hash])?;
            Ok(changed(n))
        })
        .await
    }

    // --- jobs and chunks ---

    async fn create_job(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
        if chunks.len() > MAX_CHUNKS_PER_JOB {
            return Err(StoreError::Invalid(format!(
                "a job may have at most {MAX_CHUNKS_PER_JOB} chunks, got {}",
                chunks.len()
            )));
        }
        if chunks.iter().any(|c| c.job_id != job.id) {
            return Err(StoreError::Invalid(
                "every chunk must belong to the job".into(),
            ));
        }
        let job = job.clone();
        let chunks = chunks
            .iter()
            .map(|c| Ok((c.clone(), json(&c.recipients)?, json(&c.results)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.write("create_job", move |tx, cappid| {
            insert_job(tx, cappid, &job, &chunks)
        })
        .await
    }

    async fn get_job(&self, id: &str, now: u64) -> StoreResult<Option<Job>> {
        let id = id.to_owned();
        self.read("get_job", move |conn, cappid| {
            conn.prepare_cached(&format!(
                "SELECT {} FROM job WHERE cappid = ?1 AND id = ?2 AND expires_at > ?3",
                rows::JOB_COLUMNS
            ))?
            .query_row(params![cappid, id, int(now)], |row| Ok(rows::job(row)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<Chunk>> {
        let job_id = job_id.to_owned();
        self.read("list_chunks", move |conn, cappid| {
            collect(
                conn.prepare_cached(&format!(
                    "SELECT {} FROM chunk WHERE cappid = ?1 AND job_id = ?2 ORDER BY idx",
                    rows::CHUNK_COLUMNS
                ))?
                .query_map(params![cappid, job_id], |row| Ok(rows::chunk(row)))?,
            )
        })
        .await
    }

    async fn set_job_state(
        &self,
        id: &str,
        state: JobState,
        stop_reason: Option<&StopReason>,
    ) -> StoreResult<()> {
        let id = id.to_owned();
        let stop_reason = stop_reason.map(StopReason::to_string);
        self.write("set_job_state", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE job SET state = ?3, stop_reason = ?4 WHERE cappid = ?1 AND id = ?2",
            )?
            .execute(params![cappid, id, rows::job_state_str(state), stop_reason])?;
            Ok(())
        })
        .await
    }

    async fn claimable_chunks(&self, now: u64, limit: u32) -> StoreResult<Vec<ChunkRef>> {
        let limit = sql_limit(limit)?;
        self.read("claimable_chunks", move |conn, cappid| {
            // A free lease has lease_until = 0, so `lease_until <= now` covers it.
            let found: Vec<(String, i64)> = conn
                .prepare_cached(
                    "SELECT job_id, idx FROM chunk INDEXED BY chunk_claimable
                     WHERE cappid = ?1 AND state = 'pending' AND lease_until <= ?2 AND expires_at > ?2
                     ORDER BY lease_until, job_id, idx LIMIT ?3",
                )?
                .query_map(params![cappid, int(now), limit], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            found
                .into_iter()
                .map(|(job_id, idx)| {
                    let index = u32::try_from(idx).map_err(|_| StoreError::Corrupt {
                        record: "chunk",
                        attribute: "idx".into(),
                        reason: "number out of range".into(),
                    })?;
                    Ok(ChunkRef { job_id, index })
                })
                .collect()
        })
        .await
    }

    async fn claim_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<ClaimOutcome> {
        let chunk = chunk.clone();
        let owner = owner.to_owned();
        self.write("claim_chunk", move |tx, cappid| {
            let claimed = tx
                .prepare_cached(&format!(
                    "UPDATE chunk SET lease_owner = ?4, lease_until = ?5, attempts = attempts + 1
                     WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND state = 'pending' AND expires_at > ?6
                       AND (lease_owner IS NULL OR lease_until <= ?6)
                     RETURNING {}",
                    rows::CHUNK_COLUMNS
                ))?
                .query_row(
                    params![cappid, chunk.job_id, chunk.index, owner, int(lease_until), int(now)],
                    |row| Ok(rows::chunk(row)),
                )
                .optional()?
                .transpose()?;
            if let Some(c) = claimed {
                return Ok(ClaimOutcome::Claimed(c));
            }
            let state: Option<String> = tx
                .prepare_cached("SELECT state FROM chunk WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND expires_at > ?4")?
                .query_row(params![cappid, chunk.job_id, chunk.index, int(now)], |row| row.get(0))
                .optional()?;
            Ok(match state.as_deref() {
                None => ClaimOutcome::NotFound,
                Some("pending") => ClaimOutcome::Held,
                Some(_) => ClaimOutcome::Finished,
            })
        })
        .await
    }

    async fn checkpoint_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        lease_until: u64,
    ) -> StoreResult<CheckpointOutcome> {
        let chunk = chunk.clone();
        let owner = owner.to_owned();
        let results = json(results)?;
        self.write("checkpoint_chunk", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE chunk SET results = ?5, lease_until = ?6
                     WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND lease_owner = ?4 AND state = 'pending'",
                )?
                .execute(params![cappid, chunk.job_id, chunk.index, owner, results, int(lease_until)])?;
            Ok(if changed(n) { CheckpointOutcome::Saved } else { CheckpointOutcome::LostLease })
        })
        .await
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
                "a chunk finishes as done or stopped, not pending".into(),
            ));
        }
        let chunk = chunk.clone();
        let owner = owner.to_owned();
        let results = json(results)?;
        self.write("finish_chunk", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE chunk SET results = ?5, state = ?6, lease_owner = NULL, lease_until = 0
                     WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND lease_owner = ?4 AND state = 'pending'",
                )?
                .execute(params![cappid, chunk.job_id, chunk.index, owner, results, rows::chunk_state_str(state)])?;
            Ok(if changed(n) { CheckpointOutcome::Saved } else { CheckpointOutcome::LostLease })
        })
        .await
    }

    async fn release_chunk(&self, chunk: &ChunkRef, owner: &str) -> StoreResult<()> {
        let chunk = chunk.clone();
        let owner = owner.to_owned();
        self.write("release_chunk", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE chunk SET lease_owner = NULL, lease_until = 0
                 WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND lease_owner = ?4",
            )?
            .execute(params![cappid, chunk.job_id, chunk.index, owner])?;
            Ok(())
        })
        .await
    }

    // --- idempotency ---

    async fn insert_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: u64,
    ) -> StoreResult<IdempotencyOutcome> {
        let r = record.clone();
        self.write("insert_idempotency", move |tx, cappid| {
            let (status, body) = match &r.response {
                Some((status, body)) => (Some(*status), Some(body.as_str())),
                None => (None, None),
            };
            // An expired record is as good as absent: the insert replaces it.
            let n = tx
                .prepare_cached(
                    "INSERT INTO idempotency (cappid, key_hash, request_hash, response_status, response_body, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (cappid, key_hash) DO UPDATE SET request_hash = excluded.request_hash,
                         response_status = excluded.response_status, response_body = excluded.response_body,
                         expires_at = excluded.expires_at
                     WHERE idempotency.expires_at <= ?7",
                )?
                .execute(params![cappid, r.key_hash, r.request_hash, status, body, int(r.expires_at), int(now)])?;
            if changed(n) {
                return Ok(IdempotencyOutcome::Inserted);
            }
            let existing = tx
                .prepare_cached(
                    "SELECT key_hash, request_hash, response_status, response_body, expires_at FROM idempotency
                     WHERE cappid = ?1 AND key_hash = ?2",
                )?
                .query_row(params![cappid, r.key_hash], |row| Ok(rows::idempotency(row)))??;
            Ok(IdempotencyOutcome::Existing(existing))
        })
        .await
    }

    async fn complete_idempotency(
        &self,
        key_hash: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()> {
        let key_hash = key_hash.to_owned();
        let body = body.to_owned();
        self.write("complete_idempotency", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE idempotency SET response_status = ?3, response_body = ?4 WHERE cappid = ?1 AND key_hash = ?2",
            )?
            .execute(params![cappid, key_hash, status, body])?;
            Ok(())
        })
        .await
    }

    async fn delete_idempotency(&self, key_hash: &str) -> StoreResult<()> {
        let key_hash = key_hash.to_owned();
        self.write("delete_idempotency", move |tx, cappid| {
            tx.prepare_cached("DELETE FROM idempotency WHERE cappid = ?1 AND key_hash = ?2")?
                .execute(params![cappid, key_hash])?;
            Ok(())
        })
        .await
    }

    // --- finish events and seen pushes ---

    async fn put_finish_event(&self, event: &FinishEvent) -> StoreResult<()> {
        let e = event.clone();
        let counts = json(&e.counts)?;
        self.write("put_finish_event", move |tx, cappid| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO finish_event
                     (cappid, appid, msg_id, kind, status, openid, counts, create_time, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                cappid,
                e.appid,
                rows::msg_id_column(e.msg_id),
                e.kind,
                e.status,
                e.openid,
                counts,
                e.create_time,
                int(e.expires_at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn get_finish_events(
        &self,
        appid: &str,
        msg_ids: &[u64],
        now: u64,
    ) -> StoreResult<Vec<FinishEvent>> {
        let appid = appid.to_owned();
        let mut seen = HashSet::new();
        let ids: Vec<u64> = msg_ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        self.read("get_finish_events", move |conn, cappid| {
            let mut stmt = conn.prepare_cached(
                "SELECT appid, msg_id, kind, status, openid, counts, create_time, expires_at FROM finish_event
                 WHERE cappid = ?1 AND appid = ?2 AND msg_id = ?3 AND expires_at > ?4",
            )?;
            let mut found = Vec::new();
            for id in ids {
                let event = stmt
                    .query_row(params![cappid, appid, rows::msg_id_column(id), int(now)], |row| {
                        Ok(rows::finish_event(row))
                    })
                    .optional()?
                    .transpose()?;
                found.extend(event);
            }
            Ok(found)
        })
        .await
    }

    async fn mark_push_seen(&self, key: &str, now: u64, expires_at: u64) -> StoreResult<bool> {
        let key = key.to_owned();
        self.write("mark_push_seen", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "INSERT INTO seen_push (cappid, key, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (cappid, key) DO UPDATE SET expires_at = excluded.expires_at
                     WHERE seen_push.expires_at <= ?4",
                )?
                .execute(params![cappid, key, int(expires_at), int(now)])?;
            Ok(changed(n))
        })
        .await
    }
}

/// Collects mapped rows whose conversion may itself fail as `Corrupt`.
fn collect<T>(rows: impl Iterator<Item = rusqlite::Result<StoreResult<T>>>) -> StoreResult<Vec<T>> {
    rows.map(|r| r?).collect()
}

fn select_authorizer(
    conn: &Connection,
    cappid: &str,
    appid: &str,
) -> StoreResult<Option<Authorizer>> {
    conn.prepare_cached(&format!(
        "SELECT {} FROM authorizer WHERE cappid = ?1 AND appid = ?2",
        rows::AUTHORIZER_COLUMNS
    ))?
    .query_row(params![cappid, appid], |row| Ok(rows::authorizer(row)))
    .optional()?
    .transpose()
}

fn select_link(conn: &Connection, cappid: &str, id: &str) -> StoreResult<Option<Link>> {
    conn.prepare_cached(&format!(
        "SELECT {} FROM link WHERE cappid = ?1 AND id = ?2",
        rows::LINK_COLUMNS
    ))?
    .query_row(params![cappid, id], |row| Ok(rows::link(row)))
    .optional()?
    .transpose()
}

fn store_grant(
    tx: &Transaction<'_>,
    cappid: &str,
    g: &AuthorizationGrant,
) -> StoreResult<GrantOutcome> {
    let existing: Option<(Option<String>, Option<String>)> = tx
        .prepare_cached(
            "SELECT tenant, last_auth_code_hash FROM authorizer WHERE cappid = ?1 AND appid = ?2",
        )?
        .query_row(params![cappid, g.appid], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let func_info = json(&g.func_info)?;
    let Some((bound, last_code)) = existing else {
        tx.prepare_cached(
            "INSERT INTO authorizer (cappid, appid, tenant, status, refresh_token, access_token, expires_at, version,
                 func_info, profile, last_auth_code_hash, authorized_at, updated_at)
             VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?10)",
        )?
        .execute(params![
            cappid,
            g.appid,
            g.tenant,
            g.refresh_token.expose(),
            g.access_token.expose(),
            int(g.expires_at),
            func_info,
            json(&AuthorizerProfile::default())?,
            g.auth_code_hash,
            int(g.now)
        ])?;
        return Ok(GrantOutcome::Created);
    };
    if let (Some(existing_tenant), Some(wanted)) = (&bound, &g.tenant) {
        if existing_tenant != wanted {
            return Ok(GrantOutcome::TenantConflict {
                existing_tenant: existing_tenant.clone(),
            });
        }
    }
    if last_code.as_deref() == Some(g.auth_code_hash.as_str()) {
        if bound.is_none() && g.tenant.is_some() {
            tx.prepare_cached("UPDATE authorizer SET tenant = ?3, updated_at = ?4 WHERE cappid = ?1 AND appid = ?2")?
                .execute(params![cappid, g.appid, g.tenant, int(g.now)])?;
        }
        return Ok(GrantOutcome::AlreadyDone);
    }
    // A re-authorization supersedes any renewal in flight: new version, lease cleared.
    tx.prepare_cached(
        "UPDATE authorizer SET tenant = COALESCE(tenant, ?3), status = 'active', refresh_token = ?4, access_token = ?5,
             expires_at = ?6, version = version + 1, lease_owner = NULL, lease_until = 0, func_info = ?7,
             last_auth_code_hash = ?8, authorized_at = ?9, updated_at = ?9
         WHERE cappid = ?1 AND appid = ?2",
    )?
    .execute(params![
        cappid,
        g.appid,
        g.tenant,
        g.refresh_token.expose(),
        g.access_token.expose(),
        int(g.expires_at),
        func_info,
        g.auth_code_hash,
        int(g.now)
    ])?;
    Ok(GrantOutcome::Updated)
}

type ChunkRow = (Chunk, String, String);

fn insert_job(
    tx: &Transaction<'_>,
    cappid: &str,
    job: &Job,
    chunks: &[ChunkRow],
) -> StoreResult<()> {
    let exists: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM job WHERE cappid = ?1 AND id = ?2")?
        .query_row(params![cappid, job.id], |row| row.get(0))
        .optional()?;
    if exists.is_some() {
        return Err(StoreError::Invalid(
            "a job with this id already exists".into(),
        ));
    }
    tx.prepare_cached(
        "INSERT INTO job (cappid, id, appid, tenant, kind, payload, total, chunk_count, state, stop_reason, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        cappid,
        job.id,
        job.appid,
        job.tenant,
        job.kind,
        job.payload,
        job.total,
        job.chunk_count,
        rows::job_state_str(job.state),
        job.stop_reason.as_ref().map(StopReason::to_string),
        int(job.created_at),
        int(job.expires_at)
    ])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO chunk (cappid, job_id, idx, appid, recipients, results, state, lease_owner, lease_until, attempts, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (c, recipients, results) in chunks {
        insert.execute(params![
            cappid,
            c.job_id,
            c.index,
            c.appid,
            recipients,
            results,
            rows::chunk_state_str(c.state),
            c.lease_owner,
            int(if c.lease_owner.is_some() {
                c.lease_until
            } else {
                0
            }),
            c.attempts,
            int(c.expires_at)
        ])?;
    }
    Ok(())
}
