//! Mass, mass-preview and customer-service message bodies: who receives the
//! message, its `msgtype`, and the payload of that name.

use super::payloads::{CardPayload, MediaPayload, Payloads, TextPayload, VideoPayload};
use super::ShortText;
use crate::domain::{OpenId, Recipients, Text};
use crate::http::error::ApiError;
use crate::service::mass::{MassRequest, MassTarget, MAX_MASS_RECIPIENTS, MIN_MASS_RECIPIENTS};
use crate::wechat::CustomMessage;
use serde::Deserialize;
use utoipa::ToSchema;

/// Mass recipients by list: [`MIN_MASS_RECIPIENTS`]..=[`MAX_MASS_RECIPIENTS`].
pub(crate) type MassRecipients = Recipients<MIN_MASS_RECIPIENTS, MAX_MASS_RECIPIENTS>;

/// What a mass message is; its payload goes in the field of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MassMsgType {
    Text,
    Image,
    Voice,
    Mpnews,
    Mpvideo,
    Wxcard,
}

impl MassMsgType {
    /// The name on the wire, which is also the payload's field.
    fn name(self) -> &'static str {
        match self {
            MassMsgType::Text => "text",
            MassMsgType::Image => "image",
            MassMsgType::Voice => "voice",
            MassMsgType::Mpnews => "mpnews",
            MassMsgType::Mpvideo => "mpvideo",
            MassMsgType::Wxcard => "wxcard",
        }
    }
}

/// What a customer-service message is; its payload goes in the field of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CustomMsgType {
    Text,
    Image,
    Voice,
    Video,
    Mpnews,
    Wxcard,
}

/// `POST /v1/authorizers/{appid}/mass-messages`: exactly one of `to_all`,
/// `tag_id` and `touser`; the payload named by `msgtype`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tag_id": 100, "msgtype": "text", "text": {"content": "Hello"}}))]
pub(crate) struct MassMessageRequest {
    /// Every follower.
    pub to_all: Option<bool>,
    /// The followers with this tag.
    pub tag_id: Option<u64>,
    #[schema(inline)]
    pub touser: Option<MassRecipients>,
    pub msgtype: MassMsgType,
    pub text: Option<TextPayload>,
    pub image: Option<MediaPayload>,
    pub voice: Option<MediaPayload>,
    pub mpnews: Option<MediaPayload>,
    pub mpvideo: Option<MediaPayload>,
    pub wxcard: Option<CardPayload>,
    /// Send even when WeChat judges an article a reprint.
    pub send_ignore_reprint: Option<bool>,
}

impl TryFrom<MassMessageRequest> for MassRequest {
    type Error = ApiError;

    fn try_from(r: MassMessageRequest) -> Result<MassRequest, ApiError> {
        let target = match (r.to_all.unwrap_or(false), r.tag_id, r.touser) {
            (true, None, None) => MassTarget::All,
            (false, Some(tag), None) => MassTarget::Tag(tag),
            (false, None, Some(list)) => {
                MassTarget::OpenIds(list.into_strings())
            }
            (false, None, None) => {
                return Err(ApiError::field(
                    "",
                    format!("say who receives it: `to_all: true`, `tag_id`, or `touser` ({MIN_MASS_RECIPIENTS}..={MAX_MASS_RECIPIENTS} openids)"),
                ))
            }
            _ => {
                return Err(ApiError::field(
                    "",
                    "give only one of `to_all`, `tag_id` and `touser`",
                ))
            }
        };
        let msgtype = r.msgtype.name();
        let payloads = Payloads {
            text: r.text,
            image: r.image,
            voice: r.voice,
            video: None,
            mpnews: r.mpnews,
            mpvideo: r.mpvideo,
            wxcard: r.wxcard,
        };
        Ok(MassRequest {
            target,
            message: payloads.content(msgtype)?,
            send_ignore_reprint: r.send_ignore_reprint.unwrap_or(false),
        })
    }
}

/// `POST /v1/authorizers/{appid}/mass-messages/preview`: one of `touser` and
/// `towxname`; the payload named by `msgtype` (issue #17).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"touser": "oSbx01Follower00000000000001", "msgtype": "mpnews", "mpnews": {"media_id": "MEDIA_ID"}}))]
pub(crate) struct MassPreviewRequest {
    /// A follower's openid.
    pub touser: Option<OpenId>,
    /// Or a WeChat id (微信号) of someone following the account.
    #[schema(inline)]
    pub towxname: Option<ShortText>,
    pub msgtype: MassMsgType,
    pub text: Option<TextPayload>,
    pub image: Option<MediaPayload>,
    pub voice: Option<MediaPayload>,
    pub mpnews: Option<MediaPayload>,
    pub mpvideo: Option<MediaPayload>,
    pub wxcard: Option<CardPayload>,
}

impl TryFrom<MassPreviewRequest> for crate::wechat::MassPreview {
    type Error = ApiError;

    fn try_from(r: MassPreviewRequest) -> Result<Self, ApiError> {
        use crate::wechat::PreviewTarget;
        let to = match (r.touser, r.towxname) {
            (Some(openid), None) => PreviewTarget::OpenId(openid.into_string()),
            (None, Some(name)) => PreviewTarget::WxName(name.into_string()),
            (None, None) => {
                return Err(ApiError::field(
                    "",
                    "say who previews it: `touser` or `towxname`",
                ))
            }
            _ => {
                return Err(ApiError::field(
                    "",
                    "give only one of `touser` and `towxname`",
                ))
            }
        };
        let msgtype = r.msgtype.name();
        let payloads = Payloads {
            text: r.text,
            image: r.image,
            voice: r.voice,
            video: None,
            mpnews: r.mpnews,
            mpvideo: r.mpvideo,
            wxcard: r.wxcard,
        };
        Ok(crate::wechat::MassPreview {
            to,
            message: payloads.content(msgtype)?,
        })
    }
}

/// `POST /v1/authorizers/{appid}/custom-messages`: the payload named by `msgtype`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"touser": "oSbx01Follower00000000000001", "msgtype": "text", "text": {"content": "Thanks!"}}))]
pub(crate) struct CustomMessageRequest {
    pub touser: OpenId,
    pub msgtype: CustomMsgType,
    pub text: Option<TextPayload>,
    pub image: Option<MediaPayload>,
    pub voice: Option<MediaPayload>,
    pub video: Option<VideoPayload>,
    pub mpnews: Option<MediaPayload>,
    pub wxcard: Option<CardPayload>,
    /// Send as this customer-service account.
    #[schema(inline)]
    pub kf_account: Option<Text<128>>,
}

impl TryFrom<CustomMessageRequest> for CustomMessage {
    type Error = ApiError;

    fn try_from(r: CustomMessageRequest) -> Result<CustomMessage, ApiError> {
        let msgtype = match r.msgtype {
            CustomMsgType::Text => "text",
            CustomMsgType::Image => "image",
            CustomMsgType::Voice => "voice",
            CustomMsgType::Video => "video",
            CustomMsgType::Mpnews => "mpnews",
            CustomMsgType::Wxcard => "wxcard",
        };
        let payloads = Payloads {
            text: r.text,
            image: r.image,
            voice: r.voice,
            video: r.video,
            mpnews: r.mpnews,
            mpvideo: None,
            wxcard: r.wxcard,
        };
        Ok(CustomMessage {
            touser: r.touser.into_string(),
            message: payloads.content(msgtype)?,
            kf_account: r.kf_account.map(Text::into_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::requests::read;
    use serde_json::json;

    fn mass(v: serde_json::Value) -> Result<MassRequest, String> {
        read::<MassMessageRequest>(v)
            .and_then(MassRequest::try_from)
            .map_err(|e| e.message())
    }

    #[test]
    fn a_mass_request_names_exactly_one_target() {
        let r = mass(json!({"tag_id": 100, "msgtype": "text", "text": {"content": "hi"}})).unwrap();
        assert_eq!(r.target, MassTarget::Tag(100));
        let r = mass(json!({"to_all": true, "msgtype": "mpnews", "mpnews": {"media_id": "m"}}))
            .unwrap();
        assert_eq!(r.target, MassTarget::All);
        assert!(mass(
            json!({"to_all": true, "tag_id": 1, "msgtype": "text", "text": {"content": "x"}})
        )
        .unwrap_err()
        .contains("only one"));
        assert!(mass(json!({"msgtype": "text", "text": {"content": "x"}})).is_err());
        let e = mass(json!({"touser": ["oA"], "msgtype": "text", "text": {"content": "x"}}))
            .unwrap_err();
        assert!(e.contains("`touser`: must hold 2..=10000"), "{e}");
    }

    #[test]
    fn a_payload_must_match_its_msgtype() {
        let e = mass(json!({"to_all": true, "msgtype": "text", "text": {"content": "x"}, "image": {"media_id": "m"}})).unwrap_err();
        assert!(
            e.contains("`image`: does not go with msgtype `text`"),
            "{e}"
        );
        let e = mass(json!({"to_all": true, "msgtype": "image"})).unwrap_err();
        assert!(e.contains("`image`: is required"), "{e}");
        let e = mass(json!({"to_all": true, "msgtype": "video", "video": {"media_id": "m"}}))
            .unwrap_err();
        assert!(e.contains("`msgtype`"), "{e}");
        let e =
            mass(json!({"to_all": true, "msgtype": "text", "text": {"content": 5}})).unwrap_err();
        assert!(e.contains("`text.content`"), "{e}");
    }

    #[test]
    fn a_custom_message_needs_one_openid() {
        let custom = |v| {
            read::<CustomMessageRequest>(v)
                .and_then(CustomMessage::try_from)
                .map_err(|e| e.message())
        };
        let m =
            custom(json!({"touser": "oA", "msgtype": "text", "text": {"content": "hi"}})).unwrap();
        assert_eq!(m.touser, "oA");
        assert!(
            custom(json!({"touser": ["oA"], "msgtype": "text", "text": {"content": "hi"}}))
                .unwrap_err()
                .contains("`touser`")
        );
    }
}
