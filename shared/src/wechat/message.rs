//! The message body shared by mass and customer-service messages, written the
//! WeChat way: `"msgtype":"text","text":{"content":…}`.

use serde::{Deserialize, Serialize};

/// What a mass or customer-service message says. The enum serializes as the
/// `"<msgtype>": {…}` entry; the request types add `"msgtype"` beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageContent {
    #[serde(rename = "text")]
    Text { content: String },
    #[serde(rename = "image")]
    Image { media_id: String },
    #[serde(rename = "voice")]
    Voice { media_id: String },
    /// Articles (uploaded with `upload_news` for mass sends).
    #[serde(rename = "mpnews")]
    MpNews { media_id: String },
    /// Mass sends only.
    #[serde(rename = "mpvideo")]
    MpVideo { media_id: String },
    #[serde(rename = "wxcard")]
    WxCard { card_id: String },
    /// Customer-service messages only.
    #[serde(rename = "video")]
    Video {
        media_id: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        thumb_media_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        title: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        description: Option<String>,
    },
}

impl MessageContent {
    /// The `msgtype` value WeChat expects for this content.
    pub fn msgtype(&self) -> &'static str {
        match self {
            MessageContent::Text { .. } => "text",
            MessageContent::Image { .. } => "image",
            MessageContent::Voice { .. } => "voice",
            MessageContent::MpNews { .. } => "mpnews",
            MessageContent::MpVideo { .. } => "mpvideo",
            MessageContent::WxCard { .. } => "wxcard",
            MessageContent::Video { .. } => "video",
        }
    }

    /// A text message.
    pub fn text(content: impl Into<String>) -> Self {
        MessageContent::Text {
            content: content.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgtype_matches_the_serialized_key() {
        let all = [
            MessageContent::text("t"),
            MessageContent::Image {
                media_id: "m".into(),
            },
            MessageContent::Voice {
                media_id: "m".into(),
            },
            MessageContent::MpNews {
                media_id: "m".into(),
            },
            MessageContent::MpVideo {
                media_id: "m".into(),
            },
            MessageContent::WxCard {
                card_id: "c".into(),
            },
            MessageContent::Video {
                media_id: "m".into(),
                thumb_media_id: None,
                title: None,
                description: None,
            },
        ];
        for content in all {
            let json = serde_json::to_value(&content).unwrap();
            let object = json.as_object().unwrap();
            assert_eq!(object.len(), 1);
            assert!(object.contains_key(content.msgtype()), "{json}");
        }
    }
}
