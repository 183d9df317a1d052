//! The records of design.md §4, as plain structs shared by every backend.
//! Times are unix seconds; callers pass `now` so tests can move time without sleeping.

use crate::domain::{RecipientStatus, StopReason};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long WeChat accepts a component_verify_ticket (wechat-api.md: 12 h); a
/// ticket stored longer ago than this reads as absent.
pub const TICKET_VALIDITY_SECS: u64 = 12 * 3600;

/// The newest component_verify_ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub value: Secret,
    /// WeChat's CreateTime of the push that carried it.
    pub create_time: i64,
    /// When we stored it.
    pub stored_at: u64,
}

/// A renewable access token with its single-flight lease (component token; the
/// token part of an authorizer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenState {
    pub access_token: Option<Secret>,
    /// 0 when there is no usable token (never fetched, invalidated or erased).
    pub expires_at: u64,
    /// Bumped by every completed renewal; leases and invalidations are checked against it.
    pub version: u64,
    pub lease_owner: Option<String>,
    pub lease_until: u64,
}

impl TokenState {
    /// A token that exists and does not expire within `margin` seconds of `now`.
    pub fn usable(&self, now: u64, margin: u64) -> Option<&Secret> {
        match &self.access_token {
            Some(t) if self.expires_at > now.saturating_add(margin) => Some(t),
            _ => None,
        }
    }

    pub fn lease_held(&self, now: u64) -> bool {
        self.lease_owner.is_some() && self.lease_until > now
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizerStatus {
    Active,
    Revoked,
    NeedsReauth,
}

impl AuthorizerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizerStatus::Active => "active",
            AuthorizerStatus::Revoked => "revoked",
            AuthorizerStatus::NeedsReauth => "needs_reauth",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AuthorizerStatus::Active),
            "revoked" => Some(AuthorizerStatus::Revoked),
            "needs_reauth" => Some(AuthorizerStatus::NeedsReauth),
            _ => None,
        }
    }
}

/// An official account that authorized our platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorizer {
    pub appid: String,
    /// The tenant it is bound to; `None` until a link (or a pre-auth code mapped to a link) binds it.
    pub tenant: Option<String>,
    pub status: AuthorizerStatus,
    pub refresh_token: Option<Secret>,
    pub token: TokenState,
    pub func_info: Vec<u32>,
    pub profile: AuthorizerProfile,
    /// sha256 hex of the last authorization code exchanged, so the push and the
    /// browser callback carrying the same code do the exchange once.
    pub last_auth_code_hash: Option<String>,
    pub authorized_at: u64,
    pub updated_at: u64,
}

/// What WeChat's api_get_authorizer_info says about an account, as last
/// fetched. Every field is optional: records written before a field existed
/// read it as `None`, and so does a field WeChat sent malformed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthorizerProfile {
    pub nick_name: Option<String>,
    pub head_img: Option<String>,
    /// gh_… original id.
    pub user_name: Option<String>,
    pub principal_name: Option<String>,
    /// `service_type_info.id`: 0 subscription account, 1 subscription account
    /// upgraded from an old account, 2 service account.
    pub service_type: Option<i64>,
    /// `verify_type_info.id`: -1 unverified, 0 WeChat-verified, 1 Sina Weibo,
    /// 2 Tencent Weibo, 3 qualified but name not verified, 4 and 5 as 3 with a
    /// Sina or Tencent Weibo verification.
    pub verify_type: Option<i64>,
    /// The WeChat id followers search for.
    pub alias: Option<String>,
    pub qrcode_url: Option<String>,
    pub business_info: Option<BusinessInfo>,
}

/// Which of WeChat's business features the account has opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BusinessInfo {
    pub open_store: Option<bool>,
    pub open_scan: Option<bool>,
    pub open_pay: Option<bool>,
    pub open_card: Option<bool>,
    pub open_shake: Option<bool>,
}

/// The result of an authorization-code exchange, to be stored.
#[derive(Debug, Clone)]
pub struct AuthorizationGrant {
    pub appid: String,
    /// The tenant to bind to, when known (browser callback, or a pre-auth code mapped to a link).
    pub tenant: Option<String>,
    pub auth_code_hash: String,
    pub access_token: Secret,
    pub expires_at: u64,
    pub refresh_token: Secret,
    pub func_info: Vec<u32>,
    pub now: u64,
}

/// New tokens from a renewal. The refresh token is written in the same
/// conditional write as the access token, so it is never lost.
#[derive(Debug, Clone)]
pub struct RenewedTokens {
    pub access_token: Secret,
    pub expires_at: u64,
    /// WeChat may return a new refresh token; `None` keeps the stored one.
    pub refresh_token: Option<Secret>,
}

/// A one-time merchant authorization link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub id: String,
    pub tenant: String,
    pub auth_type: u8,
    pub biz_appid: Option<String>,
    pub return_url: Option<String>,
    pub created_at: u64,
    pub expires_at: u64,
    pub used: bool,
    /// The authorizer the link ended up binding, once used.
    pub used_by: Option<String>,
}

/// A pre_auth_code we issued for a link, so the `authorized` push can find the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreAuth {
    pub code_hash: String,
    pub link_id: String,
    pub tenant: String,
    pub expires_at: u64,
}

/// Which tenants an API key may act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantScope {
    All,
    Only(Vec<String>),
}

impl TenantScope {
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            TenantScope::All => true,
            TenantScope::Only(list) => list.iter().any(|t| t == tenant),
        }
    }
}

/// A client API key, stored only as the SHA-256 hex of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub hash: String,
    /// A short non-secret prefix shown in listings, e.g. `wxk_AbC1`.
    pub prefix: String,
    pub tenants: TenantScope,
    /// e.g. `send`, `token:read`, `admin`.
    pub scopes: Vec<String>,
    pub label: Option<String>,
    pub created_at: u64,
    pub revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Being written (see `store::JobStore::begin_job`): shown to no client, worked by no worker.
    Creating,
    Queued,
    Running,
    Done,
    /// Stopped early: quota spent, authorizer revoked, …; `Job::stop_reason` says why.
    Stopped,
}

impl JobState {
    /// The stored (and answered) name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Creating => "creating",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "creating" => Some(JobState::Creating),
            "queued" => Some(JobState::Queued),
            "running" => Some(JobState::Running),
            "done" => Some(JobState::Done),
            "stopped" => Some(JobState::Stopped),
            _ => None,
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tracked template-message job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub appid: String,
    pub tenant: String,
    /// e.g. `template`.
    pub kind: String,
    /// The message without recipients (JSON), shared by every chunk.
    pub payload: String,
    pub total: u32,
    pub chunk_count: u32,
    /// Chunks finished done, counted by the write that finished each.
    pub chunks_done: u32,
    /// Chunks finished stopped, counted like `chunks_done`: with it, whether
    /// every chunk has ended is known from the job alone.
    pub chunks_stopped: u32,
    pub state: JobState,
    /// Stored as its text form (`code` or `code:errcode`).
    pub stop_reason: Option<StopReason>,
    pub created_at: u64,
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkState {
    Pending,
    Done,
    Stopped,
}

impl ChunkState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkState::Pending => "pending",
            ChunkState::Done => "done",
            ChunkState::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(ChunkState::Pending),
            "done" => Some(ChunkState::Done),
            "stopped" => Some(ChunkState::Stopped),
            _ => None,
        }
    }
}

/// The outcome for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientResult {
    pub openid: String,
    pub status: RecipientStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
}

/// Up to 200 recipients of a job, worked by one worker at a time under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub job_id: String,
    pub index: u32,
    pub appid: String,
    pub recipients: Vec<String>,
    /// Results so far, in recipient order; `results.len()` is the checkpoint cursor.
    pub results: Vec<RecipientResult>,
    pub state: ChunkState,
    pub lease_owner: Option<String>,
    pub lease_until: u64,
    pub attempts: u32,
    pub expires_at: u64,
}

/// Identifies a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    pub job_id: String,
    pub index: u32,
}

/// A stored Idempotency-Key use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key_hash: String,
    /// sha256 hex of (route, body): the same key with another request is a conflict.
    pub request_hash: String,
    /// The first answer, once complete: HTTP status and JSON body.
    pub response: Option<(u16, String)>,
    pub expires_at: u64,
}

/// A TEMPLATESENDJOBFINISH or MASSSENDJOBFINISH outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishEvent {
    pub appid: String,
    pub msg_id: u64,
    /// `template` or `mass`.
    pub kind: String,
    pub status: String,
    /// The recipient (template events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// TotalCount, FilterCount, SentCount, ErrorCount, … (mass events).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, i64>,
    pub create_time: i64,
    pub expires_at: u64,
}

/// One page of a listing; pass `next` back as the cursor to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_stored_before_the_profile_grew_reads_the_new_fields_as_none() {
        // SQLite keeps the profile as this JSON.
        let old = r#"{"nick_name":"Old Shop","head_img":null,"user_name":"gh_1","principal_name":"Old Shop Co."}"#;
        let profile: AuthorizerProfile = serde_json::from_str(old).unwrap();
        assert_eq!(
            profile,
            AuthorizerProfile {
                nick_name: Some("Old Shop".into()),
                user_name: Some("gh_1".into()),
                principal_name: Some("Old Shop Co.".into()),
                ..AuthorizerProfile::default()
            }
        );
    }
}
