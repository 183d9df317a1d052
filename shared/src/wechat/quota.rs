//! How much of an API's daily quota an account has used (`openapi/quota/get`).

use serde::{Deserialize, Serialize};

use super::call::Token;
use super::de::u64_lenient;
use super::{paths, WechatClient, WechatError};
use crate::secret::Secret;

/// One API's daily quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ApiQuota {
    #[serde(deserialize_with = "u64_lenient")]
    pub daily_limit: u64,
    #[serde(deserialize_with = "u64_lenient")]
    pub used: u64,
    #[serde(deserialize_with = "u64_lenient")]
    pub remain: u64,
}

impl WechatClient {
    /// `openapi/quota/get` for `cgi_path` (e.g. `/cgi-bin/message/custom/send`).
    pub async fn quota_get(
        &self,
        access_token: &Secret,
        cgi_path: &str,
    ) -> Result<ApiQuota, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            cgi_path: &'a str,
        }
        #[derive(Deserialize)]
        struct Reply {
            quota: ApiQuota,
        }
        let reply: Reply = self
            .post_json(
                paths::OPENAPI_QUOTA_GET,
                Token::Access(access_token),
                &Body { cgi_path },
            )
            .await?;
        Ok(reply.quota)
    }
}
