//! All state of design.md §4, one trait per record family, each implemented by
//! a DynamoDB and an SQLite backend held to one contract suite
//! (`shared/tests/store_contract`, a file per family).
//!
//! A family is a file here (its trait, its outcomes, and the pure decisions
//! both backends take: who wins a grant, why a lease or claim was refused), a
//! file in each backend, and a file of contract tests. [`StateStore`] is every
//! family at once: what the services hold.
//!
//! The operations are shaped by what the services need, not a generic KV. The
//! conditional writes are the point: a lost race is a typed outcome
//! (`LeaseOutcome::Held`, `RenewalOutcome::LostLease`, …), never an error string.
//! Every record is namespaced by the component appid the store was opened for,
//! and every read ignores records past their `expires_at`.

mod api_keys;
mod authorizers;
mod component;
mod error;
mod events;
mod idempotency;
mod jobs;
mod jsapi;
mod lease;
mod links;
mod model;
mod oauth;
mod purge;
mod pushes;
pub mod sealed;
mod webhooks;

pub use api_keys::ApiKeyStore;
pub use authorizers::{
    granted_authorizer, plan_grant, renewable, repaired_status, AuthorizerStore, GrantOutcome,
    GrantPlan, RecordedGrant, GRANTED_TOKEN_VERSION,
};
pub use component::{ComponentStore, TicketWrite};
pub use error::{StoreError, StoreResult};
pub use events::*;
pub use idempotency::{IdempotencyOutcome, IdempotencyStore};
pub use jobs::{
    check_chunk_of, check_final_state, check_new_job, check_write_size, claim_refusal,
    creation_abandoned, listed_from, workable, write_batches, CheckpointOutcome, ClaimOutcome,
    JobStore, CREATION_DEADLINE_SECS, MAX_CHUNKS_PER_WRITE, MAX_RECIPIENT_BYTES_PER_WRITE,
};
pub use jsapi::JsapiTicketStore;
pub use lease::{lease_refusal, LeaseOutcome, RenewalOutcome};
pub use links::{consume_refusal, ConsumeOutcome, LinkStore};
pub use model::*;
pub use oauth::{OauthAttempt, OauthLink, OauthResult, OauthStore};
pub use purge::PurgeStore;
pub use pushes::PushStore;
pub use sealed::Sealer;
pub use webhooks::{Webhook, WebhookStore};

/// Every record family: what a process opens once and shares.
pub trait StateStore:
    ComponentStore
    + AuthorizerStore
    + LinkStore
    + ApiKeyStore
    + JobStore
    + IdempotencyStore
    + PushStore
    + JsapiTicketStore
    + PurgeStore
    + EventStore
    + WebhookStore
    + OauthStore
    + Send
    + Sync
    + 'static
{
    /// The component appid this store is namespaced by.
    fn component_appid(&self) -> &str;
}

pub mod dynamo;
#[cfg(feature = "sqlite")]
pub mod sqlite;
