//! The component's ticket and token items (`{cappid}#component` / `ticket`, `token`).

use super::error::WriteError;
use super::expr::Values;
use super::items::{attr, base, key, kind, n, s, Item, Reader};
use super::keys::{Keys, SK_TICKET, SK_TOKEN};
use super::lease::{renewal_outcome, token_state_from_item, Leased};
use super::DynamoStore;
use crate::secret::Secret;
use crate::store::{
    ComponentStore, LeaseOutcome, RenewalOutcome, StoreResult, Ticket, TicketWrite, TokenState,
    TICKET_VALIDITY_SECS,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

fn ticket_to_item(keys: &Keys, value: &Secret, create_time: i64, now: u64) -> Item {
    let mut item = base(keys.component(), SK_TICKET, kind::TICKET);
    item.insert(attr::VALUE.into(), s(value.expose()));
    item.insert(attr::CREATE_TIME.into(), n(create_time));
    item.insert(attr::STORED_AT.into(), n(now));
    item
}

fn ticket_from_item(item: &Item) -> StoreResult<Ticket> {
    let r = Reader::new("ticket", item);
    Ok(Ticket {
        value: Secret::new(r.string(attr::VALUE)?),
        create_time: r.i64(attr::CREATE_TIME)?,
        stored_at: r.u64(attr::STORED_AT)?,
    })
}

impl DynamoStore {
    fn component_token_key(&self) -> Item {
        key(self.keys.component(), SK_TOKEN)
    }
}

#[async_trait]
impl ComponentStore for DynamoStore {
    async fn get_ticket(&self, now: u64) -> StoreResult<Option<Ticket>> {
        let Some(item) = self.get(self.keys.component(), SK_TICKET).await? else {
            return Ok(None);
        };
        let ticket = ticket_from_item(&item)?;
        Ok((ticket.stored_at.saturating_add(TICKET_VALIDITY_SECS) > now).then_some(ticket))
    }

    async fn put_ticket_if_newer(
        &self,
        ticket: &Secret,
        create_time: i64,
        now: u64,
    ) -> StoreResult<TicketWrite> {
        let item = ticket_to_item(&self.keys, ticket, create_time, now);
        let condition = "attribute_not_exists(#pk) OR #create_time < :ct";
        match self
            .put(
                item,
                Some(condition),
                Values::new().with(":ct", n(create_time)),
            )
            .await
        {
            Ok(()) => Ok(TicketWrite::Stored),
            Err(WriteError::ConditionFailed(_)) => Ok(TicketWrite::Stale),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn get_component_token(&self) -> StoreResult<TokenState> {
        match self.get(self.keys.component(), SK_TOKEN).await? {
            Some(item) => self
                .sealer
                .open_component_token(token_state_from_item("component_token", &item)?),
            None => Ok(TokenState::default()),
        }
    }

    async fn acquire_component_lease(
        &self,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        self.acquire_lease(
            self.component_token_key(),
            Leased::Component,
            owner,
            expected_version,
            now,
            lease_until,
        )
        .await
    }

    async fn complete_component_renewal(
        &self,
        owner: &str,
        token: &Secret,
        expires_at: u64,
    ) -> StoreResult<RenewalOutcome> {
        let values = Values::new()
            .with(":owner", s(owner))
            .with(":token", s(self.sealer.seal_component_token(token)))
            .with(":expires", n(expires_at))
            .with(":one", n(1));
        let update =
            "SET #access_token = :token, #token_expires_at = :expires, #version = #version + :one \
             REMOVE #lease_owner, #lease_until";
        renewal_outcome(
            self.update(
                self.component_token_key(),
                update,
                "#lease_owner = :owner",
                values,
                ReturnValue::UpdatedNew,
            )
            .await,
        )
    }

    async fn release_component_lease(&self, owner: &str) -> StoreResult<()> {
        self.release_lease(self.component_token_key(), owner).await
    }

    async fn invalidate_component_token(&self, version: u64) -> StoreResult<bool> {
        self.update_if(
            self.component_token_key(),
            "SET #token_expires_at = :zero REMOVE #access_token",
            "#version = :v",
            Values::new().with(":zero", n(0)).with(":v", n(version)),
        )
        .await
    }
}
