//! The SQLite schema as ordered migrations, applied at open and tracked in
//! `PRAGMA user_version` (migration `n` brings the database to version `n + 1`).
//!
//! One table per record kind of design.md §4; every primary key starts with the
//! component appid (`cappid`) so several platforms can share one database file.

use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, TransactionBehavior};

/// Ordered migrations; append only, never edit a released one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE ticket (
    cappid      TEXT    NOT NULL PRIMARY KEY,
    value       TEXT    NOT NULL,
    create_time INTEGER NOT NULL,
    stored_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE component_token (
    cappid       TEXT    NOT NULL PRIMARY KEY,
    access_token TEXT,
    expires_at   INTEGER NOT NULL DEFAULT 0,
    version      INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE authorizer (
    cappid              TEXT    NOT NULL,
    appid               TEXT    NOT NULL,
    tenant              TEXT,
    status              TEXT    NOT NULL,
    refresh_token       TEXT,
    access_token        TEXT,
    expires_at          INTEGER NOT NULL DEFAULT 0,
    version             INTEGER NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_until         INTEGER NOT NULL DEFAULT 0,
    func_info           TEXT    NOT NULL,
    profile             TEXT    NOT NULL,
    last_auth_code_hash TEXT,
    authorized_at       INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (cappid, appid)
) WITHOUT ROWID;
CREATE INDEX authorizer_by_tenant ON authorizer (cappid, tenant, appid);
-- The sparse index of the refresh sweep (DynamoDB: a sparse GSI): only
-- authorizers that can be renewed are in it.
CREATE INDEX authorizer_due ON authorizer (cappid, expires_at, appid)
    WHERE status = 'active' AND refresh_token IS NOT NULL;

CREATE TABLE link (
    cappid     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    auth_type  INTEGER NOT NULL,
    biz_appid  TEXT,
    return_url TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0,
    used_by    TEXT,
    PRIMARY KEY (cappid, id)
) WITHOUT ROWID;

CREATE TABLE preauth (
    cappid     TEXT    NOT NULL,
    code_hash  TEXT    NOT NULL,
    link_id    TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (cappid, code_hash)
) WITHOUT ROWID;

CREATE TABLE api_key (
    cappid     TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    prefix     TEXT    NOT NULL,
    tenants    TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    label      TEXT,
    created_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cappid, hash)
) WITHOUT ROWID;

CREATE TABLE job (
    cappid      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    appid       TEXT    NOT NULL,
    tenant      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    total       INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    stop_reason TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (cappid, id)
) WITHOUT ROWID;

CREATE TABLE chunk (
    cappid      TEXT    NOT NULL,
    job_id      TEXT    NOT NULL,
    idx         INTEGER NOT NULL,
    appid       TEXT    NOT NULL,
    recipients  TEXT    NOT NULL,
    results     TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (cappid, job_id, idx)
) WITHOUT ROWID;
-- Work queue of the in-process worker: pending chunks by lease expiry.
CREATE INDEX chunk_claimable ON chunk (cappid, lease_until, job_id, idx)
    WHERE state = 'pending';

CREATE TABLE idempotency (
    cappid          TEXT    NOT NULL,
    key_hash        TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (cappid, key_hash)
) WITHOUT ROWID;

CREATE TABLE finish_event (
    cappid      TEXT    NOT NULL,
    appid       TEXT    NOT NULL,
    msg_id      INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    openid      TEXT,
    counts      TEXT    NOT NULL,
    create_time INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (cappid, appid, msg_id)
) WITHOUT ROWID;

CREATE TABLE seen_push (
    cappid     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (cappid, key)
) WITHOUT ROWID;
"#,
    // Jobs count their chunks finished done (so completing a job reads no
    // chunk); jobs already in the file are counted from their chunks.
    r#"
ALTER TABLE job ADD COLUMN chunks_done INTEGER NOT NULL DEFAULT 0;
UPDATE job SET chunks_done = (
    SELECT count(*) FROM chunk
    WHERE chunk.cappid = job.cappid AND chunk.job_id = job.id AND chunk.state = 'done'
);
"#,
    // Each authorizer's JS-SDK jsapi_ticket, kept like a token (store/jsapi.rs).
    r#"
CREATE TABLE jsapi_ticket (
    cappid       TEXT    NOT NULL,
    appid        TEXT    NOT NULL,
    access_token TEXT,
    expires_at   INTEGER NOT NULL DEFAULT 0,
    version      INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cappid, appid)
) WITHOUT ROWID;
"#,
    // Inbound events, their webhook deliveries and the webhooks (issue #15).
    super::events::MIGRATION,
    // Web OAuth on behalf (store/oauth.rs): links, one-time attempts, one-time results.
    r#"
CREATE TABLE oauth_link (
    cappid       TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    tenant       TEXT    NOT NULL,
    appid        TEXT    NOT NULL,
    scope        TEXT    NOT NULL,
    return_url   TEXT    NOT NULL,
    client_state TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (cappid, id)
) WITHOUT ROWID;

CREATE TABLE oauth_attempt (
    cappid     TEXT    NOT NULL,
    state_hash TEXT    NOT NULL,
    link_id    TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    taken      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cappid, state_hash)
) WITHOUT ROWID;

CREATE TABLE oauth_result (
    cappid     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    appid      TEXT    NOT NULL,
    openid     TEXT    NOT NULL,
    unionid    TEXT,
    scope      TEXT    NOT NULL,
    nickname   TEXT,
    headimgurl TEXT,
    expires_at INTEGER NOT NULL,
    taken      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cappid, id)
) WITHOUT ROWID;
"#,
    // Jobs count their chunks finished stopped too, so whether a stopped job
    // has ended is known without reading its chunks; jobs already in the file
    // are counted from their chunks.
    r#"
ALTER TABLE job ADD COLUMN chunks_stopped INTEGER NOT NULL DEFAULT 0;
UPDATE job SET chunks_stopped = (
    SELECT count(*) FROM chunk
    WHERE chunk.cappid = job.cappid AND chunk.job_id = job.id AND chunk.state = 'stopped'
);
"#,
];

/// Brings the database to the newest schema; refuses one newer than this build.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let known = MIGRATIONS.len();
    let current = usize::try_from(current)
        .map_err(|_| StoreError::Invalid(format!("negative schema version {current}")))?;
    if current > known {
        return Err(StoreError::Invalid(format!(
            "database schema version {current} is newer than this build understands ({known})"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)?;
        let version = i64::try_from(index + 1)
            .map_err(|_| StoreError::Invalid("too many migrations".into()))?;
        tx.pragma_update(None, "user_version", version)?;
    }
    tx.commit()?;
    Ok(())
}
