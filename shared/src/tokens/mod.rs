//! Ticket, component token and authorizer tokens: single-flight renewal across
//! processes through store leases, compare-and-invalidate on token errors with
//! exactly one renewal and one retry (design.md §5).
//!
//! How a token is had ([`TokenManager::component_token`], [`TokenManager::authorizer_token`]):
//! read the record; a token that does not expire within the margin is used as
//! is. Otherwise one caller takes the renewal lease with a conditional write
//! (`lease free AND version = v`) and alone calls WeChat; it stores the new token
//! with `version + 1` and clears the lease in one conditional write. Everyone
//! else waits on the record (bounded, with jitter) and uses what the holder
//! stored. A holder that died leaves a lease that expires after [`LEASE_SECS`].

mod memo;
mod renew;

pub(crate) use renew::store_with_retry;

use crate::clock::Clock;
use crate::config::Config;
use crate::secret::Secret;
use crate::store::{Authorizer, StateStore, StoreError};
use crate::wechat::{ErrorClass, WechatClient, WechatError};
use std::future::Future;
use std::sync::Arc;

/// How long a renewal lease lasts (store-clock seconds): longer than one
/// WeChat call with its retries, short enough that a crashed holder is replaced soon.
pub const LEASE_SECS: u64 = 15;

/// On-demand callers renew a token that expires within this many seconds; the
/// `refresh` sweep renews much earlier (`Config::refresh_margin_secs`).
pub const USE_MARGIN_SECS: u64 = 300;

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No valid component_verify_ticket is stored; WeChat was asked to push one.
    #[error("no component_verify_ticket stored yet; asked WeChat to push one (api_start_push_ticket), retry shortly")]
    NoTicket,
    #[error("authorizer {0} is not known")]
    UnknownAuthorizer(String),
    #[error("authorizer {0} revoked the authorization")]
    Revoked(String),
    #[error("authorizer {0} must authorize again (refresh token rejected)")]
    NeedsReauth(String),
    /// Another instance holds the renewal lease and did not finish in time.
    #[error("token renewal in progress elsewhere did not finish in time")]
    Busy,
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TokenError {
    /// WeChat's errcode, when WeChat refused the call.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            TokenError::Wechat(e) => e.errcode(),
            _ => None,
        }
    }
}

/// What a proactive renewal (the `refresh` sweep) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// This call renewed the token with WeChat.
    Renewed,
    /// The token was valid beyond the margin (or another instance just renewed it).
    StillValid,
}

/// A token read from (or just written to) the store, with the version it had.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub token: Secret,
    pub version: u64,
    pub renewed: bool,
}

/// Hands out valid tokens. Cheap to clone (clones share the component token memo).
#[derive(Clone)]
pub struct TokenManager {
    config: Arc<Config>,
    store: Arc<dyn StateStore>,
    wechat: WechatClient,
    clock: Arc<dyn Clock>,
    component_memo: memo::ComponentMemo,
}

impl TokenManager {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn StateStore>,
        wechat: WechatClient,
        clock: Arc<dyn Clock>,
    ) -> Self {
        TokenManager {
            config,
            store,
            wechat,
            clock,
            component_memo: memo::ComponentMemo::default(),
        }
    }

    /// A valid component_access_token, renewed under the lease when due.
    pub async fn component_token(&self) -> Result<Secret, TokenError> {
        Ok(self.obtain_component(USE_MARGIN_SECS).await?.token)
    }

    /// A valid authorizer_access_token, renewed under the lease when due.
    pub async fn authorizer_token(&self, appid: &str) -> Result<Secret, TokenError> {
        Ok(self
            .obtain_authorizer(appid, USE_MARGIN_SECS, None)
            .await?
            .token)
    }

    /// Runs `call` with the component token; on a token-invalid error,
    /// compare-and-invalidates, renews once and retries once.
    pub async fn with_component_token<T, F, Fut>(&self, call: F) -> Result<T, TokenError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let held = self.obtain_component(USE_MARGIN_SECS).await?;
        match call(held.token).await {
            Err(e) if e.class() == ErrorClass::TokenInvalid => {
                tracing::warn!(
                    errcode = e.errcode(),
                    endpoint = e.endpoint(),
                    "component token rejected; invalidating and renewing once"
                );
                crate::telemetry::count("TokenRejected", &[("Kind", "component")]);
                self.component_memo.forget(held.version);
                self.store.invalidate_component_token(held.version).await?;
                let again = self.obtain_component(USE_MARGIN_SECS).await?;
                Ok(call(again.token).await?)
            }
            other => Ok(other?),
        }
    }

    /// Same as `with_component_token`, for an authorizer's token.
    pub async fn with_authorizer_token<T, F, Fut>(
        &self,
        appid: &str,
        call: F,
    ) -> Result<T, TokenError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let held = self.obtain_authorizer(appid, USE_MARGIN_SECS, None).await?;
        match call(held.token).await {
            Err(e) if e.class() == ErrorClass::TokenInvalid => {
                tracing::warn!(
                    appid,
                    errcode = e.errcode(),
                    endpoint = e.endpoint(),
                    "authorizer token rejected; invalidating and renewing once"
                );
                crate::telemetry::count("TokenRejected", &[("Kind", "authorizer")]);
                self.store
                    .invalidate_authorizer_token(appid, held.version)
                    .await?;
                let again = self.obtain_authorizer(appid, USE_MARGIN_SECS, None).await?;
                Ok(call(again.token).await?)
            }
            other => Ok(other?),
        }
    }

    /// Renews the component token if it expires within `margin` seconds (the sweep).
    pub async fn refresh_component(&self, margin: u64) -> Result<Renewal, TokenError> {
        Ok(renewal(self.obtain_component(margin).await?.renewed))
    }

    /// Renews an authorizer token if it expires within `margin` seconds (the sweep).
    /// A refresh token WeChat rejects (61023) marks the authorizer `needs_reauth`.
    pub async fn refresh_authorizer(
        &self,
        appid: &str,
        margin: u64,
    ) -> Result<Renewal, TokenError> {
        Ok(renewal(
            self.obtain_authorizer(appid, margin, None).await?.renewed,
        ))
    }

    /// [`Self::refresh_authorizer`] for a record the caller has just read (the
    /// sweep's due listing): no second read before the lease.
    pub async fn refresh_due_authorizer(
        &self,
        authorizer: Authorizer,
        margin: u64,
    ) -> Result<Renewal, TokenError> {
        let appid = authorizer.appid.clone();
        Ok(renewal(
            self.obtain_authorizer(&appid, margin, Some(authorizer))
                .await?
                .renewed,
        ))
    }

    /// Asks WeChat to push a component_verify_ticket now (`api_start_push_ticket`).
    pub async fn request_ticket(&self) -> Result<(), WechatError> {
        let result = self
            .wechat
            .start_push_ticket(&self.config.component_appid, &self.config.component_secret)
            .await;
        match &result {
            Ok(()) => tracing::info!("asked WeChat to push a component_verify_ticket"),
            Err(e) => {
                tracing::error!(errcode = e.errcode(), error = %e, "api_start_push_ticket failed");
                wechat_error_metric(e);
            }
        }
        result
    }
}

fn renewal(renewed: bool) -> Renewal {
    if renewed {
        Renewal::Renewed
    } else {
        Renewal::StillValid
    }
}

/// Counts a WeChat failure by errcode (or by class when WeChat did not answer).
pub(crate) fn wechat_error_metric(e: &WechatError) {
    let code = match e.errcode() {
        Some(c) => c.to_string(),
        None => format!("{:?}", e.class()),
    };
    crate::telemetry::count("WechatErrors", &[("Errcode", &code)]);
}
