//! Job items (`{cappid}#job#{id}` / `job`) and their chunk items (same
//! partition, `chunk#{n:05}`). A pending chunk is in `gsi1` under
//! `{cappid}#chunks`, sorted by when it may next be claimed: its lease end, or
//! for a chunk added while its job was creating, the creation deadline (see
//! `store::jobs`), so pollers leave it to whoever commits the job. Chunk
//! inserts are what the table's stream announces to the send worker.

use super::error::WriteError;
use super::expr::Values;
use super::items::{
    attr, base, is_expired, key, key_str, kind, list_s, n, put_opt, s, Item, Reader,
};
use super::keys::{Keys, SK_CHUNK_PREFIX, SK_JOB};
use super::table::{GSI_KEY_PK, GSI_KEY_SK, TABLE_KEY_PK, TABLE_KEY_SK, TTL_ATTRIBUTE};
use super::{no_attributes, written_by, DynamoStore, Query};
use crate::domain::StopReason;
use crate::store::{
    check_chunk_of, check_final_state, check_write_size, claim_refusal, listed_from,
    CheckpointOutcome, Chunk, ChunkRef, ChunkState, ClaimOutcome, Job, JobState, JobStore,
    RecipientResult, StoreError, StoreResult,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem};
use futures::stream::{FuturesUnordered, StreamExt};

/// Chunk puts in flight at once while a job is written.
const PARALLEL_PUTS: usize = 16;

fn job_to_item(keys: &Keys, job: &Job, state: JobState) -> Item {
    let mut item = base(keys.job(&job.id), SK_JOB, kind::JOB);
    item.insert(attr::ID.into(), s(job.id.clone()));
    item.insert(attr::APPID.into(), s(job.appid.clone()));
    item.insert(attr::TENANT.into(), s(job.tenant.clone()));
    item.insert(attr::JOB_KIND.into(), s(job.kind.clone()));
    item.insert(attr::PAYLOAD.into(), s(job.payload.clone()));
    item.insert(attr::TOTAL.into(), n(job.total));
    item.insert(attr::CHUNK_COUNT.into(), n(job.chunk_count));
    item.insert(attr::CHUNKS_DONE.into(), n(0));
    item.insert(attr::CHUNKS_STOPPED.into(), n(0));
    item.insert(attr::STATE.into(), s(state.as_str()));
    put_opt(
        &mut item,
        attr::STOP_REASON,
        job.stop_reason.as_ref().map(StopReason::to_string).as_ref(),
    );
    item.insert(attr::CREATED_AT.into(), n(job.created_at));
    item.insert(TTL_ATTRIBUTE.into(), n(job.expires_at));
    item
}

fn job_from_item(item: &Item) -> StoreResult<Job> {
    let r = Reader::new("job", item);
    Ok(Job {
        id: r.string(attr::ID)?,
        appid: r.string(attr::APPID)?,
        tenant: r.string(attr::TENANT)?,
        kind: r.string(attr::JOB_KIND)?,
        payload: r.string(attr::PAYLOAD)?,
        total: r.u32(attr::TOTAL)?,
        chunk_count: r.u32(attr::CHUNK_COUNT)?,
        chunks_done: u32::try_from(r.u64_or_zero(attr::CHUNKS_DONE)?)
            .map_err(|_| r.corrupt(attr::CHUNKS_DONE, "number out of range"))?,
        chunks_stopped: u32::try_from(r.u64_or_zero(attr::CHUNKS_STOPPED)?)
            .map_err(|_| r.corrupt(attr::CHUNKS_STOPPED, "number out of range"))?,
        state: r.parsed(attr::STATE, JobState::parse)?,
        stop_reason: r
            .opt_string(attr::STOP_REASON)?
            .map(|s| StopReason::parse(&s)),
        created_at: r.u64(attr::CREATED_AT)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

fn results_value(results: &[RecipientResult]) -> StoreResult<AttributeValue> {
    serde_json::to_string(results)
        .map(s)
        .map_err(|e| StoreError::Invalid(format!("recipient results do not serialise: {e}")))
}

/// A new chunk item; a pending one is in the claimable index from `listed_from`.
fn chunk_to_item(keys: &Keys, c: &Chunk, listed_from: u64) -> StoreResult<Item> {
    let mut item = base(keys.job(&c.job_id), Keys::chunk_sk(c.index), kind::CHUNK);
    item.insert(attr::JOB_ID.into(), s(c.job_id.clone()));
    item.insert(attr::CHUNK_INDEX.into(), n(c.index));
    item.insert(attr::APPID.into(), s(c.appid.clone()));
    item.insert(attr::RECIPIENTS.into(), list_s(&c.recipients));
    item.insert(attr::RESULTS.into(), results_value(&c.results)?);
    item.insert(attr::STATE.into(), s(c.state.as_str()));
    put_opt(&mut item, attr::LEASE_OWNER, c.lease_owner.as_ref());
    item.insert(attr::LEASE_UNTIL.into(), n(c.lease_until));
    item.insert(attr::ATTEMPTS.into(), n(c.attempts));
    item.insert(TTL_ATTRIBUTE.into(), n(c.expires_at));
    if c.state == ChunkState::Pending {
        item.insert(GSI_KEY_PK.into(), s(keys.chunks_partition()));
        item.insert(GSI_KEY_SK.into(), n(c.lease_until.max(listed_from)));
    }
    Ok(item)
}

fn chunk_from_item(item: &Item) -> StoreResult<Chunk> {
    let r = Reader::new("chunk", item);
    Ok(Chunk {
        job_id: r.string(attr::JOB_ID)?,
        index: r.u32(attr::CHUNK_INDEX)?,
        appid: r.string(attr::APPID)?,
        recipients: r.strings(attr::RECIPIENTS)?,
        results: r.json(attr::RESULTS)?,
        state: r.parsed(attr::STATE, ChunkState::parse)?,
        lease_owner: r.opt_string(attr::LEASE_OWNER)?,
        lease_until: r.u64_or_zero(attr::LEASE_UNTIL)?,
        attempts: r.u32(attr::ATTEMPTS)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

fn checkpoint_outcome(saved: bool) -> CheckpointOutcome {
    if saved {
        CheckpointOutcome::Saved
    } else {
        CheckpointOutcome::LostLease
    }
}

impl DynamoStore {
    fn job_key(&self, id: &str) -> Item {
        key(self.keys.job(id), SK_JOB)
    }

    fn chunk_key(&self, chunk: &ChunkRef) -> Item {
        key(self.keys.job(&chunk.job_id), Keys::chunk_sk(chunk.index))
    }

    /// A chunk of a job being created, refused if another one exists.
    async fn put_chunk(&self, job: &Job, chunk: &Chunk) -> StoreResult<()> {
        let item = chunk_to_item(&self.keys, chunk, listed_from(job))?;
        self.put_new_once(item, &format!("chunk {} of job {}", chunk.index, job.id))
            .await
    }

    /// One transaction: `first` (an update of the job) and the new chunks.
    async fn write_chunks(
        &self,
        job: &Job,
        first: TransactWriteItem,
        chunks: &[Chunk],
        refused: &str,
    ) -> StoreResult<()> {
        check_write_size(chunks)?;
        let mut writes = vec![first];
        for chunk in chunks {
            check_chunk_of(job, chunk)?;
            writes.push(self.new_item(chunk_to_item(&self.keys, chunk, 0)?)?);
        }
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(WriteError::ConditionFailed(_)) => {
                Err(StoreError::Invalid(format!("job {}: {refused}", job.id)))
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    /// Marks the job `Done` if every chunk of it has finished done. Read
    /// first, so that most finishes (not the job's last) write nothing more;
    /// the write's condition decides, so a repeat of it (its answer lost, the
    /// SDK sending it again) or two last finishes at once change nothing.
    async fn mark_done_if_complete(&self, job_id: &str) -> StoreResult<()> {
        let Some(item) = self.get(self.keys.job(job_id), SK_JOB).await? else {
            return Ok(());
        };
        let job = job_from_item(&item)?;
        let queued_or_running = matches!(job.state, JobState::Queued | JobState::Running);
        if queued_or_running && job.chunks_done >= job.chunk_count {
            self.update_if(
                self.job_key(job_id),
                "SET #state = :done",
                "(#state = :queued OR #state = :running) AND #chunks_done >= #chunk_count",
                Values::new()
                    .with(":done", s(JobState::Done.as_str()))
                    .with(":queued", s(JobState::Queued.as_str()))
                    .with(":running", s(JobState::Running.as_str())),
            )
            .await?;
        }
        Ok(())
    }

    fn creating(&self) -> Values {
        Values::new().with(":creating", s(JobState::Creating.as_str()))
    }
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn begin_job(&self, job: &Job) -> StoreResult<()> {
        self.put_new_once(
            job_to_item(&self.keys, job, JobState::Creating),
            "a job with this id",
        )
        .await
    }

    async fn add_chunks(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
        check_write_size(chunks)?;
        for chunk in chunks {
            check_chunk_of(job, chunk)?;
        }
        // One put each, not a transaction (which bills every item twice): a
        // job is created by one writer, and until it commits nobody sees or
        // works its chunks, so a put that fails half-way leaves nothing to undo.
        match self.get(self.keys.job(&job.id), SK_JOB).await? {
            Some(item) if job_from_item(&item)?.state == JobState::Creating => {}
            _ => {
                return Err(StoreError::Invalid(format!(
                    "job {}: not being created",
                    job.id
                )))
            }
        }
        let mut chunks = chunks.iter();
        let mut puts = FuturesUnordered::new();
        loop {
            while puts.len() < PARALLEL_PUTS {
                let Some(chunk) = chunks.next() else { break };
                puts.push(self.put_chunk(job, chunk));
            }
            match puts.next().await {
                Some(put) => put?,
                None => return Ok(()),
            }
        }
    }

    async fn commit_job(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
        // The commit marks the job with a write id of its own, so that a
        // refusal caused by this very transaction (its answer lost, the SDK
        // sending it again) is told apart from a second commit.
        let write_id = uuid::Uuid::new_v4().to_string();
        let queue = self.update_item(
            self.job_key(&job.id),
            "SET #state = :queued, #write_id = :write_id",
            "#state = :creating",
            self.creating()
                .with(":queued", s(JobState::Queued.as_str()))
                .with(":write_id", s(write_id.clone())),
        )?;
        let committed = self
            .write_chunks(
                job,
                queue,
                chunks,
                "not being created, or a chunk already exists",
            )
            .await;
        match committed {
            Err(e @ StoreError::Invalid(_)) => {
                match self.get(self.keys.job(&job.id), SK_JOB).await? {
                    Some(stored) if written_by(&stored, &write_id) => Ok(()),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    async fn get_job(&self, id: &str, now: u64) -> StoreResult<Option<Job>> {
        match self.get(self.keys.job(id), SK_JOB).await? {
            Some(item) if !is_expired(&item, now) => job_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<Chunk>> {
        let query = Query {
            index: None,
            condition: "#pk = :pk AND begins_with(#sk, :prefix)",
            filter: None,
            values: Values::new()
                .with(":pk", s(self.keys.job(job_id)))
                .with(":prefix", s(SK_CHUNK_PREFIX)),
        };
        let (found, _) = self.query(&query, None, usize::MAX).await?;
        found.iter().map(chunk_from_item).collect()
    }

    async fn set_job_state(
        &self,
        id: &str,
        state: JobState,
        stop_reason: Option<&StopReason>,
    ) -> StoreResult<()> {
        let mut values = Values::new().with(":state", s(state.as_str()));
        let update = match stop_reason {
            Some(reason) => {
                values = values.with(":reason", s(reason.to_string()));
                "SET #state = :state, #stop_reason = :reason"
            }
            None => "SET #state = :state REMOVE #stop_reason",
        };
        self.update_if(self.job_key(id), update, "attribute_exists(#pk)", values)
            .await
            .map(|_| ())
    }

    async fn claimable_chunks(&self, now: u64, limit: u32) -> StoreResult<Vec<ChunkRef>> {
        let (found, _) = self
            .query_index(self.keys.chunks_partition(), now, None, limit, Some(now))
            .await?;
        Ok(found
            .iter()
            .filter_map(|item| {
                self.keys
                    .chunk_ref(key_str(item, TABLE_KEY_PK)?, key_str(item, TABLE_KEY_SK)?)
            })
            .collect())
    }

    async fn claim_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<ClaimOutcome> {
        let result = self
            .update(
                self.chunk_key(chunk),
                "SET #lease_owner = :owner, #lease_until = :lease_until, #gsi1sk = :lease_until, \
                 #attempts = #attempts + :one",
                "#state = :pending AND (attribute_not_exists(#lease_until) OR #lease_until <= :now) \
                 AND #expires_at > :now",
                Values::new()
                    .with(":owner", s(owner))
                    .with(":lease_until", n(lease_until))
                    .with(":one", n(1))
                    .with(":pending", s(ChunkState::Pending.as_str()))
                    .with(":now", n(now)),
                ReturnValue::AllNew,
            )
            .await;
        match result {
            Ok(Some(item)) => chunk_from_item(&item).map(ClaimOutcome::Claimed),
            Ok(None) => Err(no_attributes()),
            Err(WriteError::ConditionFailed(old)) => {
                let current = match old {
                    Some(old) if !is_expired(&old, now) => Some(chunk_from_item(&old)?),
                    _ => None,
                };
                // Our own claim, whose answer was lost and whose repeat the new lease refused.
                if let Some(current) = current.as_ref().filter(|c| {
                    c.state == ChunkState::Pending
                        && c.lease_owner.as_deref() == Some(owner)
                        && c.lease_until == lease_until
                }) {
                    return Ok(ClaimOutcome::Claimed(current.clone()));
                }
                Ok(claim_refusal(current.map(|c| c.state)))
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn checkpoint_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        lease_until: u64,
    ) -> StoreResult<CheckpointOutcome> {
        let saved = self
            .update_if(
                self.chunk_key(chunk),
                "SET #results = :results, #lease_until = :lease_until, #gsi1sk = :lease_until",
                "#lease_owner = :owner",
                Values::new()
                    .with(":results", results_value(results)?)
                    .with(":lease_until", n(lease_until))
                    .with(":owner", s(owner)),
            )
            .await?;
        Ok(checkpoint_outcome(saved))
    }

    async fn finish_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        state: ChunkState,
    ) -> StoreResult<CheckpointOutcome> {
        check_final_state(state)?;
        // The chunk's final state and its count on the job, in one
        // transaction: no crash can leave a finished chunk uncounted, and no
        // retry can count it twice. A transaction bills each item twice, so a
        // finish costs about twice the chunk item's WCU (a 25 KB chunk of 200
        // recipients: ~50 WCU instead of ~25); that buys exact counts.
        //
        // The finish marks the chunk with a write id of its own. On DynamoDB
        // the SDK sends a transaction again with the same ClientRequestToken,
        // so a retry of one that was carried out (its answer lost) is answered
        // success without being applied twice; where that does not hold (a
        // token older than 10 minutes, or moto) the retry is cancelled by the
        // chunk's condition, and the write id in the chunk tells our own
        // transaction apart from a finish that lost its lease, or a second
        // one of ours.
        let write_id = uuid::Uuid::new_v4().to_string();
        let finish = self.update_item(
            self.chunk_key(chunk),
            "SET #results = :results, #state = :state, #lease_until = :zero, \
             #write_id = :write_id REMOVE #lease_owner, #gsi1pk, #gsi1sk",
            "#lease_owner = :owner",
            Values::new()
                .with(":results", results_value(results)?)
                .with(":state", s(state.as_str()))
                .with(":zero", n(0))
                .with(":write_id", s(write_id.clone()))
                .with(":owner", s(owner)),
        )?;
        // Counted only on a job that still exists: an ADD on a missing item
        // would create a stray one.
        let count = self.update_item(
            self.job_key(&chunk.job_id),
            if state == ChunkState::Done {
                "ADD #chunks_done :one"
            } else {
                "ADD #chunks_stopped :one"
            },
            "attribute_exists(#pk)",
            Values::new().with(":one", n(1)),
        )?;
        match self.transact(vec![finish, count]).await {
            Ok(()) => {}
            Err(WriteError::ConditionFailed(_)) => {
                let stored = self
                    .get(self.keys.job(&chunk.job_id), &Keys::chunk_sk(chunk.index))
                    .await?;
                match stored {
                    // Our transaction, carried out: counted with it.
                    Some(item) if written_by(&item, &write_id) => {}
                    // Still ours, so the job's condition refused: the job is
                    // gone (expired), and with it the point of finishing.
                    Some(item) if chunk_from_item(&item)?.lease_owner.as_deref() == Some(owner) => {
                        tracing::warn!(job = %chunk.job_id, chunk = chunk.index, "a chunk of a job no longer stored was not finished");
                        return Ok(CheckpointOutcome::LostLease);
                    }
                    _ => return Ok(CheckpointOutcome::LostLease),
                }
            }
            Err(WriteError::Store(e)) => return Err(e),
        }
        if state == ChunkState::Done {
            // A write of its own, after the count: a crash in between leaves
            // a job whose chunks all finished done still queued or running in
            // storage (its view reads done from its chunks, and `job.finished`
            // is still raised: see `service::worker::finished`).
            if let Err(error) = self.mark_done_if_complete(&chunk.job_id).await {
                tracing::warn!(job = %chunk.job_id, chunk = chunk.index, error = %error, "a job whose chunks all finished done was not marked done");
            }
        }
        Ok(CheckpointOutcome::Saved)
    }

    async fn release_chunk(&self, chunk: &ChunkRef, owner: &str) -> StoreResult<()> {
        self.update_if(
            self.chunk_key(chunk),
            "SET #lease_until = :zero, #gsi1sk = :zero REMOVE #lease_owner",
            "#lease_owner = :owner",
            Values::new().with(":zero", n(0)).with(":owner", s(owner)),
        )
        .await
        .map(|_| ())
    }
}
