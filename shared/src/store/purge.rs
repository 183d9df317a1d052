//! Deleting records past their `expires_at`. Every read already ignores them;
//! this only keeps a store from growing without bound. DynamoDB deletes them
//! by its TTL, so only SQLite does anything here (from the refresh sweep).

use super::StoreResult;
use async_trait::async_trait;

/// A store that may need its expired records deleted.
#[async_trait]
pub trait PurgeStore: Send + Sync {
    /// Deletes the records that expired at or before `before` (links,
    /// pre-auth notes, jobs and their chunks, idempotency keys, finish events,
    /// seen pushes); returns how many. Never a token or an authorizer: those
    /// records do not expire. The default, for stores that expire records by
    /// themselves, deletes nothing.
    async fn purge_expired(&self, before: u64) -> StoreResult<u64> {
        let _ = before;
        Ok(0)
    }
}
