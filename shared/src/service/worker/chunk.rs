//! One chunk worked under a lease (design.md §6): the job is read first (a
//! job still being created is not touched), the chunk claimed, its recipients
//! sent with bounded concurrency per authorizer, results checkpointed in
//! batches (extending the lease), and the chunk finished (the store marks
//! the job done when it was the last).
//!
//! A recipient already in the checkpoint is never sent again. One whose outcome
//! was unknown (timeout after sending) is re-sent with the same client_msg_id,
//! which WeChat deduplicates (45065 counts as sent). A crashed worker's chunk is
//! claimed again once its lease has expired and resumes from the checkpoint.

use super::slots::{ChunkSlots, Slot};
use super::{
    WorkerError, CHECKPOINT_EVERY, CHECKPOINT_INTERVAL, DEFER_SECS, LEASE_SECS, MAX_ATTEMPTS,
    RETRY_ROUNDS,
};
use crate::app::App;
use crate::domain::RecipientStatus;
use crate::service::delivery::{classify_token, client_msg_id, Batch, Delivery, StopReason};
use crate::service::job_kind::BulkMessage;
use crate::service::send::recipient_result;
use crate::store::{
    creation_abandoned, workable, CheckpointOutcome, Chunk, ChunkRef, ChunkState, ClaimOutcome,
    Job, JobState, RecipientResult, StoreError,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

/// What running one chunk came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkRunOutcome {
    /// Every recipient has a final result.
    Done {
        sent: usize,
        failed: usize,
        unknown: usize,
        unsent: usize,
    },
    /// The job stopped (quota spent, authorizer revoked, …): the rest are `unsent`.
    Stopped { reason: String },
    /// WeChat stayed busy or unreachable for some recipients: checkpointed, and
    /// claimable again at `retry_at` (unix seconds).
    Deferred { retry_at: u64 },
    /// Another worker took the chunk over (our lease had expired): we stopped at once.
    LostLease,
    /// Another worker holds the chunk now.
    Held,
    /// Already done or stopped.
    AlreadyFinished,
    /// No such chunk (or it expired).
    NotFound,
    /// Its job is still being created: not claimed, nothing written. Whoever
    /// commits the job works it (see `store::jobs`).
    NotReady,
}

impl ChunkRunOutcome {
    /// This run claimed the chunk and worked it (to an end, a deferral or a lost lease).
    pub fn worked(&self) -> bool {
        !matches!(
            self,
            ChunkRunOutcome::Held
                | ChunkRunOutcome::AlreadyFinished
                | ChunkRunOutcome::NotFound
                | ChunkRunOutcome::NotReady
        )
    }
}

/// A chunk's run and what it learnt of the job's size, for the worker to go
/// on with the job's other chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkRunReport {
    pub(crate) outcome: ChunkRunOutcome,
    /// The job's chunk count, when the job was read and may be worked.
    pub(crate) job_chunks: Option<u32>,
}

/// Claims and works one chunk as `owner` (unique per worker instance).
pub async fn run_chunk(
    app: &App,
    chunk: &ChunkRef,
    owner: &str,
) -> Result<ChunkRunOutcome, WorkerError> {
    Ok(
        run_chunk_in(app, chunk, owner, ChunkSlots::default().take())
            .await?
            .outcome,
    )
}

/// [`run_chunk`], holding `slot` until the chunk's last recipients are under
/// way (or it ends), so the worker can claim its next chunk while this one's
/// last sends are still answered and the authorizer's permits never run dry
/// at a chunk boundary.
pub(crate) async fn run_chunk_in(
    app: &App,
    chunk: &ChunkRef,
    owner: &str,
    slot: Slot,
) -> Result<ChunkRunReport, WorkerError> {
    let now = app.now();
    let job = app.store.get_job(&chunk.job_id, now).await?;
    if job
        .as_ref()
        .is_some_and(|j| !workable(j) && !creation_abandoned(j, now))
    {
        return Ok(report(ChunkRunOutcome::NotReady, None));
    }
    let job_chunks = job.as_ref().map(|j| j.chunk_count);
    let claimed = match app
        .store
        .claim_chunk(chunk, owner, now, now + LEASE_SECS)
        .await?
    {
        ClaimOutcome::Claimed(c) => c,
        ClaimOutcome::Held => return Ok(report(ChunkRunOutcome::Held, job_chunks)),
        ClaimOutcome::Finished => return Ok(report(ChunkRunOutcome::AlreadyFinished, job_chunks)),
        ClaimOutcome::NotFound => return Ok(report(ChunkRunOutcome::NotFound, job_chunks)),
    };
    let run = ChunkRun::new(app, chunk, owner, claimed, slot);
    let job = match job {
        Some(job) if workable(&job) && job.state != JobState::Stopped => job,
        other => {
            let reason = match &other {
                None => StopReason::JobMissing,
                // The creator gave up: its chunks end here, unsent, and the job stays unseen.
                Some(j) if !workable(j) => {
                    StopReason::JobStopped(Box::new(StopReason::Other("creation_abandoned".into())))
                }
                Some(j) => StopReason::JobStopped(Box::new(
                    j.stop_reason
                        .clone()
                        .unwrap_or_else(|| StopReason::Other("stopped".into())),
                )),
            };
            let outcome = run.finish_stopped(&reason).await?;
            return Ok(report(outcome, job_chunks));
        }
    };
    let message = match BulkMessage::from_job(&job.kind, &job.payload) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(job = %job.id, error = %e, "job payload cannot be read");
            let reason = StopReason::InvalidJob;
            app.store
                .set_job_state(&job.id, JobState::Stopped, Some(&reason))
                .await?;
            return Ok(report(run.finish_stopped(&reason).await?, job_chunks));
        }
    };
    let batch = match Batch::start(app, &run.chunk.appid, message).await {
        Ok(b) => b,
        Err(e) => {
            let outcome = match classify_token(&e) {
                Delivery::Stop(reason) => {
                    app.store
                        .set_job_state(&job.id, JobState::Stopped, Some(&reason))
                        .await?;
                    run.finish_stopped(&reason).await
                }
                _ => {
                    tracing::warn!(job = %job.id, chunk = chunk.index, error = %e, "no authorizer token; deferring chunk");
                    run.defer().await
                }
            };
            return Ok(report(outcome?, job_chunks));
        }
    };
    Ok(report(run.send_all(&batch, &job).await?, job_chunks))
}

fn report(outcome: ChunkRunOutcome, job_chunks: Option<u32>) -> ChunkRunReport {
    ChunkRunReport {
        outcome,
        job_chunks,
    }
}

/// One claimed chunk being worked.
struct ChunkRun<'a> {
    app: &'a App,
    at: &'a ChunkRef,
    owner: &'a str,
    chunk: Chunk,
    /// Results so far; an `unknown` one is replaced when its re-send completes.
    results: Vec<RecipientResult>,
    position: HashMap<String, usize>,
    unsaved: usize,
    saved_at: Instant,
    slot: Slot,
}

/// A checkpoint being written while the chunk's sends go on.
type Saving = Pin<Box<dyn Future<Output = Result<Saved, StoreError>> + Send>>;

/// What a checkpoint came to.
enum Saved {
    LostLease,
    /// Saved; the job as read right after (to notice a stop by another worker).
    Kept(Option<Job>),
}

impl<'a> ChunkRun<'a> {
    fn new(app: &'a App, at: &'a ChunkRef, owner: &'a str, mut chunk: Chunk, slot: Slot) -> Self {
        let results = std::mem::take(&mut chunk.results);
        let position = results
            .iter()
            .enumerate()
            .map(|(i, r)| (r.openid.clone(), i))
            .collect();
        ChunkRun {
            app,
            at,
            owner,
            chunk,
            results,
            position,
            unsaved: 0,
            saved_at: Instant::now(),
            slot,
        }
    }

    /// Recipients to (re-)send: no result yet, or an unknown one when a
    /// repeat is deduplicated by WeChat (`resend_unknown`).
    fn pending(&self, resend_unknown: bool) -> Vec<String> {
        self.chunk
            .recipients
            .iter()
            .filter(
                |o| match self.position.get(*o).and_then(|&i| self.results.get(i)) {
                    None => true,
                    Some(r) => resend_unknown && r.status == RecipientStatus::Unknown,
                },
            )
            .cloned()
            .collect()
    }

    fn record(&mut self, result: RecipientResult) {
        match self.position.get(&result.openid) {
            Some(&i) => {
                if let Some(slot) = self.results.get_mut(i) {
                    *slot = result;
                }
            }
            None => {
                self.position
                    .insert(result.openid.clone(), self.results.len());
                self.results.push(result);
            }
        }
        self.unsaved += 1;
    }

    async fn send_all(mut self, batch: &Batch, job: &Job) -> Result<ChunkRunOutcome, WorkerError> {
        let width = self.app.config.send_concurrency.max(1);
        let mut pending = self.pending(batch.resends_unknown());
        let mut last_failure: HashMap<String, Option<i64>> = HashMap::new();
        for round in 0..=RETRY_ROUNDS {
            if pending.is_empty() || batch.stop_reason().is_some() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(self.app.wechat.retry_policy().delay_before_retry(round + 2))
                    .await;
            }
            let mut again = Vec::new();
            let items: Vec<(String, String)> = pending
                .iter()
                .map(|o| (o.clone(), client_msg_id(&job.id, o)))
                .collect();
            let mut unanswered = items.len();
            let mut stream = batch.deliver(items);
            let mut saving: Option<Saving> = None;
            loop {
                if unanswered <= width {
                    // Every remaining send is started: let the worker claim its next chunk.
                    self.slot.release();
                }
                // The checkpoint is written while answers keep coming in.
                let next = tokio::select! {
                    biased;
                    Some(saved) = finished(&mut saving) => {
                        saving = None;
                        if let Progress::LostLease = self.saved(saved?, batch) {
                            return Ok(ChunkRunOutcome::LostLease);
                        }
                        continue;
                    }
                    next = stream.next() => next,
                };
                let Some((openid, outcome)) = next else { break };
                unanswered = unanswered.saturating_sub(1);
                match &outcome {
                    Delivery::Sent { .. } | Delivery::Failed { .. } => {
                        self.record(recipient_result(&openid, Some(&outcome)))
                    }
                    Delivery::Unknown => {
                        self.record(recipient_result(&openid, Some(&outcome)));
                        if batch.resends_unknown() {
                            again.push(openid);
                        }
                    }
                    Delivery::Retryable { errcode } => {
                        last_failure.insert(openid.clone(), *errcode);
                        again.push(openid);
                    }
                    Delivery::Stop(_) | Delivery::Skipped => {}
                }
                if saving.is_none() && self.checkpoint_due() {
                    saving = Some(self.checkpoint(&job.id));
                }
            }
            drop(stream);
            if let Some(saving) = saving {
                if let Progress::LostLease = self.saved(saving.await?, batch) {
                    return Ok(ChunkRunOutcome::LostLease);
                }
            }
            pending = again;
        }
        self.slot.release();
        if let Some(reason) = batch.stop_reason().cloned() {
            if !matches!(reason, StopReason::JobStopped(_)) {
                self.app
                    .store
                    .set_job_state(&job.id, JobState::Stopped, Some(&reason))
                    .await?;
            }
            return self.finish_stopped(&reason).await;
        }
        if !pending.is_empty() && self.chunk.attempts < MAX_ATTEMPTS {
            return self.defer().await;
        }
        for openid in &pending {
            if !self.position.contains_key(openid) {
                let errcode = last_failure.get(openid).copied().flatten();
                self.record(recipient_result(
                    openid,
                    Some(&Delivery::Retryable { errcode }),
                ));
            }
        }
        self.finish(ChunkState::Done).await
    }

    /// Enough results have accumulated, or enough time has passed, to save them.
    fn checkpoint_due(&self) -> bool {
        self.unsaved > 0
            && (self.unsaved >= CHECKPOINT_EVERY || self.saved_at.elapsed() >= CHECKPOINT_INTERVAL)
    }

    /// Starts saving the results so far, extending the lease, and reading the
    /// job back to notice a stop by another worker. Runs beside the sends.
    fn checkpoint(&mut self, job_id: &str) -> Saving {
        let store = self.app.store.clone();
        let at = self.at.clone();
        let owner = self.owner.to_owned();
        let results = self.results.clone();
        let job_id = job_id.to_owned();
        let now = self.app.now();
        self.unsaved = 0;
        self.saved_at = Instant::now();
        Box::pin(async move {
            let saved = store
                .checkpoint_chunk(&at, &owner, &results, now + LEASE_SECS)
                .await?;
            if saved == CheckpointOutcome::LostLease {
                return Ok(Saved::LostLease);
            }
            Ok(Saved::Kept(store.get_job(&job_id, now).await?))
        })
    }

    /// Acts on a finished checkpoint: stop when the lease is gone, stop the
    /// batch when another worker stopped the job.
    fn saved(&self, saved: Saved, batch: &Batch) -> Progress {
        match saved {
            Saved::LostLease => {
                tracing::warn!(job = %self.at.job_id, chunk = self.at.index, "chunk lease lost to another worker; stopping");
                Progress::LostLease
            }
            Saved::Kept(Some(job)) if job.state == JobState::Stopped => {
                batch.stop(StopReason::JobStopped(Box::new(
                    job.stop_reason
                        .unwrap_or_else(|| StopReason::Other("stopped".into())),
                )));
                Progress::Continue
            }
            Saved::Kept(_) => Progress::Continue,
        }
    }

    /// Checkpoints what we have and lets the lease run out at the retry time.
    async fn defer(self) -> Result<ChunkRunOutcome, WorkerError> {
        let retry_at = self.app.now() + DEFER_SECS;
        let saved = self
            .app
            .store
            .checkpoint_chunk(self.at, self.owner, &self.results, retry_at)
            .await?;
        Ok(match saved {
            CheckpointOutcome::Saved => ChunkRunOutcome::Deferred { retry_at },
            CheckpointOutcome::LostLease => ChunkRunOutcome::LostLease,
        })
    }

    async fn finish_stopped(mut self, reason: &StopReason) -> Result<ChunkRunOutcome, WorkerError> {
        let missing: Vec<String> = self
            .chunk
            .recipients
            .iter()
            .filter(|o| !self.position.contains_key(*o))
            .cloned()
            .collect();
        for openid in missing {
            self.record(recipient_result(&openid, Some(&Delivery::Skipped)));
        }
        match self.finish(ChunkState::Stopped).await? {
            ChunkRunOutcome::Done { .. } => Ok(ChunkRunOutcome::Stopped {
                reason: reason.to_string(),
            }),
            other => Ok(other),
        }
    }

    async fn finish(mut self, state: ChunkState) -> Result<ChunkRunOutcome, WorkerError> {
        // Stored in recipient order, so a reader sees the request's order.
        let order: HashMap<&str, usize> = self
            .chunk
            .recipients
            .iter()
            .enumerate()
            .map(|(i, o)| (o.as_str(), i))
            .collect();
        self.results
            .sort_by_key(|r| order.get(r.openid.as_str()).copied().unwrap_or(usize::MAX));
        let saved = self
            .app
            .store
            .finish_chunk(self.at, self.owner, &self.results, state)
            .await?;
        if saved == CheckpointOutcome::LostLease {
            return Ok(ChunkRunOutcome::LostLease);
        }
        super::finished::announce_if_finished(self.app, &self.at.job_id).await;
        let count = |s: RecipientStatus| self.results.iter().filter(|r| r.status == s).count();
        Ok(ChunkRunOutcome::Done {
            sent: count(RecipientStatus::Sent),
            failed: count(RecipientStatus::Failed),
            unknown: count(RecipientStatus::Unknown),
            unsent: count(RecipientStatus::Unsent),
        })
    }
}

enum Progress {
    Continue,
    LostLease,
}

/// The output of the checkpoint in `saving`, once it finished; never, while there is none.
async fn finished(saving: &mut Option<Saving>) -> Option<Result<Saved, StoreError>> {
    match saving {
        Some(future) => Some(future.await),
        None => std::future::pending().await,
    }
}
