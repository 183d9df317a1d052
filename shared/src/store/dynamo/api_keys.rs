//! API key items (`{cappid}#key#{sha256}` / `key`).

use super::expr::Values;
use super::items::{attr, b, base, key, kind, list_s, n, put_opt, s, Item, Reader};
use super::keys::{Keys, SK_KEY};
use super::{into_store_error, DynamoStore};
use crate::store::{ApiKey, ApiKeyStore, StoreResult, TenantScope};
use async_trait::async_trait;

const SCOPE_ALL: &str = "all";
const SCOPE_ONLY: &str = "only";

fn api_key_to_item(keys: &Keys, k: &ApiKey) -> Item {
    let mut item = base(keys.api_key(&k.hash), SK_KEY, kind::API_KEY);
    item.insert(attr::HASH.into(), s(k.hash.clone()));
    item.insert(attr::PREFIX.into(), s(k.prefix.clone()));
    match &k.tenants {
        TenantScope::All => {
            item.insert(attr::TENANT_SCOPE.into(), s(SCOPE_ALL));
        }
        TenantScope::Only(list) => {
            item.insert(attr::TENANT_SCOPE.into(), s(SCOPE_ONLY));
            item.insert(attr::TENANTS.into(), list_s(list));
        }
    }
    item.insert(attr::SCOPES.into(), list_s(&k.scopes));
    put_opt(&mut item, attr::LABEL, k.label.as_ref());
    item.insert(attr::CREATED_AT.into(), n(k.created_at));
    item.insert(attr::REVOKED.into(), b(k.revoked));
    item
}

fn api_key_from_item(item: &Item) -> StoreResult<ApiKey> {
    let r = Reader::new("api_key", item);
    let tenants = match r.string(attr::TENANT_SCOPE)?.as_str() {
        SCOPE_ALL => TenantScope::All,
        SCOPE_ONLY => TenantScope::Only(r.strings(attr::TENANTS)?),
        other => return Err(r.corrupt(attr::TENANT_SCOPE, format!("unknown value `{other}`"))),
    };
    Ok(ApiKey {
        hash: r.string(attr::HASH)?,
        prefix: r.string(attr::PREFIX)?,
        tenants,
        scopes: r.strings(attr::SCOPES)?,
        label: r.opt_string(attr::LABEL)?,
        created_at: r.u64(attr::CREATED_AT)?,
        revoked: r.bool(attr::REVOKED)?,
    })
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn put_api_key(&self, api_key: &ApiKey) -> StoreResult<()> {
        self.put(api_key_to_item(&self.keys, api_key), None, Values::new())
            .await
            .map_err(into_store_error)
    }

    async fn get_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.get(self.keys.api_key(hash), SK_KEY)
            .await?
            .map(|item| api_key_from_item(&item))
            .transpose()
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let values = Values::new()
            .with(":prefix", s(self.keys.api_key_prefix()))
            .with(":sk", s(SK_KEY));
        let found = self
            .scan_all("begins_with(#pk, :prefix) AND #sk = :sk", &values)
            .await?;
        let mut list = found
            .iter()
            .map(api_key_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        list.sort_by(|a, b| (a.created_at, &a.hash).cmp(&(b.created_at, &b.hash)));
        Ok(list)
    }

    async fn revoke_api_key(&self, hash: &str) -> StoreResult<bool> {
        self.update_if(
            key(self.keys.api_key(hash), SK_KEY),
            "SET #revoked = :true",
            "attribute_exists(#pk)",
            Values::new().with(":true", b(true)),
        )
        .await
    }
}
