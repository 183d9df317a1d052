//! The send worker (design.md §6): one loop, [`Worker::run_until`], that takes
//! queue items from a [`Feed`] and works them a few at a time until the feed
//! runs dry or it is told to stop.
//!
//! Where it runs:
//! - `wxopen serve`: fed by polling the store's queue ([`Feed::polling`]),
//!   until Ctrl-C;
//! - the send-worker Lambda: fed by the table's stream ([`Feed::announced`],
//!   the stream adapter in its `main` turns records into items), until the
//!   invocation's time runs short;
//! - the refresh Lambda: everything claimable that no stream record will
//!   announce again, deferred chunks or a crashed worker's ([`Feed::backlog`]).
//!
//! On stop it claims nothing more, gives running items [`SHUTDOWN_GRACE`] to
//! finish, then cancels the rest and releases their leases, so the next run
//! resumes them from their checkpoints at once.
//!
//! A queue item is a chunk of a job today (template messages or subscription
//! notifications alike: the chunk run reads the message by the job's kind,
//! see `service::job_kind`); another kind of item is a variant
//! of [`QueueItem`], a branch of [`Worker::run_item`] and, where its queue
//! differs, a [`Feed`] source.

mod chunk;
mod feed;
mod finished;
mod slots;

pub use chunk::{run_chunk, ChunkRunOutcome};
pub use feed::Feed;

use chunk::ChunkRunReport;
use slots::{ChunkSlots, Slot};

use crate::app::App;
use crate::store::{ChunkRef, StoreError};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;

/// How long a claim (or a checkpoint) holds a chunk.
pub const LEASE_SECS: u64 = 60;
/// Checkpoint after this many new results…
pub(crate) const CHECKPOINT_EVERY: usize = 50;
/// …or this long after the last checkpoint, whichever comes first.
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(2);
/// Passes over recipients that were certainly not sent (busy, 5xx) within one run.
const RETRY_ROUNDS: u32 = 3;
/// A chunk whose recipients stayed unsendable is picked up again after this long.
pub(crate) const DEFER_SECS: u64 = 30;
/// After this many claims, recipients still unsendable are given up as `unsent`.
pub(crate) const MAX_ATTEMPTS: u32 = 10;
/// Items worked at once with sends still to start (they share the
/// per-authorizer concurrency).
pub(crate) const PARALLEL_ITEMS: usize = 4;
/// Items held at once, counting those whose last sends are still being answered.
pub(crate) const MAX_RUNNING_ITEMS: usize = 2 * PARALLEL_ITEMS;
/// How often a polling worker looks at the queue when nothing else wakes it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long running items may go on after a stop before they are cancelled.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A unit of queued work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueueItem {
    /// A chunk of a bulk-send job (template or subscribe).
    Chunk(ChunkRef),
}

/// The store failed while running an item; its lease expires and it is resumed later.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a run of the worker did.
#[derive(Debug, Default)]
pub struct WorkReport {
    pub outcomes: Vec<(QueueItem, ChunkRunOutcome)>,
    /// Items whose run failed on a store error (their leases expire; they are resumed later).
    pub failed: Vec<QueueItem>,
    /// Items cancelled at a stop, their leases released.
    pub released: Vec<QueueItem>,
}

impl WorkReport {
    /// Items this run claimed and worked.
    pub fn worked(&self) -> usize {
        self.outcomes.iter().filter(|(_, o)| o.worked()).count()
    }

    /// Whether `item` was left for a later run: its run failed or was cancelled.
    pub fn left(&self, item: &QueueItem) -> bool {
        self.failed.contains(item) || self.released.contains(item)
    }
}

/// A worker: an app and the name its leases are taken under.
#[derive(Clone)]
pub struct Worker {
    app: App,
    owner: String,
}

type Running = JoinSet<(QueueItem, Result<ChunkRunReport, WorkerError>)>;

impl Worker {
    /// `owner` names this worker's leases: unique per worker instance.
    pub fn new(app: App, owner: impl Into<String>) -> Worker {
        Worker {
            app,
            owner: owner.into(),
        }
    }

    /// Works what `feed` hands out, [`PARALLEL_ITEMS`] with sends still to
    /// start at a time, until the feed has nothing more and nothing runs, or
    /// `stop` completes.
    pub async fn run_until(self, mut feed: Feed, stop: impl Future<Output = ()>) -> WorkReport {
        let mut report = WorkReport::default();
        let mut running: Running = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, QueueItem> = HashMap::new();
        let slots = ChunkSlots::default();
        let mut poll = feed.poll_every().map(|every| {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        let mut look = true;
        tokio::pin!(stop);
        loop {
            let want = slots
                .free(PARALLEL_ITEMS)
                .min(MAX_RUNNING_ITEMS.saturating_sub(running.len()));
            if look && want > 0 {
                let held: HashSet<&QueueItem> = in_flight.values().collect();
                let found = match feed.next(&self.app, want, &held).await {
                    Ok(found) => found,
                    Err(error) => {
                        tracing::warn!(error = %error, "worker could not look for queued items");
                        Vec::new()
                    }
                };
                // Fewer than wanted: look again when an item ends or frees its slot.
                look = found.len() == want;
                for item in found {
                    let (worker, slot, run) = (self.clone(), slots.take(), item.clone());
                    let task = running.spawn(async move {
                        let result = worker.run_item(&run, slot).await;
                        (run, result)
                    });
                    in_flight.insert(task.id(), item);
                }
                if look {
                    continue;
                }
            }
            if running.is_empty() && poll.is_none() {
                break;
            }
            tokio::select! {
                biased;
                _ = &mut stop => break,
                done = running.join_next_with_id(), if !running.is_empty() => {
                    match done {
                        Some(Ok((id, (item, result)))) => {
                            in_flight.remove(&id);
                            if let Ok(run) = &result {
                                feed.learnt(&item, run.job_chunks);
                            }
                            report.add(item, result);
                        }
                        Some(Err(e)) => {
                            if let Some(item) = in_flight.remove(&e.id()) {
                                tracing::error!(item = ?item, error = %e, "worker task failed; its lease runs out");
                                report.failed.push(item);
                            }
                        }
                        None => {}
                    }
                    look = true;
                }
                _ = slots.freed() => look = true,
                _ = tick(&mut poll) => look = true,
            }
        }
        self.wind_down(running, in_flight, &mut report).await;
        report
    }

    /// One item, holding `slot` until its last sends are under way.
    async fn run_item(&self, item: &QueueItem, slot: Slot) -> Result<ChunkRunReport, WorkerError> {
        match item {
            QueueItem::Chunk(chunk) => {
                chunk::run_chunk_in(&self.app, chunk, &self.owner, slot).await
            }
        }
    }

    /// After a stop: running items get [`SHUTDOWN_GRACE`], then are cancelled
    /// and their leases released.
    async fn wind_down(
        &self,
        mut running: Running,
        mut in_flight: HashMap<tokio::task::Id, QueueItem>,
        report: &mut WorkReport,
    ) {
        if running.is_empty() {
            return;
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(done) = running.join_next_with_id().await {
                if let Ok((id, (item, result))) = done {
                    in_flight.remove(&id);
                    report.add(item, result);
                }
            }
        })
        .await;
        running.shutdown().await;
        for item in in_flight.into_values() {
            self.release(&item).await;
            report.released.push(item);
        }
    }

    async fn release(&self, item: &QueueItem) {
        let QueueItem::Chunk(chunk) = item;
        match self.app.store.release_chunk(chunk, &self.owner).await {
            Ok(()) => {
                tracing::info!(job_id = %chunk.job_id, chunk = chunk.index, "released an unfinished chunk")
            }
            Err(error) => {
                tracing::warn!(job_id = %chunk.job_id, chunk = chunk.index, error = %error,
                "releasing a chunk failed; its lease runs out instead")
            }
        }
    }
}

impl WorkReport {
    fn add(&mut self, item: QueueItem, result: Result<ChunkRunReport, WorkerError>) {
        match result {
            Ok(run) => self.outcomes.push((item, run.outcome)),
            Err(e) => {
                tracing::error!(item = ?item, error = %e, "run failed; it is resumed after its lease");
                self.failed.push(item);
            }
        }
    }
}

/// The next tick of `poll`; never, without one.
async fn tick(poll: &mut Option<tokio::time::Interval>) {
    match poll {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Runs everything claimable now until nothing is (the refresh Lambda's
/// resumption of chunks no stream record will announce again, and tests).
pub async fn drain(app: &App, owner: &str) -> WorkReport {
    Worker::new(app.clone(), owner)
        .run_until(Feed::backlog(), std::future::pending())
        .await
}
