//! An authorizer's follower tags: list, create, rename, delete, and who
//! carries them. Member calls of any size are split into WeChat's 50 per call.

use crate::app::App;
use crate::domain::OpenId;
use crate::tokens::TokenError;
use crate::wechat::{Tag, TAG_MEMBERS_PER_CALL};
use futures::stream::{self, StreamExt, TryStreamExt};

/// Characters of a tag name (WeChat's limit).
pub const MAX_TAG_NAME_CHARS: usize = 30;
/// Most openids one members request takes.
pub const MAX_TAG_MEMBERS: usize = 10_000;

/// Every tag of the account, with its follower count.
pub async fn list(app: &App, appid: &str) -> Result<Vec<Tag>, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move { wechat.tags_get(&token).await })
        .await
}

/// A new tag.
pub async fn create(app: &App, appid: &str, name: &str) -> Result<Tag, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.tags_create(&token, name).await
        })
        .await
}

/// Renames a tag.
pub async fn rename(app: &App, appid: &str, id: u64, name: &str) -> Result<(), TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.tags_update(&token, id, name).await
        })
        .await
}

/// Deletes a tag.
pub async fn delete(app: &App, appid: &str, id: u64) -> Result<(), TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.tags_delete(&token, id).await
        })
        .await
}

/// Tags (`add`) or untags followers: WeChat's calls of 50 run concurrently
/// (at most `send_concurrency` at once). Tagging is idempotent, so after a
/// failure the client repeats the whole request. Returns the calls made.
pub async fn members(
    app: &App,
    appid: &str,
    id: u64,
    openids: &[OpenId],
    add: bool,
) -> Result<usize, TokenError> {
    let width = app.config.send_concurrency.max(1);
    // Futures built first, as in followers::batchget (a `Send` handler future).
    let calls: Vec<_> = openids
        .chunks(TAG_MEMBERS_PER_CALL)
        .map(|chunk| members_call(app, appid, id, chunk, add))
        .collect();
    let calls: Vec<()> = stream::iter(calls)
        .buffer_unordered(width)
        .try_collect()
        .await?;
    Ok(calls.len())
}

async fn members_call(
    app: &App,
    appid: &str,
    id: u64,
    chunk: &[OpenId],
    add: bool,
) -> Result<(), TokenError> {
    let wechat = &app.wechat;
    let ids: Vec<String> = chunk.iter().map(|o| o.as_str().to_owned()).collect();
    let ids = &ids;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.tags_members(&token, id, ids, add).await
        })
        .await
}
