//! Media upload bodies: news articles as JSON, a file as multipart/form-data.

use super::{IdText, LongText, ShortText};
use crate::domain::{HttpUrl, Text};
use crate::http::error::ApiError;
use crate::wechat::Article;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// WeChat takes article bodies under 1 MB (and one request body is at most 2 MiB).
type ArticleBody = Text<{ 1024 * 1024 }>;

/// `news`: the only `type` of a JSON media upload (files go as multipart/form-data).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NewsType {
    News,
}

/// `POST /v1/authorizers/{appid}/media` as JSON: news articles for a mass send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "news", "articles": [{"title": "Spring sale", "thumb_media_id": "MEDIA_ID", "content": "<p>20% off</p>"}]}))]
pub(crate) struct NewsUploadRequest {
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    #[allow(dead_code)] // only checked: it must say `news`
    pub kind: NewsType,
    /// 1..=8 articles.
    #[schema(min_items = 1, max_items = 8)]
    pub articles: Vec<ArticleRequest>,
}

impl NewsUploadRequest {
    /// WeChat's bounds on the articles of one news item (the schema's `minItems`/`maxItems`).
    const ARTICLES: std::ops::RangeInclusive<usize> = 1..=8;
}

/// One news article.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArticleRequest {
    #[schema(inline)]
    pub title: IdText,
    #[schema(inline)]
    pub thumb_media_id: IdText,
    /// HTML; images must be URLs from an `article_image` upload.
    #[schema(inline)]
    pub content: ArticleBody,
    #[schema(inline)]
    pub author: Option<ShortText>,
    #[schema(inline)]
    pub digest: Option<LongText>,
    /// "Read more" link.
    pub content_source_url: Option<HttpUrl>,
    pub show_cover_pic: Option<Flag>,
    pub need_open_comment: Option<Flag>,
    pub only_fans_can_comment: Option<Flag>,
}

impl TryFrom<NewsUploadRequest> for Vec<Article> {
    type Error = ApiError;

    fn try_from(r: NewsUploadRequest) -> Result<Vec<Article>, ApiError> {
        if !NewsUploadRequest::ARTICLES.contains(&r.articles.len()) {
            return Err(ApiError::field(
                "articles",
                format!("must hold 1..=8 articles, got {}", r.articles.len()),
            ));
        }
        Ok(r.articles
            .into_iter()
            .map(|a| Article {
                title: a.title.into_string(),
                thumb_media_id: a.thumb_media_id.into_string(),
                content: a.content.into_string(),
                author: a.author.map(Text::into_string),
                digest: a.digest.map(Text::into_string),
                content_source_url: a.content_source_url.map(HttpUrl::into_string),
                show_cover_pic: a.show_cover_pic.map(|f| f.0),
                need_open_comment: a.need_open_comment.map(|f| f.0),
                only_fans_can_comment: a.only_fans_can_comment.map(|f| f.0),
            })
            .collect())
    }
}

/// 0 or 1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag(u8);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            v @ (0 | 1) => Ok(Flag(v as u8)),
            _ => Err(de::Error::custom("must be 0 or 1")),
        }
    }
}

impl PartialSchema for Flag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some([0, 1]))
            .into()
    }
}

impl ToSchema for Flag {}

/// The kinds of file upload (`type` of the multipart form).
#[derive(Debug, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // described to the document; the form is read by `media::UploadKind::parse`
pub(crate) enum UploadType {
    /// An image for article bodies (jpg/png under 1 MB): answers a URL.
    ArticleImage,
    /// Temporary media (3 days): jpg, jpeg, png, gif, bmp up to 2 MB.
    Image,
    /// amr, mp3 up to 2 MB.
    Voice,
    /// mp4 up to 10 MB.
    Video,
    /// jpg up to 64 KB.
    Thumb,
}

/// `POST /v1/authorizers/{appid}/media` as multipart/form-data: a file.
#[derive(ToSchema)]
#[allow(dead_code)] // read field by field by `multipart::read_form`
pub(crate) struct MediaUploadForm {
    #[schema(rename = "type")]
    kind: UploadType,
    /// The file; its name's extension must fit the type.
    #[schema(value_type = String, format = Binary)]
    media: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::requests::read;
    use serde_json::json;

    #[test]
    fn news_articles_are_read_and_bad_ones_named() {
        let news = |v| {
            read::<NewsUploadRequest>(v)
                .and_then(Vec::<Article>::try_from)
                .map_err(|e| e.message())
        };
        let ok = json!({"type": "news", "articles": [{"title": "T", "thumb_media_id": "m", "content": "<p>x</p>", "show_cover_pic": 1}]});
        assert_eq!(news(ok).unwrap()[0].show_cover_pic, Some(1));
        let bad = json!({"type": "news", "articles": [{"title": "T", "content": "c"}]});
        assert!(news(bad)
            .unwrap_err()
            .contains("`articles[0].thumb_media_id`: is required"));
        let flag = json!({"type": "news", "articles": [{"title": "T", "thumb_media_id": "m", "content": "c", "show_cover_pic": 2}]});
        assert!(news(flag)
            .unwrap_err()
            .contains("`articles[0].show_cover_pic`: must be 0 or 1"));
        let nine = json!({"type": "news", "articles": vec![json!({"title": "T", "thumb_media_id": "m", "content": "c"}); 9]});
        assert!(news(nine).unwrap_err().contains("1..=8"));
    }
}
