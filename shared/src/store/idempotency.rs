//! Idempotency-Key uses: the first request's hash and, once answered, its answer.

use super::error::StoreResult;
use super::model::IdempotencyRecord;
use async_trait::async_trait;

/// Result of inserting an idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyOutcome {
    Inserted,
    Existing(IdempotencyRecord),
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Inserts the record unless an unexpired one holds the key (that one is returned).
    async fn insert_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: u64,
    ) -> StoreResult<IdempotencyOutcome>;
    async fn complete_idempotency(
        &self,
        key_hash: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()>;
    /// Forget an in-progress record whose request failed before answering, so
    /// it can be retried (a completed one is the answer to replay and stays).
    async fn delete_idempotency(&self, key_hash: &str) -> StoreResult<()>;
}
