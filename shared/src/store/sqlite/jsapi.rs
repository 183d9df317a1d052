//! Each authorizer's jsapi_ticket (`jsapi_ticket` table): the component
//! token's lease and version rules, one row per authorizer.

use super::rows::{self, int, stored_version};
use super::{changed, expose, SqliteStore};
use crate::secret::Secret;
use crate::store::{
    lease_refusal, JsapiTicketStore, LeaseOutcome, RenewalOutcome, StoreResult, TokenState,
};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl JsapiTicketStore for SqliteStore {
    async fn get_jsapi_ticket(&self, appid: &str) -> StoreResult<TokenState> {
        let appid = appid.to_owned();
        self.read("get_jsapi_ticket", move |conn, cappid| {
            let found = conn
                .prepare_cached(
                    "SELECT access_token, expires_at, version, lease_owner, lease_until
                     FROM jsapi_ticket WHERE cappid = ?1 AND appid = ?2",
                )?
                .query_row(params![cappid, appid], |row| {
                    Ok(rows::token_state(row, "jsapi ticket"))
                })
                .optional()?
                .transpose()?;
            Ok(found.unwrap_or_default())
        })
        .await
    }

    async fn acquire_jsapi_lease(
        &self,
        appid: &str,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        let (appid, owner) = (appid.to_owned(), owner.to_owned());
        self.write("acquire_jsapi_lease", move |tx, cappid| {
            if expected_version == 0 {
                let created = tx
                    .prepare_cached(
                        "INSERT INTO jsapi_ticket (cappid, appid, version, lease_owner, lease_until)
                         VALUES (?1, ?2, 0, ?3, ?4) ON CONFLICT (cappid, appid) DO NOTHING",
                    )?
                    .execute(params![cappid, appid, owner, int(lease_until)])?;
                if changed(created) {
                    return Ok(LeaseOutcome::Acquired);
                }
            }
            let taken = tx
                .prepare_cached(
                    "UPDATE jsapi_ticket SET lease_owner = ?3, lease_until = ?4
                     WHERE cappid = ?1 AND appid = ?2 AND version = ?5
                       AND (lease_owner IS NULL OR lease_until <= ?6)",
                )?
                .execute(params![
                    cappid,
                    appid,
                    owner,
                    int(lease_until),
                    int(expected_version),
                    int(now)
                ])?;
            if changed(taken) {
                return Ok(LeaseOutcome::Acquired);
            }
            let version: Option<i64> = tx
                .prepare_cached(
                    "SELECT version FROM jsapi_ticket WHERE cappid = ?1 AND appid = ?2",
                )?
                .query_row(params![cappid, appid], |row| row.get(0))
                .optional()?;
            Ok(match version {
                // Gone since it was read (revoked): re-read, and start again from version 0.
                None => LeaseOutcome::VersionChanged,
                Some(v) => lease_refusal(Some(stored_version(v)?), expected_version),
            })
        })
        .await
    }

    async fn complete_jsapi_renewal(
        &self,
        appid: &str,
        owner: &str,
        ticket: &Secret,
        expires_at: u64,
    ) -> StoreResult<RenewalOutcome> {
        let (appid, owner, ticket) = (appid.to_owned(), owner.to_owned(), expose(ticket));
        self.write("complete_jsapi_renewal", move |tx, cappid| {
            let version: Option<i64> = tx
                .prepare_cached(
                    "UPDATE jsapi_ticket SET access_token = ?4, expires_at = ?5, version = version + 1,
                         lease_owner = NULL, lease_until = 0
                     WHERE cappid = ?1 AND appid = ?2 AND lease_owner = ?3 RETURNING version",
                )?
                .query_row(
                    params![cappid, appid, owner, ticket, int(expires_at)],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(match version {
                Some(v) => RenewalOutcome::Stored {
                    version: stored_version(v)?,
                },
                None => RenewalOutcome::LostLease,
            })
        })
        .await
    }

    async fn release_jsapi_lease(&self, appid: &str, owner: &str) -> StoreResult<()> {
        let (appid, owner) = (appid.to_owned(), owner.to_owned());
        self.write("release_jsapi_lease", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE jsapi_ticket SET lease_owner = NULL, lease_until = 0
                 WHERE cappid = ?1 AND appid = ?2 AND lease_owner = ?3",
            )?
            .execute(params![cappid, appid, owner])?;
            Ok(())
        })
        .await
    }

    async fn invalidate_jsapi_ticket(&self, appid: &str, version: u64) -> StoreResult<bool> {
        let appid = appid.to_owned();
        self.write("invalidate_jsapi_ticket", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "UPDATE jsapi_ticket SET access_token = NULL, expires_at = 0
                     WHERE cappid = ?1 AND appid = ?2 AND version = ?3",
                )?
                .execute(params![cappid, appid, int(version)])?;
            Ok(changed(n))
        })
        .await
    }

    async fn delete_jsapi_ticket(&self, appid: &str) -> StoreResult<()> {
        let appid = appid.to_owned();
        self.write("delete_jsapi_ticket", move |tx, cappid| {
            tx.prepare_cached("DELETE FROM jsapi_ticket WHERE cappid = ?1 AND appid = ?2")?
                .execute(params![cappid, appid])?;
            Ok(())
        })
        .await
    }
}
