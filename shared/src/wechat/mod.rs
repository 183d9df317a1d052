//! The WeChat API client: one typed async method per endpoint the platform
//! uses (wechat-api.md §3 and §5), each reply's errcode turned into a typed
//! [`WechatError`], and the retry policy kept in one place ([`RetryPolicy`]).
//!
//! Tokens and secrets go in and come out as [`crate::secret::Secret`]; they are
//! put on the wire and nowhere else (never in errors or log events).

mod call;
mod component;
mod custom;
mod de;
mod error;
mod jsapi;
mod mass;
mod materials;
mod media;
mod message;
mod oauth;
pub mod paths;
mod qrcode;
mod quota;
mod raw;
mod retry;
mod subscribe;
mod tags;
mod template;
mod user;

use std::sync::Arc;
use std::time::Duration;

pub use component::{
    AuthorizationInfo, AuthorizationSummary, AuthorizerDetails, AuthorizerInfoResponse,
    AuthorizerList, AuthorizerListItem, AuthorizerToken, BusinessFlags, ComponentToken,
    PreAuthCode,
};
pub use custom::CustomMessage;
pub use error::{
    class_of_errcode, BuildError, ErrorClass, Sent, WechatError, ERRCODE_ALREADY_SENT,
    ERRCODE_BUSY, ERRCODE_QUOTA, ERRCODE_REFRESH_TOKEN_INVALID, RECIPIENT_ERRCODES,
    TOKEN_INVALID_ERRCODES,
};
pub use jsapi::JsapiTicket;
pub use mass::{
    MassFilter, MassMsgStatus, MassPreview, MassSend, MassSendAll, MassSendResult, MassStatus,
    PreviewTarget,
};
pub use materials::{
    AddedMaterial, Download, MaterialCount, MaterialItem, MaterialPage, MaterialType,
    VideoDescription,
};
pub use media::{Article, MediaType, UploadedMedia};
pub use message::MessageContent;
pub use oauth::{SnsGrant, SnsUserInfo};
pub use qrcode::{QrCode, QrRequest, Scene};
pub use quota::ApiQuota;
pub use raw::{PassThrough, RawAnswer, PASS_THROUGH_ENDPOINT};
pub use retry::{is_retryable, RetryPolicy};
pub use subscribe::{SubscribeMessage, SubscribeMiniProgram, SubscribeValue};
pub use tags::{Tag, TAG_MEMBERS_PER_CALL};
pub use template::{
    Industry, IndustryClass, MiniProgramLink, PrivateTemplate, TemplateMessage, TemplateValue,
};
pub use user::{OpenIdPage, UserInfo, UserList};

/// The production API host.
pub const DEFAULT_BASE_URL: &str = "https://api.weixin.qq.com";

/// How to reach WeChat. `Default` is production with conservative timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatConfig {
    /// Scheme and host (and optional path prefix), e.g. the simulator's URL in tests.
    pub base_url: String,
    /// Limit on a whole attempt: connect, send, and read the reply.
    pub timeout: Duration,
    /// Limit on establishing the connection alone.
    pub connect_timeout: Duration,
    /// What to retry and how long to wait between attempts.
    pub retry: RetryPolicy,
}

impl Default for WechatConfig {
    fn default() -> Self {
        WechatConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            retry: RetryPolicy::default(),
        }
    }
}

/// A WeChat API client. Build it once and clone it freely: clones share one
/// connection pool.
#[derive(Debug, Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    base_url: Arc<str>,
    retry: RetryPolicy,
}

impl WechatClient {
    /// Builds the client; fails on a base URL that is not http(s) or when the
    /// TLS stack cannot be initialised.
    pub fn new(config: WechatConfig) -> Result<WechatClient, BuildError> {
        let parsed = url::Url::parse(&config.base_url).map_err(|_| BuildError::InvalidBaseUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(BuildError::InvalidBaseUrl);
        }
        let http = crate::http_client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            // WeChat never redirects; following one could carry a token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BuildError::Http(e.without_url()))?;
        Ok(WechatClient {
            http,
            base_url: Arc::from(config.base_url.trim_end_matches('/')),
            retry: config.retry,
        })
    }

    /// The retry policy this client applies to every call.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }
}
