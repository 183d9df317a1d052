//! What WeChat's pushes leave behind: TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH
//! outcomes by (appid, MsgID), and the markers that deduplicate WeChat's retries.

use super::error::StoreResult;
use super::model::FinishEvent;
use async_trait::async_trait;

#[async_trait]
pub trait PushStore: Send + Sync {
    /// Stored by (appid, msg_id); a repeat overwrites with the same content.
    async fn put_finish_event(&self, event: &FinishEvent) -> StoreResult<()>;
    /// The unexpired events of `appid` among `msg_ids` (each once, in no particular order).
    async fn get_finish_events(
        &self,
        appid: &str,
        msg_ids: &[u64],
        now: u64,
    ) -> StoreResult<Vec<FinishEvent>>;
    /// Dedupe WeChat retries: true the first time `key` is seen (until `expires_at`).
    async fn mark_push_seen(&self, key: &str, now: u64, expires_at: u64) -> StoreResult<bool>;
}
