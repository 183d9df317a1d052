//! Idempotency items (`{cappid}#idem#{key hash}` / `idem`), expiring by TTL.

use super::error::WriteError;
use super::expr::Values;
use super::items::{attr, base, key, kind, n, s, Item, Reader};
use super::keys::{Keys, SK_IDEM};
use super::table::TTL_ATTRIBUTE;
use super::{stamp_write_id, written_by, DynamoStore};
use crate::store::{
    IdempotencyOutcome, IdempotencyRecord, IdempotencyStore, StoreError, StoreResult,
};
use async_trait::async_trait;

fn idempotency_to_item(keys: &Keys, rec: &IdempotencyRecord) -> Item {
    let mut item = base(keys.idempotency(&rec.key_hash), SK_IDEM, kind::IDEMPOTENCY);
    item.insert(attr::KEY_HASH.into(), s(rec.key_hash.clone()));
    item.insert(attr::REQUEST_HASH.into(), s(rec.request_hash.clone()));
    if let Some((status, body)) = &rec.response {
        item.insert(attr::RESPONSE_STATUS.into(), n(status));
        item.insert(attr::RESPONSE_BODY.into(), s(body.clone()));
    }
    item.insert(TTL_ATTRIBUTE.into(), n(rec.expires_at));
    item
}

fn idempotency_from_item(item: &Item) -> StoreResult<IdempotencyRecord> {
    let r = Reader::new("idempotency", item);
    let response = match item.get(attr::RESPONSE_STATUS) {
        None => None,
        Some(_) => Some((
            r.number(attr::RESPONSE_STATUS)?,
            r.string(attr::RESPONSE_BODY)?,
        )),
    };
    Ok(IdempotencyRecord {
        key_hash: r.string(attr::KEY_HASH)?,
        request_hash: r.string(attr::REQUEST_HASH)?,
        response,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn insert_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: u64,
    ) -> StoreResult<IdempotencyOutcome> {
        let mut item = idempotency_to_item(&self.keys, record);
        let write_id = stamp_write_id(&mut item);
        let condition = "attribute_not_exists(#pk) OR #expires_at <= :now";
        match self
            .put(item, Some(condition), Values::new().with(":now", n(now)))
            .await
        {
            Ok(()) => Ok(IdempotencyOutcome::Inserted),
            Err(WriteError::ConditionFailed(Some(old))) if written_by(&old, &write_id) => {
                Ok(IdempotencyOutcome::Inserted)
            }
            Err(WriteError::ConditionFailed(Some(old))) => {
                idempotency_from_item(&old).map(IdempotencyOutcome::Existing)
            }
            Err(WriteError::ConditionFailed(None)) => {
                // DynamoDB always returns the old item here; be safe if it did not.
                match self
                    .get(self.keys.idempotency(&record.key_hash), SK_IDEM)
                    .await?
                {
                    Some(old) => idempotency_from_item(&old).map(IdempotencyOutcome::Existing),
                    None => Err(StoreError::backend_msg(
                        "idempotency record vanished during insert",
                    )),
                }
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn complete_idempotency(
        &self,
        key_hash: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()> {
        self.update_if(
            key(self.keys.idempotency(key_hash), SK_IDEM),
            "SET #response_status = :status, #response_body = :body",
            "attribute_exists(#pk)",
            Values::new()
                .with(":status", n(status))
                .with(":body", s(body)),
        )
        .await
        .map(|_| ())
    }

    async fn delete_idempotency(&self, key_hash: &str) -> StoreResult<()> {
        // Only an in-progress record: a completed one is the answer to replay.
        self.delete_if(
            key(self.keys.idempotency(key_hash), SK_IDEM),
            "attribute_not_exists(#response_status)",
            Values::new(),
        )
        .await
        .map(|_| ())
    }
}
