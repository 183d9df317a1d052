//! Media uploads: article images (→ url), temporary media (→ media_id) and
//! news articles (→ media_id). Type, extension and size are checked here,
//! before WeChat is called, with WeChat's safer limits (wechat-api.md §5).

use crate::app::App;
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

/// Why a file is refused before WeChat sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefused {
    #[error("file `{filename}` must have one of the extensions: {}", .allowed.join(", "))]
    Extension {
        filename: String,
        allowed: &'static [&'static str],
    },
    #[error("the file is empty")]
    Empty,
    #[error("the file is {size} bytes; at most {limit} bytes are accepted for this type")]
    TooLarge { size: usize, limit: usize },
}

/// Checks a file before it is sent to WeChat.
pub fn check_upload(kind: UploadKind, filename: &str, size: usize) -> Result<(), UploadRefused> {
    let (extensions, limit) = kind.rules();
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !extensions.contains(&ext.as_str()) {
        return Err(UploadRefused::Extension {
            filename: filename.to_owned(),
            allowed: extensions,
        });
    }
    if size == 0 {
        return Err(UploadRefused::Empty);
    }
    if size > limit {
        return Err(UploadRefused::TooLarge { size, limit });
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

    #[test]
    fn extensions_and_sizes_are_checked_per_kind() {
        let thumb = UploadKind::parse("thumb").unwrap();
        assert!(check_upload(thumb, "t.jpg", 64 * KB).is_ok());
        assert_eq!(
            check_upload(thumb, "t.jpg", 64 * KB + 1),
            Err(UploadRefused::TooLarge {
                size: 64 * KB + 1,
                limit: 64 * KB
            })
        );
        assert!(check_upload(thumb, "t.png", 10)
            .unwrap_err()
            .to_string()
            .contains("extensions: jpg, jpeg"));
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
}
