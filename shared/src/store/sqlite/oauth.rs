//! The `oauth_link`, `oauth_attempt` and `oauth_result` tables. Attempts and
//! results are taken once by an `UPDATE … WHERE taken = 0 … RETURNING`, so two
//! callers racing for one get it once between them.

use super::rows::{cols, int};
use super::{changed, SqliteStore};
use crate::store::{OauthAttempt, OauthLink, OauthResult, OauthStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

fn link(row: &Row<'_>) -> StoreResult<OauthLink> {
    let c = cols(row, "oauth link");
    Ok(OauthLink {
        id: c.text("id")?,
        tenant: c.text("tenant")?,
        appid: c.text("appid")?,
        scope: c.text("scope")?,
        return_url: c.text("return_url")?,
        client_state: c.opt_text("client_state")?,
        created_at: c.uint("created_at")?,
        expires_at: c.uint("expires_at")?,
    })
}

fn attempt(row: &Row<'_>) -> StoreResult<OauthAttempt> {
    let c = cols(row, "oauth attempt");
    Ok(OauthAttempt {
        state_hash: c.text("state_hash")?,
        link_id: c.text("link_id")?,
        expires_at: c.uint("expires_at")?,
    })
}

fn result(row: &Row<'_>) -> StoreResult<OauthResult> {
    let c = cols(row, "oauth result");
    Ok(OauthResult {
        id: c.text("id")?,
        tenant: c.text("tenant")?,
        appid: c.text("appid")?,
        openid: c.text("openid")?,
        unionid: c.opt_text("unionid")?,
        scope: c.text("scope")?,
        nickname: c.opt_text("nickname")?,
        headimgurl: c.opt_text("headimgurl")?,
        expires_at: c.uint("expires_at")?,
    })
}

fn refused_duplicate(n: usize, what: &str) -> StoreResult<()> {
    if changed(n) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("{what} already exists")))
    }
}

#[async_trait]
impl OauthStore for SqliteStore {
    async fn create_oauth_link(&self, l: &OauthLink) -> StoreResult<()> {
        let l = l.clone();
        self.write("create_oauth_link", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "INSERT INTO oauth_link (cappid, id, tenant, appid, scope, return_url, client_state, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (cappid, id) DO NOTHING",
                )?
                .execute(params![
                    cappid,
                    l.id,
                    l.tenant,
                    l.appid,
                    l.scope,
                    l.return_url,
                    l.client_state,
                    int(l.created_at),
                    int(l.expires_at)
                ])?;
            refused_duplicate(n, "an oauth link with this id")
        })
        .await
    }

    async fn get_oauth_link(&self, id: &str, now: u64) -> StoreResult<Option<OauthLink>> {
        let id = id.to_owned();
        self.read("get_oauth_link", move |conn, cappid| {
            conn.prepare_cached(
                "SELECT id, tenant, appid, scope, return_url, client_state, created_at, expires_at
                 FROM oauth_link WHERE cappid = ?1 AND id = ?2 AND expires_at > ?3",
            )?
            .query_row(params![cappid, id, int(now)], |row| Ok(link(row)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn create_oauth_attempt(&self, a: &OauthAttempt) -> StoreResult<()> {
        let a = a.clone();
        self.write("create_oauth_attempt", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "INSERT INTO oauth_attempt (cappid, state_hash, link_id, expires_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (cappid, state_hash) DO NOTHING",
                )?
                .execute(params![cappid, a.state_hash, a.link_id, int(a.expires_at)])?;
            refused_duplicate(n, "an oauth attempt with this state")
        })
        .await
    }

    async fn take_oauth_attempt(
        &self,
        state_hash: &str,
        now: u64,
    ) -> StoreResult<Option<OauthAttempt>> {
        let state_hash = state_hash.to_owned();
        self.write("take_oauth_attempt", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE oauth_attempt SET taken = 1
                 WHERE cappid = ?1 AND state_hash = ?2 AND taken = 0 AND expires_at > ?3
                 RETURNING state_hash, link_id, expires_at",
            )?
            .query_row(params![cappid, state_hash, int(now)], |row| {
                Ok(attempt(row))
            })
            .optional()?
            .transpose()
        })
        .await
    }

    async fn create_oauth_result(&self, r: &OauthResult) -> StoreResult<()> {
        let r = r.clone();
        self.write("create_oauth_result", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "INSERT INTO oauth_result (cappid, id, tenant, appid, openid, unionid, scope, nickname, headimgurl, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (cappid, id) DO NOTHING",
                )?
                .execute(params![
                    cappid,
                    r.id,
                    r.tenant,
                    r.appid,
                    r.openid,
                    r.unionid,
                    r.scope,
                    r.nickname,
                    r.headimgurl,
                    int(r.expires_at)
                ])?;
            refused_duplicate(n, "an oauth result with this id")
        })
        .await
    }

    async fn take_oauth_result(
        &self,
        id: &str,
        tenant: Option<&str>,
        now: u64,
    ) -> StoreResult<Option<OauthResult>> {
        let (id, tenant) = (id.to_owned(), tenant.map(str::to_owned));
        self.write("take_oauth_result", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE oauth_result SET taken = 1
                 WHERE cappid = ?1 AND id = ?2 AND (?3 IS NULL OR tenant = ?3) AND taken = 0 AND expires_at > ?4
                 RETURNING id, tenant, appid, openid, unionid, scope, nickname, headimgurl, expires_at",
            )?
            .query_row(params![cappid, id, tenant, int(now)], |row| Ok(result(row)))
            .optional()?
            .transpose()
        })
        .await
    }
}
