//! The DynamoDB store when a conditional write's answer is lost: DynamoDB did
//! the write, the answer never arrived, and the SDK sent the write again,
//! which now fails its own condition. Each such write must be recognised as
//! the caller's own, not taken for someone else's (a held lease, a claimed
//! chunk, a finished chunk, an idempotency key "in progress", a job id taken,
//! a push seen, a webhook secret rotated, an OAuth result taken); and a
//! finished chunk must be counted on its job once, whichever of the finish's
//! writes lost its answer.

use wxopen::secret::Secret;
use wxopen::store::dynamo::DynamoStore;
use wxopen::store::{
    CheckpointOutcome, Chunk, ChunkRef, ChunkState, ClaimOutcome, ComponentStore,
    IdempotencyOutcome, IdempotencyRecord, IdempotencyStore, Job, JobState, JobStore, LeaseOutcome,
    OauthResult, OauthStore, PushStore, Webhook, WebhookStore,
};
use wxopen_tests::dynamo_faults::{store_via, DynamoFault, FaultProxy, ANY_WRITE};
use wxopen_tests::unique_table_name;

const APPID: &str = "wxcomponent00001";
const NOW: u64 = 1_700_000_000;

/// A fresh table on moto, and a store reaching it through a fault proxy.
async fn store_behind_proxy() -> (DynamoStore, FaultProxy) {
    let moto = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!("these tests need moto_server: run scripts/test, or set AWS_ENDPOINT_URL_DYNAMODB")
    });
    let table = unique_table_name();
    let direct = DynamoStore::from_env(&table, APPID).await;
    wxopen::store::dynamo::create_table(direct.client(), &table)
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto).await;
    (store_via(&proxy.url(), &table, APPID).await, proxy)
}

fn job(id: &str, chunks: u32) -> (Job, Vec<Chunk>) {
    let job = Job {
        id: id.into(),
        appid: "wxauthorizer01".into(),
        tenant: "acme".into(),
        kind: "template".into(),
        payload: r#"{"template_id":"tpl"}"#.into(),
        total: chunks,
        chunk_count: chunks,
        chunks_done: 0,
        chunks_stopped: 0,
        state: JobState::Queued,
        stop_reason: None,
        created_at: NOW,
        expires_at: NOW + 86_400,
    };
    let chunks = (0..chunks)
        .map(|index| Chunk {
            job_id: id.into(),
            index,
            appid: "wxauthorizer01".into(),
            recipients: vec![format!("openid-{index}")],
            results: Vec::new(),
            state: ChunkState::Pending,
            lease_owner: None,
            lease_until: 0,
            attempts: 0,
            expires_at: NOW + 86_400,
        })
        .collect();
    (job, chunks)
}

#[tokio::test]
async fn a_token_lease_whose_answer_was_lost_is_still_ours() {
    let (store, proxy) = store_behind_proxy().await;
    // When the lease write's answer is lost
    proxy.fail_next("UpdateItem", DynamoFault::ServerErrorAfter);
    let outcome = store
        .acquire_component_lease("owner-a", 0, NOW, NOW + 15)
        .await
        .unwrap();
    // Then the lease is ours, not "held by another"
    assert_eq!(outcome, LeaseOutcome::Acquired);
    assert_eq!(proxy.counts().total_faults(), 1);
    // and someone else still finds it held
    assert_eq!(
        store
            .acquire_component_lease("owner-b", 0, NOW, NOW + 15)
            .await
            .unwrap(),
        LeaseOutcome::Held
    );
}

#[tokio::test]
async fn a_chunk_claim_whose_answer_was_lost_is_still_ours() {
    let (store, proxy) = store_behind_proxy().await;
    let (job, chunks) = job("job-claim", 1);
    store.create_job(&job, &chunks).await.unwrap();
    let chunk = ChunkRef {
        job_id: job.id.clone(),
        index: 0,
    };
    // When the claim's answer is lost
    proxy.fail_next("UpdateItem", DynamoFault::ResetAfter);
    let outcome = store
        .claim_chunk(&chunk, "worker-a", NOW, NOW + 60)
        .await
        .unwrap();
    // Then the chunk is claimed by us, once
    match outcome {
        ClaimOutcome::Claimed(claimed) => {
            assert_eq!(claimed.lease_owner.as_deref(), Some("worker-a"));
            assert_eq!(claimed.attempts, 1);
        }
        other => panic!("expected the claim to be ours, got {other:?}"),
    }
    // and another worker finds it held
    assert!(matches!(
        store
            .claim_chunk(&chunk, "worker-b", NOW, NOW + 60)
            .await
            .unwrap(),
        ClaimOutcome::Held
    ));
}

/// A stored job of `chunks` chunks, and the refs of its chunks.
async fn stored_job(store: &DynamoStore, id: &str, chunks: u32) -> Vec<ChunkRef> {
    let (job, chunks) = job(id, chunks);
    store.create_job(&job, &chunks).await.unwrap();
    chunks
        .iter()
        .map(|c| ChunkRef {
            job_id: c.job_id.clone(),
            index: c.index,
        })
        .collect()
}

/// `chunk` claimed by `owner`.
async fn claim(store: &DynamoStore, chunk: &ChunkRef, owner: &str) {
    let claimed = store
        .claim_chunk(chunk, owner, NOW, NOW + 60)
        .await
        .unwrap();
    assert!(matches!(claimed, ClaimOutcome::Claimed(_)), "{claimed:?}");
}

/// `chunk` finished `state` by `owner`, who holds it.
async fn finish(
    store: &DynamoStore,
    chunk: &ChunkRef,
    owner: &str,
    state: ChunkState,
) -> CheckpointOutcome {
    store.finish_chunk(chunk, owner, &[], state).await.unwrap()
}

/// (chunks_done, chunks_stopped, state) of a job.
async fn counts(store: &DynamoStore, id: &str) -> (u32, u32, JobState) {
    let job = store.get_job(id, NOW).await.unwrap().expect("the job");
    (job.chunks_done, job.chunks_stopped, job.state)
}

async fn chunk_state(store: &DynamoStore, chunk: &ChunkRef) -> ChunkState {
    let chunks = store.list_chunks(&chunk.job_id).await.unwrap();
    chunks
        .iter()
        .find(|c| c.index == chunk.index)
        .map(|c| c.state)
        .expect("the chunk")
}

#[tokio::test]
async fn a_chunk_finish_whose_answer_was_lost_is_still_ours_and_counted() {
    let (store, proxy) = store_behind_proxy().await;
    // Given a job of one chunk, claimed
    let done = stored_job(&store, "job-finish-done", 1).await;
    claim(&store, &done[0], "worker-a").await;
    // When finishing it done loses the answer of its first write (the
    // transaction finishing and counting it)
    proxy.fail_next(ANY_WRITE, DynamoFault::ResetAfter);
    let outcome = finish(&store, &done[0], "worker-a", ChunkState::Done).await;
    // Then the finish is ours, not a lost lease
    assert_eq!(proxy.counts().total_faults(), 1);
    assert_eq!(outcome, CheckpointOutcome::Saved);
    assert_eq!(chunk_state(&store, &done[0]).await, ChunkState::Done);
    // and the chunk is counted once, so the job is done
    assert_eq!(
        counts(&store, "job-finish-done").await,
        (1, 0, JobState::Done)
    );
    // and a second finish of it, by the same worker, is refused and counts nothing
    assert_eq!(
        finish(&store, &done[0], "worker-a", ChunkState::Done).await,
        CheckpointOutcome::LostLease
    );
    assert_eq!(
        counts(&store, "job-finish-done").await,
        (1, 0, JobState::Done)
    );

    // Given another, when finishing it stopped loses its answer
    let stopped = stored_job(&store, "job-finish-stopped", 1).await;
    claim(&store, &stopped[0], "worker-a").await;
    proxy.fail_next(ANY_WRITE, DynamoFault::ServerErrorAfter);
    let outcome = finish(&store, &stopped[0], "worker-a", ChunkState::Stopped).await;
    // Then it is ours and counted stopped, once
    assert_eq!(proxy.counts().total_faults(), 2);
    assert_eq!(outcome, CheckpointOutcome::Saved);
    assert_eq!(chunk_state(&store, &stopped[0]).await, ChunkState::Stopped);
    assert_eq!(
        counts(&store, "job-finish-stopped").await,
        (0, 1, JobState::Queued)
    );
    // and a second finish of it, by the same worker, is still refused
    assert_eq!(
        finish(&store, &stopped[0], "worker-a", ChunkState::Stopped).await,
        CheckpointOutcome::LostLease
    );
    assert_eq!(
        counts(&store, "job-finish-stopped").await,
        (0, 1, JobState::Queued)
    );
}

/// The job `id` of `chunks` chunks, after its first chunk was claimed and
/// finished `state` while the finish's second write (if it makes one) lost
/// its answer; on a proxy of its own, so a fault it left unused goes no further.
async fn finished_losing_the_second_write(
    id: &str,
    chunks: u32,
    state: ChunkState,
) -> (CheckpointOutcome, (u32, u32, JobState)) {
    let (store, proxy) = store_behind_proxy().await;
    let refs = stored_job(&store, id, chunks).await;
    claim(&store, &refs[0], "worker-a").await;
    proxy.fail_after(ANY_WRITE, 1, DynamoFault::ResetAfter);
    let outcome = finish(&store, &refs[0], "worker-a", state).await;
    (outcome, counts(&store, id).await)
}

#[tokio::test]
async fn a_chunk_finish_counts_once_whichever_of_its_writes_loses_its_answer() {
    // (A finish's first write losing its answer is the test above.)
    // When the first of two chunks finishes done and its second write loses
    // its answer, then it is counted once and the job is not done with a
    // chunk pending
    assert_eq!(
        finished_losing_the_second_write("job-two", 2, ChunkState::Done).await,
        (CheckpointOutcome::Saved, (1, 0, JobState::Queued))
    );
    // When the only chunk finishes done and its second write (marking the
    // job done) loses its answer, then the job is done, counted once
    assert_eq!(
        finished_losing_the_second_write("job-one", 1, ChunkState::Done).await,
        (CheckpointOutcome::Saved, (1, 0, JobState::Done))
    );
    // When a chunk finishes stopped and its second write loses its answer,
    // then it is counted stopped once
    assert_eq!(
        finished_losing_the_second_write("job-stopped", 2, ChunkState::Stopped).await,
        (CheckpointOutcome::Saved, (0, 1, JobState::Queued))
    );
}

#[tokio::test]
async fn an_idempotency_key_whose_insert_answer_was_lost_is_still_ours() {
    let (store, proxy) = store_behind_proxy().await;
    let record = IdempotencyRecord {
        key_hash: "key-1".into(),
        request_hash: "request-1".into(),
        response: None,
        expires_at: NOW + 86_400,
    };
    // When the insert's answer is lost
    proxy.fail_next("PutItem", DynamoFault::ServerErrorAfter);
    let outcome = store.insert_idempotency(&record, NOW).await.unwrap();
    // Then the key is ours to carry out, not "in progress" elsewhere
    assert_eq!(outcome, IdempotencyOutcome::Inserted);
    // and the same key again is an existing record
    assert!(matches!(
        store.insert_idempotency(&record, NOW).await.unwrap(),
        IdempotencyOutcome::Existing(_)
    ));
}

#[tokio::test]
async fn a_job_whose_create_answer_was_lost_is_created_once() {
    let (store, proxy) = store_behind_proxy().await;
    let (job, chunks) = job("job-create", 3);
    // When the transaction's answer is lost
    proxy.fail_next("TransactWriteItems", DynamoFault::ServerErrorAfter);
    let created = store.create_job(&job, &chunks).await;
    // Then the job is created, once, with its chunks
    assert!(created.is_ok(), "{created:?}");
    assert_eq!(
        store.get_job(&job.id, NOW).await.unwrap(),
        Some(job.clone())
    );
    assert_eq!(store.list_chunks(&job.id).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_push_whose_seen_mark_answer_was_lost_is_still_the_first() {
    let (store, proxy) = store_behind_proxy().await;
    // When marking a push seen loses its answer
    proxy.fail_next("PutItem", DynamoFault::ResetAfter);
    let first = store
        .mark_push_seen("push-1", NOW, NOW + 3600)
        .await
        .unwrap();
    // Then it is still the first sighting (the push is handled, not dropped)
    assert!(first);
    // and WeChat's retry of it is a repeat
    assert!(!store
        .mark_push_seen("push-1", NOW, NOW + 3600)
        .await
        .unwrap());
}

#[tokio::test]
async fn a_secret_rotation_whose_answer_was_lost_rotates_once() {
    let (store, proxy) = store_behind_proxy().await;
    let webhook = Webhook {
        id: "wh_rotate".into(),
        tenant: Some("acme".into()),
        url: "https://erp.example.com/hook".into(),
        events: vec!["*".into()],
        reply: false,
        secret: Secret::new("whsec_old"),
        previous_secret: None,
        previous_until: 0,
        created_at: NOW,
        failing_since: None,
        disabled: false,
    };
    store.create_webhook(&webhook).await.unwrap();
    // When the rotation's answer is lost and the SDK sends it again
    proxy.fail_next("UpdateItem", DynamoFault::ResetAfter);
    let rotated = store
        .rotate_webhook_secret(&webhook.id, &Secret::new("whsec_new"), NOW + 86_400)
        .await
        .unwrap()
        .expect("the webhook exists");
    assert_eq!(proxy.counts().total_faults(), 1);
    // Then it rotated once: the old secret still signs beside the new one
    let stored = store
        .get_webhook(&webhook.id)
        .await
        .unwrap()
        .expect("stored");
    for w in [&rotated, &stored] {
        assert_eq!(w.secret.expose(), "whsec_new");
        assert_eq!(
            w.previous_secret.as_ref().map(Secret::expose),
            Some("whsec_old")
        );
        assert_eq!(w.previous_until, NOW + 86_400);
    }
    // and a later rotation is a rotation of its own
    let again = store
        .rotate_webhook_secret(&webhook.id, &Secret::new("whsec_third"), NOW + 90_000)
        .await
        .unwrap()
        .expect("the webhook exists");
    assert_eq!(again.secret.expose(), "whsec_third");
    assert_eq!(
        again.previous_secret.as_ref().map(Secret::expose),
        Some("whsec_new")
    );
}

#[tokio::test]
async fn an_oauth_result_whose_take_answer_was_lost_is_still_ours() {
    let (store, proxy) = store_behind_proxy().await;
    let result = OauthResult {
        id: "or_lost".into(),
        tenant: "acme".into(),
        appid: "wxauthorizer01".into(),
        openid: "oFollower0001".into(),
        unionid: None,
        scope: "snsapi_base".into(),
        nickname: None,
        headimgurl: None,
        expires_at: NOW + 600,
    };
    store.create_oauth_result(&result).await.unwrap();
    // When the take's answer is lost and the SDK sends it again
    proxy.fail_next("UpdateItem", DynamoFault::ServerErrorAfter);
    let taken = store
        .take_oauth_result(&result.id, Some("acme"), NOW)
        .await
        .unwrap();
    assert_eq!(proxy.counts().total_faults(), 1);
    // Then the customer's identity is ours, not "already taken"
    assert_eq!(taken, Some(result.clone()));
    // and it is still taken only once
    assert_eq!(
        store
            .take_oauth_result(&result.id, Some("acme"), NOW)
            .await
            .unwrap(),
        None
    );
}
