//! The vocabulary of items shared by every family: attribute names, record
//! kinds, value builders and a typed reader. Each family converts its own
//! records beside its operations; a malformed item is `StoreError::Corrupt`
//! naming the record and attribute.

use super::table::{KIND_ATTRIBUTE, TABLE_KEY_PK, TABLE_KEY_SK, TTL_ATTRIBUTE};
use crate::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Attribute names shared by the store's expressions and these conversions.
pub(crate) mod attr {
    pub const VALUE: &str = "value";
    pub const CREATE_TIME: &str = "create_time";
    pub const STORED_AT: &str = "stored_at";
    pub const ACCESS_TOKEN: &str = "access_token";
    /// Not `expires_at`: that is the TTL attribute, and a token record must never be deleted.
    pub const TOKEN_EXPIRES_AT: &str = "token_expires_at";
    pub const VERSION: &str = "version";
    pub const LEASE_OWNER: &str = "lease_owner";
    pub const LEASE_UNTIL: &str = "lease_until";
    pub const APPID: &str = "appid";
    pub const TENANT: &str = "tenant";
    pub const STATUS: &str = "status";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    pub const FUNC_INFO: &str = "func_info";
    pub const NICK_NAME: &str = "nick_name";
    pub const HEAD_IMG: &str = "head_img";
    pub const USER_NAME: &str = "user_name";
    pub const PRINCIPAL_NAME: &str = "principal_name";
    pub const SERVICE_TYPE: &str = "service_type";
    pub const VERIFY_TYPE: &str = "verify_type";
    pub const ALIAS: &str = "alias";
    pub const QRCODE_URL: &str = "qrcode_url";
    /// JSON of `BusinessInfo`.
    pub const BUSINESS_INFO: &str = "business_info";
    pub const LAST_AUTH_CODE_HASH: &str = "last_auth_code_hash";
    pub const AUTHORIZED_AT: &str = "authorized_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const ID: &str = "id";
    pub const AUTH_TYPE: &str = "auth_type";
    pub const BIZ_APPID: &str = "biz_appid";
    pub const RETURN_URL: &str = "return_url";
    pub const CREATED_AT: &str = "created_at";
    pub const USED: &str = "used";
    pub const USED_BY: &str = "used_by";
    pub const CODE_HASH: &str = "code_hash";
    pub const LINK_ID: &str = "link_id";
    pub const HASH: &str = "hash";
    pub const PREFIX: &str = "prefix";
    pub const TENANT_SCOPE: &str = "tenant_scope";
    pub const TENANTS: &str = "tenants";
    pub const SCOPES: &str = "scopes";
    pub const LABEL: &str = "label";
    pub const REVOKED: &str = "revoked";
    /// The job's own kind (`template`); `kind` is the record kind.
    pub const JOB_KIND: &str = "job_kind";
    pub const PAYLOAD: &str = "payload";
    pub const TOTAL: &str = "total";
    pub const CHUNK_COUNT: &str = "chunk_count";
    pub const CHUNKS_DONE: &str = "chunks_done";
    pub const CHUNKS_STOPPED: &str = "chunks_stopped";
    pub const STATE: &str = "state";
    pub const STOP_REASON: &str = "stop_reason";
    pub const JOB_ID: &str = "job_id";
    pub const CHUNK_INDEX: &str = "chunk_index";
    pub const RECIPIENTS: &str = "recipients";
    /// JSON array of `RecipientResult`.
    pub const RESULTS: &str = "results";
    pub const ATTEMPTS: &str = "attempts";
    pub const KEY_HASH: &str = "key_hash";
    pub const REQUEST_HASH: &str = "request_hash";
    pub const RESPONSE_STATUS: &str = "response_status";
    pub const RESPONSE_BODY: &str = "response_body";
    pub const MSG_ID: &str = "msg_id";
    /// The event's own kind (`template`, `mass`).
    pub const EVENT_KIND: &str = "event_kind";
    pub const OPENID: &str = "openid";
    pub const SCOPE: &str = "scope";
    pub const CLIENT_STATE: &str = "client_state";
    pub const STATE_HASH: &str = "state_hash";
    pub const TAKEN: &str = "taken";
    pub const UNIONID: &str = "unionid";
    pub const NICKNAME: &str = "nickname";
    pub const HEADIMGURL: &str = "headimgurl";
    pub const COUNTS: &str = "counts";
}

/// Record kinds, the `kind` attribute of each item.
pub(crate) mod kind {
    pub const TICKET: &str = "ticket";
    pub const COMPONENT_TOKEN: &str = "component_token";
    pub const AUTHORIZER: &str = "authorizer";
    pub const LINK: &str = "link";
    pub const PREAUTH: &str = "preauth";
    pub const API_KEY: &str = "api_key";
    pub const JOB: &str = "job";
    pub const CHUNK: &str = crate::store::dynamo::table::KIND_CHUNK;
    pub const IDEMPOTENCY: &str = "idempotency";
    pub const EVENT: &str = "event";
    pub const SEEN: &str = "seen";
    pub const JSAPI_TICKET: &str = "jsapi_ticket";
    pub const OAUTH_LINK: &str = "oauth_link";
    pub const OAUTH_ATTEMPT: &str = "oauth_attempt";
    pub const OAUTH_RESULT: &str = "oauth_result";
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

pub(crate) fn list_s(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

/// The primary key of an item.
pub(crate) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        (TABLE_KEY_PK.to_owned(), s(pk)),
        (TABLE_KEY_SK.to_owned(), s(sk)),
    ])
}

/// A new item: key and kind.
pub(crate) fn base(pk: String, sk: impl Into<String>, kind: &str) -> Item {
    let mut item = key(pk, sk);
    item.insert(KIND_ATTRIBUTE.to_owned(), s(kind));
    item
}

pub(crate) fn put_opt(item: &mut Item, name: &str, value: Option<&String>) {
    if let Some(v) = value {
        item.insert(name.to_owned(), s(v.clone()));
    }
}

/// Typed reads of one item's attributes, failing with `Corrupt` naming them.
pub(crate) struct Reader<'a> {
    record: &'static str,
    item: &'a Item,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(record: &'static str, item: &'a Item) -> Self {
        Reader { record, item }
    }

    pub(crate) fn corrupt(&self, attribute: &str, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            record: self.record,
            attribute: attribute.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn get(&self, name: &str) -> StoreResult<&'a AttributeValue> {
        self.item
            .get(name)
            .ok_or_else(|| self.corrupt(name, "missing"))
    }

    pub(crate) fn string(&self, name: &str) -> StoreResult<String> {
        self.get(name)?
            .as_s()
            .cloned()
            .map_err(|_| self.corrupt(name, "expected a string"))
    }

    pub(crate) fn opt_string(&self, name: &str) -> StoreResult<Option<String>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(_) => self.string(name).map(Some),
        }
    }

    /// A number that may be absent (`None`).
    pub(crate) fn opt_i64(&self, name: &str) -> StoreResult<Option<i64>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(_) => self.number(name).map(Some),
        }
    }

    /// A JSON string that may be absent (`None`).
    pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> StoreResult<Option<T>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(_) => self.json(name).map(Some),
        }
    }

    pub(crate) fn number<T: std::str::FromStr>(&self, name: &str) -> StoreResult<T> {
        let raw = self
            .get(name)?
            .as_n()
            .map_err(|_| self.corrupt(name, "expected a number"))?;
        raw.parse()
            .map_err(|_| self.corrupt(name, format!("not a valid {}", std::any::type_name::<T>())))
    }

    pub(crate) fn u64(&self, name: &str) -> StoreResult<u64> {
        self.number(name)
    }

    /// A number that may be absent (absent reads as 0).
    pub(crate) fn u64_or_zero(&self, name: &str) -> StoreResult<u64> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(0),
            Some(_) => self.number(name),
        }
    }

    pub(crate) fn u32(&self, name: &str) -> StoreResult<u32> {
        self.number(name)
    }

    pub(crate) fn i64(&self, name: &str) -> StoreResult<i64> {
        self.number(name)
    }

    pub(crate) fn bool(&self, name: &str) -> StoreResult<bool> {
        self.get(name)?
            .as_bool()
            .copied()
            .map_err(|_| self.corrupt(name, "expected a boolean"))
    }

    pub(crate) fn list(&self, name: &str) -> StoreResult<&'a [AttributeValue]> {
        self.get(name)?
            .as_l()
            .map(|l| l.as_slice())
            .map_err(|_| self.corrupt(name, "expected a list"))
    }

    pub(crate) fn strings(&self, name: &str) -> StoreResult<Vec<String>> {
        self.list(name)?
            .iter()
            .map(|v| {
                v.as_s()
                    .cloned()
                    .map_err(|_| self.corrupt(name, "expected a list of strings"))
            })
            .collect()
    }

    pub(crate) fn numbers<T: std::str::FromStr>(&self, name: &str) -> StoreResult<Vec<T>> {
        self.list(name)?
            .iter()
            .map(|v| {
                v.as_n()
                    .ok()
                    .and_then(|raw| raw.parse().ok())
                    .ok_or_else(|| self.corrupt(name, "expected a list of numbers"))
            })
            .collect()
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> StoreResult<T> {
        let raw = self.string(name)?;
        serde_json::from_str(&raw).map_err(|e| self.corrupt(name, format!("invalid JSON: {e}")))
    }

    pub(crate) fn parsed<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> StoreResult<T> {
        let raw = self.string(name)?;
        parse(&raw).ok_or_else(|| self.corrupt(name, format!("unknown value `{raw}`")))
    }
}

/// The primary key (`pk`, `sk`) of an item.
pub(crate) fn primary_key(item: &Item) -> Item {
    [TABLE_KEY_PK, TABLE_KEY_SK]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// The string key attribute `name` of an item (`pk`, `sk`, …).
pub(crate) fn key_str<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

/// `expires_at` of an item; a record without one never expires.
pub(crate) fn expires_at(item: &Item) -> Option<u64> {
    item.get(TTL_ATTRIBUTE)?.as_n().ok()?.parse().ok()
}

/// Expired (past its `expires_at`) at `now`: DynamoDB deletes late, moto never.
pub(crate) fn is_expired(item: &Item, now: u64) -> bool {
    matches!(expires_at(item), Some(e) if e <= now)
}
