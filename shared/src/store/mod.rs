//! All state of design.md §4 behind one trait, with a DynamoDB and an SQLite
//! implementation held to one contract suite (`contract`).
//!
//! The operations are shaped by what the services need, not a generic KV. The
//! conditional writes are the point: a lost race is a typed outcome
//! (`LeaseOutcome::Held`, `RenewalOutcome::LostLease`, …), never an error string.
//! Every record is namespaced by the component appid the store was opened for,
//! and every read ignores records past their `expires_at`.

mod events;
mod model;
mod webhooks;

pub use events::*;
pub use model::*;
pub use webhooks::{Webhook, WebhookStore};

use crate::domain::StopReason;
use crate::secret::Secret;
use async_trait::async_trait;

/// The store failed; nothing about the race outcome is known.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store backend error: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A stored record could not be read back: names the record and attribute.
    #[error("malformed {record} record: attribute `{attribute}`: {reason}")]
    Corrupt {
        record: &'static str,
        attribute: String,
        reason: String,
    },
    /// Input the store cannot accept (e.g. a job too large for one atomic write).
    #[error("invalid store request: {0}")]
    Invalid(String),
}

impl StoreError {
    pub fn backend(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Result of `put_ticket_if_newer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketWrite {
    Stored,
    /// A ticket with the same or a newer CreateTime is already stored.
    Stale,
}

/// Result of trying to take a renewal lease (`lease_until <= now AND version = expected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired,
    /// Someone else holds an unexpired lease.
    Held,
    /// The record moved on (a renewal completed): re-read it.
    VersionChanged,
    /// No such record (authorizer unknown).
    Missing,
}

/// Result of writing renewed tokens under a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalOutcome {
    /// Written; the new version.
    Stored { version: u64 },
    /// Our lease expired and someone else took it: nothing written.
    LostLease,
}

/// Result of storing an authorization-code exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    /// A new authorizer.
    Created,
    /// An existing authorizer re-authorized (new code): tokens replaced, status active.
    Updated,
    /// The same code was already exchanged and stored (push vs browser race); a
    /// tenant was bound if the record had none and one was given.
    AlreadyDone,
    /// Bound to another tenant: refused, nothing changed.
    TenantConflict { existing_tenant: String },
}

/// Result of consuming a one-time link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome {
    Consumed(Link),
    AlreadyUsed(Link),
    Expired,
    NotFound,
}

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

/// Result of inserting an idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyOutcome {
    Inserted,
    Existing(IdempotencyRecord),
}

/// The state operations wxopen needs. Implemented by `sqlite::SqliteStore` and
/// `dynamo::DynamoStore`; both pass `contract`.
#[async_trait]
pub trait StateStore: EventStore + WebhookStore + Send + Sync + 'static {
    /// The component appid this store is namespaced by.
    fn component_appid(&self) -> &str;

    // --- ticket ---
    /// The stored ticket, unless it was stored `TICKET_VALIDITY_SECS` or more before `now`.
    async fn get_ticket(&self, now: u64) -> StoreResult<Option<Ticket>>;
    /// Newest CreateTime wins: stores only if `create_time` is newer than the stored one.
    async fn put_ticket_if_newer(
        &self,
        ticket: &Secret,
        create_time: i64,
        now: u64,
    ) -> StoreResult<TicketWrite>;

    // --- component token ---
    async fn get_component_token(&self) -> StoreResult<TokenState>;
    /// Conditional: `(lease_until <= now OR no lease) AND version = expected_version`;
    /// creates the record when `expected_version` is 0 and none exists.
    async fn acquire_component_lease(
        &self,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome>;
    /// Conditional on `lease_owner = owner`: token, version+1, lease cleared, in one write.
    async fn complete_component_renewal(
        &self,
        owner: &str,
        token: &Secret,
        expires_at: u64,
    ) -> StoreResult<RenewalOutcome>;
    /// Give the lease back without a new token (renewal failed).
    async fn release_component_lease(&self, owner: &str) -> StoreResult<()>;
    /// Compare-and-invalidate: marks the token unusable only if `version` is still current.
    async fn invalidate_component_token(&self, version: u64) -> StoreResult<bool>;

    // --- authorizers ---
    async fn get_authorizer(&self, appid: &str) -> StoreResult<Option<Authorizer>>;
    /// Store an exchange (see `GrantOutcome`); idempotent by (appid, auth_code_hash).
    async fn put_grant(&self, grant: &AuthorizationGrant) -> StoreResult<GrantOutcome>;
    async fn set_profile(
        &self,
        appid: &str,
        profile: &AuthorizerProfile,
        now: u64,
    ) -> StoreResult<()>;
    /// Bind an unbound authorizer to a tenant; false if bound to another tenant or unknown.
    async fn bind_tenant(&self, appid: &str, tenant: &str, now: u64) -> StoreResult<bool>;
    async fn list_authorizers(
        &self,
        tenant: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>>;
    /// Active authorizers whose token expires at or before `due_before`, via the sparse index.
    async fn due_authorizers(
        &self,
        due_before: u64,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<String>>;
    async fn acquire_authorizer_lease(
        &self,
        appid: &str,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome>;
    async fn complete_authorizer_renewal(
        &self,
        appid: &str,
        owner: &str,
        tokens: &RenewedTokens,
        now: u64,
    ) -> StoreResult<RenewalOutcome>;
    async fn release_authorizer_lease(&self, appid: &str, owner: &str) -> StoreResult<()>;
    async fn invalidate_authorizer_token(&self, appid: &str, version: u64) -> StoreResult<bool>;
    /// `unauthorized`: status revoked, access and refresh tokens erased. False if unknown.
    async fn revoke_authorizer(&self, appid: &str, now: u64) -> StoreResult<bool>;
    /// 61023: status needs_reauth, tokens kept for the reconcile job. False if unknown.
    async fn mark_needs_reauth(&self, appid: &str, now: u64) -> StoreResult<bool>;
    /// Reconcile: set the refresh token if missing or different (and an authorizer in
    /// needs_reauth becomes active again). Creates nothing. Returns whether it changed.
    async fn repair_refresh_token(
        &self,
        appid: &str,
        refresh_token: &Secret,
        now: u64,
    ) -> StoreResult<bool>;

    // --- links and pre-auth codes ---
    async fn create_link(&self, link: &Link) -> StoreResult<()>;
    async fn get_link(&self, id: &str, now: u64) -> StoreResult<Option<Link>>;
    /// One-time: marks the link used (by `appid`) if unused and unexpired.
    async fn consume_link(&self, id: &str, appid: &str, now: u64) -> StoreResult<ConsumeOutcome>;
    async fn put_preauth(&self, preauth: &PreAuth) -> StoreResult<()>;
    async fn get_preauth(&self, code_hash: &str, now: u64) -> StoreResult<Option<PreAuth>>;

    // --- API keys ---
    async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn get_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    async fn revoke_api_key(&self, hash: &str) -> StoreResult<bool>;

    // --- jobs and chunks ---
    /// Job and all its chunks in one atomic write (≤ 99 chunks).
    async fn create_job(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()>;
    async fn get_job(&self, id: &str, now: u64) -> StoreResult<Option<Job>>;
    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<Chunk>>;
    async fn set_job_state(
        &self,
        id: &str,
        state: JobState,
        stop_reason: Option<&StopReason>,
    ) -> StoreResult<()>;
    /// Pending chunks whose lease is free at `now` (for the in-process worker and crash recovery).
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
    /// Final results and state (Done or Stopped), lease cleared; conditional on `lease_owner = owner`.
    async fn finish_chunk(
        &self,
        chunk: &ChunkRef,
        owner: &str,
        results: &[RecipientResult],
        state: ChunkState,
    ) -> StoreResult<CheckpointOutcome>;
    async fn release_chunk(&self, chunk: &ChunkRef, owner: &str) -> StoreResult<()>;

    // --- idempotency ---
    async fn insert_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: u64,
    ) -> StoreResult<IdempotencyOutcome>;
    async fn complete_idempotency(
        &self,
        key_hash: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()>;
    /// Forget an in-progress record whose request failed before answering, so it can be retried.
    async fn delete_idempotency(&self, key_hash: &str) -> StoreResult<()>;

    // --- finish events and seen pushes ---
    /// Stored by (appid, msg_id); a repeat overwrites with the same content.
    async fn put_finish_event(&self, event: &FinishEvent) -> StoreResult<()>;
    async fn get_finish_events(
        &self,
        appid: &str,
        msg_ids: &[u64],
        now: u64,
    ) -> StoreResult<Vec<FinishEvent>>;
    /// Dedupe WeChat retries: true the first time `key` is seen (until `expires_at`).
    async fn mark_push_seen(&self, key: &str, now: u64, expires_at: u64) -> StoreResult<bool>;
}

pub mod dynamo;
#[cfg(feature = "sqlite")]
pub mod sqlite;
