//! WeChat's daily API quotas: how much of one an authorizer has used, and
//! resets (at most 10 a month per appid, WeChat's rule) through the
//! component's `clear_quota/v2`, which takes the component's secret rather
//! than a token (so a reset works even when the token quota is what ran out).

use crate::app::App;
use crate::tokens::TokenError;
use crate::wechat::{ApiQuota, WechatError};

/// Resets `appid`'s daily quotas (an authorizer's), or the component's own with `None`.
pub async fn clear(app: &App, appid: Option<&str>) -> Result<(), WechatError> {
    let result = app
        .wechat
        .component_clear_quota_v2(
            &app.config.component_appid,
            &app.config.component_secret,
            appid,
        )
        .await;
    match &result {
        Ok(()) => tracing::info!(appid = appid.unwrap_or("component"), "quota cleared"),
        Err(e) => tracing::warn!(errcode = e.errcode(), error = %e, "quota clear failed"),
    }
    result
}

/// Today's use of one API (`cgi_path`, e.g. `/cgi-bin/message/template/send`).
pub async fn get(app: &App, appid: &str, cgi_path: &str) -> Result<ApiQuota, TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.quota_get(&token, cgi_path).await
        })
        .await
}
