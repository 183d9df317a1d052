//! `POST …/mass-messages/preview` and `DELETE …/mass-messages/{msg_id}`.
//! Scope `send`.

use super::requests::MassPreviewRequest;
use super::{acting, body, number_param, param};
use crate::app::App;
use crate::http::{json_response, query_params, ApiError, Params, Request, Response};
use crate::service::keys::SCOPE_SEND;
use crate::service::mass_admin;
use crate::wechat::{MassPreview, PreviewTarget};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// A preview was sent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PreviewSentBody {
    /// The openid or WeChat id it went to.
    pub to: String,
    pub previewed: bool,
}

/// A mass message (or one of its articles) was deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MassDeletedBody {
    pub msg_id: u64,
    /// The article deleted (from 1); null: every article.
    pub article_idx: Option<u32>,
    pub deleted: bool,
}

/// `POST /v1/authorizers/{appid}/mass-messages/preview`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/mass-messages/preview", operation_id = "preview_mass_message", tag = "messages",
    summary = "Preview a mass message",
    description = "Sends it to one follower (`touser`) or WeChat id (`towxname`) to look at before a mass send.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body = MassPreviewRequest,
    responses((status = 200, description = "WeChat sent the preview.", body = PreviewSentBody)),
    security(("api_key" = []))
)]
pub async fn preview(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let preview: MassPreview = body::json::<MassPreviewRequest>(&req)?.try_into()?;
    super::require_active(&authorizer)?;
    mass_admin::preview(app, &authorizer.appid, &preview).await?;
    let to = match preview.to {
        PreviewTarget::OpenId(o) | PreviewTarget::WxName(o) => o,
    };
    Ok(json_response(
        StatusCode::OK,
        &PreviewSentBody {
            to,
            previewed: true,
        },
    ))
}

/// `DELETE /v1/authorizers/{appid}/mass-messages/{msg_id}[?article_idx=]`.
#[utoipa::path(
    delete, path = "/v1/authorizers/{appid}/mass-messages/{msg_id}", operation_id = "delete_mass_message", tag = "messages",
    summary = "Delete a sent mass message",
    description = "Its articles read as deleted to everyone who received them (text, voice and image messages cannot be recalled). An unknown msg_id is 404 with `wechat_errcode` 40035.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("msg_id" = u64, Path, description = "The `msg_id` of the send."),
        ("article_idx" = Option<u64>, Query, minimum = 1, maximum = 8, description = "Only this article (1..=8); default every article."),
    ),
    responses((status = 200, description = "Deleted.", body = MassDeletedBody)),
    security(("api_key" = []))
)]
pub async fn delete(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let msg_id: u64 = param(params, "msg_id")?
        .parse()
        .map_err(|_| ApiError::field("msg_id", "must be a whole number"))?;
    let article_idx = number_param(&query_params(&req), "article_idx", 1..=8)?
        .and_then(|i| u32::try_from(i).ok());
    super::require_active(&authorizer)?;
    mass_admin::delete(app, &authorizer.appid, msg_id, article_idx).await?;
    Ok(json_response(
        StatusCode::OK,
        &MassDeletedBody {
            msg_id,
            article_idx,
            deleted: true,
        },
    ))
}
