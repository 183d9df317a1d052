//! `/v1/authorizers/{appid}/templates…` and `…/industry`: the account's
//! template-message templates (their ids differ per account) and industries.
//! Scope `send`.

use super::{acting, body, param};
use crate::app::App;
use crate::domain::TemplateId;
use crate::http::{json_response, ApiError, Params, Request, Response};
use crate::service::keys::SCOPE_SEND;
use crate::service::templates::{self, INDUSTRY_IDS};
use crate::wechat::{IndustryClass, PrivateTemplate};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Keywords a library template may be added with (WeChat's newer library).
const MAX_KEYWORDS: usize = 10;

/// `POST …/templates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"template_id_short": "TM00015"}))]
pub(crate) struct AddTemplateRequest {
    /// The library template's short id (`TM…`, `OPENTM…`), 1..=64 characters.
    pub template_id_short: String,
    /// For the newer library: the keywords to keep, 1..=10 names.
    #[serde(default)]
    pub keyword_name_list: Vec<String>,
}

/// `POST …/industry`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"industry_id1": 1, "industry_id2": 2}))]
pub(crate) struct SetIndustryRequest {
    /// Primary industry id, 1..=41.
    pub industry_id1: u32,
    /// Secondary industry id, 1..=41, not the primary's.
    pub industry_id2: u32,
}

/// A template of the account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateBody {
    pub template_id: String,
    pub title: String,
    pub primary_industry: String,
    pub deputy_industry: String,
    /// `{{first.DATA}}`-style content naming the data keys a send fills.
    pub content: String,
    pub example: String,
}

impl From<PrivateTemplate> for TemplateBody {
    fn from(t: PrivateTemplate) -> Self {
        TemplateBody {
            template_id: t.template_id,
            title: t.title,
            primary_industry: t.primary_industry,
            deputy_industry: t.deputy_industry,
            content: t.content,
            example: t.example,
        }
    }
}

/// Every template of the account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateList {
    pub templates: Vec<TemplateBody>,
}

/// A template was added.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateAddedBody {
    /// The account's id for it: what template messages name.
    pub template_id: String,
}

/// A template was deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateDeletedBody {
    pub template_id: String,
    pub deleted: bool,
}

/// One industry's classes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndustryClassBody {
    pub first_class: String,
    pub second_class: String,
}

impl From<IndustryClass> for IndustryClassBody {
    fn from(c: IndustryClass) -> Self {
        IndustryClassBody {
            first_class: c.first_class,
            second_class: c.second_class,
        }
    }
}

/// The account's two industries.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndustryBody {
    pub primary_industry: IndustryClassBody,
    pub secondary_industry: IndustryClassBody,
}

impl AddTemplateRequest {
    fn checked(self) -> Result<(String, Vec<String>), ApiError> {
        let short = self.template_id_short.trim();
        let ok = (1..=64).contains(&short.len())
            && short
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(ApiError::field(
                "template_id_short",
                "must be a library template's short id (1..=64 of A-Z a-z 0-9 _)",
            ));
        }
        if self.keyword_name_list.len() > MAX_KEYWORDS {
            return Err(ApiError::field(
                "keyword_name_list",
                format!("holds at most {MAX_KEYWORDS} names"),
            ));
        }
        for (i, k) in self.keyword_name_list.iter().enumerate() {
            if k.trim().is_empty() || k.chars().count() > 20 {
                return Err(ApiError::field(
                    &format!("keyword_name_list[{i}]"),
                    "must be 1..=20 characters",
                ));
            }
        }
        Ok((short.to_owned(), self.keyword_name_list))
    }
}

/// `GET /v1/authorizers/{appid}/templates`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/templates", operation_id = "list_templates", tag = "messages",
    summary = "List the account's templates",
    description = "WeChat's get_all_private_template: the template ids template messages of this account may use.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    responses((status = 200, description = "Every template.", body = TemplateList)),
    security(("api_key" = []))
)]
pub async fn list(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::active_authorizer(app, &req, params, SCOPE_SEND).await?;
    let list = templates::list(app, &authorizer.appid).await?;
    Ok(json_response(
        StatusCode::OK,
        &TemplateList {
            templates: list.into_iter().map(TemplateBody::from).collect(),
        },
    ))
}

/// `POST /v1/authorizers/{appid}/templates`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/templates", operation_id = "add_template", tag = "messages",
    summary = "Add a template from WeChat's library",
    description = "api_add_template: answers the account's own template_id (WeChat allows 25 templates an account: 45026 after).",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body = AddTemplateRequest,
    responses((status = 201, description = "Added.", body = TemplateAddedBody)),
    security(("api_key" = []))
)]
pub async fn add(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let (short, keywords) = body::json::<AddTemplateRequest>(&req)?.checked()?;
    super::require_active(&authorizer)?;
    let template_id = templates::add(app, &authorizer.appid, &short, &keywords).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &TemplateAddedBody { template_id },
    ))
}

/// `DELETE /v1/authorizers/{appid}/templates/{template_id}`.
#[utoipa::path(
    delete, path = "/v1/authorizers/{appid}/templates/{template_id}", operation_id = "delete_template", tag = "messages",
    summary = "Delete a template",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("template_id" = String, Path, description = "The account's template_id."),
    ),
    responses((status = 200, description = "Deleted.", body = TemplateDeletedBody)),
    security(("api_key" = []))
)]
pub async fn delete(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let template_id = TemplateId::parse(param(params, "template_id")?)
        .map_err(|e| ApiError::field("template_id", e))?;
    super::require_active(&authorizer)?;
    templates::delete(app, &authorizer.appid, template_id.as_str()).await?;
    Ok(json_response(
        StatusCode::OK,
        &TemplateDeletedBody {
            template_id: template_id.into_string(),
            deleted: true,
        },
    ))
}

/// `GET /v1/authorizers/{appid}/industry`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/industry", operation_id = "get_industry", tag = "messages",
    summary = "Read the account's template industries",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    responses((status = 200, description = "Both industries.", body = IndustryBody)),
    security(("api_key" = []))
)]
pub async fn get_industry(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::active_authorizer(app, &req, params, SCOPE_SEND).await?;
    let industry = templates::industry(app, &authorizer.appid).await?;
    Ok(json_response(
        StatusCode::OK,
        &IndustryBody {
            primary_industry: industry.primary_industry.into(),
            secondary_industry: industry.secondary_industry.into(),
        },
    ))
}

/// `POST /v1/authorizers/{appid}/industry`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/industry", operation_id = "set_industry", tag = "messages",
    summary = "Set the account's template industries",
    description = "api_set_industry (WeChat allows a change once a month).",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body = SetIndustryRequest,
    responses((status = 200, description = "Set; both industries as WeChat now has them.", body = IndustryBody)),
    security(("api_key" = []))
)]
pub async fn set_industry(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let r: SetIndustryRequest = body::json(&req)?;
    for (field, id) in [
        ("industry_id1", r.industry_id1),
        ("industry_id2", r.industry_id2),
    ] {
        if !INDUSTRY_IDS.contains(&id) {
            return Err(ApiError::field(field, "must be an industry id, 1..=41"));
        }
    }
    if r.industry_id1 == r.industry_id2 {
        return Err(ApiError::field(
            "industry_id2",
            "must differ from industry_id1",
        ));
    }
    super::require_active(&authorizer)?;
    templates::set_industry(app, &authorizer.appid, r.industry_id1, r.industry_id2).await?;
    let industry = templates::industry(app, &authorizer.appid).await?;
    Ok(json_response(
        StatusCode::OK,
        &IndustryBody {
            primary_industry: industry.primary_industry.into(),
            secondary_industry: industry.secondary_industry.into(),
        },
    ))
}
