//! Template, mass and customer-service messages (wechat-api.md §5).

use serde_json::{json, Map, Value};

use super::{format_error, ok, s, u, ApiError, Ctx, DAY};
use crate::push::PushEvent;
use crate::world::{Account, Quota};

const MINUTE: u64 = 60;

pub(super) fn template_send(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let now = ctx.now;
    let limits = ctx.w.cfg.limits.clone();
    let finish = ctx.w.cfg.finish_pushes;
    let body = ctx.body()?;
    let touser = s(body, "touser").ok_or_else(|| ApiError::new(40003, "invalid openid"))?;
    let template_id =
        s(body, "template_id").ok_or_else(|| ApiError::new(40037, "invalid template_id"))?;
    if let Some(data) = body.get("data") {
        let well_formed = data.as_object().is_some_and(|m| {
            m.values()
                .all(|v| v.get("value").is_some_and(Value::is_string))
        });
        if !well_formed {
            return Err(format_error());
        }
    }
    if body.get("url").is_some_and(|v| !v.is_string()) {
        return Err(format_error());
    }
    if let Some(mp) = body.get("miniprogram") {
        if s(mp.as_object().ok_or_else(format_error)?, "appid").is_none() {
            return Err(format_error());
        }
    }
    let client_msg_id = match body.get("client_msg_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() && id.len() <= 64 => Some(id.as_str()),
        Some(_) => return Err(format_error()),
    };
    let appid = ctx.caller_appid()?;
    let msgid = ctx.w.next_msgid;
    let account = ctx.w.accounts.get_mut(&appid).ok_or_else(format_error)?;
    account.check_follower(touser)?;
    if !account
        .templates
        .iter()
        .any(|t| t.template_id == template_id)
    {
        return Err(ApiError::new(40037, "invalid template_id"));
    }
    if let Some(id) = client_msg_id {
        if let Some((earlier, at)) = account.template_dedupe.get(id) {
            if now < at + limits.template_dedupe_window {
                return Err(ApiError::new(45065, "clientmsgid exist").with("msgid", json!(earlier)));
            }
        }
    }
    if !account
        .counters
        .take(Quota::TemplateDay, now / DAY, limits.template_sends_per_day)
    {
        return Err(ApiError::new(45009, "reach max api daily quota limit"));
    }
    if let Some(id) = client_msg_id {
        account.template_dedupe.insert(id.to_owned(), (msgid, now));
    }
    let status = if account.blocked.contains(touser) {
        "failed:user block"
    } else {
        "success"
    };
    let user_name = finish.then(|| account.cfg.user_name.clone());
    ctx.w.next_msgid += 1;
    let sent = (touser.to_owned(), client_msg_id.map(str::to_owned), msgid);
    // Look up before inserting: `entry` would allocate a key on every send.
    match ctx.w.template_sends.get_mut(&appid) {
        Some(sends) => sends.push(sent),
        None => {
            ctx.w.template_sends.insert(appid.clone(), vec![sent]);
        }
    }
    if let Some(user_name) = user_name {
        ctx.events.push(PushEvent::TemplateFinish {
            appid,
            user_name,
            openid: touser.to_owned(),
            msgid,
            status,
        });
    }
    Ok(json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
}

/// Check a message payload of `msgtype`: 40008 unknown type, 40007 unknown media, 47001 malformed.
fn check_payload(
    ctx: &Ctx<'_>,
    appid: &str,
    body: &Map<String, Value>,
    types: &[&str],
) -> Result<(), ApiError> {
    let msgtype = s(body, "msgtype").ok_or_else(|| ApiError::new(40008, "invalid message type"))?;
    if !types.contains(&msgtype) {
        return Err(ApiError::new(40008, "invalid message type"));
    }
    let payload = body
        .get(msgtype)
        .and_then(Value::as_object)
        .ok_or_else(format_error)?;
    let wanted = match msgtype {
        "mpnews" => "news",
        "mpvideo" => "video",
        other => other,
    };
    let media_ok = |id: &str| {
        ctx.w
            .media
            .get(id)
            .is_some_and(|m| m.appid == appid && m.kind == wanted && ctx.now < m.expires_at)
    };
    match msgtype {
        "text" => s(payload, "content").map(|_| ()).ok_or_else(format_error),
        "wxcard" => s(payload, "card_id").map(|_| ()).ok_or_else(format_error),
        "news" | "msgmenu" | "miniprogrampage" | "music" => Ok(()),
        _ => {
            let id =
                s(payload, "media_id").ok_or_else(|| ApiError::new(40007, "invalid media_id"))?;
            if media_ok(id) {
                Ok(())
            } else {
                Err(ApiError::new(40007, "invalid media_id"))
            }
        }
    }
}

const MASS_TYPES: &[&str] = &["mpnews", "text", "voice", "image", "mpvideo", "wxcard"];

/// Dedupe by clientmsgid, then count against the daily and per-minute quotas.
fn admit_mass(ctx: &mut Ctx<'_>, appid: &str, clientmsgid: Option<&str>) -> Result<(), ApiError> {
    let now = ctx.now;
    let limits = ctx.w.cfg.limits.clone();
    let a = ctx.w.accounts.get_mut(appid).ok_or_else(format_error)?;
    if let Some(id) = clientmsgid {
        if let Some((earlier, at)) = a.mass_dedupe.get(id) {
            if now < at + limits.mass_retry_gap {
                return Err(ApiError::new(45066, "same clientmsgid retry too fast")
                    .with("msg_id", json!(earlier)));
            }
            if now < at + limits.mass_dedupe_window {
                return Err(
                    ApiError::new(45065, "clientmsgid exist").with("msg_id", json!(earlier))
                );
            }
        }
    }
    if !a.counters.take(
        Quota::MassMinute,
        now / MINUTE,
        limits.mass_sends_per_minute,
    ) {
        return Err(ApiError::new(45009, "reach max api minute quota limit"));
    }
    if !a
        .counters
        .take(Quota::MassDay, now / DAY, limits.mass_sends_per_day)
    {
        return Err(ApiError::new(45009, "reach max api daily quota limit"));
    }
    Ok(())
}

fn clientmsgid(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("clientmsgid") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if !id.is_empty() && id.len() <= 64 => Ok(Some(id.clone())),
        Some(_) => Err(format_error()),
    }
}

/// Record the mass job and queue its finish push; answer like WeChat.
fn complete_mass(
    ctx: &mut Ctx<'_>,
    appid: &str,
    msgtype: &str,
    clientmsgid: Option<String>,
    recipients: Vec<&str>,
) -> Value {
    let msgid = ctx.w.next_msgid();
    let now = ctx.now;
    let finish = ctx.w.cfg.finish_pushes;
    let mut sent = 0u64;
    let mut user_name = String::new();
    if let Some(a) = ctx.w.accounts.get_mut(appid) {
        sent = recipients
            .iter()
            .filter(|o| a.follower_set.contains(**o) && !a.blocked.contains(**o))
            .count() as u64;
        if let Some(id) = clientmsgid {
            a.mass_dedupe.insert(id, (msgid, now));
        }
        user_name = a.cfg.user_name.clone();
    }
    let total = recipients.len() as u64;
    let status = if total > 0 && sent == 0 {
        "send fail"
    } else {
        "send success"
    };
    ctx.w.masses.insert(
        msgid,
        crate::world::Mass {
            appid: appid.to_owned(),
            status: if status == "send fail" {
                "SEND_FAIL"
            } else {
                "SEND_SUCCESS"
            },
        },
    );
    if finish {
        ctx.events.push(PushEvent::MassFinish {
            appid: appid.to_owned(),
            user_name,
            msgid,
            status,
            total,
            sent,
            errors: total - sent,
        });
    }
    let mut reply = json!({"errcode": 0, "errmsg": "send job submission success", "msg_id": msgid});
    if msgtype == "mpnews" {
        if let Some(obj) = reply.as_object_mut() {
            obj.insert(
                "msg_data_id".into(),
                json!(msgid % 1_000_000_000 + 2_247_000_000),
            );
        }
    }
    reply
}

pub(super) fn mass_sendall(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let body = ctx.body()?;
    let filter = body
        .get("filter")
        .and_then(Value::as_object)
        .ok_or_else(format_error)?;
    let to_all = filter
        .get("is_to_all")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let tag_id = if to_all {
        None
    } else {
        Some(u(filter, "tag_id").ok_or_else(format_error)?)
    };
    check_payload(ctx, &appid, body, MASS_TYPES)?;
    let msgtype = s(body, "msgtype").unwrap_or_default().to_owned();
    let id = clientmsgid(body)?;
    let account = ctx.w.accounts.get(&appid).ok_or_else(format_error)?;
    let recipients: Vec<String> = match tag_id {
        None => account.followers.clone(),
        Some(tag) => {
            let tag = account
                .tags
                .iter()
                .find(|t| t.id == tag)
                .ok_or_else(|| ApiError::new(40050, "invalid tag id"))?;
            tag.members
                .iter()
                .filter(|m| account.follower_set.contains(*m))
                .cloned()
                .collect()
        }
    };
    admit_mass(ctx, &appid, id.as_deref())?;
    let refs = recipients.iter().map(String::as_str).collect();
    Ok(complete_mass(ctx, &appid, &msgtype, id, refs))
}

pub(super) fn mass_send(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let body = ctx.body()?;
    let touser = body
        .get("touser")
        .and_then(Value::as_array)
        .ok_or_else(format_error)?;
    if !(2..=10_000).contains(&touser.len()) {
        return Err(ApiError::new(
            40130,
            "invalid openid list size, at least two openid",
        ));
    }
    let mut recipients = Vec::with_capacity(touser.len());
    for o in touser {
        let o = o.as_str().ok_or_else(format_error)?;
        if !crate::ids::openid_shaped(o) {
            return Err(ApiError::new(40003, "invalid openid"));
        }
        recipients.push(o.to_owned());
    }
    check_payload(ctx, &appid, body, MASS_TYPES)?;
    let msgtype = s(body, "msgtype").unwrap_or_default().to_owned();
    let id = clientmsgid(body)?;
    admit_mass(ctx, &appid, id.as_deref())?;
    let refs = recipients.iter().map(String::as_str).collect();
    Ok(complete_mass(ctx, &appid, &msgtype, id, refs))
}

fn msg_id(body: &Map<String, Value>) -> Result<u64, ApiError> {
    u(body, "msg_id").ok_or_else(format_error)
}

pub(super) fn mass_get(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let id = msg_id(ctx.body()?)?;
    let mass = ctx
        .w
        .masses
        .get(&id)
        .filter(|m| m.appid == appid)
        .ok_or_else(|| ApiError::new(40035, "invalid args: unknown msg_id"))?;
    Ok(json!({"msg_id": id, "msg_status": mass.status}))
}

pub(super) fn mass_delete(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let id = msg_id(ctx.body()?)?;
    let mass = ctx
        .w
        .masses
        .get_mut(&id)
        .filter(|m| m.appid == appid)
        .ok_or_else(|| ApiError::new(40035, "invalid args: unknown msg_id"))?;
    mass.status = "DELETE";
    Ok(ok())
}

pub(super) fn mass_preview(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let body = ctx.body()?;
    match (s(body, "touser"), s(body, "towxname")) {
        (Some(openid), _) => ctx.account()?.check_follower(openid)?,
        (None, Some(_)) => {}
        (None, None) => return Err(ApiError::new(40003, "invalid openid")),
    }
    check_payload(ctx, &appid, body, MASS_TYPES)?;
    let msgid = ctx.w.next_msgid();
    Ok(json!({"errcode": 0, "errmsg": "preview success", "msg_id": msgid}))
}

const CUSTOM_TYPES: &[&str] = &[
    "text",
    "image",
    "voice",
    "video",
    "music",
    "news",
    "mpnews",
    "msgmenu",
    "wxcard",
    "miniprogrampage",
];

/// Replies a user's message allows before they speak again.
const REPLIES_PER_WINDOW: u32 = 20;

pub(super) fn custom_send(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let body = ctx.body()?;
    let touser = s(body, "touser").ok_or_else(|| ApiError::new(40003, "invalid openid"))?;
    ctx.account()?.check_follower(touser)?;
    check_payload(ctx, &appid, body, CUSTOM_TYPES)?;
    let window = ctx.w.cfg.limits.custom_window;
    let now = ctx.now;
    let account: &mut Account = ctx.account()?;
    let w = account
        .windows
        .get_mut(touser)
        .filter(|w| now < w.last_message_at + window)
        .ok_or_else(|| {
            ApiError::new(
                45015,
                "response out of time limit or subscription is canceled",
            )
        })?;
    if w.replies >= REPLIES_PER_WINDOW {
        return Err(ApiError::new(45047, "out of response count limit"));
    }
    w.replies += 1;
    Ok(ok())
}
