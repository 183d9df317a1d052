//! Stored rows ↔ model structs. Anything that does not read back (an unknown
//! status, bad JSON, a negative time) is `StoreError::Corrupt`, naming the
//! record and column but never the value (it may be a token).

use crate::domain::StopReason;
use crate::secret::Secret;
use crate::store::{
    ApiKey, Authorizer, AuthorizerProfile, AuthorizerStatus, Chunk, ChunkState, FinishEvent,
    IdempotencyRecord, Job, JobState, Link, PreAuth, RecipientResult, StoreError, StoreResult,
    TenantScope, Ticket, TokenState,
};
use rusqlite::types::FromSql;
use rusqlite::Row;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

/// A time or counter as SQLite stores it (signed); clamps the far future.
pub(super) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A JSON column value.
pub(super) fn json<T: Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("cannot encode value: {e}")))
}

/// Reads the columns of one record kind, turning failures into `Corrupt`.
struct Cols<'a, 'r> {
    row: &'a Row<'r>,
    record: &'static str,
}

impl Cols<'_, '_> {
    fn corrupt(&self, attribute: &str, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            record: self.record,
            attribute: attribute.to_owned(),
            reason: reason.into(),
        }
    }

    fn get<T: FromSql>(&self, name: &str) -> StoreResult<T> {
        // The error says which type was expected and found, never the value itself.
        self.row
            .get(name)
            .map_err(|e| self.corrupt(name, e.to_string()))
    }

    fn text(&self, name: &str) -> StoreResult<String> {
        self.get(name)
    }

    fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        self.get(name)
    }

    fn secret(&self, name: &str) -> StoreResult<Option<Secret>> {
        Ok(self.opt_text(name)?.map(Secret::new))
    }

    fn uint(&self, name: &str) -> StoreResult<u64> {
        let v: i64 = self.get(name)?;
        u64::try_from(v).map_err(|_| self.corrupt(name, "negative number"))
    }

    fn u32(&self, name: &str) -> StoreResult<u32> {
        let v: i64 = self.get(name)?;
        u32::try_from(v).map_err(|_| self.corrupt(name, "number out of range"))
    }

    fn flag(&self, name: &str) -> StoreResult<bool> {
        match self.get::<i64>(name)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.corrupt(name, "not a 0/1 flag")),
        }
    }

    fn json<T: DeserializeOwned>(&self, name: &str) -> StoreResult<T> {
        let raw = self.text(name)?;
        serde_json::from_str(&raw).map_err(|e| self.corrupt(name, format!("bad JSON: {e}")))
    }

    fn status<T>(&self, name: &str, parse: impl FnOnce(&str) -> Option<T>) -> StoreResult<T> {
        let raw = self.text(name)?;
        parse(&raw).ok_or_else(|| self.corrupt(name, format!("unknown value `{raw}`")))
    }

    fn lease_owner(&self) -> StoreResult<Option<String>> {
        self.opt_text("lease_owner")
    }
}

fn cols<'a, 'r>(row: &'a Row<'r>, record: &'static str) -> Cols<'a, 'r> {
    Cols { row, record }
}

pub(super) fn ticket(row: &Row<'_>) -> StoreResult<Ticket> {
    let c = cols(row, "ticket");
    Ok(Ticket {
        value: Secret::new(c.text("value")?),
        create_time: c.get("create_time")?,
        stored_at: c.uint("stored_at")?,
    })
}

pub(super) fn token_state(row: &Row<'_>, record: &'static str) -> StoreResult<TokenState> {
    let c = cols(row, record);
    Ok(TokenState {
        access_token: c.secret("access_token")?,
        expires_at: c.uint("expires_at")?,
        version: c.uint("version")?,
        lease_owner: c.lease_owner()?,
        lease_until: c.uint("lease_until")?,
    })
}

pub(super) const AUTHORIZER_COLUMNS: &str =
    "appid, tenant, status, refresh_token, access_token, expires_at, version, \
     lease_owner, lease_until, func_info, profile, last_auth_code_hash, authorized_at, updated_at";

pub(super) fn authorizer(row: &Row<'_>) -> StoreResult<Authorizer> {
    let c = cols(row, "authorizer");
    Ok(Authorizer {
        appid: c.text("appid")?,
        tenant: c.opt_text("tenant")?,
        status: c.status("status", AuthorizerStatus::parse)?,
        refresh_token: c.secret("refresh_token")?,
        token: token_state(row, "authorizer")?,
        func_info: c.json::<Vec<u32>>("func_info")?,
        profile: c.json::<AuthorizerProfile>("profile")?,
        last_auth_code_hash: c.opt_text("last_auth_code_hash")?,
        authorized_at: c.uint("authorized_at")?,
        updated_at: c.uint("updated_at")?,
    })
}

pub(super) const LINK_COLUMNS: &str =
    "id, tenant, auth_type, biz_appid, return_url, created_at, expires_at, used, used_by";

pub(super) fn link(row: &Row<'_>) -> StoreResult<Link> {
    let c = cols(row, "link");
    let auth_type: i64 = c.get("auth_type")?;
    Ok(Link {
        id: c.text("id")?,
        tenant: c.text("tenant")?,
        auth_type: u8::try_from(auth_type)
            .map_err(|_| c.corrupt("auth_type", "number out of range"))?,
        biz_appid: c.opt_text("biz_appid")?,
        return_url: c.opt_text("return_url")?,
        created_at: c.uint("created_at")?,
        expires_at: c.uint("expires_at")?,
        used: c.flag("used")?,
        used_by: c.opt_text("used_by")?,
    })
}

pub(super) fn preauth(row: &Row<'_>) -> StoreResult<PreAuth> {
    let c = cols(row, "preauth");
    Ok(PreAuth {
        code_hash: c.text("code_hash")?,
        link_id: c.text("link_id")?,
        tenant: c.text("tenant")?,
        expires_at: c.uint("expires_at")?,
    })
}

pub(super) const API_KEY_COLUMNS: &str =
    "hash, prefix, tenants, scopes, label, created_at, revoked";

pub(super) fn api_key(row: &Row<'_>) -> StoreResult<ApiKey> {
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

pub(super) const JOB_COLUMNS: &str =
    "id, appid, tenant, kind, payload, total, chunk_count, state, stop_reason, created_at, expires_at";

pub(super) fn job_state_str(state: JobState) -> &'static str {
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

pub(super) fn job(row: &Row<'_>) -> StoreResult<Job> {
    let c = cols(row, "job");
    Ok(Job {
        id: c.text("id")?,
        appid: c.text("appid")?,
        tenant: c.text("tenant")?,
        kind: c.text("kind")?,
        payload: c.text("payload")?,
        total: c.u32("total")?,
        chunk_count: c.u32("chunk_count")?,
        state: c.status("state", parse_job_state)?,
        stop_reason: c.opt_text("stop_reason")?.map(|s| StopReason::parse(&s)),
        created_at: c.uint("created_at")?,
        expires_at: c.uint("expires_at")?,
    })
}

pub(super) const CHUNK_COLUMNS: &str =
    "job_id, idx, appid, recipients, results, state, lease_owner, lease_until, attempts, expires_at";

pub(super) fn chunk_state_str(state: ChunkState) -> &'static str {
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

pub(super) fn chunk(row: &Row<'_>) -> StoreResult<Chunk> {
    let c = cols(row, "chunk");
    Ok(Chunk {
        job_id: c.text("job_id")?,
        index: c.u32("idx")?,
        appid: c.text("appid")?,
        recipients: c.json::<Vec<String>>("recipients")?,
        results: c.json::<Vec<RecipientResult>>("results")?,
        state: c.status("state", parse_chunk_state)?,
        lease_owner: c.lease_owner()?,
        lease_until: c.uint("lease_until")?,
        attempts: c.u32("attempts")?,
        expires_at: c.uint("expires_at")?,
    })
}

pub(super) fn idempotency(row: &Row<'_>) -> StoreResult<IdempotencyRecord> {
    let c = cols(row, "idempotency");
    let status: Option<i64> = c.get("response_status")?;
    let body = c.opt_text("response_body")?;
    let response = match (status, body) {
        (Some(status), Some(body)) => {
            let status = u16::try_from(status)
                .map_err(|_| c.corrupt("response_status", "not an HTTP status"))?;
            Some((status, body))
        }
        (None, None) => None,
        _ => return Err(c.corrupt("response_status", "status and body must be stored together")),
    };
    Ok(IdempotencyRecord {
        key_hash: c.text("key_hash")?,
        request_hash: c.text("request_hash")?,
        response,
        expires_at: c.uint("expires_at")?,
    })
}

/// WeChat msg ids are u64; SQLite integers are i64. The bits are stored as they
/// are (lossless both ways) rather than clamped, so two large ids never collide.
pub(super) fn msg_id_column(msg_id: u64) -> i64 {
    i64::from_ne_bytes(msg_id.to_ne_bytes())
}

fn msg_id_from_column(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

pub(super) fn finish_event(row: &Row<'_>) -> StoreResult<FinishEvent> {
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
