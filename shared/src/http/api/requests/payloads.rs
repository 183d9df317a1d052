//! The message payloads beside `msgtype` (`{"content"}`, `{"media_id"}`, a
//! card, a video) and the choice of exactly the one it names.

use super::{IdText, LongText};
use crate::domain::Text;
use crate::http::error::ApiError;
use crate::wechat::MessageContent;
use serde::Deserialize;
use utoipa::ToSchema;

type DescriptionText = Text<4096>;
type MessageText = Text<20_000>;

/// `{"content": …}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextPayload {
    #[schema(inline)]
    pub content: MessageText,
}

/// `{"media_id": …}`: an image, voice, mpnews or mpvideo.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MediaPayload {
    #[schema(inline)]
    pub media_id: IdText,
}

/// `{"card_id": …}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CardPayload {
    #[schema(inline)]
    pub card_id: IdText,
}

/// A customer-service video.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VideoPayload {
    #[schema(inline)]
    pub media_id: IdText,
    #[schema(inline)]
    pub thumb_media_id: Option<IdText>,
    #[schema(inline)]
    pub title: Option<LongText>,
    #[schema(inline)]
    pub description: Option<DescriptionText>,
}

/// The payload fields beside `msgtype`: exactly the one it names.
#[derive(Debug, Default)]
pub(super) struct Payloads {
    pub(super) text: Option<TextPayload>,
    pub(super) image: Option<MediaPayload>,
    pub(super) voice: Option<MediaPayload>,
    pub(super) video: Option<VideoPayload>,
    pub(super) mpnews: Option<MediaPayload>,
    pub(super) mpvideo: Option<MediaPayload>,
    pub(super) wxcard: Option<CardPayload>,
}

impl Payloads {
    /// The content named by `msgtype`; any other payload is refused by name.
    pub(super) fn content(self, msgtype: &'static str) -> Result<MessageContent, ApiError> {
        let present = [
            ("text", self.text.is_some()),
            ("image", self.image.is_some()),
            ("voice", self.voice.is_some()),
            ("video", self.video.is_some()),
            ("mpnews", self.mpnews.is_some()),
            ("mpvideo", self.mpvideo.is_some()),
            ("wxcard", self.wxcard.is_some()),
        ];
        if let Some((stray, _)) = present.iter().find(|(n, here)| *here && *n != msgtype) {
            return Err(ApiError::field(
                stray,
                format!("does not go with msgtype `{msgtype}`"),
            ));
        }
        let missing = || ApiError::field(msgtype, "is required");
        let media =
            |p: Option<MediaPayload>| p.map(|m| m.media_id.into_string()).ok_or_else(missing);
        Ok(match msgtype {
            "text" => MessageContent::Text {
                content: self.text.ok_or_else(missing)?.content.into_string(),
            },
            "image" => MessageContent::Image {
                media_id: media(self.image)?,
            },
            "voice" => MessageContent::Voice {
                media_id: media(self.voice)?,
            },
            "mpnews" => MessageContent::MpNews {
                media_id: media(self.mpnews)?,
            },
            "mpvideo" => MessageContent::MpVideo {
                media_id: media(self.mpvideo)?,
            },
            "wxcard" => MessageContent::WxCard {
                card_id: self.wxcard.ok_or_else(missing)?.card_id.into_string(),
            },
            _ => {
                let v = self.video.ok_or_else(missing)?;
                MessageContent::Video {
                    media_id: v.media_id.into_string(),
                    thumb_media_id: v.thumb_media_id.map(Text::into_string),
                    title: v.title.map(Text::into_string),
                    description: v.description.map(Text::into_string),
                }
            }
        })
    }
}
