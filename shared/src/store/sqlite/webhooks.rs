//! `WebhookStore` on SQLite: the `webhook` table (created with the events'
//! migration).

use super::rows::int;
use super::SqliteStore;
use crate::secret::Secret;
use crate::store::{StoreError, StoreResult, Webhook, WebhookStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

const COLUMNS: &str = "id, tenant, url, events, reply, secret, previous_secret, previous_until, \
                       created_at, failing_since, disabled";

fn corrupt(attribute: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        record: "webhook",
        attribute: attribute.to_owned(),
        reason: reason.into(),
    }
}

fn get<T: rusqlite::types::FromSql>(row: &Row<'_>, name: &str) -> StoreResult<T> {
    row.get(name).map_err(|e| corrupt(name, e.to_string()))
}

fn uint(row: &Row<'_>, name: &str) -> StoreResult<u64> {
    let v: i64 = get(row, name)?;
    u64::try_from(v).map_err(|_| corrupt(name, "negative number"))
}

fn webhook_row(row: &Row<'_>) -> StoreResult<Webhook> {
    let events: String = get(row, "events")?;
    let failing_since: Option<i64> = get(row, "failing_since")?;
    Ok(Webhook {
        id: get(row, "id")?,
        tenant: get(row, "tenant")?,
        url: get(row, "url")?,
        events: serde_json::from_str(&events).map_err(|e| corrupt("events", e.to_string()))?,
        reply: get::<i64>(row, "reply")? != 0,
        secret: Secret::new(get::<String>(row, "secret")?),
        previous_secret: get::<Option<String>>(row, "previous_secret")?.map(Secret::new),
        previous_until: uint(row, "previous_until")?,
        created_at: uint(row, "created_at")?,
        failing_since: failing_since
            .map(|v| u64::try_from(v).map_err(|_| corrupt("failing_since", "negative number")))
            .transpose()?,
        disabled: get::<i64>(row, "disabled")? != 0,
    })
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let w = self.sealer.seal_webhook(webhook.clone());
        let events = serde_json::to_string(&w.events)
            .map_err(|e| StoreError::Invalid(format!("cannot encode events: {e}")))?;
        self.write("create_webhook", move |tx, cappid| {
            let n = tx
                .prepare_cached(&format!(
                    "INSERT INTO webhook (cappid, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (cappid, id) DO NOTHING"
                ))?
                .execute(params![
                    cappid,
                    w.id,
                    w.tenant,
                    w.url,
                    events,
                    i64::from(w.reply),
                    w.secret.expose(),
                    w.previous_secret.as_ref().map(|s| s.expose().to_owned()),
                    int(w.previous_until),
                    int(w.created_at),
                    w.failing_since.map(int),
                    i64::from(w.disabled)
                ])?;
            if n == 0 {
                return Err(StoreError::Invalid("a webhook with this id already exists".into()));
            }
            Ok(())
        })
        .await
    }

    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        let id = id.to_owned();
        self.read("get_webhook", move |conn, cappid| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook WHERE cappid = ?1 AND id = ?2"
            ))?
            .query_row(params![cappid, id], |row| Ok(webhook_row(row)))
            .optional()?
            .transpose()
        })
        .await?
        .map(|w| self.sealer.open_webhook(w))
        .transpose()
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        self.read("list_webhooks", move |conn, cappid| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook WHERE cappid = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([cappid], |row| Ok(webhook_row(row)))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row??);
            }
            Ok(out)
        })
        .await?
        .into_iter()
        .map(|w| self.sealer.open_webhook(w))
        .collect()
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write("delete_webhook", move |tx, cappid| {
            let n = tx
                .prepare_cached("DELETE FROM webhook WHERE cappid = ?1 AND id = ?2")?
                .execute(params![cappid, id])?;
            Ok(n > 0)
        })
        .await
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret: &Secret,
        previous_until: u64,
    ) -> StoreResult<Option<Webhook>> {
        let secret = self
            .sealer
            .seal_webhook_secret(id, secret)
            .expose()
            .to_owned();
        let id = id.to_owned();
        self.write("rotate_webhook_secret", move |tx, cappid| {
            tx.prepare_cached(&format!(
                "UPDATE webhook SET previous_secret = secret, secret = ?3, previous_until = ?4
                 WHERE cappid = ?1 AND id = ?2 RETURNING {COLUMNS}"
            ))?
            .query_row(params![cappid, id, secret, int(previous_until)], |row| {
                Ok(webhook_row(row))
            })
            .optional()?
            .transpose()
        })
        .await?
        .map(|w| self.sealer.open_webhook(w))
        .transpose()
    }

    async fn set_webhook_health(
        &self,
        id: &str,
        failing_since: Option<u64>,
        disabled: bool,
    ) -> StoreResult<()> {
        let id = id.to_owned();
        self.write("set_webhook_health", move |tx, cappid| {
            tx.prepare_cached(
                "UPDATE webhook SET failing_since = ?3, disabled = ?4 WHERE cappid = ?1 AND id = ?2",
            )?
            .execute(params![cappid, id, failing_since.map(int), i64::from(disabled)])?;
            Ok(())
        })
        .await
    }
}
