//! Customer-service messages, allowed only inside a user's 48-hour reply window.

use serde::Serialize;

use super::call::{Empty, Token};
use super::{paths, MessageContent, WechatClient, WechatError};
use crate::secret::Secret;

/// A customer-service message to one openid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomMessage {
    pub touser: String,
    pub message: MessageContent,
    /// Send as this customer-service account (`customservice.kf_account`).
    pub kf_account: Option<String>,
}

impl Serialize for CustomMessage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct KfAccount<'a> {
            kf_account: &'a str,
        }
        #[derive(Serialize)]
        struct Wire<'a> {
            touser: &'a str,
            msgtype: &'static str,
            #[serde(flatten)]
            message: &'a MessageContent,
            #[serde(skip_serializing_if = "Option::is_none")]
            customservice: Option<KfAccount<'a>>,
        }
        Wire {
            touser: &self.touser,
            msgtype: self.message.msgtype(),
            message: &self.message,
            customservice: self
                .kf_account
                .as_deref()
                .map(|kf_account| KfAccount { kf_account }),
        }
        .serialize(s)
    }
}

impl WechatClient {
    /// `message/custom/send`: a customer-service message.
    pub async fn custom_send(
        &self,
        access_token: &Secret,
        message: &CustomMessage,
    ) -> Result<(), WechatError> {
        let _: Empty = self
            .post_json(paths::CUSTOM_SEND, Token::Access(access_token), message)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_text_is_written_the_wechat_way() {
        let message = CustomMessage {
            touser: "o1".into(),
            message: MessageContent::text("code_from_api"),
            kf_account: None,
        };
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({"touser":"o1","msgtype":"text","text":{"content":"code_from_api"}})
        );
    }
}
