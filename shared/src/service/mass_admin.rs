//! A mass message's preview to one person before it goes to many, and the
//! deletion of a sent one's articles (the WxJava mass walkthrough's ends).

use crate::app::App;
use crate::service::mass::MassStatusError;
use crate::tokens::TokenError;
use crate::wechat::MassPreview;

/// errcode of mass/delete for a msg_id WeChat does not know.
const UNKNOWN_MSG_ID: i64 = 40035;

/// Sends the message to one follower (or WeChat id) to look at.
pub async fn preview(app: &App, appid: &str, preview: &MassPreview) -> Result<(), TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.mass_preview(&token, preview).await
        })
        .await
}

/// Deletes a sent mass message's articles (all, or the `article_idx`th, from 1):
/// they read as deleted to everyone who received them.
pub async fn delete(
    app: &App,
    appid: &str,
    msg_id: u64,
    article_idx: Option<u32>,
) -> Result<(), MassStatusError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.mass_delete(&token, msg_id, article_idx).await
        })
        .await
        .map_err(|e| match e {
            TokenError::Wechat(ref w) if w.errcode() == Some(UNKNOWN_MSG_ID) => {
                MassStatusError::UnknownMsgId(msg_id)
            }
            other => MassStatusError::Token(other),
        })
}
