//! Mass messages: to everyone or a tag, to an openid list, their status,
//! deletion and previews (wechat-api.md §5).

use serde::{Deserialize, Serialize};

use super::call::{Empty, Token};
use super::de::{opt_u64_lenient, u64_lenient};
use super::{paths, MessageContent, WechatClient, WechatError};
use crate::secret::Secret;

/// Who a `sendall` reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MassFilter {
    pub is_to_all: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<u64>,
}

impl MassFilter {
    /// Every follower.
    pub fn all() -> Self {
        MassFilter {
            is_to_all: true,
            tag_id: None,
        }
    }

    /// Followers with this tag.
    pub fn tag(tag_id: u64) -> Self {
        MassFilter {
            is_to_all: false,
            tag_id: Some(tag_id),
        }
    }
}

/// A mass message by filter (`mass/sendall`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassSendAll {
    pub filter: MassFilter,
    pub message: MessageContent,
    /// For articles judged reprinted: send anyway (`true`) or stop (`false`).
    pub send_ignore_reprint: bool,
    /// Deduplicates for 24 h (≤ 64 bytes); a repeat answers 45065.
    pub clientmsgid: Option<String>,
}

/// A mass message to 2..=10,000 openids (`mass/send`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassSend {
    pub touser: Vec<String>,
    pub message: MessageContent,
    /// For articles judged reprinted: send anyway (`true`) or stop (`false`).
    pub send_ignore_reprint: bool,
    /// Deduplicates for 24 h (≤ 64 bytes); a repeat answers 45065.
    pub clientmsgid: Option<String>,
}

/// Who sees a preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewTarget {
    OpenId(String),
    /// A WeChat id (`towxname`).
    WxName(String),
}

/// A preview of a mass message to one person (`mass/preview`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassPreview {
    pub to: PreviewTarget,
    pub message: MessageContent,
}

/// WeChat's ids for an accepted mass send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct MassSendResult {
    #[serde(deserialize_with = "u64_lenient")]
    pub msg_id: u64,
    /// Present for article sends (used by comment management).
    #[serde(default, deserialize_with = "opt_u64_lenient")]
    pub msg_data_id: Option<u64>,
}

/// `msg_status` of a mass send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MassMsgStatus {
    SendSuccess,
    Sending,
    SendFail,
    Delete,
    /// A status this client does not know yet.
    #[serde(other)]
    Other,
}

/// `mass/get`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct MassStatus {
    #[serde(deserialize_with = "u64_lenient")]
    pub msg_id: u64,
    pub msg_status: MassMsgStatus,
}

/// The wire form shared by sendall and send: `msgtype` beside its payload.
#[derive(Serialize)]
struct MassWire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<&'a MassFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    touser: Option<&'a [String]>,
    msgtype: &'static str,
    #[serde(flatten)]
    message: &'a MessageContent,
    /// Meaningful for articles only, so only sent with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    send_ignore_reprint: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clientmsgid: Option<&'a str>,
}

fn ignore_reprint_flag(message: &MessageContent, send_ignore_reprint: bool) -> Option<u8> {
    matches!(message, MessageContent::MpNews { .. }).then_some(u8::from(send_ignore_reprint))
}

impl Serialize for MassSendAll {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MassWire {
            filter: Some(&self.filter),
            touser: None,
            msgtype: self.message.msgtype(),
            message: &self.message,
            send_ignore_reprint: ignore_reprint_flag(&self.message, self.send_ignore_reprint),
            clientmsgid: self.clientmsgid.as_deref(),
        }
        .serialize(s)
    }
}

impl Serialize for MassSend {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MassWire {
            filter: None,
            touser: Some(&self.touser),
            msgtype: self.message.msgtype(),
            message: &self.message,
            send_ignore_reprint: ignore_reprint_flag(&self.message, self.send_ignore_reprint),
            clientmsgid: self.clientmsgid.as_deref(),
        }
        .serialize(s)
    }
}

impl Serialize for MassPreview {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            touser: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            towxname: Option<&'a str>,
            msgtype: &'static str,
            #[serde(flatten)]
            message: &'a MessageContent,
        }
        let (touser, towxname) = match &self.to {
            PreviewTarget::OpenId(openid) => (Some(openid.as_str()), None),
            PreviewTarget::WxName(name) => (None, Some(name.as_str())),
        };
        Wire {
            touser,
            towxname,
            msgtype: self.message.msgtype(),
            message: &self.message,
        }
        .serialize(s)
    }
}

impl WechatClient {
    /// `mass/sendall`: a mass message to everyone or to a tag.
    pub async fn mass_sendall(
        &self,
        access_token: &Secret,
        message: &MassSendAll,
    ) -> Result<MassSendResult, WechatError> {
        self.post_json(paths::MASS_SENDALL, Token::Access(access_token), message)
            .await
    }

    /// `mass/send`: a mass message to a list of openids.
    pub async fn mass_send(
        &self,
        access_token: &Secret,
        message: &MassSend,
    ) -> Result<MassSendResult, WechatError> {
        self.post_json(paths::MASS_SEND, Token::Access(access_token), message)
            .await
    }

    /// `mass/get`: where a mass send stands.
    pub async fn mass_get(
        &self,
        access_token: &Secret,
        msg_id: u64,
    ) -> Result<MassStatus, WechatError> {
        #[derive(Serialize)]
        struct Body {
            msg_id: u64,
        }
        self.post_json(
            paths::MASS_GET,
            Token::Access(access_token),
            &Body { msg_id },
        )
        .await
    }

    /// `mass/delete`: withdraws a sent mass message (one article of it when
    /// `article_idx` is given, counting from 1).
    pub async fn mass_delete(
        &self,
        access_token: &Secret,
        msg_id: u64,
        article_idx: Option<u32>,
    ) -> Result<(), WechatError> {
        #[derive(Serialize)]
        struct Body {
            msg_id: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            article_idx: Option<u32>,
        }
        let _: Empty = self
            .post_json(
                paths::MASS_DELETE,
                Token::Access(access_token),
                &Body {
                    msg_id,
                    article_idx,
                },
            )
            .await?;
        Ok(())
    }

    /// `mass/preview`: sends the message to one person to look at.
    pub async fn mass_preview(
        &self,
        access_token: &Secret,
        preview: &MassPreview,
    ) -> Result<(), WechatError> {
        let _: Empty = self
            .post_json(paths::MASS_PREVIEW, Token::Access(access_token), preview)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sendall_by_tag_is_written_the_wechat_way() {
        let message = MassSendAll {
            filter: MassFilter::tag(2),
            message: MessageContent::MpNews {
                media_id: "m1".into(),
            },
            send_ignore_reprint: false,
            clientmsgid: Some("c1".into()),
        };
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({"filter":{"is_to_all":false,"tag_id":2},"msgtype":"mpnews","mpnews":{"media_id":"m1"},
                   "send_ignore_reprint":0,"clientmsgid":"c1"})
        );
    }

    #[test]
    fn sendall_to_all_text_has_no_tag_and_no_reprint_flag() {
        let message = MassSendAll {
            filter: MassFilter::all(),
            message: MessageContent::text("hi"),
            send_ignore_reprint: true,
            clientmsgid: None,
        };
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({"filter":{"is_to_all":true},"msgtype":"text","text":{"content":"hi"}})
        );
    }

    #[test]
    fn preview_to_a_wechat_id_uses_towxname() {
        let preview = MassPreview {
            to: PreviewTarget::WxName("someone".into()),
            message: MessageContent::WxCard {
                card_id: "card".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&preview).unwrap(),
            json!({"towxname":"someone","msgtype":"wxcard","wxcard":{"card_id":"card"}})
        );
    }

    #[test]
    fn unknown_mass_status_is_other() {
        let s: MassStatus =
            serde_json::from_str(r#"{"msg_id":"201053012","msg_status":"PAUSED"}"#).unwrap();
        assert_eq!(s.msg_id, 201053012);
        assert_eq!(s.msg_status, MassMsgStatus::Other);
    }
}
