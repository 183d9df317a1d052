//! Web OAuth items, each its own partition and expiring by TTL: links
//! (`{cappid}#oauth_link#{id}`), attempts (`{cappid}#oauth_attempt#{hash}`)
//! and results (`{cappid}#oauth_result#{id}`). Attempts and results are taken
//! once by a conditional update that sets `taken`.

use super::error::WriteError;
use super::expr::Values;
use super::items::{attr, b, base, is_expired, key, kind, n, put_opt, s, Item, Reader};
use super::keys::{Keys, SK_OAUTH_ATTEMPT, SK_OAUTH_LINK, SK_OAUTH_RESULT};
use super::table::TTL_ATTRIBUTE;
use super::{no_attributes, written_by, DynamoStore};
use crate::store::{OauthAttempt, OauthLink, OauthResult, OauthStore, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

fn link_to_item(keys: &Keys, l: &OauthLink) -> Item {
    let mut item = base(keys.oauth_link(&l.id), SK_OAUTH_LINK, kind::OAUTH_LINK);
    item.insert(attr::ID.into(), s(l.id.clone()));
    item.insert(attr::TENANT.into(), s(l.tenant.clone()));
    item.insert(attr::APPID.into(), s(l.appid.clone()));
    item.insert(attr::SCOPE.into(), s(l.scope.clone()));
    item.insert(attr::RETURN_URL.into(), s(l.return_url.clone()));
    put_opt(&mut item, attr::CLIENT_STATE, l.client_state.as_ref());
    item.insert(attr::CREATED_AT.into(), n(l.created_at));
    item.insert(TTL_ATTRIBUTE.into(), n(l.expires_at));
    item
}

fn link_from_item(item: &Item) -> StoreResult<OauthLink> {
    let r = Reader::new("oauth link", item);
    Ok(OauthLink {
        id: r.string(attr::ID)?,
        tenant: r.string(attr::TENANT)?,
        appid: r.string(attr::APPID)?,
        scope: r.string(attr::SCOPE)?,
        return_url: r.string(attr::RETURN_URL)?,
        client_state: r.opt_string(attr::CLIENT_STATE)?,
        created_at: r.u64(attr::CREATED_AT)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

fn attempt_to_item(keys: &Keys, a: &OauthAttempt) -> Item {
    let mut item = base(
        keys.oauth_attempt(&a.state_hash),
        SK_OAUTH_ATTEMPT,
        kind::OAUTH_ATTEMPT,
    );
    item.insert(attr::STATE_HASH.into(), s(a.state_hash.clone()));
    item.insert(attr::LINK_ID.into(), s(a.link_id.clone()));
    item.insert(TTL_ATTRIBUTE.into(), n(a.expires_at));
    item.insert(attr::TAKEN.into(), b(false));
    item
}

fn attempt_from_item(item: &Item) -> StoreResult<OauthAttempt> {
    let r = Reader::new("oauth attempt", item);
    Ok(OauthAttempt {
        state_hash: r.string(attr::STATE_HASH)?,
        link_id: r.string(attr::LINK_ID)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

fn result_to_item(keys: &Keys, x: &OauthResult) -> Item {
    let mut item = base(
        keys.oauth_result(&x.id),
        SK_OAUTH_RESULT,
        kind::OAUTH_RESULT,
    );
    item.insert(attr::ID.into(), s(x.id.clone()));
    item.insert(attr::TENANT.into(), s(x.tenant.clone()));
    item.insert(attr::APPID.into(), s(x.appid.clone()));
    item.insert(attr::OPENID.into(), s(x.openid.clone()));
    put_opt(&mut item, attr::UNIONID, x.unionid.as_ref());
    item.insert(attr::SCOPE.into(), s(x.scope.clone()));
    put_opt(&mut item, attr::NICKNAME, x.nickname.as_ref());
    put_opt(&mut item, attr::HEADIMGURL, x.headimgurl.as_ref());
    item.insert(TTL_ATTRIBUTE.into(), n(x.expires_at));
    item.insert(attr::TAKEN.into(), b(false));
    item
}

fn result_from_item(item: &Item) -> StoreResult<OauthResult> {
    let r = Reader::new("oauth result", item);
    Ok(OauthResult {
        id: r.string(attr::ID)?,
        tenant: r.string(attr::TENANT)?,
        appid: r.string(attr::APPID)?,
        openid: r.string(attr::OPENID)?,
        unionid: r.opt_string(attr::UNIONID)?,
        scope: r.string(attr::SCOPE)?,
        nickname: r.opt_string(attr::NICKNAME)?,
        headimgurl: r.opt_string(attr::HEADIMGURL)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

impl DynamoStore {
    /// Sets `taken` on the item if it exists, is untaken, unexpired and meets
    /// `extra`; the item as it now is, or `None` when the condition failed.
    async fn take(
        &self,
        pk: String,
        sk: &str,
        extra: Option<(&str, Values)>,
        now: u64,
    ) -> StoreResult<Option<Item>> {
        let (extra_condition, values) = extra.unwrap_or(("", Values::new()));
        let condition = format!("#taken = :false AND #expires_at > :now{extra_condition}");
        // Stamped, so that the SDK re-sending a take whose answer was lost
        // (refused: it is taken now) still finds the take its own.
        let write_id = uuid::Uuid::new_v4().to_string();
        let result = self
            .update(
                key(pk, sk),
                "SET #taken = :true, #write_id = :write_id",
                &condition,
                values
                    .with(":true", b(true))
                    .with(":false", b(false))
                    .with(":now", n(now))
                    .with(":write_id", s(write_id.clone())),
                ReturnValue::AllNew,
            )
            .await;
        match result {
            Ok(Some(item)) => Ok(Some(item)),
            Ok(None) => Err(no_attributes()),
            Err(WriteError::ConditionFailed(Some(old))) if written_by(&old, &write_id) => {
                Ok(Some(old))
            }
            Err(WriteError::ConditionFailed(_)) => Ok(None),
            Err(WriteError::Store(e)) => Err(e),
        }
    }
}

#[async_trait]
impl OauthStore for DynamoStore {
    async fn create_oauth_link(&self, link: &OauthLink) -> StoreResult<()> {
        self.put_new_once(link_to_item(&self.keys, link), "an oauth link with this id")
            .await
    }

    async fn get_oauth_link(&self, id: &str, now: u64) -> StoreResult<Option<OauthLink>> {
        match self.get(self.keys.oauth_link(id), SK_OAUTH_LINK).await? {
            Some(item) if !is_expired(&item, now) => link_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn create_oauth_attempt(&self, attempt: &OauthAttempt) -> StoreResult<()> {
        self.put_new_once(
            attempt_to_item(&self.keys, attempt),
            "an oauth attempt with this state",
        )
        .await
    }

    async fn take_oauth_attempt(
        &self,
        state_hash: &str,
        now: u64,
    ) -> StoreResult<Option<OauthAttempt>> {
        self.take(
            self.keys.oauth_attempt(state_hash),
            SK_OAUTH_ATTEMPT,
            None,
            now,
        )
        .await?
        .map(|item| attempt_from_item(&item))
        .transpose()
    }

    async fn create_oauth_result(&self, result: &OauthResult) -> StoreResult<()> {
        self.put_new_once(
            result_to_item(&self.keys, result),
            "an oauth result with this id",
        )
        .await
    }

    async fn take_oauth_result(
        &self,
        id: &str,
        tenant: Option<&str>,
        now: u64,
    ) -> StoreResult<Option<OauthResult>> {
        let tenant_check = tenant.map(|t| {
            (
                " AND #tenant = :tenant",
                Values::new().with(":tenant", s(t)),
            )
        });
        self.take(
            self.keys.oauth_result(id),
            SK_OAUTH_RESULT,
            tenant_check,
            now,
        )
        .await?
        .map(|item| result_from_item(&item))
        .transpose()
    }
}
