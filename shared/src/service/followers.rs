//! An authorizer's followers: the openid list, profiles (one, or many at once),
//! remarks and the tags a follower carries. Every call goes through the
//! authorizer's token with compare-and-invalidate on a rejected token.

use crate::app::App;
use crate::domain::OpenId;
use crate::tokens::TokenError;
use crate::wechat::{UserInfo, UserList};
use futures::stream::{self, StreamExt, TryStreamExt};

/// Profiles per user/info/batchget call (WeChat's limit).
pub const BATCHGET_PER_CALL: usize = 100;
/// Most openids one batchget request takes (split into calls of 100).
pub const MAX_BATCHGET: usize = 10_000;
/// A remark is shorter than this many characters (WeChat's rule).
pub const MAX_REMARK_CHARS: usize = 30;

/// One page of followers from `cursor` (WeChat's next_openid) on.
pub async fn list(app: &App, appid: &str, cursor: Option<&OpenId>) -> Result<UserList, TokenError> {
    let wechat = &app.wechat;
    let cursor = cursor.map(OpenId::as_str);
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.user_get(&token, cursor).await
        })
        .await
}

/// One follower's profile (`subscribe` 0 for someone who does not follow).
pub async fn info(
    app: &App,
    appid: &str,
    openid: &OpenId,
    lang: Option<&str>,
) -> Result<UserInfo, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.user_info(&token, openid.as_str(), lang).await
        })
        .await
}

/// Profiles of up to [`MAX_BATCHGET`] openids, in request order: WeChat's
/// calls of 100 run concurrently (at most `send_concurrency` at once) and
/// the first failure is the answer (nothing partial).
pub async fn batchget(
    app: &App,
    appid: &str,
    openids: &[OpenId],
) -> Result<Vec<UserInfo>, TokenError> {
    let width = app.config.send_concurrency.max(1);
    // The futures are built first: a closure over borrowed chunks inside the
    // stream would make the handler's future not `Send` for every lifetime.
    let calls: Vec<_> = openids
        .chunks(BATCHGET_PER_CALL)
        .map(|chunk| batch_page(app, appid, chunk))
        .collect();
    let pages: Vec<Vec<UserInfo>> = stream::iter(calls).buffered(width).try_collect().await?;
    Ok(pages.into_iter().flatten().collect())
}

async fn batch_page(app: &App, appid: &str, chunk: &[OpenId]) -> Result<Vec<UserInfo>, TokenError> {
    let wechat = &app.wechat;
    let ids: Vec<&str> = chunk.iter().map(OpenId::as_str).collect();
    let ids = &ids;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.user_info_batchget(&token, ids).await
        })
        .await
}

/// Sets the account's note on a follower ("" clears it).
pub async fn remark(
    app: &App,
    appid: &str,
    openid: &OpenId,
    remark: &str,
) -> Result<(), TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat
                .user_update_remark(&token, openid.as_str(), remark)
                .await
        })
        .await
}

/// The ids of the tags a follower carries.
pub async fn tags_of(app: &App, appid: &str, openid: &OpenId) -> Result<Vec<u64>, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.tags_of(&token, openid.as_str()).await
        })
        .await
}
