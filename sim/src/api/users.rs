//! Followers: list, info and batch info (wechat-api.md §5).

use serde_json::{json, Value};

use super::{format_error, s, ApiError, Ctx};
use crate::world::Account;

pub(super) fn user_get(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let input: &super::Input = ctx.input;
    let page = ctx.w.cfg.limits.user_page_size.max(1);
    let account = ctx.account()?;
    let start = match input.query("next_openid").filter(|s| !s.is_empty()) {
        None => 0,
        Some(next) => {
            account
                .followers
                .iter()
                .position(|f| f == next)
                .ok_or_else(|| ApiError::new(40003, "invalid openid"))?
                + 1
        }
    };
    let list: Vec<&String> = account.followers.iter().skip(start).take(page).collect();
    let mut reply = json!({"total": account.followers.len(), "count": list.len()});
    let next = list.last().map(|s| s.as_str()).unwrap_or("");
    if let Some(obj) = reply.as_object_mut() {
        obj.insert("next_openid".into(), json!(next));
        if !list.is_empty() {
            obj.insert("data".into(), json!({ "openid": list }));
        }
    }
    Ok(reply)
}

fn info(account: &Account, openid: &str, lang: &str) -> Result<Value, ApiError> {
    account
        .check_follower(openid)
        .or_else(|e| if e.code == 43004 { Ok(()) } else { Err(e) })?;
    if !account.follower_set.contains(openid) {
        return Ok(json!({"subscribe": 0, "openid": openid}));
    }
    let tags: Vec<u64> = account
        .tags
        .iter()
        .filter(|t| t.members.iter().any(|m| m == openid))
        .map(|t| t.id)
        .collect();
    Ok(json!({
        "subscribe": 1,
        "openid": openid,
        "language": lang,
        "subscribe_time": account.subscribe_time,
        // Every sandbox account is bound to one Open Platform account: one
        // person's unionid is their openid without the account's prefix.
        "unionid": format!("oUnion{}", openid.get(6..).unwrap_or(openid)),
        "remark": account.remarks.get(openid).cloned().unwrap_or_default(),
        "groupid": tags.first().copied().unwrap_or(0),
        "tagid_list": tags,
        "subscribe_scene": "ADD_SCENE_QR_CODE",
        "qr_scene": 0,
        "qr_scene_str": "",
    }))
}

pub(super) fn user_info(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let input: &super::Input = ctx.input;
    let openid = input
        .query("openid")
        .filter(|o| !o.is_empty())
        .ok_or_else(|| ApiError::new(40003, "invalid openid"))?;
    let lang = input.query("lang").unwrap_or("zh_CN");
    info(ctx.account()?, openid, lang)
}

pub(super) fn batchget(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let list = ctx
        .body()?
        .get("user_list")
        .and_then(Value::as_array)
        .ok_or_else(format_error)?;
    if list.is_empty() {
        return Err(format_error());
    }
    if list.len() > 100 {
        return Err(ApiError::new(45035, "user_list size out of limit (100)"));
    }
    let account = ctx.account()?;
    let infos = list
        .iter()
        .map(|item| {
            let item = item.as_object().ok_or_else(format_error)?;
            let openid = s(item, "openid").ok_or_else(|| ApiError::new(40003, "invalid openid"))?;
            info(account, openid, s(item, "lang").unwrap_or("zh_CN"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "user_info_list": infos }))
}

/// Openid of a JSON body: 40003 when missing.
fn body_openid<'a>(ctx: &Ctx<'a>) -> Result<&'a str, ApiError> {
    s(ctx.body()?, "openid").ok_or_else(|| ApiError::new(40003, "invalid openid"))
}

/// `user/info/updateremark`: a note under 30 characters on a follower.
pub(super) fn update_remark(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let openid = body_openid(ctx)?.to_owned();
    let remark = ctx
        .body()?
        .get("remark")
        .and_then(Value::as_str)
        .ok_or_else(format_error)?
        .to_owned();
    if remark.chars().count() >= 30 {
        return Err(ApiError::new(45001, "remark size out of limit"));
    }
    let account = ctx.account()?;
    account.check_follower(&openid)?;
    account.remarks.insert(openid, remark);
    Ok(super::ok())
}

/// `tags/getidlist`: the tags a follower carries.
pub(super) fn tags_of(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let openid = body_openid(ctx)?.to_owned();
    let account = ctx.account()?;
    account.check_follower(&openid)?;
    let tags: Vec<u64> = account
        .tags
        .iter()
        .filter(|t| t.members.contains(&openid))
        .map(|t| t.id)
        .collect();
    Ok(json!({ "tagid_list": tags }))
}
