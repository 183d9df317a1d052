//! Link items (`{cappid}#link#{id}` / `link`) and pre-auth code items
//! (`{cappid}#preauth#{hash}` / `preauth`), both expiring by TTL.

use super::error::WriteError;
use super::expr::Values;
use super::items::{attr, b, base, is_expired, key, kind, n, put_opt, s, Item, Reader};
use super::keys::{Keys, SK_LINK, SK_PREAUTH};
use super::table::TTL_ATTRIBUTE;
use super::{into_store_error, no_attributes, DynamoStore};
use crate::store::{consume_refusal, ConsumeOutcome, Link, LinkStore, PreAuth, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

fn link_to_item(keys: &Keys, link: &Link) -> Item {
    let mut item = base(keys.link(&link.id), SK_LINK, kind::LINK);
    item.insert(attr::ID.into(), s(link.id.clone()));
    item.insert(attr::TENANT.into(), s(link.tenant.clone()));
    item.insert(attr::AUTH_TYPE.into(), n(link.auth_type));
    put_opt(&mut item, attr::BIZ_APPID, link.biz_appid.as_ref());
    put_opt(&mut item, attr::RETURN_URL, link.return_url.as_ref());
    item.insert(attr::CREATED_AT.into(), n(link.created_at));
    item.insert(TTL_ATTRIBUTE.into(), n(link.expires_at));
    item.insert(attr::USED.into(), b(link.used));
    put_opt(&mut item, attr::USED_BY, link.used_by.as_ref());
    item
}

fn link_from_item(item: &Item) -> StoreResult<Link> {
    let r = Reader::new("link", item);
    Ok(Link {
        id: r.string(attr::ID)?,
        tenant: r.string(attr::TENANT)?,
        auth_type: r.number(attr::AUTH_TYPE)?,
        biz_appid: r.opt_string(attr::BIZ_APPID)?,
        return_url: r.opt_string(attr::RETURN_URL)?,
        created_at: r.u64(attr::CREATED_AT)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
        used: r.bool(attr::USED)?,
        used_by: r.opt_string(attr::USED_BY)?,
    })
}

fn preauth_to_item(keys: &Keys, p: &PreAuth) -> Item {
    let mut item = base(keys.preauth(&p.code_hash), SK_PREAUTH, kind::PREAUTH);
    item.insert(attr::CODE_HASH.into(), s(p.code_hash.clone()));
    item.insert(attr::LINK_ID.into(), s(p.link_id.clone()));
    item.insert(attr::TENANT.into(), s(p.tenant.clone()));
    item.insert(TTL_ATTRIBUTE.into(), n(p.expires_at));
    item
}

fn preauth_from_item(item: &Item) -> StoreResult<PreAuth> {
    let r = Reader::new("preauth", item);
    Ok(PreAuth {
        code_hash: r.string(attr::CODE_HASH)?,
        link_id: r.string(attr::LINK_ID)?,
        tenant: r.string(attr::TENANT)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

#[async_trait]
impl LinkStore for DynamoStore {
    async fn create_link(&self, link: &Link) -> StoreResult<()> {
        self.put_new(link_to_item(&self.keys, link), "a link with this id")
            .await
    }

    async fn get_link(&self, id: &str, now: u64) -> StoreResult<Option<Link>> {
        match self.get(self.keys.link(id), SK_LINK).await? {
            Some(item) if !is_expired(&item, now) => link_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn consume_link(&self, id: &str, appid: &str, now: u64) -> StoreResult<ConsumeOutcome> {
        let result = self
            .update(
                key(self.keys.link(id), SK_LINK),
                "SET #used = :true, #used_by = :appid",
                "#used = :false AND #expires_at > :now",
                Values::new()
                    .with(":true", b(true))
                    .with(":false", b(false))
                    .with(":appid", s(appid))
                    .with(":now", n(now)),
                ReturnValue::AllNew,
            )
            .await;
        match result {
            Ok(Some(item)) => link_from_item(&item).map(ConsumeOutcome::Consumed),
            Ok(None) => Err(no_attributes()),
            Err(WriteError::ConditionFailed(old)) => {
                let old = old.map(|item| link_from_item(&item)).transpose()?;
                // The write was refused, so a link that reads as consumable
                // was used by a racing writer in between.
                Ok(match (consume_refusal(old.as_ref(), now), old) {
                    (Some(refused), _) => refused,
                    (None, Some(link)) => ConsumeOutcome::AlreadyUsed(link),
                    (None, None) => ConsumeOutcome::NotFound,
                })
            }
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    async fn put_preauth(&self, preauth: &PreAuth) -> StoreResult<()> {
        self.put(preauth_to_item(&self.keys, preauth), None, Values::new())
            .await
            .map_err(into_store_error)
    }

    async fn get_preauth(&self, code_hash: &str, now: u64) -> StoreResult<Option<PreAuth>> {
        match self.get(self.keys.preauth(code_hash), SK_PREAUTH).await? {
            Some(item) if !is_expired(&item, now) => preauth_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }
}
