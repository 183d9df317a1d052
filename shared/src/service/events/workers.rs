//! Who works webhook deliveries, and when (issue #15): `serve`'s loop (the
//! first attempt of every delivery recorded in this process as soon as it is
//! announced, and every other due one by polling), a stream batch's first
//! attempts (the worker Lambda), and a drain of everything due (`refresh`).

use super::announce::Announced;
use super::deliver::{client, work_leased, work_one, work_streamed};
use crate::app::App;
use crate::store::{DeliveryRef, StoreError};
use std::time::{Duration, Instant};

/// Deliveries attempted at once by one `serve` process.
const PARALLEL: usize = 16;
/// How often the `serve` loop looks for due deliveries when idle.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// How often `serve` deletes expired events (SQLite has no TTL).
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Events deleted per purge call (one short write each).
const PURGE_BATCH: u32 = 500;

/// Works every delivery due now, `PARALLEL` at a time; how many were worked.
pub async fn drain(app: &App, client: &reqwest::Client, owner: &str) -> Result<usize, StoreError> {
    let due = app
        .store
        .due_deliveries(app.now(), (PARALLEL * 4) as u32)
        .await?;
    let worked = due.len();
    let mut running = tokio::task::JoinSet::new();
    for reference in due {
        while running.len() >= PARALLEL {
            running.join_next().await;
        }
        let (app, client, owner) = (app.clone(), client.clone(), owner.to_owned());
        running.spawn(async move {
            if let Err(e) = work_one(&app, &client, &reference, &owner).await {
                tracing::warn!(event_id = %reference.event_id, webhook_id = %reference.webhook_id, error = %e, "delivery could not be worked");
            }
        });
    }
    while running.join_next().await.is_some() {}
    Ok(worked)
}

/// The first attempt of each delivery a stream announced (the worker
/// Lambda); returns the sequence numbers of those that could not be worked
/// (a store failure), for the stream to retry. A failed attempt is a stored
/// retry, not a failed record.
pub async fn work_announced<S>(
    app: &App,
    client: &reqwest::Client,
    announced: Vec<(S, DeliveryRef)>,
    owner: &str,
) -> Vec<S> {
    let mut failed = Vec::new();
    for (sequence, reference) in announced {
        if let Err(e) = work_streamed(app, client, &reference, owner).await {
            tracing::warn!(event_id = %reference.event_id, webhook_id = %reference.webhook_id, error = %e, "delivery could not be worked");
            failed.push(sequence);
        }
    }
    failed
}

/// Deletes expired events in short batches until none is left.
async fn purge_expired(app: &App) {
    let mut purged = 0;
    loop {
        match app.store.purge_expired_events(app.now(), PURGE_BATCH).await {
            Ok(n) => {
                purged += n;
                if n < u64::from(PURGE_BATCH) {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not purge expired events");
                break;
            }
        }
    }
    if purged > 0 {
        tracing::info!(purged, "expired events purged");
    }
}

/// The delivery loop of `wxopen serve`, until `stopped` turns true: the
/// first attempt of every delivery recorded through `app` as soon as it is
/// announced, and, polling every [`POLL_EVERY`], every other due delivery.
/// An attempt in flight at shutdown is abandoned; its lease runs out and it
/// is attempted again.
pub async fn run_loop(app: App, stopped: tokio::sync::watch::Receiver<bool>) {
    let client = match client(&app) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client could not be built; no deliveries");
            return;
        }
    };
    let owner = {
        // Unique per process: a claim names its worker.
        let mut bytes = [0u8; 6];
        rand::fill(&mut bytes);
        format!("deliver-{}", hex::encode(bytes))
    };
    let announced = app.announcer.listen(&owner);
    tokio::join!(
        work_announcements(&app, &client, announced, stopped.clone()),
        poll(&app, &client, &owner, stopped),
    );
}

/// First attempts of announced deliveries, [`PARALLEL`] at a time.
async fn work_announcements(
    app: &App,
    client: &reqwest::Client,
    mut announced: tokio::sync::mpsc::Receiver<Announced>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut running = tokio::task::JoinSet::new();
    loop {
        if *stopped.borrow() {
            return;
        }
        tokio::select! {
            _ = stopped.changed() => return,
            Some(_) = running.join_next(), if !running.is_empty() => {}
            next = announced.recv(), if running.len() < PARALLEL => {
                let Some(Announced { event, deliveries }) = next else {
                    return;
                };
                for (delivery, webhook) in deliveries {
                    let (app, client, event) = (app.clone(), client.clone(), event.clone());
                    running.spawn(async move {
                        if let Err(e) = work_leased(&app, &client, &delivery, &event, &webhook).await {
                            tracing::warn!(event_id = %delivery.event_id, webhook_id = %delivery.webhook_id, error = %e, "delivery could not be worked; due again when its lease ends");
                        }
                    });
                }
            }
        }
    }
}

/// Every due delivery not announced to this process, polled.
async fn poll(
    app: &App,
    client: &reqwest::Client,
    owner: &str,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut purged_at: Option<Instant> = None;
    loop {
        if *stopped.borrow() {
            return;
        }
        if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            purge_expired(app).await;
            purged_at = Some(Instant::now());
        }
        let worked = tokio::select! {
            r = drain(app, client, owner) => r.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not look for due deliveries");
                0
            }),
            _ = stopped.changed() => return,
        };
        if worked == 0 {
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = stopped.changed() => return,
            }
        }
    }
}
