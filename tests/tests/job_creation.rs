//! Jobs larger than one store write, on SQLite and DynamoDB: a job of many
//! writes reaches everyone once; a job still being created is neither shown
//! nor worked, and its commit's announcement alone starts all of it (as the
//! stream announces a large job's early chunks before the commit); a creation
//! abandoned half-way is never sent, and its chunks are ended.

use crate::api_common;

use api_common::*;
use std::time::Duration;
use wxopen::service::worker::{ChunkRunOutcome, Feed, QueueItem, Worker};
use wxopen::store::{
    Chunk, ChunkRef, ChunkState, Job, JobState, CREATION_DEADLINE_SECS, MAX_CHUNKS_PER_WRITE,
};
use wxopen::wechat::{TemplateMessage, TemplateValue};
use wxopen_tests::Backend;

on_both_stores!(
    a_job_of_many_writes_is_sent_to_everyone_once,
    a_job_being_created_is_neither_shown_nor_worked_and_its_commit_starts_all_of_it,
    an_abandoned_creation_is_never_sent_and_its_chunks_are_ended,
);

async fn a_job_of_many_writes_is_sent_to_everyone_once(backend: Backend) {
    // Given chunks of one recipient, so a send makes more chunks than one write holds
    let recipients = MAX_CHUNKS_PER_WRITE + 11;
    let api = Api::start_with(options(backend, recipients, &[("WXOPEN_CHUNK_SIZE", "1")])).await;

    // When a template message goes to all of them
    let r = api.send_template(&extra_followers(recipients), None).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["chunks"], recipients);
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    api.drain("w1").await;

    // Then the job is done and everyone got exactly one message
    let job = api.job_settled(&job_id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["counts"]["sent"], recipients);
    let sends = api.sends_per_openid();
    assert_eq!(sends.len(), recipients);
    assert!(sends.values().all(|n| *n == 1));
}

fn job(api: &Api, id: &str, chunk_count: u32) -> Job {
    let message = TemplateMessage {
        touser: String::new(),
        template_id: TEMPLATE.into(),
        url: None,
        miniprogram: None,
        data: [("first".to_owned(), TemplateValue::new("Shipped"))]
            .into_iter()
            .collect(),
        client_msg_id: None,
    };
    let now = api.env.sim.now();
    Job {
        id: id.into(),
        appid: APPID.into(),
        tenant: TENANT.into(),
        kind: "template".into(),
        payload: serde_json::to_string(&message).unwrap(),
        total: chunk_count,
        chunk_count,
        chunks_done: 0,
        chunks_stopped: 0,
        state: JobState::Queued,
        stop_reason: None,
        created_at: now,
        expires_at: now + 86_400,
    }
}

fn chunk(job: &Job, index: u32, openid: &str) -> Chunk {
    Chunk {
        job_id: job.id.clone(),
        index,
        appid: APPID.into(),
        recipients: vec![openid.to_owned()],
        results: Vec::new(),
        state: ChunkState::Pending,
        lease_owner: None,
        lease_until: 0,
        attempts: 0,
        expires_at: job.expires_at,
    }
}

fn item(job: &Job, index: u32) -> QueueItem {
    QueueItem::Chunk(ChunkRef {
        job_id: job.id.clone(),
        index,
    })
}

async fn a_job_being_created_is_neither_shown_nor_worked_and_its_commit_starts_all_of_it(
    backend: Backend,
) {
    // Given a job whose first chunks are stored but not yet committed
    let api = Api::start_with(options(backend, 3, &[])).await;
    let followers = extra_followers(3);
    let store = api.env.store().clone();
    let j = job(&api, "job_creating", 3);
    store.begin_job(&j).await.unwrap();
    store
        .add_chunks(
            &j,
            &[chunk(&j, 0, &followers[0]), chunk(&j, 1, &followers[1])],
        )
        .await
        .unwrap();

    // Then no client sees it
    let r = api.get("/v1/jobs/job_creating", Some(&api.key)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    // and a worker its chunks are announced to (as the stream does) leaves them untouched
    let worker = Worker::new(api.env.app.clone(), "stream-early");
    let early = worker
        .run_until(
            Feed::announced([item(&j, 0), item(&j, 1)]),
            std::future::pending(),
        )
        .await;
    assert!(early
        .outcomes
        .iter()
        .all(|(_, o)| *o == ChunkRunOutcome::NotReady));
    assert_eq!(early.worked(), 0);
    assert!(api.env.sim.template_sends(APPID).is_empty());
    assert!(store
        .list_chunks("job_creating")
        .await
        .unwrap()
        .iter()
        .all(|c| c.attempts == 0 && c.lease_owner.is_none()));

    // When it is committed and only the commit's chunk is announced
    store
        .commit_job(&j, &[chunk(&j, 2, &followers[2])])
        .await
        .unwrap();
    let worker = Worker::new(api.env.app.clone(), "stream-commit");
    let report = worker
        .run_until(Feed::announced([item(&j, 2)]), std::future::pending())
        .await;

    // Then the worker goes on with the job's other chunks, and everyone gets one message
    assert_eq!(report.worked(), 3, "{report:?}");
    let shown = api.job_settled("job_creating").await;
    assert_eq!(shown["state"], "done", "{shown}");
    assert_eq!(shown["counts"]["sent"], 3);
    let sends = api.sends_per_openid();
    assert_eq!(sends.len(), 3);
    assert!(sends.values().all(|n| *n == 1));
}

async fn an_abandoned_creation_is_never_sent_and_its_chunks_are_ended(backend: Backend) {
    // Given a creation that stopped after its first chunk
    let api = Api::start_with(options(backend, 2, &[])).await;
    let followers = extra_followers(2);
    let store = api.env.store().clone();
    let j = job(&api, "job_abandoned", 2);
    store.begin_job(&j).await.unwrap();
    store
        .add_chunks(&j, &[chunk(&j, 0, &followers[0])])
        .await
        .unwrap();
    // Before the creation deadline nothing is offered to the worker
    assert_eq!(api.drain("early").await.outcomes.len(), 0);

    // When the deadline has passed and a worker looks at the queue
    api.env
        .sim
        .advance(Duration::from_secs(CREATION_DEADLINE_SECS + 1));
    let report = api.drain("sweeper").await;

    // Then the chunk is ended as stopped (the one never written is not found),
    // nobody is messaged, and no client sees the job
    assert_eq!(
        report.outcomes,
        [
            (
                item(&j, 0),
                ChunkRunOutcome::Stopped {
                    reason: "creation_abandoned".into()
                }
            ),
            (item(&j, 1), ChunkRunOutcome::NotFound)
        ]
    );
    assert!(api.env.sim.template_sends(APPID).is_empty());
    let chunks = store.list_chunks("job_abandoned").await.unwrap();
    assert_eq!(chunks[0].state, ChunkState::Stopped);
    assert_eq!(
        chunks[0].results[0].status,
        wxopen::domain::RecipientStatus::Unsent
    );
    let r = api.get("/v1/jobs/job_abandoned", Some(&api.key)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(api.drain("later").await.outcomes.len(), 0, "ended once");
}
