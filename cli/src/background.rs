//! What the scheduler and the DynamoDB stream do on AWS, done in-process for
//! `wxopen serve`: a refresh timer and a send worker that claims queued chunks
//! (new ones, deferred ones past their retry time, and ones a crash abandoned).
//! On shutdown the worker stops claiming, lets in-flight chunks finish for a
//! short grace period, then cancels the rest and releases their leases so the
//! next start (or another process) resumes them from their checkpoints at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use wxopen::app::App;
use wxopen::service::worker::{ChunkSlots, Slot};
use wxopen::store::ChunkRef;

/// How often the refresh job runs (the SAM schedule's rate).
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// How often the worker looks for queued chunks when nothing else wakes it.
const POLL_EVERY: Duration = wxopen::service::worker::POLL_INTERVAL;
/// Chunks worked at once with recipients still to start (they share the
/// configured per-authorizer concurrency).
const PARALLEL: usize = wxopen::service::worker::PARALLEL_CHUNKS;
/// Chunks held at once, counting those whose last sends are still answered.
const MAX_RUNNING: usize = wxopen::service::worker::MAX_RUNNING_CHUNKS;
/// How long in-flight chunks may run on after a shutdown request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The running background tasks.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Background {
    /// Starts the refresh timer, the send worker and the webhook delivery
    /// loop; `owner` names this process's chunk leases.
    pub fn start(app: App, owner: String) -> Background {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(refresh_timer(app.clone(), stopped.clone()));
        tasks.spawn(wxopen::service::events::deliver::run_loop(
            app.clone(),
            stopped.clone(),
        ));
        tasks.spawn(send_worker(app, owner, stopped));
        Background { stop, tasks }
    }

    /// Stops both tasks; returns once in-flight chunks finished or were released.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn refresh_timer(app: App, mut stopped: watch::Receiver<bool>) {
    let mut refresh = tokio::time::interval(REFRESH_EVERY);
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = refresh.tick() => {
                // The sweep, then the daily reconcile when due: as the refresh Lambda does.
                if let Err(error) = wxopen::service::refresh::scheduled(&app).await {
                    tracing::error!(error = %error, "refresh run failed");
                }
            }
        }
    }
}

/// Chunks this process holds right now.
type InFlight = Arc<Mutex<HashSet<ChunkRef>>>;

/// Claims chunks as soon as there is room: when one ends or its last
/// recipients are under way (so the authorizer's permits stay busy across
/// chunk boundaries), and every [`POLL_EVERY`] for new or deferred ones.
async fn send_worker(app: App, owner: String, mut stopped: watch::Receiver<bool>) {
    let in_flight: InFlight = Arc::default();
    let slots = ChunkSlots::default();
    let mut running = JoinSet::new();
    let mut poll = tokio::time::interval(POLL_EVERY);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = poll.tick() => {}
            _ = slots.freed() => {}
            Some(_) = running.join_next() => {}
        }
        while running.try_join_next().is_some() {}
        let free = slots
            .free(PARALLEL)
            .min(MAX_RUNNING.saturating_sub(running.len()));
        if free == 0 {
            continue;
        }
        let held = lock(&in_flight).len();
        let queued = match app
            .store
            .claimable_chunks(app.now(), u32::try_from(free + held).unwrap_or(u32::MAX))
            .await
        {
            Ok(queued) => queued,
            Err(error) => {
                tracing::warn!(error = %error, "listing queued chunks failed");
                continue;
            }
        };
        let mut started = 0;
        for chunk in queued {
            if started == free {
                break;
            }
            if !lock(&in_flight).insert(chunk.clone()) {
                continue;
            }
            started += 1;
            running.spawn(work_chunk(
                app.clone(),
                chunk,
                owner.clone(),
                slots.take(),
                in_flight.clone(),
            ));
        }
    }
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        running.shutdown().await;
        let leftovers: Vec<ChunkRef> = lock(&in_flight).drain().collect();
        for chunk in leftovers {
            match app.store.release_chunk(&chunk, &owner).await {
                Ok(()) => {
                    tracing::info!(job_id = %chunk.job_id, chunk = chunk.index, "released in-flight chunk")
                }
                Err(error) => {
                    tracing::warn!(job_id = %chunk.job_id, chunk = chunk.index, error = %error,
                    "releasing a chunk failed; its lease runs out instead")
                }
            }
        }
    }
}

async fn work_chunk(app: App, chunk: ChunkRef, owner: String, slot: Slot, in_flight: InFlight) {
    // run_one also marks the job done once its last chunk is; it logs failures itself.
    wxopen::service::worker::run_one(&app, chunk.clone(), &owner, slot).await;
    lock(&in_flight).remove(&chunk);
}

fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, HashSet<ChunkRef>> {
    in_flight.lock().unwrap_or_else(PoisonError::into_inner)
}
