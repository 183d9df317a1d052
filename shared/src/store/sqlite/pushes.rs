//! The `finish_event` and `seen_push` tables.

use super::rows::{cols, int, json};
use super::{text, SqliteStore};
use crate::store::{FinishEvent, PushStore, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use std::collections::{BTreeMap, HashSet};

/// WeChat msg ids are u64; SQLite integers are i64. The bits are stored as they
/// are (lossless both ways) rather than clamped, so two large ids never collide.
fn msg_id_column(msg_id: u64) -> i64 {
    i64::from_ne_bytes(msg_id.to_ne_bytes())
}

fn msg_id_from_column(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

fn finish_event(row: &Row<'_>) -> StoreResult<FinishEvent> {
    let c = cols(row, "event");
    let msg_id: i64 = c.get("msg_id")?;
    Ok(FinishEvent {
        appid: c.text("appid")?,
        msg_id: msg_id_from_column(msg_id),
        kind: c.text("kind")?,
        status: c.text("status")?,
        openid: c.opt_text("openid")?,
        counts: c.json::<BTreeMap<String, i64>>("counts")?,
        create_time: c.get("create_time")?,
        expires_at: c.uint("expires_at")?,
    })
}

#[async_trait]
impl PushStore for SqliteStore {
    async fn put_finish_event(&self, e: &FinishEvent) -> StoreResult<()> {
        self.execute(
            "put_finish_event",
            "INSERT OR REPLACE INTO finish_event
                 (cappid, appid, msg_id, kind, status, openid, counts, create_time, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            vec![
                text(&e.appid),
                msg_id_column(e.msg_id).into(),
                text(&e.kind),
                text(&e.status),
                e.openid.clone().into(),
                json(&e.counts)?.into(),
                e.create_time.into(),
                int(e.expires_at).into(),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn get_finish_events(
        &self,
        appid: &str,
        msg_ids: &[u64],
        now: u64,
    ) -> StoreResult<Vec<FinishEvent>> {
        let appid = appid.to_owned();
        let mut seen = HashSet::new();
        let ids: Vec<u64> = msg_ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        self.read("get_finish_events", move |conn, cappid| {
            let mut stmt = conn.prepare_cached(
                "SELECT appid, msg_id, kind, status, openid, counts, create_time, expires_at FROM finish_event
                 WHERE cappid = ?1 AND appid = ?2 AND msg_id = ?3 AND expires_at > ?4",
            )?;
            let mut found = Vec::new();
            for id in ids {
                let event = stmt
                    .query_row(params![cappid, appid, msg_id_column(id), int(now)], |row| {
                        Ok(finish_event(row))
                    })
                    .optional()?
                    .transpose()?;
                found.extend(event);
            }
            Ok(found)
        })
        .await
    }

    async fn mark_push_seen(&self, key: &str, now: u64, expires_at: u64) -> StoreResult<bool> {
        self.execute(
            "mark_push_seen",
            "INSERT INTO seen_push (cappid, key, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (cappid, key) DO UPDATE SET expires_at = excluded.expires_at
             WHERE seen_push.expires_at <= ?4",
            vec![text(key), int(expires_at).into(), int(now).into()],
        )
        .await
    }
}
