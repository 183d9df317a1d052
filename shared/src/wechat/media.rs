//! Media uploads: images for article bodies, temporary media, and articles
//! for mass sends.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::call::{Token, Upload};
use super::de::u64_lenient;
use super::{paths, WechatClient, WechatError};
use crate::secret::Secret;

/// Kinds of temporary media (`media/upload?type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Image,
    Voice,
    Video,
    Thumb,
}

impl MediaType {
    /// The `type` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Voice => "voice",
            MediaType::Video => "video",
            MediaType::Thumb => "thumb",
        }
    }
}

/// A temporary media item, usable for 3 days.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawUploadedMedia")]
pub struct UploadedMedia {
    pub media_type: MediaType,
    pub media_id: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// The wire form: thumbnails name the id `thumb_media_id`, and some replies
/// carry both names, so neither may be required alone.
#[derive(Deserialize)]
struct RawUploadedMedia {
    #[serde(rename = "type")]
    media_type: MediaType,
    #[serde(default)]
    media_id: Option<String>,
    #[serde(default)]
    thumb_media_id: Option<String>,
    #[serde(default, deserialize_with = "u64_lenient")]
    created_at: u64,
}

impl TryFrom<RawUploadedMedia> for UploadedMedia {
    type Error = &'static str;

    fn try_from(raw: RawUploadedMedia) -> Result<Self, Self::Error> {
        let media_id = raw
            .media_id
            .or(raw.thumb_media_id)
            .filter(|id| !id.is_empty())
            .ok_or("missing field `media_id`")?;
        Ok(UploadedMedia {
            media_type: raw.media_type,
            media_id,
            created_at: raw.created_at,
        })
    }
}

/// One article of a news item for mass sends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Article {
    pub title: String,
    pub thumb_media_id: String,
    /// HTML; images must be URLs from `upload_img`.
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// "Read more" link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_source_url: Option<String>,
    /// 1 shows the cover image in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_cover_pic: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_open_comment: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_fans_can_comment: Option<u8>,
}

#[derive(Deserialize)]
struct UrlReply {
    url: String,
}

#[derive(Deserialize)]
struct MediaIdReply {
    media_id: String,
}

impl WechatClient {
    /// `media/uploadimg`: an image for article bodies (jpg/png < 1 MB);
    /// returns its permanent URL.
    pub async fn upload_img(
        &self,
        access_token: &Secret,
        filename: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<String, WechatError> {
        let upload = Upload {
            filename,
            bytes: bytes.into(),
        };
        let reply: UrlReply = self
            .post_media(
                paths::MEDIA_UPLOADIMG,
                Token::Access(access_token),
                &[],
                upload,
            )
            .await?;
        Ok(reply.url)
    }

    /// `media/upload?type=`: temporary media. The file name's extension
    /// matters to WeChat (jpg, png, mp3, amr, mp4 …).
    pub async fn upload_media(
        &self,
        access_token: &Secret,
        media_type: MediaType,
        filename: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<UploadedMedia, WechatError> {
        let upload = Upload {
            filename,
            bytes: bytes.into(),
        };
        self.post_media(
            paths::MEDIA_UPLOAD,
            Token::Access(access_token),
            &[("type", Some(media_type.as_str()))],
            upload,
        )
        .await
    }

    /// `media/uploadnews`: 1..=8 articles for a mass send; returns the media_id.
    pub async fn upload_news(
        &self,
        access_token: &Secret,
        articles: &[Article],
    ) -> Result<String, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            articles: &'a [Article],
        }
        let reply: MediaIdReply = self
            .post_json(
                paths::MEDIA_UPLOADNEWS,
                Token::Access(access_token),
                &Body { articles },
            )
            .await?;
        Ok(reply.media_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_reply_names_its_id_thumb_media_id() {
        let m: UploadedMedia =
            serde_json::from_str(r#"{"type":"thumb","thumb_media_id":"t1","created_at":1}"#)
                .unwrap();
        assert_eq!(m.media_type, MediaType::Thumb);
        assert_eq!(m.media_id, "t1");
    }

    #[test]
    fn thumbnail_reply_with_both_id_names_decodes() {
        let m: UploadedMedia = serde_json::from_str(
            r#"{"type":"thumb","media_id":"m1","thumb_media_id":"m1","created_at":1}"#,
        )
        .unwrap();
        assert_eq!(m.media_id, "m1");
    }
}
