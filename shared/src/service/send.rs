//! Template messages and subscription notifications to 1..=100,000 openids:
//! small requests are sent inline and answered with per-recipient results;
//! larger ones become a job of chunks for the worker (design.md §2 "Send", §6).

use crate::app::App;
use crate::domain::RecipientStatus;
use crate::service::delivery::{client_msg_id, Batch, Delivery, StopReason};
use crate::service::job_kind::BulkMessage;
use crate::store::{Chunk, ChunkState, Job, JobState, RecipientResult, StoreError};
use crate::tokens::TokenError;
use crate::wechat::{SubscribeMessage, TemplateMessage};
use futures::StreamExt;
use std::collections::HashMap;

/// Most recipients of one template or subscription request (the request types and their schemas' `maxItems` use it).
pub const MAX_RECIPIENTS: usize = 100_000;
/// Jobs and their chunks are kept this long.
pub const JOB_TTL_SECS: u64 = 7 * 24 * 3600;
/// Extra passes over recipients that were certainly not sent (busy, 5xx) in an inline send.
const INLINE_RETRY_ROUNDS: u32 = 2;

/// A validated template request: the message (without recipient) and the recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSend {
    /// `touser` is empty and `client_msg_id` unset: filled per recipient.
    pub message: TemplateMessage,
    pub recipients: Vec<String>,
}

/// A validated bulk request of either kind: the message (without recipient) and the recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkSend {
    /// `touser` is empty: filled per recipient.
    pub message: BulkMessage,
    pub recipients: Vec<String>,
}

impl From<TemplateSend> for BulkSend {
    fn from(s: TemplateSend) -> Self {
        BulkSend {
            message: BulkMessage::Template(s.message),
            recipients: s.recipients,
        }
    }
}

/// A validated subscription-notification request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeSend {
    /// `touser` is empty: filled per recipient.
    pub message: SubscribeMessage,
    pub recipients: Vec<String>,
}

impl From<SubscribeSend> for BulkSend {
    fn from(s: SubscribeSend) -> Self {
        BulkSend {
            message: BulkMessage::Subscribe(s.message),
            recipients: s.recipients,
        }
    }
}

/// Why a send could not be carried out as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Nothing was sent: the batch stopped before any recipient got an outcome.
    #[error("sending stopped: {0}")]
    Stopped(StopReason),
    /// Nothing was sent: WeChat was busy or unreachable for every recipient.
    #[error("WeChat did not accept any message (busy or unreachable)")]
    Unavailable { errcode: Option<i64> },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The answer to an inline send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineReport {
    /// In request order.
    pub results: Vec<RecipientResult>,
    /// Set when the send stopped early (the rest are `unsent`).
    pub stop: Option<StopReason>,
}

/// Sends to every recipient now. `seed` makes the client_msg_ids (derive it
/// from the Idempotency-Key when there is one, so a retried request is deduplicated by WeChat).
pub async fn send_inline(
    app: &App,
    appid: &str,
    send: impl Into<BulkSend>,
    seed: &str,
) -> Result<InlineReport, SendError> {
    let send: BulkSend = send.into();
    let batch = Batch::start(app, appid, send.message).await?;
    let resend_unknown = batch.resends_unknown();
    let mut outcomes: HashMap<String, Delivery> = HashMap::with_capacity(send.recipients.len());
    let mut pending: Vec<String> = send.recipients.clone();
    for round in 0..=INLINE_RETRY_ROUNDS {
        if round > 0 {
            tokio::time::sleep(app.wechat.retry_policy().delay_before_retry(round)).await;
        }
        let mut again = Vec::new();
        let items: Vec<(String, String)> = pending
            .iter()
            .map(|o| (o.clone(), client_msg_id(seed, o)))
            .collect();
        let mut stream = batch.deliver(items);
        while let Some((openid, outcome)) = stream.next().await {
            let again_later = match outcome {
                Delivery::Retryable { .. } => true,
                Delivery::Unknown => resend_unknown,
                _ => false,
            };
            if again_later {
                again.push(openid.clone());
            }
            outcomes.insert(openid, outcome);
        }
        drop(stream);
        pending = again;
        if pending.is_empty() || batch.stop_reason().is_some() {
            break;
        }
    }
    let results: Vec<RecipientResult> = send
        .recipients
        .iter()
        .map(|openid| recipient_result(openid, outcomes.get(openid)))
        .collect();
    let stop = batch.stop_reason().cloned();
    if results.iter().all(|r| r.status == RecipientStatus::Unsent) {
        return Err(match stop {
            Some(reason) => SendError::Stopped(reason),
            None => SendError::Unavailable {
                errcode: results.iter().find_map(|r| r.errcode),
            },
        });
    }
    Ok(InlineReport { results, stop })
}

/// The stored result of a final outcome (`None` or Skipped/Stop: unsent).
pub fn recipient_result(openid: &str, outcome: Option<&Delivery>) -> RecipientResult {
    let (status, msgid, errcode) = match outcome {
        Some(Delivery::Sent { msgid }) => (RecipientStatus::Sent, *msgid, None),
        Some(Delivery::Failed { errcode }) => (RecipientStatus::Failed, None, *errcode),
        Some(Delivery::Unknown) => (RecipientStatus::Unknown, None, None),
        Some(Delivery::Retryable { errcode }) => (RecipientStatus::Unsent, None, *errcode),
        Some(Delivery::Stop(reason)) => (RecipientStatus::Unsent, None, reason.errcode()),
        Some(Delivery::Skipped) | None => (RecipientStatus::Unsent, None, None),
    };
    RecipientResult {
        openid: openid.to_owned(),
        status,
        msgid,
        errcode,
    }
}

/// A job accepted for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    pub job_id: String,
    pub total: u32,
    pub chunks: u32,
}

/// A new job id: `job_` and 24 random hex digits.
pub fn new_job_id() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    format!("job_{}", hex::encode(bytes))
}

/// Stores the job and its chunks (as `store::JobStore::create_job` does: never
/// visible or worked half-written); the worker takes it from there.
pub async fn enqueue_job(
    app: &App,
    appid: &str,
    tenant: &str,
    send: impl Into<BulkSend>,
    job_id: String,
) -> Result<QueuedJob, SendError> {
    let send: BulkSend = send.into();
    let now = app.now();
    let expires_at = now + JOB_TTL_SECS;
    let size = app.config.chunk_size.max(1);
    let total = u32::try_from(send.recipients.len()).unwrap_or(u32::MAX);
    // The recipients move into their chunks: a large job is held once, not twice.
    let mut recipients = send.recipients.into_iter();
    let chunks: Vec<Chunk> = (0u32..)
        .map_while(|index| {
            let part: Vec<String> = recipients.by_ref().take(size).collect();
            (!part.is_empty()).then(|| Chunk {
                job_id: job_id.clone(),
                index,
                appid: appid.to_owned(),
                recipients: part,
                results: Vec::new(),
                state: ChunkState::Pending,
                lease_owner: None,
                lease_until: 0,
                attempts: 0,
                expires_at,
            })
        })
        .collect();
    let kind = send.message.kind();
    let payload = send.message.payload().map_err(|e| {
        StoreError::Invalid(format!("{} message does not serialise: {e}", kind.as_str()))
    })?;
    let job = Job {
        id: job_id.clone(),
        appid: appid.to_owned(),
        tenant: tenant.to_owned(),
        kind: kind.as_str().to_owned(),
        payload,
        total,
        chunk_count: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
        chunks_done: 0,
        chunks_stopped: 0,
        state: JobState::Queued,
        stop_reason: None,
        created_at: now,
        expires_at,
    };
    app.store.create_job(&job, &chunks).await?;
    Ok(QueuedJob {
        job_id,
        total: job.total,
        chunks: job.chunk_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_stored_statuses() {
        assert_eq!(
            recipient_result("o", Some(&Delivery::Sent { msgid: Some(1) })).status,
            RecipientStatus::Sent
        );
        assert_eq!(
            recipient_result("o", Some(&Delivery::Unknown)).status,
            RecipientStatus::Unknown
        );
        assert_eq!(
            recipient_result("o", Some(&Delivery::Stop(StopReason::QuotaExhausted))).errcode,
            Some(45009)
        );
        assert_eq!(recipient_result("o", None).status, RecipientStatus::Unsent);
    }
}
