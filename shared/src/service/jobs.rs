//! A job's progress for `GET /v1/jobs/{id}`: totals over every chunk, the
//! state, and one page of per-recipient results joined with the
//! TEMPLATESENDJOBFINISH events stored for their msgids.

use crate::app::App;
use crate::domain::{DeliveryStatus, RecipientProgress, StopReason};
use crate::store::{ChunkState, Job, JobState, RecipientResult, StoreError};
use std::collections::HashMap;
/// Most recipients one page holds.
pub(crate) const MAX_PAGE: usize = 10_000;

/// Recipients by status, over the whole job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: usize,
    pub failed: usize,
    pub unknown: usize,
    pub unsent: usize,
    pub pending: usize,
}

/// One recipient's result with WeChat's later delivery status, if it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientView {
    pub openid: String,
    pub status: RecipientProgress,
    pub msgid: Option<u64>,
    pub errcode: Option<i64>,
    /// The finish event's Status, once it arrived.
    pub delivery: Option<DeliveryStatus>,
}

/// A job as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub job: Job,
    /// The job's state as seen from its chunks (`running` once one started).
    pub state: JobState,
    pub stop: Option<StopReason>,
    pub counts: Counts,
    pub recipients: Vec<RecipientView>,
    /// Offset of the next page, when there is one.
    pub next_cursor: Option<usize>,
    /// Chunks not finished yet (a stopped job's queued chunks still end through a worker).
    pub pending_chunks: usize,
}

impl RecipientView {
    fn of(r: &RecipientResult) -> RecipientView {
        RecipientView {
            openid: r.openid.clone(),
            status: r.status.into(),
            msgid: r.msgid,
            errcode: r.errcode,
            delivery: None,
        }
    }
}

/// The job with recipients `cursor..cursor+limit`, or None if unknown or expired.
pub async fn job_view(
    app: &App,
    job_id: &str,
    cursor: usize,
    limit: usize,
) -> Result<Option<JobView>, StoreError> {
    // A job still being created is nobody's to see yet.
    let Some(job) = app
        .store
        .get_job(job_id, app.now())
        .await?
        .filter(crate::store::workable)
    else {
        return Ok(None);
    };
    let mut chunks = app.store.list_chunks(job_id).await?;
    chunks.sort_by_key(|c| c.index);
    let stopped = job.state == JobState::Stopped;
    let mut counts = Counts::default();
    let mut page = Vec::new();
    let limit = limit.clamp(1, MAX_PAGE);
    let mut position = 0usize;
    let mut all_done = !chunks.is_empty();
    let pending_chunks = chunks
        .iter()
        .filter(|c| c.state == ChunkState::Pending)
        .count();
    let mut started = false;
    for chunk in &chunks {
        all_done &= chunk.state == ChunkState::Done;
        started |= chunk.attempts > 0 || !chunk.results.is_empty();
        let by_openid: HashMap<&str, &RecipientResult> = chunk
            .results
            .iter()
            .map(|r| (r.openid.as_str(), r))
            .collect();
        for openid in &chunk.recipients {
            let result = match by_openid.get(openid.as_str()) {
                Some(r) => RecipientView::of(r),
                None => RecipientView {
                    openid: openid.clone(),
                    status: if stopped || chunk.state != ChunkState::Pending {
                        RecipientProgress::Unsent
                    } else {
                        RecipientProgress::Pending
                    },
                    msgid: None,
                    errcode: None,
                    delivery: None,
                },
            };
            match result.status {
                RecipientProgress::Sent => counts.sent += 1,
                RecipientProgress::Failed => counts.failed += 1,
                RecipientProgress::Unknown => counts.unknown += 1,
                RecipientProgress::Unsent => counts.unsent += 1,
                RecipientProgress::Pending => counts.pending += 1,
            }
            if position >= cursor && page.len() < limit {
                page.push(result);
            }
            position += 1;
        }
    }
    let next_cursor =
        (cursor + page.len() < position && !page.is_empty()).then_some(cursor + page.len());
    let msgids: Vec<u64> = page.iter().filter_map(|r| r.msgid).collect();
    let events: HashMap<u64, DeliveryStatus> = if msgids.is_empty() {
        HashMap::new()
    } else {
        app.store
            .get_finish_events(&job.appid, &msgids, app.now())
            .await?
            .into_iter()
            .map(|e| (e.msg_id, DeliveryStatus::from_wechat(&e.status)))
            .collect()
    };
    let recipients = page
        .into_iter()
        .map(|r| RecipientView {
            delivery: r.msgid.and_then(|m| events.get(&m).copied()),
            ..r
        })
        .collect();
    let state = match job.state {
        JobState::Stopped => JobState::Stopped,
        JobState::Done => JobState::Done,
        _ if all_done => JobState::Done,
        _ if started => JobState::Running,
        _ => JobState::Queued,
    };
    Ok(Some(JobView {
        stop: job.stop_reason.clone(),
        state,
        counts,
        recipients,
        next_cursor,
        pending_chunks,
        job,
    }))
}
