//! Private templates of an account (wechat-api.md §5).

use serde_json::{json, Value};

use super::{format_error, ok, s, ApiError, Ctx};
use crate::config::TemplateConfig;

pub(super) fn get_all(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let list: Vec<Value> = ctx
        .account()?
        .templates
        .iter()
        .map(|t| {
            json!({
                "template_id": t.template_id,
                "title": t.title,
                "primary_industry": "IT科技",
                "deputy_industry": "互联网|电子商务",
                "content": t.content,
                "example": "",
            })
        })
        .collect();
    Ok(json!({ "template_list": list }))
}

pub(super) fn add(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let short = s(ctx.body()?, "template_id_short").ok_or_else(format_error)?;
    let max = ctx.w.cfg.limits.max_templates;
    let id = format!("SimTplAdded{}", ctx.w.rng.alnum(32));
    let account = ctx.account()?;
    if account.templates.len() >= max {
        return Err(ApiError::new(45026, "template num exceeds limit"));
    }
    account.templates.push(TemplateConfig {
        template_id: id.clone(),
        title: format!("Template {short}"),
        content: "{{first.DATA}}\n{{keyword1.DATA}}\n{{remark.DATA}}".into(),
    });
    Ok(json!({"errcode": 0, "errmsg": "ok", "template_id": id}))
}

pub(super) fn delete(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id =
        s(ctx.body()?, "template_id").ok_or_else(|| ApiError::new(40037, "invalid template_id"))?;
    let account = ctx.account()?;
    let before = account.templates.len();
    account.templates.retain(|t| t.template_id != id);
    if account.templates.len() == before {
        return Err(ApiError::new(40037, "invalid template_id"));
    }
    Ok(ok())
}
