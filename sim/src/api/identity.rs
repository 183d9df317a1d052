//! Identity endpoints (wechat-api.md §8): the web-OAuth code exchange on an
//! authorizer's behalf and the user's profile, jsapi tickets and QR codes.

use serde_json::{json, Value};

use super::{format_error, s, u, ApiError, Ctx};
use crate::identity::{nickname_of, QrState, QR_DEFAULT_EXPIRE, QR_MAX_EXPIRE, SNS_TOKEN_TTL};

/// `sns/oauth2/component/access_token` (component token): the checks WeChat
/// makes, then the user's openid and sns tokens.
pub(super) fn sns_component_access_token(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let input: &super::Input = ctx.input;
    let q = |name| input.query(name).filter(|v| !v.is_empty());
    if q("component_appid") != Some(ctx.w.cfg.component.appid.as_str()) {
        return Err(ApiError::new(40013, "invalid component_appid"));
    }
    if q("grant_type") != Some("authorization_code") {
        return Err(ApiError::new(40002, "invalid grant_type"));
    }
    let appid = q("appid").ok_or_else(|| ApiError::new(41002, "appid missing"))?;
    let code = q("code").ok_or_else(|| ApiError::new(41008, "missing code"))?;
    let authorized = ctx
        .w
        .accounts
        .get(appid)
        .is_some_and(|a| a.authorization.is_some());
    if !authorized {
        return Err(ApiError::new(
            61003,
            "component is not authorized by this account",
        ));
    }
    let now = ctx.now;
    let (openid, scope) = ctx.w.identity.redeem_code(code, appid, now)?;
    let w = &mut *ctx.w;
    let access_token = w.identity.issue_sns_token(&mut w.rng, &openid, &scope, now);
    let refresh_token = format!("simsnsrefresh_{}", w.rng.alnum(48));
    Ok(json!({
        "access_token": access_token,
        "expires_in": SNS_TOKEN_TTL,
        "refresh_token": refresh_token,
        "openid": openid,
        "scope": scope,
    }))
}

/// `sns/userinfo` (the user's sns token, `snsapi_userinfo` only).
pub(super) fn sns_userinfo(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let input: &super::Input = ctx.input;
    let token = input
        .query("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::new(41001, "access_token missing"))?;
    let state = ctx
        .w
        .identity
        .sns_tokens
        .get(token)
        .ok_or_else(crate::world::invalid_credential)?;
    if ctx.now >= state.expires_at {
        return Err(ApiError::new(42001, "access_token expired"));
    }
    if input.query("openid") != Some(state.openid.as_str()) {
        return Err(ApiError::new(40003, "invalid openid"));
    }
    if state.scope != "snsapi_userinfo" {
        return Err(ApiError::new(48001, "api unauthorized"));
    }
    let openid = state.openid.clone();
    Ok(json!({
        "openid": openid,
        "nickname": nickname_of(&openid),
        "sex": 0,
        "province": "",
        "city": "",
        "country": "CN",
        "headimgurl": format!("https://thirdwx.qlogo.cn/mmopen/sim/{openid}/132"),
        "privilege": [],
    }))
}

/// `ticket/getticket?type=jsapi` (authorizer token): a fresh ticket each call.
pub(super) fn getticket(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    if ctx.input.query("type") != Some("jsapi") {
        return Err(ApiError::new(
            40097,
            "invalid args: type must be jsapi or wx_card",
        ));
    }
    let appid = ctx.caller_appid()?;
    let now = ctx.now;
    let w = &mut *ctx.w;
    let ticket = w.identity.issue_jsapi_ticket(&mut w.rng, &appid, now);
    Ok(json!({
        "errcode": 0,
        "errmsg": "ok",
        "ticket": ticket,
        "expires_in": crate::identity::JSAPI_TICKET_TTL,
    }))
}

/// `qrcode/create` (authorizer token): WeChat's limits on scenes and lifetimes.
pub(super) fn qrcode_create(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    let action =
        s(body, "action_name").ok_or_else(|| ApiError::new(40054, "invalid action name"))?;
    let scene = body
        .get("action_info")
        .and_then(|a| a.get("scene"))
        .and_then(Value::as_object)
        .ok_or_else(format_error)?;
    let permanent = match action {
        "QR_SCENE" | "QR_STR_SCENE" => false,
        "QR_LIMIT_SCENE" | "QR_LIMIT_STR_SCENE" => true,
        _ => return Err(ApiError::new(40054, "invalid action name")),
    };
    let scene = if action.ends_with("STR_SCENE") {
        let text = s(scene, "scene_str").ok_or_else(|| ApiError::new(40053, "invalid scene"))?;
        if text.chars().count() > 64 {
            return Err(ApiError::new(40053, "invalid scene"));
        }
        text.to_owned()
    } else {
        let id = u(scene, "scene_id").ok_or_else(|| ApiError::new(40053, "invalid scene"))?;
        let fits = if permanent {
            (1..=100_000).contains(&id)
        } else {
            id >= 1 && id <= u64::from(u32::MAX)
        };
        if !fits {
            return Err(ApiError::new(40053, "invalid scene"));
        }
        id.to_string()
    };
    let expire = if permanent {
        None
    } else {
        let asked = u(body, "expire_seconds").unwrap_or(QR_DEFAULT_EXPIRE);
        Some(asked.clamp(1, QR_MAX_EXPIRE))
    };
    let appid = ctx.caller_appid()?;
    let now = ctx.now;
    let w = &mut *ctx.w;
    let ticket = w.identity.issue_qrcode(
        &mut w.rng,
        QrState {
            appid,
            scene,
            expires_at: expire.map(|e| now + e),
        },
    );
    let url = format!("http://weixin.qq.com/q/{}", &ticket[2..24]);
    let mut reply = json!({"ticket": ticket, "url": url});
    if let (Some(e), Some(obj)) = (expire, reply.as_object_mut()) {
        obj.insert("expire_seconds".into(), json!(e));
    }
    Ok(reply)
}
