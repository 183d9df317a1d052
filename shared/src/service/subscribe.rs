//! Subscription notifications (订阅通知), the successor of template messages
//! on many accounts: one follower who subscribed, one WeChat call.

use crate::app::App;
use crate::tokens::TokenError;
use crate::wechat::SubscribeMessage;

/// Sends one notification (43101: the follower did not subscribe).
pub async fn send(app: &App, appid: &str, message: &SubscribeMessage) -> Result<(), TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.send_subscribe(&token, message).await
        })
        .await
}
