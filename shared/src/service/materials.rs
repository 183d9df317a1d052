//! An authorizer's permanent materials: add (a video with its title and
//! introduction), read back, list, count, delete.

use crate::app::App;
use crate::service::downloads::{DownloadError, MAX_DOWNLOAD_BYTES, UNKNOWN_MEDIA};
use crate::tokens::TokenError;
use crate::wechat::{
    AddedMaterial, Download, MaterialCount, MaterialPage, MaterialType, VideoDescription,
    WechatError,
};
use bytes::Bytes;

/// Items a list page holds at most (WeChat's batchget_material limit).
pub const MAX_PAGE: u64 = 20;

/// A 40007 becomes "unknown media", anything else stays a token/WeChat error.
fn unknown_or(media_id: &str, e: TokenError) -> DownloadError {
    match e {
        TokenError::Wechat(WechatError::Api { errcode, .. }) if errcode == UNKNOWN_MEDIA => {
            DownloadError::UnknownMedia(media_id.to_owned())
        }
        other => DownloadError::Token(other),
    }
}

pub async fn add(
    app: &App,
    appid: &str,
    kind: MaterialType,
    filename: &str,
    bytes: Bytes,
    description: Option<&VideoDescription>,
) -> Result<AddedMaterial, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| {
            let bytes = bytes.clone();
            async move {
                wechat
                    .material_add(&token, kind, filename, bytes, description)
                    .await
            }
        })
        .await
}

pub async fn get(app: &App, appid: &str, media_id: &str) -> Result<Download, DownloadError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat
                .material_get(&token, media_id, MAX_DOWNLOAD_BYTES)
                .await
        })
        .await
        .map_err(|e| unknown_or(media_id, e))
}

pub async fn delete(app: &App, appid: &str, media_id: &str) -> Result<(), DownloadError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.material_delete(&token, media_id).await
        })
        .await
        .map_err(|e| unknown_or(media_id, e))
}

pub async fn count(app: &App, appid: &str) -> Result<MaterialCount, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(
            appid,
            |token| async move { wechat.material_count(&token).await },
        )
        .await
}

pub async fn list(
    app: &App,
    appid: &str,
    kind: MaterialType,
    offset: u64,
    count: u64,
) -> Result<MaterialPage, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.material_list(&token, kind, offset, count).await
        })
        .await
}
