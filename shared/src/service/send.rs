//! Template messages to 1..=100,000 openids: small requests are sent inline and
//! answered with per-recipient results; larger ones become a job of chunks for
//! the worker (design.md §2 "Send", §6).

use crate::app::App;
use crate::service::delivery::{client_msg_id, Batch, Delivery, StopReason};
use crate::service::input::{check_url, openid_list, InvalidInput, Object};
use crate::store::{Chunk, ChunkState, Job, JobState, RecipientResult, StoreError};
use crate::tokens::TokenError;
use crate::wechat::{MiniProgramLink, TemplateMessage, TemplateValue};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};

/// Most recipients of one template request.
pub const MAX_RECIPIENTS: usize = 100_000;
/// Jobs and their chunks are kept this long.
pub const JOB_TTL_SECS: u64 = 7 * 24 * 3600;
/// Extra passes over recipients that were certainly not sent (busy, 5xx) in an inline send.
const INLINE_RETRY_ROUNDS: u32 = 2;
const MAX_DATA_ENTRIES: usize = 50;

/// Recipient statuses, as stored and as answered.
pub mod status {
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
    pub const UNKNOWN: &str = "unknown";
    pub const UNSENT: &str = "unsent";
}

/// A validated template request: the message (without recipient) and the recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSend {
    /// `touser` is empty and `client_msg_id` unset: filled per recipient.
    pub message: TemplateMessage,
    pub recipients: Vec<String>,
}

/// Reads a template request body:
/// `{"touser": [openid…] | openid, "template_id", "url"?, "miniprogram"? {appid, pagepath?}, "data": {key: {value, color?} | "value"}}`.
pub fn parse_template(body: &serde_json::Value) -> Result<TemplateSend, InvalidInput> {
    let body = Object::root(body)?;
    body.deny_unknown(&["touser", "template_id", "url", "miniprogram", "data"])?;
    let recipients = openid_list("touser", body.opt_value("touser"), 1, MAX_RECIPIENTS)?;
    let template_id = body.str("template_id", 128)?.to_owned();
    let url = body.opt_nonempty_str("url", 2048)?;
    if let Some(u) = url {
        check_url("url", u)?;
    }
    let miniprogram = match body.opt_object("miniprogram")? {
        None => None,
        Some(mp) => {
            mp.deny_unknown(&["appid", "pagepath"])?;
            Some(MiniProgramLink {
                appid: mp.str("appid", 64)?.to_owned(),
                pagepath: mp.opt_nonempty_str("pagepath", 1024)?.map(str::to_owned),
            })
        }
    };
    let data = template_data(&body.object("data")?)?;
    Ok(TemplateSend {
        message: TemplateMessage {
            touser: String::new(),
            template_id,
            url: url.map(str::to_owned),
            miniprogram,
            data,
            client_msg_id: None,
        },
        recipients,
    })
}

fn template_data(data: &Object<'_>) -> Result<BTreeMap<String, TemplateValue>, InvalidInput> {
    if data.len() > MAX_DATA_ENTRIES {
        return Err(InvalidInput::new(
            "data",
            format!("must have at most {MAX_DATA_ENTRIES} entries"),
        ));
    }
    let mut out = BTreeMap::new();
    for (key, value) in data.entries() {
        let field = data.field(key);
        if key.is_empty()
            || key.len() > 64
            || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(InvalidInput::new(
                field,
                "template keys are 1..=64 characters of A-Z a-z 0-9 _",
            ));
        }
        let entry = match value {
            serde_json::Value::String(v) => TemplateValue::new(v.clone()),
            serde_json::Value::Object(_) => {
                let entry =
                    Object::root(value).map_err(|e| InvalidInput::new(&field, e.message))?;
                entry
                    .deny_unknown(&["value", "color"])
                    .map_err(|e| prefixed(&field, e))?;
                let v = entry
                    .opt_str("value")
                    .map_err(|e| prefixed(&field, e))?
                    .ok_or_else(|| InvalidInput::new(format!("{field}.value"), "is required"))?;
                let color = entry
                    .opt_nonempty_str("color", 7)
                    .map_err(|e| prefixed(&field, e))?;
                if let Some(c) = color {
                    if !(c.len() == 7
                        && c.starts_with('#')
                        && c[1..].bytes().all(|b| b.is_ascii_hexdigit()))
                    {
                        return Err(InvalidInput::new(
                            format!("{field}.color"),
                            "must look like #RRGGBB",
                        ));
                    }
                }
                TemplateValue {
                    value: v.to_owned(),
                    color: color.map(str::to_owned),
                }
            }
            other => {
                return Err(InvalidInput::new(
                    field,
                    format!(
                    "must be {{\"value\": string, \"color\"?: \"#RRGGBB\"}} or a string, not {}",
                    json_type(other)
                ),
                ))
            }
        };
        if entry.value.len() > 4096 {
            return Err(InvalidInput::new(
                format!("{field}.value"),
                "must be at most 4096 bytes",
            ));
        }
        out.insert(key.clone(), entry);
    }
    Ok(out)
}

fn prefixed(parent: &str, e: InvalidInput) -> InvalidInput {
    InvalidInput::new(format!("{parent}.{}", e.field), e.message)
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::Array(_) => "an array",
        _ => "this",
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
    send: TemplateSend,
    seed: &str,
) -> Result<InlineReport, SendError> {
    let batch = Batch::start(app, appid, send.message).await?;
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
            if matches!(outcome, Delivery::Retryable { .. } | Delivery::Unknown) {
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
    if results.iter().all(|r| r.status == status::UNSENT) {
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
        Some(Delivery::Sent { msgid }) => (status::SENT, *msgid, None),
        Some(Delivery::Failed { errcode }) => (status::FAILED, None, *errcode),
        Some(Delivery::Unknown) => (status::UNKNOWN, None, None),
        Some(Delivery::Retryable { errcode }) => (status::UNSENT, None, *errcode),
        Some(Delivery::Stop(reason)) => (status::UNSENT, None, reason.errcode()),
        Some(Delivery::Skipped) | None => (status::UNSENT, None, None),
    };
    RecipientResult {
        openid: openid.to_owned(),
        status: status.to_owned(),
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
    send: TemplateSend,
    job_id: String,
) -> Result<QueuedJob, SendError> {
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
    let payload = serde_json::to_string(&send.message)
        .map_err(|e| StoreError::Invalid(format!("template message does not serialise: {e}")))?;
    let job = Job {
        id: job_id.clone(),
        appid: appid.to_owned(),
        tenant: tenant.to_owned(),
        kind: "template".to_owned(),
        payload,
        total,
        chunk_count: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
        chunks_done: 0,
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
    use serde_json::json;

    fn body() -> serde_json::Value {
        json!({"touser": ["oA", "oB"], "template_id": "T1", "url": "https://example.com/o/1",
               "data": {"first": {"value": "Hello", "color": "#FF0000"}, "remark": "plain"}})
    }

    #[test]
    fn a_full_template_request_is_read() {
        let s = parse_template(&body()).unwrap();
        assert_eq!(s.recipients, vec!["oA", "oB"]);
        assert_eq!(s.message.template_id, "T1");
        assert_eq!(s.message.data["first"].color.as_deref(), Some("#FF0000"));
        assert_eq!(s.message.data["remark"].value, "plain");
    }

    #[test]
    fn template_values_of_unknown_types_are_named() {
        let mut b = body();
        b["data"]["first"] = json!(12);
        let e = parse_template(&b).unwrap_err();
        assert_eq!(e.field, "data.first");
        b["data"]["first"] = json!({"value": "x", "size": 3});
        assert_eq!(parse_template(&b).unwrap_err().field, "data.first.size");
        b["data"]["first"] = json!({"value": "x", "color": "red"});
        assert_eq!(parse_template(&b).unwrap_err().field, "data.first.color");
    }

    #[test]
    fn unknown_top_level_fields_and_bad_urls_are_refused() {
        let mut b = body();
        b["tousers"] = json!([]);
        assert_eq!(parse_template(&b).unwrap_err().field, "tousers");
        let mut b = body();
        b["url"] = json!("ftp://x");
        assert_eq!(parse_template(&b).unwrap_err().field, "url");
    }

    #[test]
    fn more_than_a_hundred_thousand_recipients_are_refused() {
        let mut b = body();
        let many: Vec<String> = (0..100_001).map(|i| format!("o{i}")).collect();
        b["touser"] = json!(many);
        assert!(parse_template(&b)
            .unwrap_err()
            .message
            .contains("1..=100000"));
    }

    #[test]
    fn outcomes_map_to_stored_statuses() {
        assert_eq!(
            recipient_result("o", Some(&Delivery::Sent { msgid: Some(1) })).status,
            "sent"
        );
        assert_eq!(
            recipient_result("o", Some(&Delivery::Unknown)).status,
            "unknown"
        );
        assert_eq!(
            recipient_result("o", Some(&Delivery::Stop(StopReason::QuotaExhausted))).errcode,
            Some(45009)
        );
        assert_eq!(recipient_result("o", None).status, "unsent");
    }
}
