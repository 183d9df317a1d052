//! The JS-SDK's jsapi_ticket of an authorizer (wechat-api.md §8): limited per
//! day by WeChat, so it is kept and shared like an access token.

use serde::Deserialize;

use super::call::Token;
use super::de::u64_lenient;
use super::{paths, WechatClient, WechatError};
use crate::secret::Secret;

/// `ticket/getticket?type=jsapi`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JsapiTicket {
    pub ticket: Secret,
    /// Seconds from now.
    #[serde(deserialize_with = "u64_lenient")]
    pub expires_in: u64,
}

impl WechatClient {
    /// A fresh jsapi_ticket for the account whose access token this is.
    pub async fn jsapi_ticket(&self, access_token: &Secret) -> Result<JsapiTicket, WechatError> {
        self.get(
            paths::TICKET_GETTICKET,
            Token::Access(access_token),
            &[("type", Some("jsapi"))],
        )
        .await
    }
}
