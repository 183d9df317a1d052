//! Store hot paths, operations per second: `cargo run --release -p wxopen-bench --bin store`.
//!
//! SQLite on a file in a temp dir (WAL, synchronous=FULL, as `wxopen serve` runs it):
//! - read an authorizer token (`get_authorizer`),
//! - lease + write a renewed token (`acquire_authorizer_lease` + `complete_authorizer_renewal`),
//! - checkpoint a chunk with 200 results (`checkpoint_chunk`).
//!
//! Tokens are sealed at rest under a data key, as `serve` stores them;
//! `WXOPEN_BENCH_PLAINTEXT=1` opens the store without one (plaintext, as
//! before encryption at rest), for the comparison.

use std::sync::Arc;
use std::time::{Duration, Instant};
use wxopen::secret::Secret;
use wxopen::store::sqlite::SqliteStore;
use wxopen::store::{
    AuthorizationGrant, CheckpointOutcome, Chunk, ChunkRef, ChunkState, ClaimOutcome, Job,
    JobState, LeaseOutcome, RecipientResult, RenewalOutcome, RenewedTokens, StateStore,
};

const NOW: u64 = 1_700_000_000;
const APPID: &str = "wxbenchauthorizer";
const RUN_FOR: Duration = Duration::from_secs(2);

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let opened = SqliteStore::open(&dir.path().join("bench.db"), "wxcomponentbench")?;
    let plaintext = std::env::var_os("WXOPEN_BENCH_PLAINTEXT").is_some();
    let store: Arc<dyn StateStore> = if plaintext {
        Arc::new(opened)
    } else {
        Arc::new(opened.with_data_keys(wxopen::crypto::at_rest::DataKeys::new(rand_key(), None)))
    };
    seed(store.as_ref()).await?;

    println!(
        "store: SQLite file in {} (WAL, synchronous=FULL), tokens {}",
        dir.path().display(),
        if plaintext {
            "in plaintext"
        } else {
            "sealed (AES-256-GCM)"
        }
    );
    report(
        "get_authorizer (read token)",
        measure(|_| read_token(Arc::clone(&store))).await?,
    );
    report(
        "lease + renewal write",
        measure(|i| renew(Arc::clone(&store), i)).await?,
    );
    report(
        "chunk checkpoint (200 results)",
        measure(|i| checkpoint(Arc::clone(&store), i)).await?,
    );
    backend_request_counts();
    Ok(())
}

/// Runs `op` back to back for `RUN_FOR` on one task; returns (operations, elapsed).
async fn measure<F, Fut>(mut op: F) -> BenchResult<(u64, Duration)>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = BenchResult<()>>,
{
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN_FOR {
        op(n).await?;
        n += 1;
    }
    Ok((n, start.elapsed()))
}

fn report(name: &str, (ops, elapsed): (u64, Duration)) {
    let per_sec = ops as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<34} {per_sec:>10.0} ops/s  ({ops} ops in {:.2} s)",
        elapsed.as_secs_f64()
    );
}

/// Spot for the DynamoDB run: print the requests (and consumed capacity) each
/// operation above costs, e.g. from a counting interceptor on the SDK client.
/// SQLite has no per-request cost, so there is nothing to print here.
fn backend_request_counts() {}

async fn seed(store: &dyn StateStore) -> BenchResult<()> {
    store
        .put_grant(&AuthorizationGrant {
            appid: APPID.into(),
            tenant: Some("tenant-bench".into()),
            auth_code_hash: "code".into(),
            access_token: Secret::new("access-0"),
            expires_at: NOW + 7200,
            refresh_token: Secret::new("refresh-0"),
            func_info: vec![1, 2, 3],
            now: NOW,
        })
        .await?;
    let job = Job {
        id: "job-bench".into(),
        appid: APPID.into(),
        tenant: "tenant-bench".into(),
        kind: "template".into(),
        payload: r#"{"template_id":"t"}"#.into(),
        total: 200,
        chunk_count: 1,
        chunks_done: 0,
        chunks_stopped: 0,
        state: JobState::Running,
        stop_reason: None,
        created_at: NOW,
        expires_at: NOW + 86_400,
    };
    let chunk = Chunk {
        job_id: job.id.clone(),
        index: 0,
        appid: APPID.into(),
        recipients: (0..200).map(openid).collect(),
        results: Vec::new(),
        state: ChunkState::Pending,
        lease_owner: None,
        lease_until: 0,
        attempts: 0,
        expires_at: NOW + 86_400,
    };
    store.create_job(&job, &[chunk]).await?;
    match store
        .claim_chunk(&chunk_ref(), "bench-worker", NOW, NOW + 300)
        .await?
    {
        ClaimOutcome::Claimed(_) => Ok(()),
        other => Err(format!("seeding: chunk claim gave {other:?}").into()),
    }
}

fn openid(i: u32) -> String {
    format!("o6_bmjrPTlm6_2sgVt7hMZOPfL{i:04}")
}

fn chunk_ref() -> ChunkRef {
    ChunkRef {
        job_id: "job-bench".into(),
        index: 0,
    }
}

async fn read_token(store: Arc<dyn StateStore>) -> BenchResult<()> {
    match store.get_authorizer(APPID).await? {
        Some(a) if a.token.access_token.is_some() => Ok(()),
        _ => Err("authorizer token missing".into()),
    }
}

async fn renew(store: Arc<dyn StateStore>, i: u64) -> BenchResult<()> {
    let version = match store.get_authorizer(APPID).await? {
        Some(a) => a.token.version,
        None => return Err("authorizer missing".into()),
    };
    let now = NOW + i;
    let outcome = store
        .acquire_authorizer_lease(APPID, "bench-renewer", version, now, now + 30)
        .await?;
    if outcome != LeaseOutcome::Acquired {
        return Err(format!("lease: {outcome:?}").into());
    }
    let tokens = RenewedTokens {
        access_token: Secret::new(format!("access-{i}")),
        expires_at: now + 7200,
        refresh_token: Some(Secret::new(format!("refresh-{i}"))),
    };
    match store
        .complete_authorizer_renewal(APPID, "bench-renewer", &tokens, now)
        .await?
    {
        RenewalOutcome::Stored { .. } => Ok(()),
        RenewalOutcome::LostLease => Err("renewal lost its lease".into()),
    }
}

async fn checkpoint(store: Arc<dyn StateStore>, i: u64) -> BenchResult<()> {
    let results: Vec<RecipientResult> = (0..200)
        .map(|r| RecipientResult {
            openid: openid(r),
            status: wxopen::domain::RecipientStatus::Sent,
            msgid: Some(i * 1000 + u64::from(r)),
            errcode: None,
        })
        .collect();
    match store
        .checkpoint_chunk(&chunk_ref(), "bench-worker", &results, NOW + 300 + i)
        .await?
    {
        CheckpointOutcome::Saved => Ok(()),
        CheckpointOutcome::LostLease => Err("checkpoint lost its lease".into()),
    }
}

fn rand_key() -> [u8; 32] {
    let encoded = wxopen::crypto::at_rest::DataKeys::generate_key();
    wxopen::crypto::at_rest::DataKeys::parse_key("bench", &encoded).unwrap_or([7; 32])
}
