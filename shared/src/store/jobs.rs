//! Template-message jobs and their chunks: how a job of any size is written
//! without ever being visible or workable half-written, and how chunks are
//! claimed, checkpointed and finished under a lease (design.md §6).
//!
//! Creating a job is three steps: [`JobStore::begin_job`] stores the job as
//! [`JobState::Creating`] (clients do not see it, the worker does not work
//! it), [`JobStore::add_chunks`] adds chunks while it is creating, and
//! [`JobStore::commit_job`] stores the last chunk and makes the job `Queued`
//! in one atomic write. A creation that stops half-way leaves a `Creating`
//! job that nobody shows or works: after [`CREATION_DEADLINE_SECS`] the worker
//! finishes its chunks as stopped, and the records expire with the job.

use super::error::{StoreError, StoreResult};
use super::model::{Chunk, ChunkRef, ChunkState, Job, JobState, RecipientResult};
use crate::domain::StopReason;
use async_trait::async_trait;

/// Chunks one write may add (with the job record: DynamoDB's 100 items per transaction).
pub const MAX_CHUNKS_PER_WRITE: usize = 99;
/// Recipient bytes one write may carry, well inside DynamoDB's 4 MB per
/// transaction once attribute overhead is counted.
pub const MAX_RECIPIENT_BYTES_PER_WRITE: usize = 2 * 1024 * 1024;
/// A job still creating this long after its `created_at` was abandoned by its creator.
pub const CREATION_DEADLINE_SECS: u64 = 120;

/// Result of claiming a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed(Chunk),
    Held,
    /// Done or stopped: nothing to do.
    Finished,
    NotFound,
}

/// Result of a checkpoint or finish under a chunk lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointOutcome {
    Saved,
    LostLease,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores `job` as `Creating` (whatever its `state` says), with no chunks.
    /// An id already used is refused (`Invalid`) and changes nothing.
    async fn begin_job(&self, job: &Job) -> StoreResult<()>;
    /// Adds at most [`MAX_CHUNKS_PER_WRITE`] chunks to `job`, refused
    /// (`Invalid`) unless the job is still creating; a chunk that exists is
    /// refused and never overwritten (SQLite refuses the whole call;
    /// DynamoDB puts each chunk on its own, which a creation no one sees yet
    /// can afford).
    async fn add_chunks(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()>;
    /// Stores the last (at most [`MAX_CHUNKS_PER_WRITE`]) chunks and makes the
    /// job `Queued`, in one write; refused (`Invalid`) unless it is creating.
    async fn commit_job(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()>;
    /// The whole job: [`check_new_job`], then begin, add all but the last
    /// chunk in [`write_batches`], commit with the last (its insert is what
    /// the table's stream announces once the job may be worked).
    async fn create_job(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
        check_new_job(job, chunks)?;
        self.begin_job(job).await?;
        let Some((last, rest)) = chunks.split_last() else {
            return self.commit_job(job, &[]).await;
        };
        for batch in write_batches(rest) {
            self.add_chunks(job, &rest[batch]).await?;
        }
        self.commit_job(job, std::slice::from_ref(last)).await
    }
    async fn get_job(&self, id: &str, now: u64) -> StoreResult<Option<Job>>;
    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<Chunk>>;
    async fn set_job_state(
        &self,
        id: &str,
        state: JobState,
        stop_reason: Option<&StopReason>,
    ) -> StoreResult<()>;
    /// Pending chunks whose lease is free at `now`, for pollers and crash
    /// recovery. A chunk added while its job was creating is listed only once
    /// [`CREATION_DEADLINE_SECS`] have passed (whoever committed the job works
    /// those itself; past the deadline they are a crashed worker's or an
    /// abandoned creation's).
    async fn claimable_chunks(&self, now: u64, limit: u32) -> StoreResult<Vec<ChunkRef>>;
    async fn claim_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<ClaimOutcome>;
    /// Save results so far and extend the lease; conditional on `lease_owner = owner`.
    async fn checkpoint_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        lease_until: u64,
    ) -> StoreResult<CheckpointOutcome>;
    /// Final results and state (Done or Stopped), lease cleared; conditional
    /// on `lease_owner = owner`. The chunk is then counted on its job, once:
    /// a done one in `chunks_done` (the job marked `Done` when every chunk has
    /// finished done and it is queued or running), a stopped one in
    /// `chunks_stopped`, so that whether every chunk has ended is read from
    /// the job alone. Both stores finish and count in one write (SQLite a
    /// transaction, DynamoDB a TransactWriteItems), so the count is never
    /// short nor doubled. SQLite marks `Done` in that write too; DynamoDB
    /// marks it in a following one, so a crash between the two leaves a job
    /// whose chunks all finished done queued or running in storage (its view
    /// still reads done from its chunks, and its counts say it has ended).
    async fn finish_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        state: ChunkState,
    ) -> StoreResult<CheckpointOutcome>;
    async fn release_chunk(&self, chunk: &ChunkRef, owner: &str) -> StoreResult<()>;
}

/// A new job's chunks are its own, numbered 0.. in order, as many as it says.
pub fn check_new_job(job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
    if chunks.len() != job.chunk_count as usize {
        return Err(StoreError::Invalid(format!(
            "job {} says {} chunks, got {}",
            job.id,
            job.chunk_count,
            chunks.len()
        )));
    }
    for (i, chunk) in chunks.iter().enumerate() {
        check_chunk_of(job, chunk)?;
        if chunk.index as usize != i {
            return Err(StoreError::Invalid(format!(
                "chunk {} of job {} is out of order",
                chunk.index, job.id
            )));
        }
    }
    Ok(())
}

/// A chunk written with `job` must belong to it.
pub fn check_chunk_of(job: &Job, chunk: &Chunk) -> StoreResult<()> {
    if chunk.job_id != job.id {
        return Err(StoreError::Invalid(format!(
            "chunk {} belongs to another job",
            chunk.index
        )));
    }
    Ok(())
}

/// One write's worth of chunks: at most [`MAX_CHUNKS_PER_WRITE`].
pub fn check_write_size(chunks: &[Chunk]) -> StoreResult<()> {
    if chunks.len() > MAX_CHUNKS_PER_WRITE {
        return Err(StoreError::Invalid(format!(
            "one write holds at most {MAX_CHUNKS_PER_WRITE} chunks, got {}",
            chunks.len()
        )));
    }
    Ok(())
}

/// Splits chunks into consecutive batches of at most [`MAX_CHUNKS_PER_WRITE`]
/// chunks and [`MAX_RECIPIENT_BYTES_PER_WRITE`] recipient bytes (a chunk larger
/// than that goes alone).
pub fn write_batches(chunks: &[Chunk]) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, chunk) in chunks.iter().enumerate() {
        let size: usize = chunk.recipients.iter().map(|r| r.len() + 8).sum();
        let full = i - start == MAX_CHUNKS_PER_WRITE
            || (i > start && bytes + size > MAX_RECIPIENT_BYTES_PER_WRITE);
        if full {
            batches.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < chunks.len() {
        batches.push(start..chunks.len());
    }
    batches
}

/// Finishing takes a final state.
pub fn check_final_state(state: ChunkState) -> StoreResult<()> {
    if state == ChunkState::Pending {
        return Err(StoreError::Invalid(
            "a chunk finishes as done or stopped, not pending".into(),
        ));
    }
    Ok(())
}

/// Why a claim changed nothing, from the chunk's state as it is now (`None`:
/// no such chunk, or expired).
pub fn claim_refusal(current: Option<ChunkState>) -> ClaimOutcome {
    match current {
        None => ClaimOutcome::NotFound,
        Some(ChunkState::Pending) => ClaimOutcome::Held,
        Some(ChunkState::Done | ChunkState::Stopped) => ClaimOutcome::Finished,
    }
}

/// Whether a job's chunks may be worked: its creation is committed.
pub fn workable(job: &Job) -> bool {
    job.state != JobState::Creating
}

/// A job still creating past the deadline: its creator gave up or crashed.
pub fn creation_abandoned(job: &Job, now: u64) -> bool {
    job.state == JobState::Creating && now >= job.created_at.saturating_add(CREATION_DEADLINE_SECS)
}

/// When a chunk added during creation may first be listed as claimable.
pub fn listed_from(job: &Job) -> u64 {
    job.created_at.saturating_add(CREATION_DEADLINE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: JobState, chunk_count: u32) -> Job {
        Job {
            id: "J".into(),
            appid: "wx".into(),
            tenant: "t".into(),
            kind: "template".into(),
            payload: "{}".into(),
            total: chunk_count,
            chunk_count,
            chunks_done: 0,
            chunks_stopped: 0,
            state,
            stop_reason: None,
            created_at: 1_000,
            expires_at: 9_000,
        }
    }

    fn chunk(index: u32, recipients: usize, len: usize) -> Chunk {
        Chunk {
            job_id: "J".into(),
            index,
            appid: "wx".into(),
            recipients: (0..recipients).map(|_| "o".repeat(len)).collect(),
            results: Vec::new(),
            state: ChunkState::Pending,
            lease_owner: None,
            lease_until: 0,
            attempts: 0,
            expires_at: 9_000,
        }
    }

    #[test]
    fn batches_hold_at_most_99_chunks_and_cover_every_chunk_once() {
        let chunks: Vec<Chunk> = (0..500).map(|i| chunk(i, 2, 28)).collect();
        let batches = write_batches(&chunks);
        assert_eq!(batches.len(), 6);
        assert!(batches.iter().all(|b| b.len() <= MAX_CHUNKS_PER_WRITE));
        let covered: Vec<usize> = batches.iter().flat_map(|b| b.clone()).collect();
        assert_eq!(covered, (0..500).collect::<Vec<_>>());
        assert!(write_batches(&[]).is_empty());
    }

    #[test]
    fn batches_are_cut_by_size_before_count() {
        // 1,000 recipients of 100 bytes: ~108 KB a chunk, so ~19 chunks a write.
        let chunks: Vec<Chunk> = (0..60).map(|i| chunk(i, 1000, 100)).collect();
        let batches = write_batches(&chunks);
        assert!(batches.len() >= 4, "{batches:?}");
        for b in &batches {
            let bytes: usize = chunks[b.clone()]
                .iter()
                .flat_map(|c| &c.recipients)
                .map(|r| r.len() + 8)
                .sum();
            assert!(bytes <= MAX_RECIPIENT_BYTES_PER_WRITE);
        }
    }

    #[test]
    fn a_new_job_needs_its_own_chunks_in_order() {
        let j = job(JobState::Queued, 2);
        assert!(check_new_job(&j, &[chunk(0, 1, 1), chunk(1, 1, 1)]).is_ok());
        assert!(check_new_job(&j, &[chunk(0, 1, 1)]).is_err());
        assert!(check_new_job(&j, &[chunk(1, 1, 1), chunk(0, 1, 1)]).is_err());
        let mut stray = chunk(1, 1, 1);
        stray.job_id = "K".into();
        assert!(check_new_job(&j, &[chunk(0, 1, 1), stray]).is_err());
    }

    #[test]
    fn a_refused_claim_is_unknown_held_or_finished() {
        assert_eq!(claim_refusal(None), ClaimOutcome::NotFound);
        assert_eq!(claim_refusal(Some(ChunkState::Pending)), ClaimOutcome::Held);
        assert_eq!(
            claim_refusal(Some(ChunkState::Done)),
            ClaimOutcome::Finished
        );
        assert_eq!(
            claim_refusal(Some(ChunkState::Stopped)),
            ClaimOutcome::Finished
        );
        assert!(check_final_state(ChunkState::Pending).is_err());
    }

    #[test]
    fn a_creating_job_is_not_workable_and_abandoned_only_past_the_deadline() {
        let creating = job(JobState::Creating, 1);
        assert!(!workable(&creating));
        assert!(workable(&job(JobState::Queued, 1)));
        assert!(!creation_abandoned(
            &creating,
            1_000 + CREATION_DEADLINE_SECS - 1
        ));
        assert!(creation_abandoned(
            &creating,
            1_000 + CREATION_DEADLINE_SECS
        ));
        assert!(!creation_abandoned(&job(JobState::Queued, 1), u64::MAX));
    }
}
