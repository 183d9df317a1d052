//! The `job` and `chunk` tables. The partial index `chunk_claimable` is the
//! work queue; a chunk of a job still creating is left out of it until the
//! creation deadline (see `store::jobs`).

use super::rows::{cols, int, json};
use super::{changed, collect, sql_limit, text, SqliteStore};
use crate::domain::StopReason;
use crate::store::{
    check_chunk_of, check_final_state, check_write_size, claim_refusal, CheckpointOutcome, Chunk,
    ChunkRef, ChunkState, ClaimOutcome, Job, JobState, JobStore, RecipientResult, StoreError,
    StoreResult, CREATION_DEADLINE_SECS,
};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row, Transaction};

const JOB_COLUMNS: &str =
    "id, appid, tenant, kind, payload, total, chunk_count, chunks_done, chunks_stopped, state, \
                           stop_reason, created_at, expires_at";

const CHUNK_COLUMNS: &str =
    "job_id, idx, appid, recipients, results, state, lease_owner, lease_until, attempts, expires_at";

fn job(row: &Row<'_>) -> StoreResult<Job> {
    let c = cols(row, "job");
    Ok(Job {
        id: c.text("id")?,
        appid: c.text("appid")?,
        tenant: c.text("tenant")?,
        kind: c.text("kind")?,
        payload: c.text("payload")?,
        total: c.u32("total")?,
        chunk_count: c.u32("chunk_count")?,
        chunks_done: c.u32("chunks_done")?,
        chunks_stopped: c.u32("chunks_stopped")?,
        state: c.status("state", JobState::parse)?,
        stop_reason: c.opt_text("stop_reason")?.map(|s| StopReason::parse(&s)),
        created_at: c.uint("created_at")?,
        expires_at: c.uint("expires_at")?,
    })
}

fn chunk(row: &Row<'_>) -> StoreResult<Chunk> {
    let c = cols(row, "chunk");
    Ok(Chunk {
        job_id: c.text("job_id")?,
        index: c.u32("idx")?,
        appid: c.text("appid")?,
        recipients: c.json::<Vec<String>>("recipients")?,
        results: c.json::<Vec<RecipientResult>>("results")?,
        state: c.status("state", ChunkState::parse)?,
        lease_owner: c.lease_owner()?,
        lease_until: c.uint("lease_until")?,
        attempts: c.u32("attempts")?,
        expires_at: c.uint("expires_at")?,
    })
}

/// A chunk as its columns (JSON encoded before the writer is taken).
struct ChunkRow {
    chunk: Chunk,
    recipients: String,
    results: String,
}

fn chunk_rows(job: &Job, chunks: &[Chunk]) -> StoreResult<Vec<ChunkRow>> {
    check_write_size(chunks)?;
    chunks
        .iter()
        .map(|c| {
            check_chunk_of(job, c)?;
            Ok(ChunkRow {
                chunk: c.clone(),
                recipients: json(&c.recipients)?,
                results: json(&c.results)?,
            })
        })
        .collect()
}

/// Inserts chunks of a job that must be creating; refused whole otherwise.
fn insert_chunks(
    tx: &Transaction<'_>,
    cappid: &str,
    job_id: &str,
    rows: &[ChunkRow],
) -> StoreResult<()> {
    let state: Option<String> = tx
        .prepare_cached("SELECT state FROM job WHERE cappid = ?1 AND id = ?2")?
        .query_row(params![cappid, job_id], |row| row.get(0))
        .optional()?;
    if state.as_deref() != Some(JobState::Creating.as_str()) {
        return Err(StoreError::Invalid(format!(
            "job {job_id}: not being created"
        )));
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO chunk (cappid, job_id, idx, appid, recipients, results, state, lease_owner, lease_until, attempts, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (cappid, job_id, idx) DO NOTHING",
    )?;
    for row in rows {
        let c = &row.chunk;
        let lease_until = if c.lease_owner.is_some() {
            c.lease_until
        } else {
            0
        };
        let n = insert.execute(params![
            cappid,
            c.job_id,
            c.index,
            c.appid,
            row.recipients,
            row.results,
            c.state.as_str(),
            c.lease_owner,
            int(lease_until),
            c.attempts,
            int(c.expires_at)
        ])?;
        if !changed(n) {
            // Returning the error rolls the whole write back.
            return Err(StoreError::Invalid(format!(
                "job {job_id}: chunk {} already exists",
                c.index
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn begin_job(&self, job: &Job) -> StoreResult<()> {
        let job = job.clone();
        self.write("begin_job", move |tx, cappid| {
            let n = tx
                .prepare_cached(&format!(
                    "INSERT INTO job (cappid, {JOB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, ?9, ?10, ?11, ?12)
                     ON CONFLICT (cappid, id) DO NOTHING"
                ))?
                .execute(params![
                    cappid,
                    job.id,
                    job.appid,
                    job.tenant,
                    job.kind,
                    job.payload,
                    job.total,
                    job.chunk_count,
                    JobState::Creating.as_str(),
                    job.stop_reason.as_ref().map(StopReason::to_string),
                    int(job.created_at),
                    int(job.expires_at)
                ])?;
            if !changed(n) {
                return Err(StoreError::Invalid("a job with this id already exists".into()));
            }
            Ok(())
        })
        .await
    }

    async fn add_chunks(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
        let rows = chunk_rows(job, chunks)?;
        let job_id = job.id.clone();
        self.write("add_chunks", move |tx, cappid| {
            insert_chunks(tx, cappid, &job_id, &rows)
        })
        .await
    }

    async fn commit_job(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
        let rows = chunk_rows(job, chunks)?;
        let job_id = job.id.clone();
        self.write("commit_job", move |tx, cappid| {
            insert_chunks(tx, cappid, &job_id, &rows)?;
            tx.prepare_cached("UPDATE job SET state = ?3 WHERE cappid = ?1 AND id = ?2")?
                .execute(params![cappid, job_id, JobState::Queued.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn get_job(&self, id: &str, now: u64) -> StoreResult<Option<Job>> {
        let id = id.to_owned();
        self.read("get_job", move |conn, cappid| {
            conn.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM job WHERE cappid = ?1 AND id = ?2 AND expires_at > ?3"
            ))?
            .query_row(params![cappid, id, int(now)], |row| Ok(job(row)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<Chunk>> {
        let job_id = job_id.to_owned();
        self.read("list_chunks", move |conn, cappid| {
            collect(
                conn.prepare_cached(&format!(
                    "SELECT {CHUNK_COLUMNS} FROM chunk WHERE cappid = ?1 AND job_id = ?2 ORDER BY idx"
                ))?
                .query_map(params![cappid, job_id], |row| Ok(chunk(row)))?,
            )
        })
        .await
    }

    async fn set_job_state(
        &self,
        id: &str,
        state: JobState,
        stop_reason: Option<&StopReason>,
    ) -> StoreResult<()> {
        self.execute(
            "set_job_state",
            "UPDATE job SET state = ?3, stop_reason = ?4 WHERE cappid = ?1 AND id = ?2",
            vec![
                text(id),
                text(state.as_str()),
                stop_reason.map(StopReason::to_string).into(),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn claimable_chunks(&self, now: u64, limit: u32) -> StoreResult<Vec<ChunkRef>> {
        let limit = sql_limit(limit)?;
        self.read("claimable_chunks", move |conn, cappid| {
            // A free lease has lease_until = 0, so `lease_until <= now` covers it.
            let found: Vec<(String, i64)> = conn
                .prepare_cached(
                    "SELECT c.job_id, c.idx FROM chunk AS c INDEXED BY chunk_claimable
                     LEFT JOIN job AS j ON j.cappid = c.cappid AND j.id = c.job_id
                     WHERE c.cappid = ?1 AND c.state = 'pending' AND c.lease_until <= ?2 AND c.expires_at > ?2
                       AND (j.state IS NOT 'creating' OR j.created_at + ?4 <= ?2)
                     ORDER BY c.lease_until, c.job_id, c.idx LIMIT ?3",
                )?
                .query_map(params![cappid, int(now), limit, int(CREATION_DEADLINE_SECS)], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            found
                .into_iter()
                .map(|(job_id, idx)| {
                    let index = u32::try_from(idx).map_err(|_| StoreError::Corrupt {
                        record: "chunk",
                        attribute: "idx".into(),
                        reason: "number out of range".into(),
                    })?;
                    Ok(ChunkRef { job_id, index })
                })
                .collect()
        })
        .await
    }

    async fn claim_chunk(
        &self,
        chunk_ref: &ChunkRef,
        owner: &str,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<ClaimOutcome> {
        let at = chunk_ref.clone();
        let owner = owner.to_owned();
        self.write("claim_chunk", move |tx, cappid| {
            let claimed = tx
                .prepare_cached(&format!(
                    "UPDATE chunk SET lease_owner = ?4, lease_until = ?5, attempts = attempts + 1
                     WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND state = 'pending' AND expires_at > ?6
                       AND (lease_owner IS NULL OR lease_until <= ?6)
                     RETURNING {CHUNK_COLUMNS}"
                ))?
                .query_row(
                    params![cappid, at.job_id, at.index, owner, int(lease_until), int(now)],
                    |row| Ok(chunk(row)),
                )
                .optional()?
                .transpose()?;
            if let Some(c) = claimed {
                return Ok(ClaimOutcome::Claimed(c));
            }
            let state: Option<String> = tx
                .prepare_cached("SELECT state FROM chunk WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND expires_at > ?4")?
                .query_row(params![cappid, at.job_id, at.index, int(now)], |row| row.get(0))
                .optional()?;
            let current = state
                .map(|s| {
                    ChunkState::parse(&s).ok_or_else(|| StoreError::Corrupt {
                        record: "chunk",
                        attribute: "state".into(),
                        reason: format!("unknown value `{s}`"),
                    })
                })
                .transpose()?;
            Ok(claim_refusal(current))
        })
        .await
    }

    async fn checkpoint_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        lease_until: u64,
    ) -> StoreResult<CheckpointOutcome> {
        let saved = self
            .execute(
                "checkpoint_chunk",
                "UPDATE chunk SET results = ?5, lease_until = ?6
                 WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND lease_owner = ?4 AND state = 'pending'",
                vec![
                    text(&chunk.job_id),
                    i64::from(chunk.index).into(),
                    text(owner),
                    json(results)?.into(),
                    int(lease_until).into(),
                ],
            )
            .await?;
        Ok(if saved {
            CheckpointOutcome::Saved
        } else {
            CheckpointOutcome::LostLease
        })
    }

    async fn finish_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        state: ChunkState,
    ) -> StoreResult<CheckpointOutcome> {
        check_final_state(state)?;
        let at = chunk.clone();
        let owner = owner.to_owned();
        let results = json(results)?;
        self.write("finish_chunk", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE chunk SET results = ?5, state = ?6, lease_owner = NULL, lease_until = 0
                     WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND lease_owner = ?4 AND state = 'pending'",
                )?
                .execute(params![cappid, at.job_id, at.index, owner, results, state.as_str()])?;
            if !changed(n) {
                return Ok(CheckpointOutcome::LostLease);
            }
            // Done or stopped (check_final_state), counted on the job in this same write.
            let count = if state == ChunkState::Done {
                "UPDATE job SET chunks_done = chunks_done + 1,
                     state = CASE WHEN state IN ('queued', 'running') AND chunks_done + 1 >= chunk_count
                                  THEN 'done' ELSE state END
                 WHERE cappid = ?1 AND id = ?2"
            } else {
                "UPDATE job SET chunks_stopped = chunks_stopped + 1 WHERE cappid = ?1 AND id = ?2"
            };
            tx.prepare_cached(count)?
                .execute(params![cappid, at.job_id])?;
            Ok(CheckpointOutcome::Saved)
        })
        .await
    }

    async fn release_chunk(&self, chunk: &ChunkRef, owner: &str) -> StoreResult<()> {
        self.execute(
            "release_chunk",
            "UPDATE chunk SET lease_owner = NULL, lease_until = 0
             WHERE cappid = ?1 AND job_id = ?2 AND idx = ?3 AND lease_owner = ?4",
            vec![
                text(&chunk.job_id),
                i64::from(chunk.index).into(),
                text(owner),
            ],
        )
        .await
        .map(|_| ())
    }
}
