//! Explicit conversions between DynamoDB items and the model structs. A
//! malformed item is `StoreError::Corrupt` naming the record and attribute.

use super::keys::Keys;
use super::table::{KIND_ATTRIBUTE, TABLE_KEY_PK, TABLE_KEY_SK, TTL_ATTRIBUTE};
use crate::domain::StopReason;
use crate::secret::Secret;
use crate::store::{
    ApiKey, Authorizer, AuthorizerProfile, AuthorizerStatus, Chunk, ChunkState, FinishEvent,
    IdempotencyRecord, Job, JobState, Link, PreAuth, RecipientResult, StoreError, StoreResult,
    TenantScope, Ticket, TokenState,
};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap};

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
    pub const CHUNK: &str = super::super::table::KIND_CHUNK;
    pub const IDEMPOTENCY: &str = "idempotency";
    pub const EVENT: &str = "event";
    pub const SEEN: &str = "seen";
    pub const JSAPI_TICKET: &str = "jsapi_ticket";
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

fn list_s(values: &[String]) -> AttributeValue {
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
fn base(pk: String, sk: impl Into<String>, kind: &str) -> Item {
    let mut item = key(pk, sk);
    item.insert(KIND_ATTRIBUTE.to_owned(), s(kind));
    item
}

fn put_opt(item: &mut Item, name: &str, value: Option<&String>) {
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

    fn corrupt(&self, attribute: &str, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            record: self.record,
            attribute: attribute.to_owned(),
            reason: reason.into(),
        }
    }

    fn get(&self, name: &str) -> StoreResult<&'a AttributeValue> {
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

    fn number<T: std::str::FromStr>(&self, name: &str) -> StoreResult<T> {
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

    fn u32(&self, name: &str) -> StoreResult<u32> {
        self.number(name)
    }

    fn i64(&self, name: &str) -> StoreResult<i64> {
        self.number(name)
    }

    fn bool(&self, name: &str) -> StoreResult<bool> {
        self.get(name)?
            .as_bool()
            .copied()
            .map_err(|_| self.corrupt(name, "expected a boolean"))
    }

    fn list(&self, name: &str) -> StoreResult<&'a [AttributeValue]> {
        self.get(name)?
            .as_l()
            .map(|l| l.as_slice())
            .map_err(|_| self.corrupt(name, "expected a list"))
    }

    fn strings(&self, name: &str) -> StoreResult<Vec<String>> {
        self.list(name)?
            .iter()
            .map(|v| {
                v.as_s()
                    .cloned()
                    .map_err(|_| self.corrupt(name, "expected a list of strings"))
            })
            .collect()
    }

    fn numbers<T: std::str::FromStr>(&self, name: &str) -> StoreResult<Vec<T>> {
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

    fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> StoreResult<T> {
        let raw = self.string(name)?;
        serde_json::from_str(&raw).map_err(|e| self.corrupt(name, format!("invalid JSON: {e}")))
    }

    fn parsed<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
        let raw = self.string(name)?;
        parse(&raw).ok_or_else(|| self.corrupt(name, format!("unknown value `{raw}`")))
    }
}

// --- ticket ---

pub(crate) fn ticket_to_item(keys: &Keys, value: &Secret, create_time: i64, now: u64) -> Item {
    let mut item = base(keys.component(), super::keys::SK_TICKET, kind::TICKET);
    item.insert(attr::VALUE.into(), s(value.expose()));
    item.insert(attr::CREATE_TIME.into(), n(create_time));
    item.insert(attr::STORED_AT.into(), n(now));
    item
}

pub(crate) fn ticket_from_item(item: &Item) -> StoreResult<Ticket> {
    let r = Reader::new("ticket", item);
    Ok(Ticket {
        value: Secret::new(r.string(attr::VALUE)?),
        create_time: r.i64(attr::CREATE_TIME)?,
        stored_at: r.u64(attr::STORED_AT)?,
    })
}

// --- tokens and authorizers ---

/// The token part of a component-token or authorizer item.
pub(crate) fn token_state_from_item(record: &'static str, item: &Item) -> StoreResult<TokenState> {
    let r = Reader::new(record, item);
    Ok(TokenState {
        access_token: r.opt_string(attr::ACCESS_TOKEN)?.map(Secret::new),
        expires_at: r.u64_or_zero(attr::TOKEN_EXPIRES_AT)?,
        version: r.u64_or_zero(attr::VERSION)?,
        lease_owner: r.opt_string(attr::LEASE_OWNER)?,
        lease_until: r.u64_or_zero(attr::LEASE_UNTIL)?,
    })
}

pub(crate) fn authorizer_from_item(item: &Item) -> StoreResult<Authorizer> {
    const RECORD: &str = "authorizer";
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
        },
        last_auth_code_hash: r.opt_string(attr::LAST_AUTH_CODE_HASH)?,
        authorized_at: r.u64(attr::AUTHORIZED_AT)?,
        updated_at: r.u64(attr::UPDATED_AT)?,
    })
}

pub(crate) fn func_info_value(func_info: &[u32]) -> AttributeValue {
    AttributeValue::L(func_info.iter().map(n).collect())
}

/// A new authorizer item. `gsi` is the due-index entry (partition, token expiry).
pub(crate) fn authorizer_to_item(keys: &Keys, a: &Authorizer, gsi: Option<(String, u64)>) -> Item {
    let mut item = base(
        keys.authorizer(&a.appid),
        super::keys::SK_PROFILE,
        kind::AUTHORIZER,
    );
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
    put_opt(&mut item, attr::NICK_NAME, a.profile.nick_name.as_ref());
    put_opt(&mut item, attr::HEAD_IMG, a.profile.head_img.as_ref());
    put_opt(&mut item, attr::USER_NAME, a.profile.user_name.as_ref());
    put_opt(
        &mut item,
        attr::PRINCIPAL_NAME,
        a.profile.principal_name.as_ref(),
    );
    put_opt(
        &mut item,
        attr::LAST_AUTH_CODE_HASH,
        a.last_auth_code_hash.as_ref(),
    );
    item.insert(attr::AUTHORIZED_AT.into(), n(a.authorized_at));
    item.insert(attr::UPDATED_AT.into(), n(a.updated_at));
    if let Some((partition, due)) = gsi {
        item.insert(super::table::GSI_KEY_PK.into(), s(partition));
        item.insert(super::table::GSI_KEY_SK.into(), n(due));
    }
    if let Some(tenant) = &a.tenant {
        item.insert(
            super::table::TENANT_INDEX_PK.into(),
            s(keys.tenant_partition(tenant)),
        );
        item.insert(super::table::TENANT_INDEX_SK.into(), s(a.appid.clone()));
    }
    item
}

// --- links and pre-auth codes ---

pub(crate) fn link_to_item(keys: &Keys, link: &Link) -> Item {
    let mut item = base(keys.link(&link.id), super::keys::SK_LINK, kind::LINK);
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

pub(crate) fn link_from_item(item: &Item) -> StoreResult<Link> {
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

pub(crate) fn preauth_to_item(keys: &Keys, p: &PreAuth) -> Item {
    let mut item = base(
        keys.preauth(&p.code_hash),
        super::keys::SK_PREAUTH,
        kind::PREAUTH,
    );
    item.insert(attr::CODE_HASH.into(), s(p.code_hash.clone()));
    item.insert(attr::LINK_ID.into(), s(p.link_id.clone()));
    item.insert(attr::TENANT.into(), s(p.tenant.clone()));
    item.insert(TTL_ATTRIBUTE.into(), n(p.expires_at));
    item
}

pub(crate) fn preauth_from_item(item: &Item) -> StoreResult<PreAuth> {
    let r = Reader::new("preauth", item);
    Ok(PreAuth {
        code_hash: r.string(attr::CODE_HASH)?,
        link_id: r.string(attr::LINK_ID)?,
        tenant: r.string(attr::TENANT)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

// --- API keys ---

const SCOPE_ALL: &str = "all";
const SCOPE_ONLY: &str = "only";

pub(crate) fn api_key_to_item(keys: &Keys, k: &ApiKey) -> Item {
    let mut item = base(keys.api_key(&k.hash), super::keys::SK_KEY, kind::API_KEY);
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

pub(crate) fn api_key_from_item(item: &Item) -> StoreResult<ApiKey> {
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

// --- jobs and chunks ---

pub(crate) fn job_state_str(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Stopped => "stopped",
    }
}

fn parse_job_state(s: &str) -> Option<JobState> {
    match s {
        "queued" => Some(JobState::Queued),
        "running" => Some(JobState::Running),
        "done" => Some(JobState::Done),
        "stopped" => Some(JobState::Stopped),
        _ => None,
    }
}

pub(crate) fn chunk_state_str(state: ChunkState) -> &'static str {
    match state {
        ChunkState::Pending => "pending",
        ChunkState::Done => "done",
        ChunkState::Stopped => "stopped",
    }
}

fn parse_chunk_state(s: &str) -> Option<ChunkState> {
    match s {
        "pending" => Some(ChunkState::Pending),
        "done" => Some(ChunkState::Done),
        "stopped" => Some(ChunkState::Stopped),
        _ => None,
    }
}

pub(crate) fn job_to_item(keys: &Keys, job: &Job) -> Item {
    let mut item = base(keys.job(&job.id), super::keys::SK_JOB, kind::JOB);
    item.insert(attr::ID.into(), s(job.id.clone()));
    item.insert(attr::APPID.into(), s(job.appid.clone()));
    item.insert(attr::TENANT.into(), s(job.tenant.clone()));
    item.insert(attr::JOB_KIND.into(), s(job.kind.clone()));
    item.insert(attr::PAYLOAD.into(), s(job.payload.clone()));
    item.insert(attr::TOTAL.into(), n(job.total));
    item.insert(attr::CHUNK_COUNT.into(), n(job.chunk_count));
    item.insert(attr::STATE.into(), s(job_state_str(job.state)));
    put_opt(
        &mut item,
        attr::STOP_REASON,
        job.stop_reason.as_ref().map(StopReason::to_string).as_ref(),
    );
    item.insert(attr::CREATED_AT.into(), n(job.created_at));
    item.insert(TTL_ATTRIBUTE.into(), n(job.expires_at));
    item
}

pub(crate) fn job_from_item(item: &Item) -> StoreResult<Job> {
    let r = Reader::new("job", item);
    Ok(Job {
        id: r.string(attr::ID)?,
        appid: r.string(attr::APPID)?,
        tenant: r.string(attr::TENANT)?,
        kind: r.string(attr::JOB_KIND)?,
        payload: r.string(attr::PAYLOAD)?,
        total: r.u32(attr::TOTAL)?,
        chunk_count: r.u32(attr::CHUNK_COUNT)?,
        state: r.parsed(attr::STATE, parse_job_state)?,
        stop_reason: r
            .opt_string(attr::STOP_REASON)?
            .map(|s| StopReason::parse(&s)),
        created_at: r.u64(attr::CREATED_AT)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

pub(crate) fn results_value(results: &[RecipientResult]) -> StoreResult<AttributeValue> {
    serde_json::to_string(results)
        .map(s)
        .map_err(|e| StoreError::Invalid(format!("recipient results do not serialise: {e}")))
}

/// A new chunk item; a pending one is in the claimable index (`gsi`: partition).
pub(crate) fn chunk_to_item(keys: &Keys, c: &Chunk, chunks_partition: &str) -> StoreResult<Item> {
    let mut item = base(keys.job(&c.job_id), Keys::chunk_sk(c.index), kind::CHUNK);
    item.insert(attr::JOB_ID.into(), s(c.job_id.clone()));
    item.insert(attr::CHUNK_INDEX.into(), n(c.index));
    item.insert(attr::APPID.into(), s(c.appid.clone()));
    item.insert(attr::RECIPIENTS.into(), list_s(&c.recipients));
    item.insert(attr::RESULTS.into(), results_value(&c.results)?);
    item.insert(attr::STATE.into(), s(chunk_state_str(c.state)));
    put_opt(&mut item, attr::LEASE_OWNER, c.lease_owner.as_ref());
    item.insert(attr::LEASE_UNTIL.into(), n(c.lease_until));
    item.insert(attr::ATTEMPTS.into(), n(c.attempts));
    item.insert(TTL_ATTRIBUTE.into(), n(c.expires_at));
    if c.state == ChunkState::Pending {
        item.insert(super::table::GSI_KEY_PK.into(), s(chunks_partition));
        item.insert(super::table::GSI_KEY_SK.into(), n(c.lease_until));
    }
    Ok(item)
}

pub(crate) fn chunk_from_item(item: &Item) -> StoreResult<Chunk> {
    let r = Reader::new("chunk", item);
    Ok(Chunk {
        job_id: r.string(attr::JOB_ID)?,
        index: r.u32(attr::CHUNK_INDEX)?,
        appid: r.string(attr::APPID)?,
        recipients: r.strings(attr::RECIPIENTS)?,
        results: r.json(attr::RESULTS)?,
        state: r.parsed(attr::STATE, parse_chunk_state)?,
        lease_owner: r.opt_string(attr::LEASE_OWNER)?,
        lease_until: r.u64_or_zero(attr::LEASE_UNTIL)?,
        attempts: r.u32(attr::ATTEMPTS)?,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

// --- idempotency ---

pub(crate) fn idempotency_to_item(keys: &Keys, rec: &IdempotencyRecord) -> Item {
    let mut item = base(
        keys.idempotency(&rec.key_hash),
        super::keys::SK_IDEM,
        kind::IDEMPOTENCY,
    );
    item.insert(attr::KEY_HASH.into(), s(rec.key_hash.clone()));
    item.insert(attr::REQUEST_HASH.into(), s(rec.request_hash.clone()));
    if let Some((status, body)) = &rec.response {
        item.insert(attr::RESPONSE_STATUS.into(), n(status));
        item.insert(attr::RESPONSE_BODY.into(), s(body.clone()));
    }
    item.insert(TTL_ATTRIBUTE.into(), n(rec.expires_at));
    item
}

pub(crate) fn idempotency_from_item(item: &Item) -> StoreResult<IdempotencyRecord> {
    let r = Reader::new("idempotency", item);
    let response = match item.get(attr::RESPONSE_STATUS) {
        None => None,
        Some(_) => Some((
            r.number(attr::RESPONSE_STATUS)?,
            r.string(attr::RESPONSE_BODY)?,
        )),
    };
    Ok(IdempotencyRecord {
        key_hash: r.string(attr::KEY_HASH)?,
        request_hash: r.string(attr::REQUEST_HASH)?,
        response,
        expires_at: r.u64(TTL_ATTRIBUTE)?,
    })
}

// --- finish events and seen pushes ---

pub(crate) fn event_to_item(keys: &Keys, e: &FinishEvent) -> Item {
    let mut item = base(
        keys.event(&e.appid, e.msg_id),
        super::keys::SK_EVENT,
        kind::EVENT,
    );
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

pub(crate) fn event_from_item(item: &Item) -> StoreResult<FinishEvent> {
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

pub(crate) fn seen_to_item(keys: &Keys, key: &str, expires_at: u64) -> Item {
    let mut item = base(keys.seen(key), super::keys::SK_SEEN, kind::SEEN);
    item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
    item
}

/// `expires_at` of an item; a record without one never expires.
pub(crate) fn expires_at(item: &Item) -> Option<u64> {
    item.get(TTL_ATTRIBUTE)?.as_n().ok()?.parse().ok()
}

/// Expired (past its `expires_at`) at `now`: DynamoDB deletes late, moto never.
pub(crate) fn is_expired(item: &Item, now: u64) -> bool {
    matches!(expires_at(item), Some(e) if e <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            None,
        );
        item.insert(attr::STATUS.into(), s("bogus"));
        match authorizer_from_item(&item) {
            Err(StoreError::Corrupt { attribute, .. }) => assert_eq!(attribute, attr::STATUS),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

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
