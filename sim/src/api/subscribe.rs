//! Subscription notifications: `message/subscribe/bizsend` (wechat-api.md §8).
//! A follower who blocked the account has not subscribed (43101); the
//! template must be the account's (40037); values take no colour and are at
//! most 20 characters (a `thing` keyword's limit; 47003 otherwise); an
//! account's accepted notifications are counted per day (45009 past
//! `subscribe_sends_per_day`) and per follower, for tests to assert.

use serde_json::Value;

use super::{format_error, ok, s, ApiError, Ctx, DAY};
use crate::world::Quota;

/// Characters of a value.
const MAX_VALUE_CHARS: usize = 20;

pub(super) fn bizsend(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    let touser = s(body, "touser")
        .ok_or_else(|| ApiError::new(40003, "invalid openid"))?
        .to_owned();
    let template_id = s(body, "template_id")
        .ok_or_else(|| ApiError::new(40037, "invalid template_id"))?
        .to_owned();
    let data = body
        .get("data")
        .and_then(Value::as_object)
        .filter(|d| !d.is_empty())
        .ok_or_else(format_error)?;
    for value in data.values() {
        let fields = value.as_object().ok_or_else(format_error)?;
        let text = fields
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(format_error)?;
        if fields.len() != 1 || text.chars().count() > MAX_VALUE_CHARS {
            return Err(ApiError::new(47003, "argument invalid! data.value invalid"));
        }
    }
    if let Some(mp) = body.get("miniprogram") {
        if s(mp.as_object().ok_or_else(format_error)?, "appid").is_none() {
            return Err(format_error());
        }
    }
    let now = ctx.now;
    let limit = ctx.w.cfg.limits.subscribe_sends_per_day;
    let appid = ctx.caller_appid()?;
    let account = ctx.w.accounts.get_mut(&appid).ok_or_else(format_error)?;
    account.check_follower(&touser)?;
    if account.blocked.contains(&touser) {
        return Err(ApiError::new(43101, "user refuse to accept the msg"));
    }
    if !account
        .templates
        .iter()
        .any(|t| t.template_id == template_id)
    {
        return Err(ApiError::new(40037, "invalid template_id"));
    }
    if !account.counters.take(Quota::SubscribeDay, now / DAY, limit) {
        return Err(ApiError::new(45009, "reach max api daily quota limit"));
    }
    *ctx.w
        .subscribe_sends
        .entry(appid)
        .or_default()
        .entry(touser)
        .or_insert(0) += 1;
    Ok(ok())
}
