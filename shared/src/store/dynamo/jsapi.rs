//! An authorizer's jsapi_ticket item (`{cappid}#jsapi#{appid}` / `jsapi_ticket`):
//! the token attributes of the component token item (the ticket in
//! `access_token`), created by its first lease, deleted on revoke.

use super::error::WriteError;
use super::expr::Values;
use super::items::{key, kind, n, s, Item};
use super::keys::SK_JSAPI_TICKET;
use super::lease::{renewal_outcome, token_state_from_item};
use super::DynamoStore;
use crate::secret::Secret;
use crate::store::{JsapiTicketStore, LeaseOutcome, RenewalOutcome, StoreResult, TokenState};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

const RECORD: &str = "jsapi_ticket";

impl DynamoStore {
    fn jsapi_key(&self, appid: &str) -> Item {
        key(self.keys.jsapi_ticket(appid), SK_JSAPI_TICKET)
    }
}

#[async_trait]
impl JsapiTicketStore for DynamoStore {
    async fn get_jsapi_ticket(&self, appid: &str) -> StoreResult<TokenState> {
        match self
            .get(self.keys.jsapi_ticket(appid), SK_JSAPI_TICKET)
            .await?
        {
            Some(item) => token_state_from_item(RECORD, &item),
            None => Ok(TokenState::default()),
        }
    }

    async fn acquire_jsapi_lease(
        &self,
        appid: &str,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        let free_and_current =
            "(attribute_not_exists(#lease_until) OR #lease_until <= :now) AND #version = :v";
        // Version 0 is also "no record yet" (never fetched, or deleted on revoke).
        let condition = if expected_version == 0 {
            format!("attribute_not_exists(#pk) OR ({free_and_current})")
        } else {
            format!("attribute_exists(#pk) AND {free_and_current}")
        };
        let values = Values::new()
            .with(":owner", s(owner))
            .with(":lease_until", n(lease_until))
            .with(":now", n(now))
            .with(":v", n(expected_version))
            .with(":zero", n(0))
            .with(":kind", s(kind::JSAPI_TICKET))
            .with(":appid", s(appid));
        let update = "SET #lease_owner = :owner, #lease_until = :lease_until, \
                      #version = if_not_exists(#version, :zero), \
                      #token_expires_at = if_not_exists(#token_expires_at, :zero), \
                      #kind = :kind, #appid = :appid";
        match self
            .update(
                self.jsapi_key(appid),
                update,
                &condition,
                values,
                ReturnValue::None,
            )
            .await
        {
            Ok(_) => Ok(LeaseOutcome::Acquired),
            Err(WriteError::ConditionFailed(Some(old))) => {
                let state = token_state_from_item(RECORD, &old)?;
                // Our own write whose answer was lost, sent again by the SDK:
                // owners are unique, so a lease with our owner and term is ours.
                if state.lease_owner.as_deref() == Some(owner) && state.lease_until == lease_until {
                    Ok(LeaseOutcome::Acquired)
                } else if state.version != expected_version {
                    Ok(LeaseOutcome::VersionChanged)
                } else {
                    Ok(LeaseOutcome::Held)
                }
            }
            // Gone since it was read (revoked): re-read, and start again from version 0.
            Err(WriteError::ConditionFailed(None)) => Ok(LeaseOutcome::VersionChanged),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn complete_jsapi_renewal(
        &self,
        appid: &str,
        owner: &str,
        ticket: &Secret,
        expires_at: u64,
    ) -> StoreResult<RenewalOutcome> {
        let values = Values::new()
            .with(":owner", s(owner))
            .with(":token", s(ticket.expose()))
            .with(":expires", n(expires_at))
            .with(":one", n(1));
        let update =
            "SET #access_token = :token, #token_expires_at = :expires, #version = #version + :one \
             REMOVE #lease_owner, #lease_until";
        renewal_outcome(
            self.update(
                self.jsapi_key(appid),
                update,
                "#lease_owner = :owner",
                values,
                ReturnValue::UpdatedNew,
            )
            .await,
        )
    }

    async fn release_jsapi_lease(&self, appid: &str, owner: &str) -> StoreResult<()> {
        self.release_lease(self.jsapi_key(appid), owner).await
    }

    async fn invalidate_jsapi_ticket(&self, appid: &str, version: u64) -> StoreResult<bool> {
        self.update_if(
            self.jsapi_key(appid),
            "SET #token_expires_at = :zero REMOVE #access_token",
            "#version = :v",
            Values::new().with(":zero", n(0)).with(":v", n(version)),
        )
        .await
    }

    async fn delete_jsapi_ticket(&self, appid: &str) -> StoreResult<()> {
        self.delete_if(
            self.jsapi_key(appid),
            "attribute_exists(#pk)",
            Values::new(),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_ticket_lives_in_a_partition_of_its_own() {
        let keys = super::super::keys::Keys::new("wxcomponent");
        assert_eq!(keys.jsapi_ticket("wxa"), "wxcomponent#jsapi#wxa");
        assert_ne!(keys.jsapi_ticket("wxa"), keys.authorizer("wxa"));
    }
}
