//! The `api_key` table.

use super::rows::{cols, int, json};
use super::{collect, text, SqliteStore};
use crate::store::{ApiKey, ApiKeyStore, StoreResult, TenantScope};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

const API_KEY_COLUMNS: &str = "hash, prefix, tenants, scopes, label, created_at, revoked";

fn api_key(row: &Row<'_>) -> StoreResult<ApiKey> {
    let c = cols(row, "api key");
    Ok(ApiKey {
        hash: c.text("hash")?,
        prefix: c.text("prefix")?,
        tenants: c.json::<TenantScope>("tenants")?,
        scopes: c.json::<Vec<String>>("scopes")?,
        label: c.opt_text("label")?,
        created_at: c.uint("created_at")?,
        revoked: c.flag("revoked")?,
    })
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        self.execute(
            "put_api_key",
            "INSERT OR REPLACE INTO api_key (cappid, hash, prefix, tenants, scopes, label, created_at, revoked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            vec![
                text(&key.hash),
                text(&key.prefix),
                json(&key.tenants)?.into(),
                json(&key.scopes)?.into(),
                key.label.clone().into(),
                int(key.created_at).into(),
                key.revoked.into(),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn get_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        let hash = hash.to_owned();
        self.read("get_api_key", move |conn, cappid| {
            conn.prepare_cached(&format!(
                "SELECT {API_KEY_COLUMNS} FROM api_key WHERE cappid = ?1 AND hash = ?2"
            ))?
            .query_row(params![cappid, hash], |row| Ok(api_key(row)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read("list_api_keys", |conn, cappid| {
            collect(
                conn.prepare_cached(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_key WHERE cappid = ?1 ORDER BY created_at, hash"
                ))?
                .query_map([cappid], |row| Ok(api_key(row)))?,
            )
        })
        .await
    }

    async fn revoke_api_key(&self, hash: &str) -> StoreResult<bool> {
        self.execute(
            "revoke_api_key",
            "UPDATE api_key SET revoked = 1 WHERE cappid = ?1 AND hash = ?2",
            vec![text(hash)],
        )
        .await
    }
}
