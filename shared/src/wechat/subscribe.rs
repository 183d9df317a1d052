//! Subscription notifications (订阅通知), the successor of template messages
//! on many accounts: `message/subscribe/bizsend` (wechat-api.md §8).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::call::{Empty, Token};
use super::{paths, MiniProgramLink, WechatClient, WechatError};
use crate::secret::Secret;

/// A subscription notification to one follower who subscribed to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeMessage {
    pub touser: String,
    pub template_id: String,
    /// A web page opened when the card is tapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<SubscribeMiniProgram>,
    /// `{key: {value}}`: subscription notifications take no colour.
    pub data: BTreeMap<String, SubscribeValue>,
}

/// A mini-program page a notification opens (`pagepath`, as bizsend names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeMiniProgram {
    pub appid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagepath: Option<String>,
}

impl From<MiniProgramLink> for SubscribeMiniProgram {
    fn from(link: MiniProgramLink) -> Self {
        SubscribeMiniProgram {
            appid: link.appid,
            pagepath: link.pagepath,
        }
    }
}

/// One value of a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeValue {
    pub value: String,
}

impl WechatClient {
    /// `message/subscribe/bizsend` (43101: the follower did not subscribe).
    pub async fn send_subscribe(
        &self,
        access_token: &Secret,
        message: &SubscribeMessage,
    ) -> Result<(), WechatError> {
        let _: Empty = self
            .post_json(
                paths::SUBSCRIBE_BIZSEND,
                Token::Access(access_token),
                message,
            )
            .await?;
        Ok(())
    }
}
