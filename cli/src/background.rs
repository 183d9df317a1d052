//! What the scheduler and the DynamoDB stream do on AWS, done in-process for
//! `wxopen serve`: a refresh timer, and the send worker fed by polling the
//! store's queue (new chunks, deferred ones past their retry time, and ones a
//! crash abandoned). On shutdown the worker stops claiming, lets in-flight
//! chunks finish for a short grace period, then cancels the rest and releases
//! their leases so the next start (or another process) resumes them from their
//! checkpoints at once.

use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use wxopen::app::App;
use wxopen::service::worker::{Feed, Worker, POLL_INTERVAL};

/// How often the refresh job runs (the SAM schedule's rate).
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);

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
        tasks.spawn(wxopen::service::events::workers::run_loop(
            app.clone(),
            stopped.clone(),
        ));
        tasks.spawn(send_worker(Worker::new(app, owner), stopped));
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

async fn send_worker(worker: Worker, mut stopped: watch::Receiver<bool>) {
    let stop = async move {
        // A dropped sender is a stop too.
        let _ = stopped.changed().await;
    };
    worker.run_until(Feed::polling(POLL_INTERVAL), stop).await;
}
