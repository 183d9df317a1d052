//! The `idempotency` table.

use super::rows::{cols, int};
use super::{changed, text, SqliteStore};
use crate::store::{IdempotencyOutcome, IdempotencyRecord, IdempotencyStore, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, Row};

fn idempotency(row: &Row<'_>) -> StoreResult<IdempotencyRecord> {
    let c = cols(row, "idempotency");
    let status: Option<i64> = c.get("response_status")?;
    let body = c.opt_text("response_body")?;
    let response = match (status, body) {
        (Some(status), Some(body)) => {
            let status = u16::try_from(status)
                .map_err(|_| c.corrupt("response_status", "not an HTTP status"))?;
            Some((status, body))
        }
        (None, None) => None,
        _ => return Err(c.corrupt("response_status", "status and body must be stored together")),
    };
    Ok(IdempotencyRecord {
        key_hash: c.text("key_hash")?,
        request_hash: c.text("request_hash")?,
        response,
        expires_at: c.uint("expires_at")?,
    })
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
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
                .query_row(params![cappid, r.key_hash], |row| Ok(idempotency(row)))??;
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
        self.execute(
            "complete_idempotency",
            "UPDATE idempotency SET response_status = ?3, response_body = ?4 WHERE cappid = ?1 AND key_hash = ?2",
            vec![text(key_hash), i64::from(status).into(), text(body)],
        )
        .await
        .map(|_| ())
    }

    async fn delete_idempotency(&self, key_hash: &str) -> StoreResult<()> {
        // Only an in-progress record: a completed one is the answer to replay.
        self.execute(
            "delete_idempotency",
            "DELETE FROM idempotency WHERE cappid = ?1 AND key_hash = ?2 AND response_status IS NULL",
            vec![text(key_hash)],
        )
        .await
        .map(|_| ())
    }
}
