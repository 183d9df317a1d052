//! Finish-event items (`{cappid}#event#{appid}#{msgid}` / `event`) and
//! seen-push markers (`{cappid}#seen#{key}` / `seen`), both expiring by TTL.

use super::error::WriteError;
use super::expr::Values;
use super::items::{attr, base, is_expired, key, kind, n, put_opt, s, Item, Reader};
use super::keys::{Keys, SK_EVENT, SK_SEEN};
use super::table::TTL_ATTRIBUTE;
use super::{into_store_error, stamp_write_id, written_by, DynamoStore};
use crate::store::{FinishEvent, PushStore, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap, HashSet};

fn event_to_item(keys: &Keys, e: &FinishEvent) -> Item {
    let mut item = base(keys.event(&e.appid, e.msg_id), SK_EVENT, kind::EVENT);
    item.insert(attr::APPID.into(), s(e.appid.clone()));
    item.insert(attr::MSG_ID.into(), n(e.msg_id));
    item.insert(attr::EVENT_KIND.into(), s(e.kind.clone()));
    item.insert(attr::STATUS.into(), s(e.status.clone()));
    put_opt(&mut item, attr::OPENID, e.openid.as_ref());
    let counts = e.counts.iter().map(|(k, v)| (k.clone(), n(v))).collect();
    item.insert(attr::COUNTS.into(), AttributeValue::M(counts));
    item.insert(attr::CREATE_TIME.into(), n(e.create_time));
    item.insert(TTL_ATTRIBUTE.into(), n(e.expires_at));
    item
}

fn event_from_item(item: &Item) -> StoreResult<FinishEvent> {
    let r = Reader::new("event", item);
    let mut counts = BTreeMap::new();
    if let Some(value) = item.get(attr::COUNTS) {
        let map = value
            .as_m()
            .map_err(|_| r.corrupt(attr::COUNTS, "expected a map"))?;
        for (name, v) in map {
            let count = v
                .as_n()
                .ok()
                .and_then(|raw| raw.parse().ok())
                .ok_or_else(|| r.corrupt(attr::COUNTS, "expected a map of numbers"))?;
            counts.insert(name.clone(), count);
        }
    }
    Ok(FinishEvent {
        appid: r.string(attr::APPID)?,
        msg_id: r.u64(attr::MSG_ID)?,
        kind: r.string(attr::EVENT_KIND)?,
        status: r.string(attr::STATUS)?,
        openid: r.opt_string(attr::OPENID)?,
        counts,
        create_time: r.i64(attr::CREATE_TIME)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

fn seen_to_item(keys: &Keys, key: &str, expires_at: u64) -> Item {
    let mut item = base(keys.seen(key), SK_SEEN, kind::SEEN);
    item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
    item
}

#[async_trait]
impl PushStore for DynamoStore {
    async fn put_finish_event(&self, event: &FinishEvent) -> StoreResult<()> {
        self.put(event_to_item(&self.keys, event), None, Values::new())
            .await
            .map_err(into_store_error)
    }

    async fn get_finish_events(
        &self,
        appid: &str,
        msg_ids: &[u64],
        now: u64,
    ) -> StoreResult<Vec<FinishEvent>> {
        let mut seen = HashSet::new();
        let wanted: Vec<u64> = msg_ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        let item_keys = wanted
            .iter()
            .map(|id| key(self.keys.event(appid, *id), SK_EVENT))
            .collect();
        let mut by_id = HashMap::new();
        for item in self.batch_get(item_keys).await? {
            if is_expired(&item, now) {
                continue;
            }
            let event = event_from_item(&item)?;
            by_id.insert(event.msg_id, event);
        }
        Ok(wanted.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    async fn mark_push_seen(&self, push_key: &str, now: u64, expires_at: u64) -> StoreResult<bool> {
        let mut item = seen_to_item(&self.keys, push_key, expires_at);
        let write_id = stamp_write_id(&mut item);
        let condition = "attribute_not_exists(#pk) OR #expires_at <= :now";
        match self
            .put(item, Some(condition), Values::new().with(":now", n(now)))
            .await
        {
            Ok(()) => Ok(true),
            Err(WriteError::ConditionFailed(Some(old))) if written_by(&old, &write_id) => Ok(true),
            Err(WriteError::ConditionFailed(_)) => Ok(false),
            Err(WriteError::Store(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips_with_its_counts() {
        let keys = Keys::new("wxc");
        let event = FinishEvent {
            appid: "wx1".into(),
            msg_id: 42,
            kind: "mass".into(),
            status: "send success".into(),
            openid: None,
            counts: BTreeMap::from([("SentCount".to_owned(), 3), ("ErrorCount".to_owned(), -1)]),
            create_time: 7,
            expires_at: 9,
        };
        assert_eq!(
            event_from_item(&event_to_item(&keys, &event)).ok(),
            Some(event)
        );
    }
}
