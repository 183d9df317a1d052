//! Media uploads: article images, temporary media and news (wechat-api.md §5).

use serde_json::{json, Value};

use bytes::Bytes;

use super::{format_error, s, ApiError, Ctx, FileAnswer, Part};
use crate::world::Media;

const KB: usize = 1024;
const MB: usize = 1024 * 1024;

pub(super) fn media_part<'a>(ctx: &Ctx<'a>) -> Result<&'a Part, ApiError> {
    let input: &'a super::Input = ctx.input;
    input
        .parts
        .iter()
        .find(|p| p.name == "media")
        .filter(|p| !p.data.is_empty())
        .ok_or_else(|| ApiError::new(41005, "media data missing"))
}

/// The file's extension, from its name or else its content type.
pub(super) fn extension(part: &Part) -> String {
    let from_name = part
        .filename
        .as_deref()
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    from_name
        .or_else(|| {
            part.content_type
                .as_deref()
                .and_then(|c| c.rsplit_once('/'))
                .map(|(_, sub)| sub.to_ascii_lowercase())
        })
        .unwrap_or_default()
}

fn new_media_id(ctx: &mut Ctx<'_>, kind: &'static str) -> Result<String, ApiError> {
    store_media(ctx, kind, Bytes::new(), "application/octet-stream")
}

/// The content type WeChat answers a file with, from its extension.
pub(super) fn content_type_of(ext: &str) -> &'static str {
    match ext {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "amr" => "audio/amr",
        "mp3" => "audio/mpeg",
        "speex" => "audio/speex",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

fn store_media(
    ctx: &mut Ctx<'_>,
    kind: &'static str,
    data: Bytes,
    content_type: &'static str,
) -> Result<String, ApiError> {
    let appid = ctx.caller_appid()?;
    let id = format!("simmedia_{}", ctx.w.rng.alnum(48));
    let expires_at = ctx.now + ctx.w.cfg.limits.media_ttl;
    ctx.w.media.insert(
        id.clone(),
        Media {
            appid,
            kind,
            expires_at,
            data,
            content_type,
        },
    );
    Ok(id)
}

pub(super) fn upload_img(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let part = media_part(ctx)?;
    if !matches!(extension(part).as_str(), "jpg" | "jpeg" | "png") {
        return Err(ApiError::new(40005, "invalid file type"));
    }
    if part.data.len() >= MB {
        return Err(ApiError::new(40009, "invalid image size"));
    }
    let id = new_media_id(ctx, "uploadimg")?;
    Ok(json!({"url": format!("http://mmbiz.qpic.cn/sim_mmbiz_jpg/{id}/0")}))
}

pub(super) fn upload(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let input: &super::Input = ctx.input;
    let (kind, exts, limit): (&'static str, &[&str], usize) = match input.query("type") {
        Some("image") => ("image", &["jpg", "jpeg", "png", "gif", "bmp"], 10 * MB),
        Some("voice") => ("voice", &["amr", "mp3", "speex"], 2 * MB),
        Some("video") => ("video", &["mp4"], 10 * MB),
        Some("thumb") => ("thumb", &["jpg", "jpeg"], 64 * KB),
        _ => return Err(ApiError::new(40004, "invalid media type")),
    };
    let part = media_part(ctx)?;
    if !exts.contains(&extension(part).as_str()) {
        return Err(ApiError::new(40005, "invalid file type"));
    }
    if part.data.len() > limit {
        return Err(ApiError::new(40009, "invalid media size"));
    }
    let ext = extension(part);
    let id = store_media(ctx, kind, part.data.clone(), content_type_of(&ext))?;
    let mut reply = json!({"type": kind, "media_id": id, "created_at": ctx.now});
    if kind == "thumb" {
        if let Some(obj) = reply.as_object_mut() {
            obj.insert("thumb_media_id".into(), json!(id));
        }
    }
    Ok(reply)
}

pub(super) fn upload_news(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let articles = ctx
        .body()?
        .get("articles")
        .and_then(Value::as_array)
        .ok_or_else(format_error)?;
    if articles.is_empty() {
        return Err(ApiError::new(44003, "empty news data"));
    }
    if articles.len() > 8 {
        return Err(ApiError::new(45008, "article size out of limit"));
    }
    for article in articles {
        let a = article.as_object().ok_or_else(format_error)?;
        if s(a, "title").is_none() || s(a, "content").is_none() {
            return Err(ApiError::new(44003, "empty news data"));
        }
        let thumb =
            s(a, "thumb_media_id").ok_or_else(|| ApiError::new(40007, "invalid media_id"))?;
        let known = ctx
            .w
            .media
            .get(thumb)
            .is_some_and(|m| m.appid == appid && ctx.now < m.expires_at);
        if !known {
            return Err(ApiError::new(40007, "invalid media_id"));
        }
    }
    let id = new_media_id(ctx, "news")?;
    Ok(json!({"type": "news", "media_id": id, "created_at": ctx.now}))
}

/// `media/get`: a temporary media item of the caller's account, as uploaded;
/// a video answers JSON with its `video_url`. 40007 for an id that is unknown,
/// expired, another account's or not a file.
pub(super) fn media_get(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let appid = ctx.caller_appid()?;
    let input: &super::Input = ctx.input;
    let id = input
        .query("media_id")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::new(40007, "invalid media_id"))?;
    let media = ctx
        .w
        .media
        .get(id)
        .filter(|m| m.appid == appid && ctx.now < m.expires_at && !m.data.is_empty())
        .ok_or_else(|| ApiError::new(40007, "invalid media_id"))?;
    if media.kind == "video" {
        return Ok(json!({"video_url": format!("http://sim-video.example/{id}.mp4")}));
    }
    ctx.file = Some(FileAnswer {
        content_type: media.content_type,
        filename: format!(
            "{id}.{}",
            media.content_type.rsplit('/').next().unwrap_or("bin")
        ),
        data: media.data.clone(),
    });
    Ok(super::ok())
}
