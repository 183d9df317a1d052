//! Works through queued template-message chunks (design.md §6): claim a chunk
//! under a lease, send to its recipients with bounded concurrency per
//! authorizer, checkpoint results in batches (extending the lease), finish.
//!
//! A recipient already in the checkpoint is never sent again. One whose outcome
//! was unknown (timeout after sending) is re-sent with the same client_msg_id,
//! which WeChat deduplicates (45065 counts as sent). A crashed worker's chunk is
//! claimed again once its lease has expired and resumes from the checkpoint.
//!
//! Where it runs:
//! - `wxopen serve`: its background worker (the CLI's `background.rs`) claims chunks
//!   as slots free up and polls for new, deferred, or crash-abandoned ones;
//!   [`spawn_loop`] is a simpler polling loop over [`drain`] for embedding (tests).
//! - AWS: the send-worker Lambda receives the table's stream; for every INSERT
//!   record call [`chunk_ref_from_stream_keys`] on its `pk`/`sk` and pass the refs
//!   to [`run_chunks`]. Crash recovery on AWS (expired leases, deferred chunks)
//!   needs a periodic [`drain`] (e.g. from the refresh function's schedule), since
//!   an expired lease produces no stream record.

use crate::app::App;
use crate::domain::RecipientStatus;
use crate::service::delivery::{classify_token, client_msg_id, Batch, Delivery, StopReason};
use crate::service::send::recipient_result;
use crate::store::{
    CheckpointOutcome, Chunk, ChunkRef, ChunkState, ClaimOutcome, Job, JobState, RecipientResult,
    StoreError,
};
use crate::wechat::TemplateMessage;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How long a claim (or a checkpoint) holds a chunk.
pub const LEASE_SECS: u64 = 60;
/// Checkpoint after this many new results…
pub const CHECKPOINT_EVERY: usize = 50;
/// …or this long after the last checkpoint, whichever comes first.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(2);
/// Passes over recipients that were certainly not sent (busy, 5xx) within one run.
const RETRY_ROUNDS: u32 = 3;
/// A chunk whose recipients stayed unsendable is picked up again after this long.
pub const DEFER_SECS: u64 = 30;
/// After this many claims, recipients still unsendable are given up as `unsent`.
pub const MAX_ATTEMPTS: u32 = 10;
/// Chunks one drain works on at once with recipients still to start (they
/// share the per-authorizer concurrency).
pub const PARALLEL_CHUNKS: usize = 4;
/// Chunks one drain holds at once, counting those whose last sends are still
/// being answered.
pub const MAX_RUNNING_CHUNKS: usize = 2 * PARALLEL_CHUNKS;
/// How often the in-process loop looks for claimable chunks when idle.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

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
}

/// The store failed while running a chunk; its lease expires and it is resumed later.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The chunk named by a DynamoDB stream record's keys (`{cappid}#job#{id}` /
/// `chunk#{n}`), if it is a chunk of this component.
pub fn chunk_ref_from_stream_keys(component_appid: &str, pk: &str, sk: &str) -> Option<ChunkRef> {
    let job_id = pk.strip_prefix(component_appid)?.strip_prefix("#job#")?;
    let index = sk.strip_prefix("chunk#")?.parse().ok()?;
    (!job_id.is_empty()).then(|| ChunkRef {
        job_id: job_id.to_owned(),
        index,
    })
}

/// Claims and works one chunk as `owner` (unique per worker instance).
pub async fn run_chunk(
    app: &App,
    chunk: &ChunkRef,
    owner: &str,
) -> Result<ChunkRunOutcome, WorkerError> {
    run_chunk_in(app, chunk, owner, ChunkSlots::default().take()).await
}

/// [`run_chunk`], holding `slot` until the chunk's last recipients are under
/// way (or it ends), so the worker can claim its next chunk while this one's
/// last sends are still answered and the authorizer's permits never run dry
/// at a chunk boundary.
pub async fn run_chunk_in(
    app: &App,
    chunk: &ChunkRef,
    owner: &str,
    slot: Slot,
) -> Result<ChunkRunOutcome, WorkerError> {
    let now = app.now();
    let claimed = match app
        .store
        .claim_chunk(chunk, owner, now, now + LEASE_SECS)
        .await?
    {
        ClaimOutcome::Claimed(c) => c,
        ClaimOutcome::Held => return Ok(ChunkRunOutcome::Held),
        ClaimOutcome::Finished => return Ok(ChunkRunOutcome::AlreadyFinished),
        ClaimOutcome::NotFound => return Ok(ChunkRunOutcome::NotFound),
    };
    let run = ChunkRun::new(app, chunk, owner, claimed, slot);
    let job = app.store.get_job(&chunk.job_id, now).await?;
    let Some(job) = job else {
        return run.finish_stopped(&StopReason::JobMissing).await;
    };
    if job.state == JobState::Stopped {
        let reason = job
            .stop_reason
            .unwrap_or_else(|| StopReason::Other("stopped".into()));
        return run
            .finish_stopped(&StopReason::JobStopped(Box::new(reason)))
            .await;
    }
    let message: TemplateMessage = match serde_json::from_str(&job.payload) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(job = %job.id, error = %e, "job payload is not a template message");
            let reason = StopReason::InvalidJob;
            app.store
                .set_job_state(&job.id, JobState::Stopped, Some(&reason))
                .await?;
            return run.finish_stopped(&reason).await;
        }
    };
    let batch = match Batch::start(app, &run.chunk.appid, message).await {
        Ok(b) => b,
        Err(e) => {
            return match classify_token(&e) {
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
        }
    };
    run.send_all(&batch, &job).await
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

    /// Recipients to (re-)send: no result yet, or an unknown one.
    fn pending(&self) -> Vec<String> {
        self.chunk
            .recipients
            .iter()
            .filter(
                |o| match self.position.get(*o).and_then(|&i| self.results.get(i)) {
                    None => true,
                    Some(r) => r.status == RecipientStatus::Unknown,
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
        let mut pending = self.pending();
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
                        again.push(openid);
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

/// Counts a worker's chunks that still have recipients to start, and wakes
/// the worker when one no longer does: it may then claim another.
#[derive(Clone, Default)]
pub struct ChunkSlots(Arc<SlotsState>);

#[derive(Default)]
struct SlotsState {
    taken: AtomicUsize,
    freed: Notify,
}

impl ChunkSlots {
    /// Slots of `limit` not taken.
    pub fn free(&self, limit: usize) -> usize {
        limit.saturating_sub(self.0.taken.load(Ordering::Acquire))
    }

    /// Takes a slot for a chunk about to run.
    pub fn take(&self) -> Slot {
        self.0.taken.fetch_add(1, Ordering::AcqRel);
        Slot(Some(self.clone()))
    }

    /// Returns once a slot was given back (at once if one was since the last call).
    pub async fn freed(&self) {
        self.0.freed.notified().await;
    }
}

/// One chunk's hold on a [`ChunkSlots`]; given back once, early or on drop.
pub struct Slot(Option<ChunkSlots>);

impl Slot {
    fn release(&mut self) {
        if let Some(slots) = self.0.take() {
            slots.0.taken.fetch_sub(1, Ordering::AcqRel);
            slots.0.freed.notify_one();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

/// What a drain did.
#[derive(Debug, Default)]
pub struct DrainReport {
    pub outcomes: Vec<(ChunkRef, ChunkRunOutcome)>,
    /// Chunks whose run failed on a store error (their leases expire; they are resumed later).
    pub errors: usize,
}

/// Runs the given chunks (e.g. from a stream batch), [`PARALLEL_CHUNKS`] at a
/// time, starting the next as soon as one's last recipients are under way.
pub async fn run_chunks(app: &App, chunks: Vec<ChunkRef>, owner: &str) -> DrainReport {
    let mut report = DrainReport::default();
    let mut queue = chunks.into_iter().peekable();
    let mut running = FuturesUnordered::new();
    let slots = ChunkSlots::default();
    loop {
        while slots.free(PARALLEL_CHUNKS) > 0 && running.len() < MAX_RUNNING_CHUNKS {
            let Some(c) = queue.next() else { break };
            running.push(run_tracked(app, c, owner, slots.take()));
        }
        tokio::select! {
            done = running.next() => match done {
                Some((c, result)) => report.add(c, result),
                None => break,
            },
            _ = slots.freed(), if queue.peek().is_some() => {}
        }
    }
    mark_finished_jobs(app, &report).await;
    report
}

/// Runs one chunk in `slot` (see [`run_chunk_in`]) and marks its job done if
/// this was its last chunk: for a worker that claims chunks one by one.
pub async fn run_one(app: &App, chunk: ChunkRef, owner: &str, slot: Slot) -> DrainReport {
    let mut report = DrainReport::default();
    let (chunk, result) = run_tracked(app, chunk, owner, slot).await;
    report.add(chunk, result);
    mark_finished_jobs(app, &report).await;
    report
}

/// Claims and runs claimable chunks (new, deferred past their retry time, or
/// abandoned by a crashed worker) until none is left or `max_chunks` have run.
/// [`PARALLEL_CHUNKS`] have recipients to start at any time: the next chunk is
/// claimed as soon as one's last recipients are under way.
///
/// Each chunk runs as its own task (aborted if the drain is dropped), so the
/// chunks' sends and checkpoints go on while the drain looks for more work.
pub async fn drain(app: &App, owner: &str, max_chunks: usize) -> Result<DrainReport, WorkerError> {
    let mut report = DrainReport::default();
    let mut running: JoinSet<(ChunkRef, Result<ChunkRunOutcome, WorkerError>)> = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, ChunkRef> = HashMap::new();
    let slots = ChunkSlots::default();
    let mut started = 0usize;
    let mut look = true;
    loop {
        let want = slots
            .free(PARALLEL_CHUNKS)
            .min(MAX_RUNNING_CHUNKS.saturating_sub(running.len()))
            .min(max_chunks - started);
        if look && want > 0 {
            let found = app
                .store
                .claimable_chunks(
                    app.now(),
                    u32::try_from(want + in_flight.len()).unwrap_or(u32::MAX),
                )
                .await?;
            let fresh: Vec<ChunkRef> = found
                .into_iter()
                .filter(|c| !in_flight.values().any(|held| held == c))
                .take(want)
                .collect();
            // Nothing more to claim now: look again when a chunk ends or frees its slot.
            look = fresh.len() == want;
            for c in fresh {
                started += 1;
                let (app, owner, slot, chunk) =
                    (app.clone(), owner.to_owned(), slots.take(), c.clone());
                let task =
                    running.spawn(async move { run_tracked(&app, chunk, &owner, slot).await });
                in_flight.insert(task.id(), c);
            }
            if look {
                continue;
            }
        }
        tokio::select! {
            done = running.join_next_with_id() => match done {
                Some(Ok((id, (c, result)))) => {
                    in_flight.remove(&id);
                    report.add(c, result);
                    look = true;
                }
                Some(Err(e)) => {
                    if let Some(c) = in_flight.remove(&e.id()) {
                        tracing::error!(job = %c.job_id, chunk = c.index, error = %e, "chunk task failed; it will be resumed after its lease");
                    }
                    report.errors += 1;
                    look = true;
                }
                None => break,
            },
            _ = slots.freed() => look = true,
        }
    }
    mark_finished_jobs(app, &report).await;
    Ok(report)
}

async fn run_tracked(
    app: &App,
    chunk: ChunkRef,
    owner: &str,
    slot: Slot,
) -> (ChunkRef, Result<ChunkRunOutcome, WorkerError>) {
    let result = run_chunk_in(app, &chunk, owner, slot).await;
    (chunk, result)
}

impl DrainReport {
    fn add(&mut self, chunk: ChunkRef, result: Result<ChunkRunOutcome, WorkerError>) {
        match result {
            Ok(outcome) => self.outcomes.push((chunk, outcome)),
            Err(e) => {
                tracing::error!(job = %chunk.job_id, chunk = chunk.index, error = %e, "chunk run failed; it will be resumed after its lease");
                self.errors += 1;
            }
        }
    }

    /// Chunks that were actually worked (claimed by us).
    pub fn worked(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| {
                !matches!(
                    o,
                    ChunkRunOutcome::Held
                        | ChunkRunOutcome::AlreadyFinished
                        | ChunkRunOutcome::NotFound
                )
            })
            .count()
    }
}

/// Marks jobs whose chunks are all done as `Done` (one read and at most one
/// write per job touched, not per chunk).
async fn mark_finished_jobs(app: &App, report: &DrainReport) {
    let jobs: HashSet<&str> = report
        .outcomes
        .iter()
        .filter(|(_, o)| matches!(o, ChunkRunOutcome::Done { .. }))
        .map(|(c, _)| c.job_id.as_str())
        .collect();
    for job_id in jobs {
        let result = async {
            let chunks = app.store.list_chunks(job_id).await?;
            if !chunks.is_empty() && chunks.iter().all(|c| c.state == ChunkState::Done) {
                if let Some(job) = app.store.get_job(job_id, app.now()).await? {
                    if job.state == JobState::Queued || job.state == JobState::Running {
                        app.store
                            .set_job_state(job_id, JobState::Done, None)
                            .await?;
                    }
                }
            }
            Ok::<(), StoreError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(job = %job_id, error = %e, "could not mark job done");
        }
    }
}

/// A worker name unique to this process and call: `{prefix}-{random}`.
pub fn worker_owner(prefix: &str) -> String {
    let mut bytes = [0u8; 6];
    rand::fill(&mut bytes);
    format!("{prefix}-{}", hex::encode(bytes))
}

/// The in-process worker of `wxopen serve`: drains claimable chunks, then polls
/// every [`POLL_INTERVAL`], until `shutdown` turns true (an unfinished chunk is
/// abandoned and resumed after its lease).
pub fn spawn_loop(
    app: App,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let owner = worker_owner("serve");
        loop {
            if *shutdown.borrow() {
                break;
            }
            let worked = tokio::select! {
                r = drain(&app, &owner, usize::MAX) => match r {
                    Ok(report) => report.worked(),
                    Err(e) => {
                        tracing::warn!(error = %e, "worker could not look for chunks");
                        0
                    }
                },
                _ = shutdown.changed() => break,
            };
            if worked == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    _ = shutdown.changed() => break,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_of_a_chunk_name_it() {
        assert_eq!(
            chunk_ref_from_stream_keys("wxc", "wxc#job#job_ab12", "chunk#00012"),
            Some(ChunkRef {
                job_id: "job_ab12".into(),
                index: 12
            })
        );
    }

    #[test]
    fn stream_keys_of_other_records_or_components_are_ignored() {
        assert_eq!(
            chunk_ref_from_stream_keys("wxc", "wxc#job#job_1", "job"),
            None
        );
        assert_eq!(
            chunk_ref_from_stream_keys("wxc", "wxd#job#job_1", "chunk#00001"),
            None
        );
        assert_eq!(
            chunk_ref_from_stream_keys("wxc", "wxc#authorizer#wx1", "profile"),
            None
        );
    }
}
