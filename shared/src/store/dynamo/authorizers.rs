//! Authorizer items (`{cappid}#authorizer#{appid}` / `profile`): the record,
//! its tokens and lease, its entry in the due index (`gsi1`, while
//! [`renewable`]) and in its tenant's index (`gsi2`, once bound).

use super::error::WriteError;
use super::expr::Values;
use super::items::{attr, base, key, key_str, kind, n, put_opt, s, Item, Reader};
use super::keys::{Keys, SK_PROFILE};
use super::lease::{renewal_outcome, token_state_from_item, Leased};
use super::table::{
    GSI_KEY_PK, GSI_KEY_SK, TABLE_KEY_PK, TABLE_KEY_SK, TENANT_INDEX_NAME, TENANT_INDEX_PK,
    TENANT_INDEX_SK,
};
use super::{cursor, DynamoStore, Query, OPTIMISTIC_ATTEMPTS};
use crate::secret::Secret;
use crate::store::sealed::{ACCESS_TOKEN, AUTHORIZER, REFRESH_TOKEN};
use crate::store::{
    granted_authorizer, plan_grant, renewable, repaired_status, AuthorizationGrant, Authorizer,
    AuthorizerProfile, AuthorizerStatus, AuthorizerStore, GrantOutcome, GrantPlan, LeaseOutcome,
    Page, RecordedGrant, RenewalOutcome, RenewedTokens, StoreError, StoreResult,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

const RECORD: &str = "authorizer";

pub(crate) fn authorizer_from_item(item: &Item) -> StoreResult<Authorizer> {
    let r = Reader::new(RECORD, item);
    Ok(Authorizer {
        appid: r.string(attr::APPID)?,
        tenant: r.opt_string(attr::TENANT)?,
        status: r.parsed(attr::STATUS, AuthorizerStatus::parse)?,
        refresh_token: r.opt_string(attr::REFRESH_TOKEN)?.map(Secret::new),
        token: token_state_from_item(RECORD, item)?,
        func_info: match item.get(attr::FUNC_INFO) {
            None => Vec::new(),
            Some(_) => r.numbers(attr::FUNC_INFO)?,
        },
        profile: AuthorizerProfile {
            nick_name: r.opt_string(attr::NICK_NAME)?,
            head_img: r.opt_string(attr::HEAD_IMG)?,
            user_name: r.opt_string(attr::USER_NAME)?,
            principal_name: r.opt_string(attr::PRINCIPAL_NAME)?,
            service_type: r.opt_i64(attr::SERVICE_TYPE)?,
            verify_type: r.opt_i64(attr::VERIFY_TYPE)?,
            alias: r.opt_string(attr::ALIAS)?,
            qrcode_url: r.opt_string(attr::QRCODE_URL)?,
            business_info: r.opt_json(attr::BUSINESS_INFO)?,
        },
        last_auth_code_hash: r.opt_string(attr::LAST_AUTH_CODE_HASH)?,
        authorized_at: r.u64(attr::AUTHORIZED_AT)?,
        updated_at: r.u64(attr::UPDATED_AT)?,
    })
}

fn func_info_value(func_info: &[u32]) -> AttributeValue {
    AttributeValue::L(func_info.iter().map(n).collect())
}

/// The profile's attributes, `None` for those it lacks (not written, or removed).
fn profile_values(p: &AuthorizerProfile) -> [(&'static str, Option<AttributeValue>); 9] {
    let text = |v: &Option<String>| v.clone().map(s);
    [
        (attr::NICK_NAME, text(&p.nick_name)),
        (attr::HEAD_IMG, text(&p.head_img)),
        (attr::USER_NAME, text(&p.user_name)),
        (attr::PRINCIPAL_NAME, text(&p.principal_name)),
        (attr::SERVICE_TYPE, p.service_type.map(n)),
        (attr::VERIFY_TYPE, p.verify_type.map(n)),
        (attr::ALIAS, text(&p.alias)),
        (attr::QRCODE_URL, text(&p.qrcode_url)),
        (
            attr::BUSINESS_INFO,
            p.business_info
                .as_ref()
                .and_then(|b| serde_json::to_string(b).ok())
                .map(s),
        ),
    ]
}

/// A new authorizer item, with its index entries.
fn authorizer_to_item(keys: &Keys, a: &Authorizer) -> Item {
    let mut item = base(keys.authorizer(&a.appid), SK_PROFILE, kind::AUTHORIZER);
    item.insert(attr::APPID.into(), s(a.appid.clone()));
    put_opt(&mut item, attr::TENANT, a.tenant.as_ref());
    item.insert(attr::STATUS.into(), s(a.status.as_str()));
    if let Some(rt) = &a.refresh_token {
        item.insert(attr::REFRESH_TOKEN.into(), s(rt.expose()));
    }
    if let Some(at) = &a.token.access_token {
        item.insert(attr::ACCESS_TOKEN.into(), s(at.expose()));
    }
    item.insert(attr::TOKEN_EXPIRES_AT.into(), n(a.token.expires_at));
    item.insert(attr::VERSION.into(), n(a.token.version));
    item.insert(attr::FUNC_INFO.into(), func_info_value(&a.func_info));
    for (name, value) in profile_values(&a.profile) {
        if let Some(value) = value {
            item.insert(name.to_owned(), value);
        }
    }
    put_opt(
        &mut item,
        attr::LAST_AUTH_CODE_HASH,
        a.last_auth_code_hash.as_ref(),
    );
    item.insert(attr::AUTHORIZED_AT.into(), n(a.authorized_at));
    item.insert(attr::UPDATED_AT.into(), n(a.updated_at));
    if renewable(a.status, a.refresh_token.is_some()) {
        item.insert(GSI_KEY_PK.into(), s(keys.due_partition()));
        item.insert(GSI_KEY_SK.into(), n(a.token.expires_at));
    }
    if let Some(tenant) = &a.tenant {
        item.insert(TENANT_INDEX_PK.into(), s(keys.tenant_partition(tenant)));
        item.insert(TENANT_INDEX_SK.into(), s(a.appid.clone()));
    }
    item
}

fn recorded(a: &Authorizer) -> RecordedGrant<'_> {
    RecordedGrant {
        tenant: a.tenant.as_deref(),
        last_auth_code_hash: a.last_auth_code_hash.as_deref(),
    }
}

impl DynamoStore {
    fn authorizer_key(&self, appid: &str) -> Item {
        key(self.keys.authorizer(appid), SK_PROFILE)
    }

    async fn read_authorizer(&self, appid: &str) -> StoreResult<Option<Authorizer>> {
        self.get(self.keys.authorizer(appid), SK_PROFILE)
            .await?
            .map(|item| self.authorizer_of(&item))
            .transpose()
    }

    /// An item as stored, its sealed tokens opened.
    fn authorizer_of(&self, item: &Item) -> StoreResult<Authorizer> {
        self.sealer.open_authorizer(authorizer_from_item(item)?)
    }

    /// The values of `#gsi2pk = :by_tenant, #gsi2sk = :appid`, set wherever a
    /// tenant is bound: the tenant index entry follows the binding, which never changes.
    fn with_tenant_index(&self, values: Values, appid: &str, tenant: &str) -> Values {
        values
            .with(":by_tenant", s(self.keys.tenant_partition(tenant)))
            .with(":appid", s(appid))
            .with(":tenant", s(tenant))
    }

    /// [`GrantPlan::Create`]: false if someone created it first (plan again).
    async fn create_granted(&self, grant: &AuthorizationGrant) -> StoreResult<bool> {
        let sealed = self.sealer.seal_authorizer(granted_authorizer(grant));
        let item = authorizer_to_item(&self.keys, &sealed);
        match self
            .put(item, Some("attribute_not_exists(#pk)"), Values::new())
            .await
        {
            Ok(()) => Ok(true),
            Err(WriteError::ConditionFailed(_)) => Ok(false),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    /// Binds `tenant` to a record that is still unbound; false if it no longer is.
    async fn bind_unbound(&self, appid: &str, tenant: &str, now: u64) -> StoreResult<bool> {
        self.update_if(
            self.authorizer_key(appid),
            "SET #tenant = :tenant, #updated_at = :now, #gsi2pk = :by_tenant, #gsi2sk = :appid",
            "attribute_exists(#pk) AND attribute_not_exists(#tenant)",
            self.with_tenant_index(Values::new(), appid, tenant)
                .with(":now", n(now)),
        )
        .await
    }

    /// [`GrantPlan::Replace`]: new tokens in one write conditioned on the
    /// record being as read (a renewal in flight loses its lease); false if it
    /// changed meanwhile (plan again).
    async fn replace_granted(
        &self,
        grant: &AuthorizationGrant,
        existing: &Authorizer,
        bind: Option<&str>,
    ) -> StoreResult<bool> {
        let mut update = "SET #status = :active, #access_token = :access, #token_expires_at = :expires, \
                          #refresh_token = :refresh, #func_info = :func_info, #last_auth_code_hash = :code, \
                          #authorized_at = :now, #updated_at = :now, #version = #version + :one, \
                          #gsi1pk = :due, #gsi1sk = :expires"
            .to_owned();
        let mut values = Values::new()
            .with(":active", s(AuthorizerStatus::Active.as_str()))
            .with(
                ":access",
                s(self
                    .sealer
                    .seal(AUTHORIZER, &grant.appid, ACCESS_TOKEN, &grant.access_token)),
            )
            .with(":expires", n(grant.expires_at))
            .with(
                ":refresh",
                s(self.sealer.seal(
                    AUTHORIZER,
                    &grant.appid,
                    REFRESH_TOKEN,
                    &grant.refresh_token,
                )),
            )
            .with(":func_info", func_info_value(&grant.func_info))
            .with(":code", s(grant.auth_code_hash.clone()))
            .with(":now", n(grant.now))
            .with(":one", n(1))
            .with(":due", s(self.keys.due_partition()))
            .with(":v", n(existing.token.version));
        let mut condition = "#version = :v".to_owned();
        match (&existing.tenant, bind) {
            (None, Some(tenant)) => {
                update.push_str(", #tenant = :tenant, #gsi2pk = :by_tenant, #gsi2sk = :appid");
                values = self.with_tenant_index(values, &grant.appid, tenant);
                condition.push_str(" AND attribute_not_exists(#tenant)");
            }
            (None, None) => condition.push_str(" AND attribute_not_exists(#tenant)"),
            (Some(bound), _) => {
                values = values.with(":seen_tenant", s(bound.clone()));
                condition.push_str(" AND #tenant = :seen_tenant");
            }
        }
        update.push_str(" REMOVE #lease_owner, #lease_until");
        self.update_if(
            self.authorizer_key(&grant.appid),
            &update,
            &condition,
            values,
        )
        .await
    }

    /// A page of one tenant's authorizers in appid order. `gsi2` gives the keys
    /// (an index read, so a binding made a moment ago may not be listed yet);
    /// the records themselves are read consistently.
    async fn list_tenant_authorizers(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        let partition = self.keys.tenant_partition(tenant);
        let start = cursor
            .map(|cursor| cursor::tenant_index(cursor, &partition))
            .transpose()?;
        let query = Query {
            index: Some(TENANT_INDEX_NAME),
            condition: "#gsi2pk = :p",
            filter: None,
            values: Values::new().with(":p", s(partition)),
        };
        let (listed, last) = self.query(&query, start, limit.max(1) as usize).await?;
        let next = last.map(|k| cursor::encode(&k));
        let items = self
            .read_listed(&listed)
            .await?
            .into_iter()
            .filter(|a| a.tenant.as_deref() == Some(tenant))
            .collect();
        Ok(Page { items, next })
    }

    /// The authorizer records of index entries, read consistently in the
    /// entries' order; an entry whose record is gone is skipped.
    async fn read_listed(&self, listed: &[Item]) -> StoreResult<Vec<Authorizer>> {
        let item_keys = listed.iter().map(super::items::primary_key).collect();
        let mut records: HashMap<String, Item> = self
            .batch_get(item_keys)
            .await?
            .into_iter()
            .filter_map(|item| Some((key_str(&item, TABLE_KEY_PK)?.to_owned(), item)))
            .collect();
        listed
            .iter()
            .filter_map(|entry| records.remove(key_str(entry, TABLE_KEY_PK)?))
            .map(|record| self.authorizer_of(&record))
            .collect()
    }
}

#[async_trait]
impl AuthorizerStore for DynamoStore {
    async fn get_authorizer(&self, appid: &str) -> StoreResult<Option<Authorizer>> {
        self.read_authorizer(appid).await
    }

    async fn put_grant(&self, grant: &AuthorizationGrant) -> StoreResult<GrantOutcome> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let existing = self.read_authorizer(&grant.appid).await?;
            let plan = plan_grant(existing.as_ref().map(recorded), grant);
            let carried_out = match (&plan, &existing) {
                (GrantPlan::Conflict { .. } | GrantPlan::AlreadyDone { bind: None }, _) => true,
                (GrantPlan::AlreadyDone { bind: Some(tenant) }, _) => {
                    self.bind_unbound(&grant.appid, tenant, grant.now).await?
                }
                (_, None) => self.create_granted(grant).await?,
                (_, Some(existing)) => {
                    let bind = match &plan {
                        GrantPlan::Replace { bind } => bind.as_deref(),
                        _ => None,
                    };
                    self.replace_granted(grant, existing, bind).await?
                }
            };
            if carried_out {
                return Ok(plan.outcome());
            }
        }
        Err(StoreError::backend_msg(
            "put_grant: the authorizer kept changing under concurrent writes",
        ))
    }

    async fn set_profile(
        &self,
        appid: &str,
        profile: &AuthorizerProfile,
        now: u64,
    ) -> StoreResult<()> {
        let mut sets = vec!["#updated_at = :now".to_owned()];
        let mut removes = Vec::new();
        let mut values = Values::new().with(":now", n(now));
        for (name, value) in profile_values(profile) {
            match value {
                Some(v) => {
                    sets.push(format!("#{name} = :{name}"));
                    values = values.with(&format!(":{name}"), v);
                }
                None => removes.push(format!("#{name}")),
            }
        }
        let mut update = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            update.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        self.update_if(
            self.authorizer_key(appid),
            &update,
            "attribute_exists(#pk)",
            values,
        )
        .await
        .map(|_| ())
    }

    async fn bind_tenant(&self, appid: &str, tenant: &str, now: u64) -> StoreResult<bool> {
        self.update_if(
            self.authorizer_key(appid),
            "SET #tenant = :tenant, #updated_at = :now, #gsi2pk = :by_tenant, #gsi2sk = :appid",
            "attribute_exists(#pk) AND (attribute_not_exists(#tenant) OR #tenant = :tenant)",
            self.with_tenant_index(Values::new(), appid, tenant)
                .with(":now", n(now)),
        )
        .await
    }

    async fn list_authorizers(
        &self,
        tenant: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        if let Some(tenant) = tenant {
            return self.list_tenant_authorizers(tenant, cursor, limit).await;
        }
        // Every authorizer, bound or not, is an admin's listing (the CLI's
        // status): a filtered Scan, paid per table size. Tenants read gsi2.
        let filter = "begins_with(#pk, :prefix) AND #sk = :sk";
        let values = Values::new()
            .with(":prefix", s(self.keys.authorizer_prefix()))
            .with(":sk", s(SK_PROFILE));
        if let Some(cursor) = cursor {
            cursor::of_keys(cursor, &[TABLE_KEY_PK, TABLE_KEY_SK])?;
        }
        let (found, next) = self
            .scan_page(filter, &values, cursor, limit.max(1) as usize)
            .await?;
        let items = found
            .iter()
            .map(|item| self.authorizer_of(item))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    async fn due_authorizers(
        &self,
        due_before: u64,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        let start = cursor.map(cursor::decode).transpose()?;
        let (listed, last) = self
            .query_index(self.keys.due_partition(), due_before, start, limit, None)
            .await?;
        // The index lags its records: keep only what the records still say is due.
        let items = self
            .read_listed(&listed)
            .await?
            .into_iter()
            .filter(|a| {
                renewable(a.status, a.refresh_token.is_some()) && a.token.expires_at <= due_before
            })
            .collect();
        Ok(Page {
            items,
            next: last.map(|k| cursor::encode(&k)),
        })
    }

    async fn acquire_authorizer_lease(
        &self,
        appid: &str,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome> {
        self.acquire_lease(
            self.authorizer_key(appid),
            Leased::Authorizer,
            owner,
            expected_version,
            now,
            lease_until,
        )
        .await
    }

    async fn complete_authorizer_renewal(
        &self,
        appid: &str,
        owner: &str,
        tokens: &RenewedTokens,
        now: u64,
    ) -> StoreResult<RenewalOutcome> {
        // gsi1sk follows the expiry; the item is in the due index only while it
        // also has gsi1pk (renewable).
        let mut update = "SET #access_token = :token, #token_expires_at = :expires, #version = #version + :one, \
                          #updated_at = :now, #gsi1sk = :expires"
            .to_owned();
        let mut values = Values::new()
            .with(":owner", s(owner))
            .with(
                ":token",
                s(self
                    .sealer
                    .seal(AUTHORIZER, appid, ACCESS_TOKEN, &tokens.access_token)),
            )
            .with(":expires", n(tokens.expires_at))
            .with(":one", n(1))
            .with(":now", n(now));
        if let Some(refresh) = &tokens.refresh_token {
            update.push_str(", #refresh_token = :refresh");
            values = values.with(
                ":refresh",
                s(self.sealer.seal(AUTHORIZER, appid, REFRESH_TOKEN, refresh)),
            );
        }
        update.push_str(" REMOVE #lease_owner, #lease_until");
        renewal_outcome(
            self.update(
                self.authorizer_key(appid),
                &update,
                "#lease_owner = :owner",
                values,
                ReturnValue::UpdatedNew,
            )
            .await,
        )
    }

    async fn release_authorizer_lease(&self, appid: &str, owner: &str) -> StoreResult<()> {
        self.release_lease(self.authorizer_key(appid), owner).await
    }

    async fn invalidate_authorizer_token(&self, appid: &str, version: u64) -> StoreResult<bool> {
        // Expiry 0 also makes it due at once for the refresh sweep.
        self.update_if(
            self.authorizer_key(appid),
            "SET #token_expires_at = :zero, #gsi1sk = :zero REMOVE #access_token",
            "#version = :v",
            Values::new().with(":zero", n(0)).with(":v", n(version)),
        )
        .await
    }

    async fn revoke_authorizer(&self, appid: &str, now: u64) -> StoreResult<bool> {
        self.update_if(
            self.authorizer_key(appid),
            "SET #status = :revoked, #updated_at = :now, #token_expires_at = :zero, #version = #version + :one \
             REMOVE #access_token, #refresh_token, #gsi1pk, #gsi1sk, #lease_owner, #lease_until",
            "attribute_exists(#pk)",
            Values::new()
                .with(":revoked", s(AuthorizerStatus::Revoked.as_str()))
                .with(":now", n(now))
                .with(":zero", n(0))
                .with(":one", n(1)),
        )
        .await
    }

    async fn mark_needs_reauth(&self, appid: &str, now: u64) -> StoreResult<bool> {
        self.update_if(
            self.authorizer_key(appid),
            "SET #status = :needs, #updated_at = :now REMOVE #gsi1pk, #gsi1sk",
            "attribute_exists(#pk)",
            Values::new()
                .with(":needs", s(AuthorizerStatus::NeedsReauth.as_str()))
                .with(":now", n(now)),
        )
        .await
    }

    async fn repair_refresh_token(
        &self,
        appid: &str,
        refresh_token: &Secret,
        now: u64,
    ) -> StoreResult<bool> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let Some(existing) = self.read_authorizer(appid).await? else {
                return Ok(false);
            };
            if existing.refresh_token.as_ref() == Some(refresh_token) {
                return Ok(false);
            }
            let status = repaired_status(existing.status);
            let mut values = Values::new()
                .with(
                    ":refresh",
                    s(self
                        .sealer
                        .seal(AUTHORIZER, appid, REFRESH_TOKEN, refresh_token)),
                )
                .with(":status", s(status.as_str()))
                .with(":now", n(now))
                .with(":v", n(existing.token.version))
                .with(":seen_status", s(existing.status.as_str()));
            let mut update =
                "SET #refresh_token = :refresh, #status = :status, #updated_at = :now".to_owned();
            if renewable(status, true) {
                update.push_str(", #gsi1pk = :due, #gsi1sk = :due_at");
                values = values
                    .with(":due", s(self.keys.due_partition()))
                    .with(":due_at", n(existing.token.expires_at));
            } else {
                update.push_str(" REMOVE #gsi1pk, #gsi1sk");
            }
            if self
                .update_if(
                    self.authorizer_key(appid),
                    &update,
                    "#version = :v AND #status = :seen_status",
                    values,
                )
                .await?
            {
                return Ok(true);
            }
        }
        Err(StoreError::backend_msg(
            "repair_refresh_token: the authorizer kept changing under concurrent writes",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TokenState;

    #[test]
    fn an_unknown_status_is_corrupt_naming_the_attribute() {
        let keys = Keys::new("wxc");
        let mut item = authorizer_to_item(
            &keys,
            &Authorizer {
                appid: "wx1".into(),
                tenant: None,
                status: AuthorizerStatus::Active,
                refresh_token: None,
                token: TokenState::default(),
                func_info: vec![1, 2],
                profile: AuthorizerProfile::default(),
                last_auth_code_hash: None,
                authorized_at: 1,
                updated_at: 1,
            },
        );
        assert!(!item.contains_key(GSI_KEY_PK), "no refresh token: not due");
        item.insert(attr::STATUS.into(), s("bogus"));
        match authorizer_from_item(&item) {
            Err(StoreError::Corrupt { attribute, .. }) => assert_eq!(attribute, attr::STATUS),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    fn authorizer_with(profile: AuthorizerProfile) -> Authorizer {
        Authorizer {
            appid: "wx1".into(),
            tenant: None,
            status: AuthorizerStatus::Active,
            refresh_token: None,
            token: TokenState::default(),
            func_info: vec![1],
            profile,
            last_auth_code_hash: None,
            authorized_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn an_item_written_before_the_profile_grew_reads_the_new_fields_as_none() {
        // An item as stored before service_type, alias and the rest existed.
        let keys = Keys::new("wxc");
        let mut item = authorizer_to_item(&keys, &authorizer_with(AuthorizerProfile::default()));
        item.insert(attr::NICK_NAME.into(), s("Old Shop"));
        item.insert(attr::PRINCIPAL_NAME.into(), s("Old Shop Co."));
        let a = authorizer_from_item(&item).unwrap();
        assert_eq!(
            a.profile,
            AuthorizerProfile {
                nick_name: Some("Old Shop".into()),
                principal_name: Some("Old Shop Co.".into()),
                ..AuthorizerProfile::default()
            }
        );
    }

    #[test]
    fn a_malformed_business_info_is_corrupt_naming_the_attribute() {
        let keys = Keys::new("wxc");
        let mut item = authorizer_to_item(&keys, &authorizer_with(AuthorizerProfile::default()));
        item.insert(attr::BUSINESS_INFO.into(), s("{not json"));
        match authorizer_from_item(&item) {
            Err(StoreError::Corrupt { attribute, .. }) => {
                assert_eq!(attribute, attr::BUSINESS_INFO)
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}
