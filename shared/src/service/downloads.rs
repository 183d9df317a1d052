//! Downloads of an authorizer's temporary media (`media/get`): WeChat's bytes
//! and content type, read no further than [`MAX_DOWNLOAD_BYTES`].

use crate::app::App;
use crate::tokens::TokenError;
use crate::wechat::{Download, WechatError};

/// The most of a download wxopen holds (WeChat's files are at most 10 MB).
pub const MAX_DOWNLOAD_BYTES: usize = crate::http::MAX_BODY_BYTES;
/// errcode of media/get for a media_id it does not know (or that expired, after 3 days).
pub const UNKNOWN_MEDIA: i64 = 40007;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("WeChat does not know media {0} for this account (or it expired)")]
    UnknownMedia(String),
    #[error(transparent)]
    Token(TokenError),
}

/// A temporary media item: a file, or a video's JSON (`video_url`).
pub async fn media(app: &App, appid: &str, media_id: &str) -> Result<Download, DownloadError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.media_get(&token, media_id, MAX_DOWNLOAD_BYTES).await
        })
        .await
        .map_err(|e| match e {
            TokenError::Wechat(WechatError::Api { errcode, .. }) if errcode == UNKNOWN_MEDIA => {
                DownloadError::UnknownMedia(media_id.to_owned())
            }
            other => DownloadError::Token(other),
        })
}
