//! The `ticket` and `component_token` tables (one row per component appid).

use super::rows::{self, cols, int, stored_version};
use super::{changed, expose, text, SqliteStore};
use crate::secret::Secret;
use crate::store::{
    lease_refusal, ComponentStore, LeaseOutcome, RenewalOutcome, StoreResult, Ticket, TicketWrite,
    TokenState, TICKET_VALIDITY_SECS,
};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

fn ticket(row: &Row<'_>) -> StoreResult<Ticket> {
    let c = cols(row, "ticket");
    Ok(Ticket {
        value: Secret::new(c.text("value")?),
        create_time: c.get("create_time")?,
        stored_at: c.uint("stored_at")?,
    })
}

#[async_trait]
impl ComponentStore for SqliteStore {
    async fn get_ticket(&self, now: u64) -> StoreResult<Option<Ticket>> {
        self.read("get_ticket", move |conn, cappid| {
            conn.prepare_cached("SELECT value, create_time, stored_at FROM ticket WHERE cappid = ?1 AND expires_at > ?2")?
                .query_row(params![cappid, int(now)], |row| Ok(ticket(row)))
                .optional()?
                .transpose()
        })
        .await
    }

    async fn put_ticket_if_newer(
        &self,
        ticket: &Secret,
        create_time: i64,
        now: u64,
    ) -> StoreResult<TicketWrite> {
        let value = expose(ticket);
        self.write("put_ticket_if_newer", move |tx, cappid| {
            let n = tx.prepare_cached(
                "INSERT INTO ticket (cappid, value, create_time, stored_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (cappid) DO UPDATE SET value = excluded.value, create_time = excluded.create_time,
                     stored_at = excluded.stored_at, expires_at = excluded.expires_at
                 WHERE excluded.create_time > ticket.create_time",
            )?
            .execute(params![cappid, value, create_time, int(now), int(now.saturating_add(TICKET_VALIDITY_SECS))])?;
            Ok(if changed(n) { TicketWrite::Stored } else { TicketWrite::Stale })
        })
        .await
    }

    async fn get_component_token(&self) -> StoreResult<TokenState> {
        let sealer = self.sealer.clone();
        self.read("get_component_token", move |conn, cappid| {
            let found = conn
                .prepare_cached(
                    "SELECT access_token, expires_at, version, lease_owner, lease_until FROM component_token WHERE cappid = ?1",
                )?
                .query_row([cappid], |row| Ok(rows::token_state(row, "component token")))
                .optional()?
                .transpose()?;
            sealer.open_component_token(found.unwrap_or_default())
        })
        .await
    }

    async fn acquire_component_lease(
        &self,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        let owner = owner.to_owned();
        self.write("acquire_component_lease", move |tx, cappid| {
            if expected_version == 0 {
                let created = tx
                    .prepare_cached(
                        "INSERT INTO component_token (cappid, version, lease_owner, lease_until) VALUES (?1, 0, ?2, ?3)
                         ON CONFLICT (cappid) DO NOTHING",
                    )?
                    .execute(params![cappid, owner, int(lease_until)])?;
                if changed(created) {
                    return Ok(LeaseOutcome::Acquired);
                }
            }
            let taken = tx
                .prepare_cached(
                    "UPDATE component_token SET lease_owner = ?2, lease_until = ?3
                     WHERE cappid = ?1 AND version = ?4 AND (lease_owner IS NULL OR lease_until <= ?5)",
                )?
                .execute(params![cappid, owner, int(lease_until), int(expected_version), int(now)])?;
            if changed(taken) {
                return Ok(LeaseOutcome::Acquired);
            }
            let version: Option<i64> = tx
                .prepare_cached("SELECT version FROM component_token WHERE cappid = ?1")?
                .query_row([cappid], |row| row.get(0))
                .optional()?;
            Ok(lease_refusal(version.map(stored_version).transpose()?, expected_version))
        })
        .await
    }

    async fn complete_component_renewal(
        &self,
        owner: &str,
        token: &Secret,
        expires_at: u64,
    ) -> StoreResult<RenewalOutcome> {
        let owner = owner.to_owned();
        let token = self.sealer.seal_component_token(token);
        self.write("complete_component_renewal", move |tx, cappid| {
            let version: Option<i64> = tx
                .prepare_cached(
                    "UPDATE component_token SET access_token = ?3, expires_at = ?4, version = version + 1,
                         lease_owner = NULL, lease_until = 0
                     WHERE cappid = ?1 AND lease_owner = ?2 RETURNING version",
                )?
                .query_row(params![cappid, owner, token, int(expires_at)], |row| row.get(0))
                .optional()?;
            Ok(match version {
                Some(v) => RenewalOutcome::Stored { version: stored_version(v)? },
                None => RenewalOutcome::LostLease,
            })
        })
        .await
    }

    async fn release_component_lease(&self, owner: &str) -> StoreResult<()> {
        self.execute(
            "release_component_lease",
            "UPDATE component_token SET lease_owner = NULL, lease_until = 0 WHERE cappid = ?1 AND lease_owner = ?2",
            vec![text(owner)],
        )
        .await
        .map(|_| ())
    }

    async fn invalidate_component_token(&self, version: u64) -> StoreResult<bool> {
        self.execute(
            "invalidate_component_token",
            "UPDATE component_token SET access_token = NULL, expires_at = 0 WHERE cappid = ?1 AND version = ?2",
            vec![int(version).into()],
        )
        .await
    }
}
