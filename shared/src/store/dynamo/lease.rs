//! The renewal lease on a token record (component token or authorizer), and
//! the token part of those items.

use super::error::WriteError;
use super::expr::Values;
use super::items::{attr, kind, n, s, Item, Reader};
use super::DynamoStore;
use crate::secret::Secret;
use crate::store::{lease_refusal, LeaseOutcome, RenewalOutcome, StoreResult, TokenState};
use aws_sdk_dynamodb::types::ReturnValue;

/// The token part of a component-token or authorizer item.
pub(crate) fn token_state_from_item(record: &'static str, item: &Item) -> StoreResult<TokenState> {
    let r = Reader::new(record, item);
    Ok(TokenState {
        access_token: r.opt_string(attr::ACCESS_TOKEN)?.map(Secret::new),
        expires_at: r.u64_or_zero(attr::TOKEN_EXPIRES_AT)?,
        version: r.u64_or_zero(attr::VERSION)?,
        lease_owner: r.opt_string(attr::LEASE_OWNER)?,
        lease_until: r.u64_or_zero(attr::LEASE_UNTIL)?,
    })
}

/// Which token record a lease is taken on.
pub(crate) enum Leased {
    /// The component token: created by its first lease.
    Component,
    /// An authorizer: never created by a lease.
    Authorizer,
}

impl DynamoStore {
    pub(crate) async fn acquire_lease(
        &self,
        item_key: Item,
        leased: Leased,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        let free_and_current =
            "(attribute_not_exists(#lease_until) OR #lease_until <= :now) AND #version = :v";
        let mut values = Values::new()
            .with(":owner", s(owner))
            .with(":lease_until", n(lease_until))
            .with(":now", n(now))
            .with(":v", n(expected_version));
        let (update, condition) = match leased {
            Leased::Component => {
                values = values
                    .with(":zero", n(0))
                    .with(":kind", s(kind::COMPONENT_TOKEN));
                let update = "SET #lease_owner = :owner, #lease_until = :lease_until, \
                              #version = if_not_exists(#version, :zero), \
                              #token_expires_at = if_not_exists(#token_expires_at, :zero), #kind = :kind";
                let condition = if expected_version == 0 {
                    format!("attribute_not_exists(#pk) OR ({free_and_current})")
                } else {
                    format!("attribute_exists(#pk) AND {free_and_current}")
                };
                (update, condition)
            }
            Leased::Authorizer => (
                "SET #lease_owner = :owner, #lease_until = :lease_until",
                format!("attribute_exists(#pk) AND {free_and_current}"),
            ),
        };
        match self
            .update(item_key, update, &condition, values, ReturnValue::None)
            .await
        {
            Ok(_) => Ok(LeaseOutcome::Acquired),
            Err(WriteError::ConditionFailed(old)) => {
                let current = match old {
                    Some(old) => Some(token_state_from_item("token", &old)?),
                    None => None,
                };
                // Our own write, whose answer was lost: the SDK sent it again
                // and the lease it took refused the repeat (owners are unique).
                let ours = current.as_ref().is_some_and(|token| {
                    token.lease_owner.as_deref() == Some(owner) && token.lease_until == lease_until
                });
                if ours {
                    return Ok(LeaseOutcome::Acquired);
                }
                Ok(lease_refusal(
                    current.map(|token| token.version),
                    expected_version,
                ))
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    pub(crate) async fn release_lease(&self, item_key: Item, owner: &str) -> StoreResult<()> {
        self.update_if(
            item_key,
            "REMOVE #lease_owner, #lease_until",
            "#lease_owner = :owner",
            Values::new().with(":owner", s(owner)),
        )
        .await
        .map(|_| ())
    }
}

/// A renewal write's result: the new version, or a lost lease.
pub(crate) fn renewal_outcome(
    result: Result<Option<Item>, WriteError>,
) -> StoreResult<RenewalOutcome> {
    match result {
        Ok(Some(new)) => {
            let version = Reader::new("token", &new).u64(attr::VERSION)?;
            Ok(RenewalOutcome::Stored { version })
        }
        Ok(None) => Err(super::no_attributes()),
        Err(WriteError::ConditionFailed(_)) => Ok(RenewalOutcome::LostLease),
        Err(WriteError::Store(e)) => Err(e),
    }
}
