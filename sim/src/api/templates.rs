//! Private templates of an account (wechat-api.md §5).

use serde_json::{json, Value};

use super::{format_error, ok, s, u, ApiError, Ctx};
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

/// Some of WeChat's template industry ids (1..=41) with their classes.
const INDUSTRIES: &[(u64, &str, &str)] = &[
    (1, "IT科技", "互联网/电子商务"),
    (2, "IT科技", "IT软件与服务"),
    (3, "IT科技", "IT硬件与设备"),
    (10, "交通工具", "汽车相关"),
    (16, "餐饮", "餐饮"),
    (31, "运输与仓储", "快递"),
    (41, "其它", "其它"),
];

fn industry(id: u64) -> Value {
    let (first, second) = INDUSTRIES
        .iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, f, s)| (*f, *s))
        .unwrap_or(("其它", "其它"));
    json!({"first_class": first, "second_class": second})
}

pub(super) fn get_industry(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let (a, b) = ctx.account()?.industry;
    Ok(json!({"primary_industry": industry(a), "secondary_industry": industry(b)}))
}

/// `api_set_industry`: ids 1..=41; the two must differ.
pub(super) fn set_industry(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    let a = u(body, "industry_id1").ok_or_else(format_error)?;
    let b = u(body, "industry_id2").ok_or_else(format_error)?;
    if !(1..=41).contains(&a) || !(1..=41).contains(&b) || a == b {
        return Err(ApiError::new(40102, "invalid industry id"));
    }
    ctx.account()?.industry = (a, b);
    Ok(ok())
}
