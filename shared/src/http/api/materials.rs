//! `/v1/authorizers/{appid}/materials…`: permanent materials. Scope `send`.
//! A file added here stays until deleted (temporary media expire in 3 days).

use super::downloads::{file_response, media_id_param, FileBytes};
use super::{acting, body, multipart, number_param};
use crate::app::App;
use crate::http::{json_response, query_params, ApiError, Params, Request, Response};
use crate::service::keys::SCOPE_SEND;
use crate::service::materials::{self, MAX_PAGE};
use crate::service::media::{check_upload, UploadKind};
use crate::wechat::{Download, MaterialItem, MaterialType, VideoDescription};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

const KINDS: &str = "image, voice, video, thumb";
const LIST_KINDS: &str = "image, voice, video, news";

/// `POST …/materials`: multipart/form-data.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the form to the document only
pub(crate) struct MaterialUploadForm {
    /// `image`, `voice`, `video` or `thumb`.
    #[schema(rename = "type")]
    kind: String,
    /// The file (type, extension and size are checked before WeChat is called).
    #[schema(value_type = String, format = Binary)]
    media: Vec<u8>,
    /// A video's title (required for a video).
    title: Option<String>,
    /// A video's introduction.
    introduction: Option<String>,
}

/// A material was added.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MaterialAddedBody {
    pub media_id: String,
    /// Images only: their URL for article bodies.
    pub url: Option<String>,
}

/// A permanent video (or news) read back: WeChat answers JSON for these.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MaterialDocumentBody {
    pub title: Option<String>,
    pub description: Option<String>,
    pub down_url: Option<String>,
    /// News materials: their articles as WeChat gives them.
    #[schema(value_type = Option<Vec<Object>>)]
    pub news_item: Option<serde_json::Value>,
}

/// The account's material counts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MaterialCountBody {
    pub image_count: u64,
    pub voice_count: u64,
    pub video_count: u64,
    pub news_count: u64,
}

/// One material of a page.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MaterialItemBody {
    pub media_id: String,
    pub name: Option<String>,
    pub url: Option<String>,
    pub update_time: u64,
    /// News only.
    #[schema(value_type = Option<Object>)]
    pub content: Option<serde_json::Value>,
}

impl From<MaterialItem> for MaterialItemBody {
    fn from(i: MaterialItem) -> Self {
        MaterialItemBody {
            media_id: i.media_id,
            name: i.name,
            url: i.url,
            update_time: i.update_time,
            content: i.content,
        }
    }
}

/// One page of materials, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MaterialPageBody {
    pub total_count: u64,
    pub items: Vec<MaterialItemBody>,
}

/// A material was deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MaterialDeletedBody {
    pub media_id: String,
    pub deleted: bool,
}

fn kind_of(name: &str, allowed: &str) -> Option<MaterialType> {
    let kind = match name {
        "image" => MaterialType::Image,
        "voice" => MaterialType::Voice,
        "video" => MaterialType::Video,
        "thumb" => MaterialType::Thumb,
        "news" => MaterialType::News,
        _ => return None,
    };
    allowed.split(", ").any(|k| k == name).then_some(kind)
}

/// `POST /v1/authorizers/{appid}/materials`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/materials", operation_id = "add_material", tag = "media",
    summary = "Add a permanent material",
    description = "multipart/form-data: `type`, the file in `media`, and for a video its `title` (and `introduction`). Type, extension and size are checked before WeChat is called.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body(content((MaterialUploadForm = "multipart/form-data"))),
    responses((status = 201, description = "Added.", body = MaterialAddedBody)),
    security(("api_key" = []))
)]
pub async fn add(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    if body::media_type(&req).as_deref() != Some("multipart/form-data") {
        return Err(body::unsupported(
            "multipart/form-data",
            body::media_type(&req).as_deref(),
        ));
    }
    let form = multipart::read_form(&req, &["type", "title", "introduction"]).await?;
    let kind_name = form.fields.get("type").cloned().unwrap_or_default();
    let kind = kind_of(&kind_name, KINDS)
        .ok_or_else(|| ApiError::field("type", format!("must be one of {KINDS}")))?;
    let file = form.file.ok_or_else(|| {
        ApiError::field("media", "is required: the file, as a multipart file field")
    })?;
    if let Some(media_type) = kind.media_type() {
        check_upload(
            UploadKind::Temporary(media_type),
            &file.filename,
            file.data.len(),
        )?;
    }
    let description = match kind {
        MaterialType::Video => {
            let title = form
                .fields
                .get("title")
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty() && t.chars().count() <= 64)
                .ok_or_else(|| {
                    ApiError::field("title", "a video needs a title (1..=64 characters)")
                })?;
            let introduction = form.fields.get("introduction").cloned().unwrap_or_default();
            if introduction.chars().count() > 1024 {
                return Err(ApiError::field(
                    "introduction",
                    "is at most 1024 characters",
                ));
            }
            Some(VideoDescription {
                title,
                introduction,
            })
        }
        _ => None,
    };
    super::require_active(&authorizer)?;
    let added = materials::add(
        app,
        &authorizer.appid,
        kind,
        &file.filename,
        file.data,
        description.as_ref(),
    )
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &MaterialAddedBody {
            media_id: added.media_id,
            url: added.url,
        },
    ))
}

/// `GET /v1/authorizers/{appid}/materials?type=&offset=&count=`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/materials", operation_id = "list_materials", tag = "media",
    summary = "List permanent materials",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("type" = String, Query, description = "`image`, `voice`, `video` or `news`."),
        ("offset" = Option<u64>, Query, description = "From this position; default 0."),
        ("count" = Option<u64>, Query, minimum = 1, maximum = 20, description = "1..=20; default 20."),
    ),
    responses((status = 200, description = "One page, newest first.", body = MaterialPageBody)),
    security(("api_key" = []))
)]
pub async fn list(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let query = query_params(&req);
    let kind = query
        .get("type")
        .and_then(|t| kind_of(t, LIST_KINDS))
        .ok_or_else(|| ApiError::field("type", format!("is required: one of {LIST_KINDS}")))?;
    let offset = number_param(&query, "offset", 0..=1_000_000)?.unwrap_or(0);
    let count = number_param(&query, "count", 1..=MAX_PAGE)?.unwrap_or(MAX_PAGE);
    super::require_active(&authorizer)?;
    let page = materials::list(app, &authorizer.appid, kind, offset, count).await?;
    Ok(json_response(
        StatusCode::OK,
        &MaterialPageBody {
            total_count: page.total_count,
            items: page.item.into_iter().map(MaterialItemBody::from).collect(),
        },
    ))
}

/// `GET /v1/authorizers/{appid}/materials/count`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/materials/count", operation_id = "count_materials", tag = "media",
    summary = "Count permanent materials",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    responses((status = 200, description = "Counts by type.", body = MaterialCountBody)),
    security(("api_key" = []))
)]
pub async fn count(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::active_authorizer(app, &req, params, SCOPE_SEND).await?;
    let c = materials::count(app, &authorizer.appid).await?;
    Ok(json_response(
        StatusCode::OK,
        &MaterialCountBody {
            image_count: c.image_count,
            voice_count: c.voice_count,
            video_count: c.video_count,
            news_count: c.news_count,
        },
    ))
}

/// `GET /v1/authorizers/{appid}/materials/{media_id}`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/materials/{media_id}", operation_id = "get_material", tag = "media",
    summary = "Read a permanent material",
    description = "A file's bytes with WeChat's content type (as an attachment); a video or news answers JSON. Unknown: 404 with `wechat_errcode` 40007.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("media_id" = String, Path, description = "A permanent media_id."),
    ),
    responses((status = 200, description = "The file (any content type), or a video's or news' JSON.", content(
        (MaterialDocumentBody = "application/json"),
        (FileBytes = "*/*"),
    ))),
    security(("api_key" = []))
)]
pub async fn get(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let media_id = media_id_param(params)?;
    super::require_active(&authorizer)?;
    match materials::get(app, &authorizer.appid, media_id).await? {
        Download::File {
            content_type,
            bytes,
        } => Ok(file_response(content_type.as_deref(), bytes)),
        Download::Document(doc) => {
            let text = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            Ok(json_response(
                StatusCode::OK,
                &MaterialDocumentBody {
                    title: text("title"),
                    description: text("description"),
                    down_url: text("down_url"),
                    news_item: doc.get("news_item").cloned(),
                },
            ))
        }
    }
}

/// `DELETE /v1/authorizers/{appid}/materials/{media_id}`.
#[utoipa::path(
    delete, path = "/v1/authorizers/{appid}/materials/{media_id}", operation_id = "delete_material", tag = "media",
    summary = "Delete a permanent material",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("media_id" = String, Path, description = "A permanent media_id."),
    ),
    responses((status = 200, description = "Deleted.", body = MaterialDeletedBody)),
    security(("api_key" = []))
)]
pub async fn delete(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let media_id = media_id_param(params)?.to_owned();
    super::require_active(&authorizer)?;
    materials::delete(app, &authorizer.appid, &media_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &MaterialDeletedBody {
            media_id,
            deleted: true,
        },
    ))
}
