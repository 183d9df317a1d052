//! The `authorizer` table. Its partial index `authorizer_due` holds exactly
//! the [`renewable`](crate::store::renewable) rows, for the refresh sweep.

use super::rows::{self, cols, int, json, stored_version};
use super::{changed, collect, expose, page, sql_limit, text, SqliteStore};
use crate::secret::Secret;
use crate::store::sealed::{ACCESS_TOKEN, AUTHORIZER, REFRESH_TOKEN};
use crate::store::Sealer;
use crate::store::{
    granted_authorizer, lease_refusal, plan_grant, repaired_status, AuthorizationGrant, Authorizer,
    AuthorizerProfile, AuthorizerStatus, AuthorizerStore, GrantOutcome, GrantPlan, LeaseOutcome,
    Page, RecordedGrant, RenewalOutcome, RenewedTokens, StoreError, StoreResult,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

const AUTHORIZER_COLUMNS: &str =
    "appid, tenant, status, refresh_token, access_token, expires_at, version, \
     lease_owner, lease_until, func_info, profile, last_auth_code_hash, authorized_at, updated_at";

/// A row as stored, its sealed tokens opened.
fn authorizer(row: &Row<'_>, sealer: &Sealer) -> StoreResult<Authorizer> {
    let c = cols(row, "authorizer");
    sealer.open_authorizer(Authorizer {
        appid: c.text("appid")?,
        tenant: c.opt_text("tenant")?,
        status: c.status("status", AuthorizerStatus::parse)?,
        refresh_token: c.secret("refresh_token")?,
        token: rows::token_state(row, "authorizer")?,
        func_info: c.json::<Vec<u32>>("func_info")?,
        profile: c.json::<AuthorizerProfile>("profile")?,
        last_auth_code_hash: c.opt_text("last_auth_code_hash")?,
        authorized_at: c.uint("authorized_at")?,
        updated_at: c.uint("updated_at")?,
    })
}

fn select_authorizer(
    conn: &Connection,
    cappid: &str,
    appid: &str,
    sealer: &Sealer,
) -> StoreResult<Option<Authorizer>> {
    conn.prepare_cached(&format!(
        "SELECT {AUTHORIZER_COLUMNS} FROM authorizer WHERE cappid = ?1 AND appid = ?2"
    ))?
    .query_row(params![cappid, appid], |row| Ok(authorizer(row, sealer)))
    .optional()?
    .transpose()
}

/// Inserts `a`, its tokens already sealed.
fn insert_authorizer(tx: &Transaction<'_>, cappid: &str, a: &Authorizer) -> StoreResult<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO authorizer (cappid, {AUTHORIZER_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))?
    .execute(params![
        cappid,
        a.appid,
        a.tenant,
        a.status.as_str(),
        a.refresh_token.as_ref().map(expose),
        a.token.access_token.as_ref().map(expose),
        int(a.token.expires_at),
        int(a.token.version),
        a.token.lease_owner,
        int(a.token.lease_until),
        json(&a.func_info)?,
        json(&a.profile)?,
        a.last_auth_code_hash,
        int(a.authorized_at),
        int(a.updated_at)
    ])?;
    Ok(())
}

/// Carries out [`plan_grant`] inside the writer's transaction.
fn store_grant(
    tx: &Transaction<'_>,
    cappid: &str,
    g: &AuthorizationGrant,
    sealer: &Sealer,
) -> StoreResult<GrantOutcome> {
    let existing = select_authorizer(tx, cappid, &g.appid, sealer)?;
    let plan = plan_grant(
        existing.as_ref().map(|a| RecordedGrant {
            tenant: a.tenant.as_deref(),
            last_auth_code_hash: a.last_auth_code_hash.as_deref(),
        }),
        g,
    );
    match &plan {
        GrantPlan::Create => {
            insert_authorizer(tx, cappid, &sealer.seal_authorizer(granted_authorizer(g)))?
        }
        GrantPlan::AlreadyDone { bind: Some(tenant) } => {
            tx.prepare_cached(
                "UPDATE authorizer SET tenant = ?3, updated_at = ?4
                 WHERE cappid = ?1 AND appid = ?2 AND tenant IS NULL",
            )?
            .execute(params![cappid, g.appid, tenant, int(g.now)])?;
        }
        GrantPlan::AlreadyDone { bind: None } | GrantPlan::Conflict { .. } => {}
        GrantPlan::Replace { bind } => {
            // A re-authorization supersedes any renewal in flight: new version, lease cleared.
            tx.prepare_cached(
                "UPDATE authorizer SET tenant = COALESCE(tenant, ?3), status = 'active', refresh_token = ?4,
                     access_token = ?5, expires_at = ?6, version = version + 1, lease_owner = NULL,
                     lease_until = 0, func_info = ?7, last_auth_code_hash = ?8, authorized_at = ?9, updated_at = ?9
                 WHERE cappid = ?1 AND appid = ?2",
            )?
            .execute(params![
                cappid,
                g.appid,
                bind,
                sealer.seal(AUTHORIZER, &g.appid, REFRESH_TOKEN, &g.refresh_token),
                sealer.seal(AUTHORIZER, &g.appid, ACCESS_TOKEN, &g.access_token),
                int(g.expires_at),
                json(&g.func_info)?,
                g.auth_code_hash,
                int(g.now)
            ])?;
        }
    }
    Ok(plan.outcome())
}

fn due_cursor(expires_at: u64, appid: &str) -> String {
    format!("{expires_at}/{appid}")
}

fn parse_due_cursor(cursor: &str) -> StoreResult<(i64, String)> {
    let malformed = || StoreError::Invalid("malformed due-authorizers cursor".into());
    let (at, appid) = cursor.split_once('/').ok_or_else(malformed)?;
    let at: u64 = at.parse().map_err(|_| malformed())?;
    Ok((int(at), appid.to_owned()))
}

#[async_trait]
impl AuthorizerStore for SqliteStore {
    async fn get_authorizer(&self, appid: &str) -> StoreResult<Option<Authorizer>> {
        let appid = appid.to_owned();
        let sealer = self.sealer.clone();
        self.read("get_authorizer", move |conn, cappid| {
            select_authorizer(conn, cappid, &appid, &sealer)
        })
        .await
    }

    async fn put_grant(&self, grant: &AuthorizationGrant) -> StoreResult<GrantOutcome> {
        let grant = grant.clone();
        let sealer = self.sealer.clone();
        self.write("put_grant", move |tx, cappid| {
            store_grant(tx, cappid, &grant, &sealer)
        })
        .await
    }

    async fn set_profile(
        &self,
        appid: &str,
        profile: &AuthorizerProfile,
        now: u64,
    ) -> StoreResult<()> {
        self.execute(
            "set_profile",
            "UPDATE authorizer SET profile = ?3, updated_at = ?4 WHERE cappid = ?1 AND appid = ?2",
            vec![text(appid), json(profile)?.into(), int(now).into()],
        )
        .await
        .map(|_| ())
    }

    async fn bind_tenant(&self, appid: &str, tenant: &str, now: u64) -> StoreResult<bool> {
        self.execute(
            "bind_tenant",
            "UPDATE authorizer SET tenant = ?3, updated_at = ?4
             WHERE cappid = ?1 AND appid = ?2 AND (tenant IS NULL OR tenant = ?3)",
            vec![text(appid), text(tenant), int(now).into()],
        )
        .await
    }

    async fn list_authorizers(
        &self,
        tenant: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        let after = match cursor {
            Some(c) => super::cursor::decode(c, tenant)?,
            None => String::new(),
        };
        let tenant = tenant.map(str::to_owned);
        let fetch = sql_limit(limit)? + 1;
        let sealer = self.sealer.clone();
        self.read("list_authorizers", move |conn, cappid| {
            let cols = AUTHORIZER_COLUMNS;
            let found = match &tenant {
                Some(tenant) => collect(
                    conn.prepare_cached(&format!(
                        "SELECT {cols} FROM authorizer WHERE cappid = ?1 AND tenant = ?2 AND appid > ?3 ORDER BY appid LIMIT ?4"
                    ))?
                    .query_map(params![cappid, tenant, after, fetch], |row| Ok(authorizer(row, &sealer)))?,
                )?,
                None => collect(
                    conn.prepare_cached(&format!(
                        "SELECT {cols} FROM authorizer WHERE cappid = ?1 AND appid > ?2 ORDER BY appid LIMIT ?3"
                    ))?
                    .query_map(params![cappid, after, fetch], |row| Ok(authorizer(row, &sealer)))?,
                )?,
            };
            Ok(page(found, limit, |a| super::cursor::encode(tenant.as_deref(), &a.appid)))
        })
        .await
    }

    async fn due_authorizers(
        &self,
        due_before: u64,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        let (after_at, after_appid) = match cursor {
            Some(c) => parse_due_cursor(c)?,
            None => (-1, String::new()),
        };
        let fetch = sql_limit(limit)? + 1;
        let sealer = self.sealer.clone();
        self.read("due_authorizers", move |conn, cappid| {
            // The WHERE repeats the partial index's condition so SQLite uses it.
            let found = collect(
                conn.prepare_cached(&format!(
                    "SELECT {AUTHORIZER_COLUMNS} FROM authorizer INDEXED BY authorizer_due
                     WHERE cappid = ?1 AND status = 'active' AND refresh_token IS NOT NULL
                       AND expires_at <= ?2 AND (expires_at, appid) > (?3, ?4)
                     ORDER BY expires_at, appid LIMIT ?5"
                ))?
                .query_map(
                    params![cappid, int(due_before), after_at, after_appid, fetch],
                    |row| Ok(authorizer(row, &sealer)),
                )?,
            )?;
            Ok(page(found, limit, |a| {
                due_cursor(a.token.expires_at, &a.appid)
            }))
        })
        .await
    }

    async fn acquire_authorizer_lease(
        &self,
        appid: &str,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        let appid = appid.to_owned();
        let owner = owner.to_owned();
        self.write("acquire_authorizer_lease", move |tx, cappid| {
            let taken = tx
                .prepare_cached(
                    "UPDATE authorizer SET lease_owner = ?3, lease_until = ?4
                     WHERE cappid = ?1 AND appid = ?2 AND version = ?5 AND (lease_owner IS NULL OR lease_until <= ?6)",
                )?
                .execute(params![cappid, appid, owner, int(lease_until), int(expected_version), int(now)])?;
            if changed(taken) {
                return Ok(LeaseOutcome::Acquired);
            }
            let version: Option<i64> = tx
                .prepare_cached("SELECT version FROM authorizer WHERE cappid = ?1 AND appid = ?2")?
                .query_row(params![cappid, appid], |row| row.get(0))
                .optional()?;
            Ok(lease_refusal(version.map(stored_version).transpose()?, expected_version))
        })
        .await
    }

    async fn complete_authorizer_renewal(
        &self,
        appid: &str,
        owner: &str,
        tokens: &RenewedTokens,
        now: u64,
    ) -> StoreResult<RenewalOutcome> {
        let appid = appid.to_owned();
        let owner = owner.to_owned();
        let access = self
            .sealer
            .seal(AUTHORIZER, &appid, ACCESS_TOKEN, &tokens.access_token);
        let refresh = tokens
            .refresh_token
            .as_ref()
            .map(|t| self.sealer.seal(AUTHORIZER, &appid, REFRESH_TOKEN, t));
        let expires_at = tokens.expires_at;
        self.write("complete_authorizer_renewal", move |tx, cappid| {
            // Access and refresh token in one write: a rotated refresh token is never lost.
            let version: Option<i64> = tx
                .prepare_cached(
                    "UPDATE authorizer SET access_token = ?4, expires_at = ?5,
                         refresh_token = COALESCE(?6, refresh_token), version = version + 1,
                         lease_owner = NULL, lease_until = 0, updated_at = ?7
                     WHERE cappid = ?1 AND appid = ?2 AND lease_owner = ?3 RETURNING version",
                )?
                .query_row(
                    params![
                        cappid,
                        appid,
                        owner,
                        access,
                        int(expires_at),
                        refresh,
                        int(now)
                    ],
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

    async fn release_authorizer_lease(&self, appid: &str, owner: &str) -> StoreResult<()> {
        self.execute(
            "release_authorizer_lease",
            "UPDATE authorizer SET lease_owner = NULL, lease_until = 0
             WHERE cappid = ?1 AND appid = ?2 AND lease_owner = ?3",
            vec![text(appid), text(owner)],
        )
        .await
        .map(|_| ())
    }

    async fn invalidate_authorizer_token(&self, appid: &str, version: u64) -> StoreResult<bool> {
        self.execute(
            "invalidate_authorizer_token",
            "UPDATE authorizer SET access_token = NULL, expires_at = 0 WHERE cappid = ?1 AND appid = ?2 AND version = ?3",
            vec![text(appid), int(version).into()],
        )
        .await
    }

    async fn revoke_authorizer(&self, appid: &str, now: u64) -> StoreResult<bool> {
        self.execute(
            "revoke_authorizer",
            "UPDATE authorizer SET status = 'revoked', access_token = NULL, refresh_token = NULL, expires_at = 0,
                 version = version + 1, lease_owner = NULL, lease_until = 0, updated_at = ?3
             WHERE cappid = ?1 AND appid = ?2",
            vec![text(appid), int(now).into()],
        )
        .await
    }

    async fn mark_needs_reauth(&self, appid: &str, now: u64) -> StoreResult<bool> {
        self.execute(
            "mark_needs_reauth",
            "UPDATE authorizer SET status = 'needs_reauth', updated_at = ?3 WHERE cappid = ?1 AND appid = ?2",
            vec![text(appid), int(now).into()],
        )
        .await
    }

    async fn repair_refresh_token(
        &self,
        appid: &str,
        refresh_token: &Secret,
        now: u64,
    ) -> StoreResult<bool> {
        let appid = appid.to_owned();
        let refresh = refresh_token.clone();
        let sealer = self.sealer.clone();
        self.write("repair_refresh_token", move |tx, cappid| {
            let Some(existing) = select_authorizer(tx, cappid, &appid, &sealer)? else {
                return Ok(false);
            };
            if existing.refresh_token.as_ref() == Some(&refresh) {
                return Ok(false);
            }
            tx.prepare_cached(
                "UPDATE authorizer SET refresh_token = ?3, status = ?4, updated_at = ?5
                 WHERE cappid = ?1 AND appid = ?2",
            )?
            .execute(params![
                cappid,
                appid,
                sealer.seal(AUTHORIZER, &appid, REFRESH_TOKEN, &refresh),
                repaired_status(existing.status).as_str(),
                int(now)
            ])?;
            Ok(true)
        })
        .await
    }
}
