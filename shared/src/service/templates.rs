//! An authorizer's template-message templates: the list, adding one from
//! WeChat's library (template ids differ per account), deleting one, and the
//! account's two industries, which decide the library it may add from.

use crate::app::App;
use crate::tokens::TokenError;
use crate::wechat::{Industry, PrivateTemplate};

/// Industry ids WeChat knows (1..=41).
pub const INDUSTRY_IDS: std::ops::RangeInclusive<u32> = 1..=41;

pub async fn list(app: &App, appid: &str) -> Result<Vec<PrivateTemplate>, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.get_all_private_template(&token).await
        })
        .await
}

/// Adds a template by its library short id; answers the account's template_id.
pub async fn add(
    app: &App,
    appid: &str,
    short_id: &str,
    keywords: &[String],
) -> Result<String, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.add_template(&token, short_id, keywords).await
        })
        .await
}

pub async fn delete(app: &App, appid: &str, template_id: &str) -> Result<(), TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.delete_template(&token, template_id).await
        })
        .await
}

pub async fn industry(app: &App, appid: &str) -> Result<Industry, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(
            appid,
            |token| async move { wechat.get_industry(&token).await },
        )
        .await
}

pub async fn set_industry(
    app: &App,
    appid: &str,
    first: u32,
    second: u32,
) -> Result<(), TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.set_industry(&token, first, second).await
        })
        .await
}
