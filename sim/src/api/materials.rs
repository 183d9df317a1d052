//! Permanent materials (wechat-api.md §8): add_material (a video with its
//! description), get_material (the bytes as uploaded; a video's JSON),
//! del_material, get_materialcount and batchget_material.

use serde_json::{json, Value};

use super::media::{content_type_of, extension, media_part};
use super::{format_error, ok, s, u, ApiError, Ctx, FileAnswer};
use crate::world::Material;

const KB: usize = 1024;
const MB: usize = 1024 * 1024;
/// Items a batchget_material page holds at most.
const MAX_PAGE: u64 = 20;

fn unknown() -> ApiError {
    ApiError::new(40007, "invalid media_id")
}

pub(super) fn add(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let input: &super::Input = ctx.input;
    let (kind, exts, limit): (&'static str, &[&str], usize) = match input.query("type") {
        Some("image") => ("image", &["jpg", "jpeg", "png", "gif", "bmp"], 10 * MB),
        Some("voice") => ("voice", &["amr", "mp3", "wma", "wav"], 2 * MB),
        Some("video") => ("video", &["mp4"], 10 * MB),
        Some("thumb") => ("thumb", &["jpg", "jpeg"], 64 * KB),
        _ => return Err(ApiError::new(40004, "invalid media type")),
    };
    let part = media_part(ctx)?;
    let ext = extension(part);
    if !exts.contains(&ext.as_str()) {
        return Err(ApiError::new(40005, "invalid file type"));
    }
    if part.data.len() > limit {
        return Err(ApiError::new(40009, "invalid media size"));
    }
    let description = if kind == "video" {
        let text = input
            .parts
            .iter()
            .find(|p| p.name == "description")
            .and_then(|p| std::str::from_utf8(&p.data).ok())
            .ok_or_else(|| ApiError::new(40007, "invalid video description"))?;
        let d: Value = serde_json::from_str(text).map_err(|_| format_error())?;
        let d = d.as_object().ok_or_else(format_error)?;
        let title = s(d, "title").ok_or_else(format_error)?.to_owned();
        let intro = d
            .get("introduction")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Some((title, intro))
    } else {
        None
    };
    let id = format!("simmat_{}", ctx.w.rng.alnum(40));
    let material = Material {
        appid,
        kind,
        name: part
            .filename
            .clone()
            .unwrap_or_else(|| format!("{id}.{ext}")),
        data: part.data.clone(),
        content_type: content_type_of(&ext),
        update_time: ctx.now,
        description,
    };
    ctx.w.materials.insert(id.clone(), material);
    ctx.w.material_order.push(id.clone());
    let mut reply = json!({"media_id": id});
    if kind == "image" {
        if let Some(obj) = reply.as_object_mut() {
            obj.insert(
                "url".into(),
                json!(format!("http://mmbiz.qpic.cn/sim_mmbiz_png/{id}/0")),
            );
        }
    }
    Ok(reply)
}

fn body_media_id(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    s(ctx.body()?, "media_id")
        .map(str::to_owned)
        .ok_or_else(unknown)
}

pub(super) fn get(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let id = body_media_id(ctx)?;
    let m = ctx
        .w
        .materials
        .get(&id)
        .filter(|m| m.appid == appid)
        .ok_or_else(unknown)?;
    if let Some((title, intro)) = &m.description {
        return Ok(json!({
            "title": title,
            "description": intro,
            "down_url": format!("http://sim-video.example/{id}.mp4"),
        }));
    }
    ctx.file = Some(FileAnswer {
        content_type: m.content_type,
        filename: m.name.clone(),
        data: m.data.clone(),
    });
    Ok(ok())
}

pub(super) fn delete(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let id = body_media_id(ctx)?;
    if ctx.w.materials.get(&id).is_none_or(|m| m.appid != appid) {
        return Err(unknown());
    }
    ctx.w.materials.remove(&id);
    ctx.w.material_order.retain(|m| *m != id);
    Ok(ok())
}

pub(super) fn count(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let of = |kind: &str| {
        ctx.w
            .materials
            .values()
            .filter(|m| m.appid == appid && m.kind == kind)
            .count()
    };
    Ok(json!({
        "voice_count": of("voice"),
        "video_count": of("video"),
        "image_count": of("image"),
        "news_count": 0,
    }))
}

pub(super) fn batchget(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let body = ctx.body()?;
    let kind = s(body, "type").ok_or_else(|| ApiError::new(40004, "invalid media type"))?;
    if !["image", "voice", "video", "news"].contains(&kind) {
        return Err(ApiError::new(40004, "invalid media type"));
    }
    let offset = u(body, "offset").unwrap_or(0) as usize;
    let count = u(body, "count").ok_or_else(format_error)?;
    if !(1..=MAX_PAGE).contains(&count) {
        return Err(ApiError::new(40033, "invalid count"));
    }
    // Newest first, as WeChat lists them.
    let all: Vec<(&String, &Material)> = ctx
        .w
        .material_order
        .iter()
        .rev()
        .filter_map(|id| ctx.w.materials.get(id).map(|m| (id, m)))
        .filter(|(_, m)| m.appid == appid && m.kind == kind)
        .collect();
    let items: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(count as usize)
        .map(|(id, m)| {
            json!({
                "media_id": id,
                "name": m.name,
                "update_time": m.update_time,
                "url": format!("http://mmbiz.qpic.cn/sim_mmbiz/{id}/0"),
            })
        })
        .collect();
    Ok(json!({"total_count": all.len(), "item_count": items.len(), "item": items}))
}
