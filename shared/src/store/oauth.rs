//! Web OAuth on behalf of an authorizer (issue 16): the links a tenant hands
//! its customers, the one-time attempt states `GET /oauth/{id}` issues, and the
//! one-time results the tenant reads back. The user's sns tokens are never
//! part of any record: only who the user is.

use super::StoreResult;
use async_trait::async_trait;

/// A link to identify customers under `appid`; opened any number of times
/// until `expires_at`, each opening an attempt of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthLink {
    pub id: String,
    pub tenant: String,
    pub appid: String,
    /// `snsapi_base` or `snsapi_userinfo`.
    pub scope: String,
    /// Checked against the allowed origins when the link was created.
    pub return_url: String,
    /// The client's own state, handed back on `return_url`.
    pub client_state: Option<String>,
    pub created_at: u64,
    pub expires_at: u64,
}

/// One opening of a link: the state WeChat carries back, stored by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthAttempt {
    pub state_hash: String,
    pub link_id: String,
    pub expires_at: u64,
}

/// Who the customer is, readable once by the link's tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthResult {
    pub id: String,
    pub tenant: String,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub scope: String,
    pub nickname: Option<String>,
    pub headimgurl: Option<String>,
    pub expires_at: u64,
}

#[async_trait]
pub trait OauthStore: Send + Sync {
    /// Stores a new link; an id already stored is refused (`Invalid`).
    async fn create_oauth_link(&self, link: &OauthLink) -> StoreResult<()>;
    /// The link, unless unknown or expired at `now`.
    async fn get_oauth_link(&self, id: &str, now: u64) -> StoreResult<Option<OauthLink>>;
    /// Stores a new attempt; a state hash already stored is refused (`Invalid`).
    async fn create_oauth_attempt(&self, attempt: &OauthAttempt) -> StoreResult<()>;
    /// One time: the attempt, marked taken in the same conditional write;
    /// `None` when unknown, expired or already taken.
    async fn take_oauth_attempt(
        &self,
        state_hash: &str,
        now: u64,
    ) -> StoreResult<Option<OauthAttempt>>;
    /// Stores a new result; an id already stored is refused (`Invalid`).
    async fn create_oauth_result(&self, result: &OauthResult) -> StoreResult<()>;
    /// One time, for `tenant` only (`None`: a key for every tenant): the
    /// result, marked taken in the same conditional write; `None` when
    /// unknown, expired, already taken or another tenant's (which leaves it
    /// untouched).
    async fn take_oauth_result(
        &self,
        id: &str,
        tenant: Option<&str>,
        now: u64,
    ) -> StoreResult<Option<OauthResult>>;
}
