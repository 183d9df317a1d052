//! SQLite has no TTL: the refresh sweep deletes what expired (issue #18,
//! item 8: idempotency keys, pre-auth notes, links, jobs, chunks and seen
//! pushes had accumulated for ever). One table per write transaction, so a
//! large purge never holds the writer for all of them at once.

use super::rows::int;
use super::SqliteStore;
use crate::store::{PurgeStore, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

/// The tables whose rows expire, each with an `expires_at` column. A job's
/// chunks go before the job: a job is never left whose chunks are gone while
/// it is still read (both carry the job's expiry; reads ignore either after it).
const EXPIRING_TABLES: &[&str] = &[
    "seen_push",
    "idempotency",
    "preauth",
    "link",
    "finish_event",
    "chunk",
    "job",
    "oauth_attempt",
    "oauth_result",
    "oauth_link",
];

#[async_trait]
impl PurgeStore for SqliteStore {
    async fn purge_expired(&self, before: u64) -> StoreResult<u64> {
        let before = int(before);
        let mut deleted = 0u64;
        for table in EXPIRING_TABLES {
            let n = self
                .write("purge_expired", move |tx, cappid| {
                    let sql = format!("DELETE FROM {table} WHERE cappid = ?1 AND expires_at <= ?2");
                    Ok(tx.execute(&sql, params![cappid, before])?)
                })
                .await?;
            deleted = deleted.saturating_add(n as u64);
        }
        Ok(deleted)
    }
}
