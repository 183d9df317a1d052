//! The component's own records: the newest component_verify_ticket and the
//! component access token with its renewal lease.

use super::error::StoreResult;
use super::lease::{LeaseOutcome, RenewalOutcome};
use super::model::{Ticket, TokenState};
use crate::secret::Secret;
use async_trait::async_trait;

/// Result of `put_ticket_if_newer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketWrite {
    Stored,
    /// A ticket with the same or a newer CreateTime is already stored.
    Stale,
}

#[async_trait]
pub trait ComponentStore: Send + Sync {
    /// The stored ticket, unless it was stored `TICKET_VALIDITY_SECS` or more before `now`.
    async fn get_ticket(&self, now: u64) -> StoreResult<Option<Ticket>>;
    /// Newest CreateTime wins: stores only if `create_time` is newer than the stored one.
    async fn put_ticket_if_newer(
        &self,
        ticket: &Secret,
        create_time: i64,
        now: u64,
    ) -> StoreResult<TicketWrite>;

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
}
