//! `job.finished` (issue #15): the worker that finishes a job's last chunk
//! tells the tenant the job will make no more progress, done or stopped, with
//! its final counts. Every chunk ends through the worker (a stopped job's
//! queued chunks are claimed and finished stopped), so looking after each
//! finished chunk misses no job. Whether the job has ended is read from the
//! job alone (the store counts its chunks finished done and stopped, see
//! `JobStore::finish_chunk`); its chunks are read once, for the event's
//! counts, so a stopped job of n chunks costs n job reads, not n chunk lists.
//! Two workers finishing the last chunks at once may both see the job
//! finished: the event's id comes from the job id, so they record one event.
//! A chunk is finished and counted in one write on both stores, so the
//! counts are exact; DynamoDB marks a job `Done` in a write after it, and a
//! job whose mark a crash lost (queued or running in storage, every chunk
//! counted done) is taken as ended here too, so the event does not hang on
//! the mark. A worker that dies between finishing a job's last chunk and
//! recording the event still leaves the job without it: best effort.

use crate::app::App;
use crate::service::events;
use crate::service::jobs::{self, JobView};
use crate::store::{JobState, StoreError};
use serde_json::{Map, Value};

/// The event type.
pub const JOB_FINISHED: &str = "job.finished";

/// Raises `job.finished` if `job_id` has just finished. Best effort, like
/// every lifecycle event: the job's results are stored whatever happens here.
pub(super) async fn announce_if_finished(app: &App, job_id: &str) {
    match finished_job(app, job_id).await {
        Ok(Some(view)) => {
            events::record_lifecycle(
                app.store.as_ref(),
                JOB_FINISHED,
                &view.job.appid,
                Some(view.job.tenant.clone()),
                &view.job.id,
                event_data(&view),
                app.now(),
            )
            .await;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(job = job_id, error = %e, "could not tell whether the job finished; no job.finished event");
        }
    }
}

/// The job's final view, if no chunk of it will run again.
async fn finished_job(app: &App, job_id: &str) -> Result<Option<JobView>, StoreError> {
    // The job alone first: most finished chunks leave their job running, and
    // then its chunks need not be read.
    let Some(job) = app.store.get_job(job_id, app.now()).await? else {
        return Ok(None);
    };
    // Done is marked after its last chunk is counted (by the same write on
    // SQLite, the next one on DynamoDB), so a queued or running job with every
    // chunk counted done has ended whether or not the mark was written; a
    // stopped job has ended once each of its chunks has been counted, done or
    // stopped.
    let ended = match job.state {
        JobState::Done => true,
        JobState::Queued | JobState::Running => job.chunks_done >= job.chunk_count,
        JobState::Stopped => job.chunks_done.saturating_add(job.chunks_stopped) >= job.chunk_count,
        JobState::Creating => false,
    };
    if !ended {
        return Ok(None);
    }
    // The chunks confirm it, as a second guard (the stores count each chunk
    // once): the view is read for the event's counts anyway, and a job must
    // not be announced with a chunk still to run.
    let view = jobs::job_view(app, job_id, 0, 1).await?;
    Ok(view.filter(|v| v.pending_chunks == 0))
}

/// `{job_id, kind, state, stop_reason?, wechat_errcode?, total, sent, failed,
/// unknown, unsent}`: the names and values `GET /v1/jobs/{id}` answers.
fn event_data(view: &JobView) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("job_id".into(), Value::from(view.job.id.clone()));
    data.insert("kind".into(), Value::from(view.job.kind.clone()));
    data.insert("state".into(), Value::from(view.state.as_str()));
    if let Some(reason) = &view.stop {
        data.insert("stop_reason".into(), Value::from(reason.code().as_str()));
        if let Some(errcode) = reason.errcode() {
            data.insert("wechat_errcode".into(), Value::from(errcode));
        }
    }
    data.insert("total".into(), Value::from(view.job.total));
    let counts = &view.counts;
    for (name, n) in [
        ("sent", counts.sent),
        ("failed", counts.failed),
        ("unknown", counts.unknown),
        ("unsent", counts.unsent),
    ] {
        data.insert(name.into(), Value::from(n));
    }
    data
}
