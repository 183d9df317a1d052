//! Media uploads: article images (→ url), temporary media (→ media_id) and
//! news articles (→ media_id). Type, extension and size are checked here,
//! before WeChat is called, with WeChat's safer limits (wechat-api.md §5).

use crate::app::App;
use crate::service::input::{check_url, InvalidInput, Object};
use crate::tokens::TokenError;
use crate::wechat::{Article, MediaType, UploadedMedia};
use bytes::Bytes;

const KB: usize = 1024;
const MB: usize = 1024 * 1024;

/// What is being uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// An image for article bodies (`media/uploadimg`): jpg/png under 1 MB; answers a URL.
    ArticleImage,
    /// Temporary media (`media/upload`), valid 3 days.
    Temporary(MediaType),
}

impl UploadKind {
    /// `article_image`, `image`, `voice`, `video`, `thumb`.
    pub fn parse(s: &str) -> Option<UploadKind> {
        Some(match s {
            "article_image" => UploadKind::ArticleImage,
            "image" => UploadKind::Temporary(MediaType::Image),
            "voice" => UploadKind::Temporary(MediaType::Voice),
            "video" => UploadKind::Temporary(MediaType::Video),
            "thumb" => UploadKind::Temporary(MediaType::Thumb),
            _ => return None,
        })
    }

    /// Accepted file extensions and the size limit in bytes (inclusive).
    fn rules(self) -> (&'static [&'static str], usize) {
        match self {
            UploadKind::ArticleImage => (&["jpg", "jpeg", "png"], MB - 1),
            // WeChat's pages disagree (10 MB / 2 MB): the safer figure.
            UploadKind::Temporary(MediaType::Image) => {
                (&["jpg", "jpeg", "png", "gif", "bmp"], 2 * MB)
            }
            UploadKind::Temporary(MediaType::Voice) => (&["amr", "mp3"], 2 * MB),
            UploadKind::Temporary(MediaType::Video) => (&["mp4"], 10 * MB),
            UploadKind::Temporary(MediaType::Thumb) => (&["jpg", "jpeg"], 64 * KB),
        }
    }
}

/// The accepted kinds, for messages.
pub const UPLOAD_KINDS: &str = "article_image, image, voice, video, thumb";

/// Checks a file before it is sent to WeChat.
pub fn check_upload(kind: UploadKind, filename: &str, size: usize) -> Result<(), InvalidInput> {
    let (extensions, limit) = kind.rules();
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !extensions.contains(&ext.as_str()) {
        return Err(InvalidInput::new(
            "media",
            format!(
                "file `{filename}` must have one of the extensions: {}",
                extensions.join(", ")
            ),
        ));
    }
    if size == 0 {
        return Err(InvalidInput::new("media", "the file is empty"));
    }
    if size > limit {
        return Err(InvalidInput::new(
            "media",
            format!("the file is {size} bytes; at most {limit} bytes are accepted for this type"),
        ));
    }
    Ok(())
}

/// What an upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uploaded {
    Url(String),
    Media(UploadedMedia),
}

/// Uploads a checked file for the authorizer.
pub async fn upload(
    app: &App,
    appid: &str,
    kind: UploadKind,
    filename: &str,
    data: Bytes,
) -> Result<Uploaded, TokenError> {
    let wechat = &app.wechat;
    match kind {
        UploadKind::ArticleImage => app
            .tokens
            .with_authorizer_token(appid, |token| {
                let data = data.clone();
                async move { wechat.upload_img(&token, filename, data).await }
            })
            .await
            .map(Uploaded::Url),
        UploadKind::Temporary(media_type) => app
            .tokens
            .with_authorizer_token(appid, |token| {
                let data = data.clone();
                async move {
                    wechat
                        .upload_media(&token, media_type, filename, data)
                        .await
                }
            })
            .await
            .map(Uploaded::Media),
    }
}

/// Reads `{"type": "news", "articles": [1..=8 {title, thumb_media_id, content, author?, digest?, content_source_url?, show_cover_pic?}]}`.
pub fn parse_news(body: &serde_json::Value) -> Result<Vec<Article>, InvalidInput> {
    let root = Object::root(body)?;
    root.deny_unknown(&["type", "articles"])?;
    match root.opt_str("type")? {
        Some("news") => {}
        _ => return Err(InvalidInput::new(
            "type",
            "a JSON upload must have `\"type\": \"news\"` (files are sent as multipart/form-data)",
        )),
    }
    let items = match root.opt_value("articles") {
        Some(serde_json::Value::Array(items)) => items,
        Some(_) => return Err(InvalidInput::new("articles", "must be an array")),
        None => return Err(InvalidInput::new("articles", "is required")),
    };
    if items.is_empty() || items.len() > 8 {
        return Err(InvalidInput::new(
            "articles",
            format!("must hold 1..=8 articles, got {}", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            article(item)
                .map_err(|e| InvalidInput::new(format!("articles[{i}].{}", e.field), e.message))
        })
        .collect()
}

fn article(value: &serde_json::Value) -> Result<Article, InvalidInput> {
    let a = Object::root(value)?;
    a.deny_unknown(&[
        "title",
        "thumb_media_id",
        "content",
        "author",
        "digest",
        "content_source_url",
        "show_cover_pic",
        "need_open_comment",
        "only_fans_can_comment",
    ])?;
    let flag = |key: &str| -> Result<Option<u8>, InvalidInput> {
        match a.opt_u64(key)? {
            None => Ok(None),
            Some(v @ (0 | 1)) => Ok(Some(v as u8)),
            Some(_) => Err(InvalidInput::new(key, "must be 0 or 1")),
        }
    };
    let source = a.opt_nonempty_str("content_source_url", 2048)?;
    if let Some(u) = source {
        check_url("content_source_url", u)?;
    }
    Ok(Article {
        title: a.str("title", 256)?.to_owned(),
        thumb_media_id: a.str("thumb_media_id", 256)?.to_owned(),
        content: a.str("content", 2 * MB)?.to_owned(),
        author: a.opt_nonempty_str("author", 64)?.map(str::to_owned),
        digest: a.opt_nonempty_str("digest", 1024)?.map(str::to_owned),
        content_source_url: source.map(str::to_owned),
        show_cover_pic: flag("show_cover_pic")?,
        need_open_comment: flag("need_open_comment")?,
        only_fans_can_comment: flag("only_fans_can_comment")?,
    })
}

/// Uploads news articles for a mass send; returns the media_id.
pub async fn upload_news(
    app: &App,
    appid: &str,
    articles: &[Article],
) -> Result<String, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.upload_news(&token, articles).await
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extensions_and_sizes_are_checked_per_kind() {
        let thumb = UploadKind::parse("thumb").unwrap();
        assert!(check_upload(thumb, "t.jpg", 64 * KB).is_ok());
        assert!(check_upload(thumb, "t.jpg", 64 * KB + 1)
            .unwrap_err()
            .message
            .contains("at most"));
        assert!(check_upload(thumb, "t.png", 10)
            .unwrap_err()
            .message
            .contains("extensions"));
        let img = UploadKind::parse("article_image").unwrap();
        assert!(check_upload(img, "a.PNG", MB - 1).is_ok());
        assert!(check_upload(img, "a.png", MB).is_err());
        assert!(check_upload(UploadKind::parse("voice").unwrap(), "v.mp3", 0).is_err());
    }

    #[test]
    fn unknown_kinds_are_none() {
        assert_eq!(UploadKind::parse("file"), None);
        assert_eq!(
            UploadKind::parse("image"),
            Some(UploadKind::Temporary(MediaType::Image))
        );
    }

    #[test]
    fn news_articles_are_read_and_bad_ones_named() {
        let ok = json!({"type": "news", "articles": [{"title": "T", "thumb_media_id": "m", "content": "<p>x</p>", "show_cover_pic": 1}]});
        assert_eq!(parse_news(&ok).unwrap()[0].show_cover_pic, Some(1));
        let bad = json!({"type": "news", "articles": [{"title": "T", "content": "c"}]});
        assert_eq!(
            parse_news(&bad).unwrap_err().field,
            "articles[0].thumb_media_id"
        );
        let nine = json!({"type": "news", "articles": vec![json!({}); 9]});
        assert!(parse_news(&nine).unwrap_err().message.contains("1..=8"));
    }
}
