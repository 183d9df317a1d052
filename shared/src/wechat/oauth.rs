//! Web OAuth on behalf of an authorizer (代公众号发起网页授权, wechat-api.md §8):
//! exchanging the code WeChat hands the browser, and the user's profile for
//! `snsapi_userinfo`. The user's sns tokens come back as [`Secret`]s so they
//! can be used once and dropped: nothing here stores them.

use serde::Deserialize;

use super::call::Token;
use super::de::u64_lenient;
use super::{paths, WechatClient, WechatError};
use crate::secret::Secret;

/// `sns/oauth2/component/access_token`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnsGrant {
    /// The user's web access token (only good for `sns/userinfo`).
    pub access_token: Secret,
    #[serde(default, deserialize_with = "u64_lenient")]
    pub expires_in: u64,
    #[serde(default)]
    pub refresh_token: Secret,
    /// The user under the authorizer's account.
    pub openid: String,
    /// What the user granted: `snsapi_base` or `snsapi_userinfo`.
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub unionid: Option<String>,
}

/// `sns/userinfo`'s answer (`snsapi_userinfo` only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct SnsUserInfo {
    pub openid: String,
    pub nickname: Option<String>,
    pub headimgurl: Option<String>,
    pub unionid: Option<String>,
}

impl WechatClient {
    /// Exchanges the browser's `code` for the user's openid, on behalf of `appid`.
    /// A code is good once: WeChat answers 40163 to a second exchange, 40029 to
    /// an unknown one.
    pub async fn sns_component_access_token(
        &self,
        component_token: &Secret,
        component_appid: &str,
        appid: &str,
        code: &Secret,
    ) -> Result<SnsGrant, WechatError> {
        self.get(
            paths::SNS_COMPONENT_ACCESS_TOKEN,
            Token::Component(component_token),
            &[
                ("appid", Some(appid)),
                ("code", Some(code.expose())),
                ("grant_type", Some("authorization_code")),
                ("component_appid", Some(component_appid)),
            ],
        )
        .await
    }

    /// The user's profile with the user's own sns access token.
    pub async fn sns_userinfo(
        &self,
        user_token: &Secret,
        openid: &str,
    ) -> Result<SnsUserInfo, WechatError> {
        self.get(
            paths::SNS_USERINFO,
            Token::Access(user_token),
            &[("openid", Some(openid)), ("lang", Some("zh_CN"))],
        )
        .await
    }
}
