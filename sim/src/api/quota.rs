//! Quota resets: `clear_quota` (with a token) and `component/clear_quota/v2` (with the secret).

use serde_json::{json, Value};

use super::{ok, s, ApiError, Ctx};
use crate::world::{Owner, Quota, World};

const MONTH: u64 = 30 * 86400;

/// Reset every daily counter of `appid` (component or account), 10 times a month at most.
fn reset(w: &mut World, appid: &str, now: u64) -> Result<(), ApiError> {
    let limit = w.cfg.limits.clear_quota_per_month;
    let month = now / MONTH;
    let spent = || ApiError::new(48006, "forbid to clear quota because of reaching the limit");
    if appid == w.cfg.component.appid {
        let uses = &mut w.component_clear_quota;
        if uses.0 != month {
            *uses = (month, 0);
        }
        if uses.1 >= limit {
            return Err(spent());
        }
        uses.1 += 1;
        w.component_counters.reset();
        return Ok(());
    }
    let account = w
        .accounts
        .get_mut(appid)
        .ok_or_else(|| ApiError::new(40013, "invalid appid"))?;
    if account.clear_quota.0 != month {
        account.clear_quota = (month, 0);
    }
    if account.clear_quota.1 >= limit {
        return Err(spent());
    }
    account.clear_quota.1 += 1;
    account.counters.reset();
    Ok(())
}

pub(super) fn clear_quota(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = s(ctx.body()?, "appid")
        .ok_or_else(|| ApiError::new(41002, "appid missing"))?
        .to_owned();
    let allowed = match &ctx.caller {
        Some(Owner::Component) => appid == ctx.w.cfg.component.appid,
        Some(Owner::Authorizer(own)) => *own == appid,
        None => false,
    };
    if !allowed {
        return Err(ApiError::new(40013, "invalid appid"));
    }
    reset(ctx.w, &appid, ctx.now)?;
    Ok(ok())
}

pub(super) fn clear_quota_v2(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    let cappid = s(body, "component_appid").ok_or_else(|| ApiError::new(41002, "appid missing"))?;
    if cappid != ctx.w.cfg.component.appid {
        return Err(ApiError::new(61011, "invalid component"));
    }
    let secret = s(body, "appsecret").ok_or_else(|| ApiError::new(41004, "appsecret missing"))?;
    if secret != ctx.w.cfg.component.secret.expose() {
        return Err(ApiError::new(40125, "invalid appsecret"));
    }
    let target = s(body, "appid").unwrap_or(cappid).to_owned();
    if target != ctx.w.cfg.component.appid {
        let account = ctx
            .w
            .accounts
            .get(&target)
            .ok_or_else(|| ApiError::new(40013, "invalid appid"))?;
        if account.authorization.is_none() {
            return Err(ApiError::new(
                61003,
                "component is not authorized by this account",
            ));
        }
    }
    reset(ctx.w, &target, ctx.now)?;
    Ok(ok())
}

/// `openapi/quota/get`: today's use of one API by the caller's account; the
/// simulator counts template, subscription-notification and mass sends (76021 for any other path).
pub(super) fn quota_get(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let path = s(ctx.body()?, "cgi_path")
        .ok_or_else(|| ApiError::new(47001, "data format error"))?
        .to_owned();
    let limits = &ctx.w.cfg.limits;
    let (quota, limit) = match path.as_str() {
        "/cgi-bin/message/template/send" => (Quota::TemplateDay, limits.template_sends_per_day),
        "/cgi-bin/message/subscribe/bizsend" => {
            (Quota::SubscribeDay, limits.subscribe_sends_per_day)
        }
        "/cgi-bin/message/mass/sendall" | "/cgi-bin/message/mass/send" => {
            (Quota::MassDay, limits.mass_sends_per_day)
        }
        _ => return Err(ApiError::new(76021, "cgi_path not found")),
    };
    let day = ctx.now / super::DAY;
    let used = ctx.account()?.counters.used(quota, day).min(limit);
    Ok(
        json!({"errcode": 0, "errmsg": "ok", "quota": {"daily_limit": limit, "used": used, "remain": limit - used}}),
    )
}
