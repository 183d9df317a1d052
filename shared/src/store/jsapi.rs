//! Each authorizer's JS-SDK jsapi_ticket (wechat-api.md §8). WeChat limits
//! `getticket` per day, so the ticket is kept and renewed like an access token:
//! one record per authorizer with the same version and single-flight lease
//! (`TokenState`, its `access_token` holding the ticket). The record is apart
//! from the authorizer's own so the family needs nothing of the authorizers'
//! code; revoking the authorizer deletes it.

use super::{LeaseOutcome, RenewalOutcome, StoreResult, TokenState};
use crate::secret::Secret;
use async_trait::async_trait;

#[async_trait]
pub trait JsapiTicketStore: Send + Sync {
    /// The ticket record of `appid`; the default (version 0, no ticket) when none exists.
    async fn get_jsapi_ticket(&self, appid: &str) -> StoreResult<TokenState>;
    /// Conditional: `(lease_until <= now OR no lease) AND version = expected_version`;
    /// creates the record when `expected_version` is 0 and none exists.
    async fn acquire_jsapi_lease(
        &self,
        appid: &str,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome>;
    /// Conditional on `lease_owner = owner`: ticket, version+1, lease cleared, in one write.
    async fn complete_jsapi_renewal(
        &self,
        appid: &str,
        owner: &str,
        ticket: &Secret,
        expires_at: u64,
    ) -> StoreResult<RenewalOutcome>;
    /// Give the lease back without a new ticket (renewal failed).
    async fn release_jsapi_lease(&self, appid: &str, owner: &str) -> StoreResult<()>;
    /// Compare-and-invalidate: marks the ticket unusable only if `version` is still current.
    async fn invalidate_jsapi_ticket(&self, appid: &str, version: u64) -> StoreResult<bool>;
    /// Drops the record (the authorizer revoked): the next ticket is a fresh one.
    async fn delete_jsapi_ticket(&self, appid: &str) -> StoreResult<()>;
}
