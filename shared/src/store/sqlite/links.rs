//! The `link` and `preauth` tables.

use super::rows::{cols, int};
use super::{changed, text, SqliteStore};
use crate::store::{
    consume_refusal, ConsumeOutcome, Link, LinkStore, PreAuth, StoreError, StoreResult,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

const LINK_COLUMNS: &str =
    "id, tenant, auth_type, biz_appid, return_url, created_at, expires_at, used, used_by";

fn link(row: &Row<'_>) -> StoreResult<Link> {
    let c = cols(row, "link");
    let auth_type: i64 = c.get("auth_type")?;
    Ok(Link {
        id: c.text("id")?,
        tenant: c.text("tenant")?,
        auth_type: u8::try_from(auth_type)
            .map_err(|_| c.corrupt("auth_type", "number out of range"))?,
        biz_appid: c.opt_text("biz_appid")?,
        return_url: c.opt_text("return_url")?,
        created_at: c.uint("created_at")?,
        expires_at: c.uint("expires_at")?,
        used: c.flag("used")?,
        used_by: c.opt_text("used_by")?,
    })
}

fn preauth(row: &Row<'_>) -> StoreResult<PreAuth> {
    let c = cols(row, "preauth");
    Ok(PreAuth {
        code_hash: c.text("code_hash")?,
        link_id: c.text("link_id")?,
        tenant: c.text("tenant")?,
        expires_at: c.uint("expires_at")?,
    })
}

fn select_link(conn: &Connection, cappid: &str, id: &str) -> StoreResult<Option<Link>> {
    conn.prepare_cached(&format!(
        "SELECT {LINK_COLUMNS} FROM link WHERE cappid = ?1 AND id = ?2"
    ))?
    .query_row(params![cappid, id], |row| Ok(link(row)))
    .optional()?
    .transpose()
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn create_link(&self, link: &Link) -> StoreResult<()> {
        let link = link.clone();
        self.write("create_link", move |tx, cappid| {
            let n = tx
                .prepare_cached(
                    "INSERT INTO link (cappid, id, tenant, auth_type, biz_appid, return_url, created_at, expires_at, used, used_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (cappid, id) DO NOTHING",
                )?
                .execute(params![
                    cappid,
                    link.id,
                    link.tenant,
                    link.auth_type,
                    link.biz_appid,
                    link.return_url,
                    int(link.created_at),
                    int(link.expires_at),
                    link.used,
                    link.used_by
                ])?;
            if !changed(n) {
                return Err(StoreError::Invalid("a link with this id already exists".into()));
            }
            Ok(())
        })
        .await
    }

    async fn get_link(&self, id: &str, now: u64) -> StoreResult<Option<Link>> {
        let id = id.to_owned();
        self.read("get_link", move |conn, cappid| {
            Ok(select_link(conn, cappid, &id)?.filter(|l| l.expires_at > now))
        })
        .await
    }

    async fn consume_link(&self, id: &str, appid: &str, now: u64) -> StoreResult<ConsumeOutcome> {
        let id = id.to_owned();
        let appid = appid.to_owned();
        self.write("consume_link", move |tx, cappid| {
            let link = select_link(tx, cappid, &id)?;
            if let Some(refused) = consume_refusal(link.as_ref(), now) {
                return Ok(refused);
            }
            let Some(mut link) = link else {
                return Ok(ConsumeOutcome::NotFound);
            };
            tx.prepare_cached(
                "UPDATE link SET used = 1, used_by = ?3 WHERE cappid = ?1 AND id = ?2 AND used = 0",
            )?
            .execute(params![cappid, id, appid])?;
            link.used = true;
            link.used_by = Some(appid);
            Ok(ConsumeOutcome::Consumed(link))
        })
        .await
    }

    async fn put_preauth(&self, p: &PreAuth) -> StoreResult<()> {
        self.execute(
            "put_preauth",
            "INSERT OR REPLACE INTO preauth (cappid, code_hash, link_id, tenant, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            vec![text(&p.code_hash), text(&p.link_id), text(&p.tenant), int(p.expires_at).into()],
        )
        .await
        .map(|_| ())
    }

    async fn get_preauth(&self, code_hash: &str, now: u64) -> StoreResult<Option<PreAuth>> {
        let code_hash = code_hash.to_owned();
        self.read("get_preauth", move |conn, cappid| {
            conn.prepare_cached(
                "SELECT code_hash, link_id, tenant, expires_at FROM preauth
                 WHERE cappid = ?1 AND code_hash = ?2 AND expires_at > ?3",
            )?
            .query_row(params![cappid, code_hash, int(now)], |row| Ok(preauth(row)))
            .optional()?
            .transpose()
        })
        .await
    }
}
