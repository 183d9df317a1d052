//! `GET /v1/authorizers/{appid}/media/{media_id}`: a temporary media item as
//! WeChat sent it. The bytes are the merchant's followers' (hostile to a
//! browser): they are answered as an attachment, never sniffed.

use super::{acting, param};
use crate::app::App;
use crate::http::{json_response, ApiError, Params, Request, Response};
use crate::service::downloads;
use crate::service::keys::SCOPE_SEND;
use crate::wechat::Download;
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A file's bytes, in the document: any content type WeChat gave.
#[allow(dead_code)] // named by the document only
pub(crate) struct FileBytes;

impl PartialSchema for FileBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for FileBytes {}

/// A video's temporary media: WeChat answers where to fetch it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VideoUrlBody {
    pub video_url: String,
}

/// A media_id as WeChat writes them: 1..=128 of `[A-Za-z0-9_-]`.
pub(crate) fn media_id_param(params: &Params) -> Result<&str, ApiError> {
    let id = param(params, "media_id")?;
    let ok = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(ApiError::field(
            "media_id",
            "is not a media_id (1..=128 characters of A-Z a-z 0-9 _ -)",
        ))
    }
}

/// The bytes of a download, as an attachment of WeChat's content type.
pub(crate) fn file_response(content_type: Option<&str>, bytes: Bytes) -> Response {
    let content_type = content_type
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let mut resp = http::Response::new(bytes);
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `GET /v1/authorizers/{appid}/media/{media_id}`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/media/{media_id}", operation_id = "download_media", tag = "media",
    summary = "Download temporary media",
    description = "The file's bytes with WeChat's content type (as an attachment); a video answers JSON with its `video_url`. An unknown or expired media_id is 404 with `wechat_errcode` 40007.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("media_id" = String, Path, description = "A temporary media_id (an upload's, or one a follower sent)."),
    ),
    responses(
        (status = 200, description = "The file (any content type), or a video's URL as JSON.", content(
            (VideoUrlBody = "application/json"),
            (FileBytes = "*/*"),
        )),
    ),
    security(("api_key" = []))
)]
pub async fn download_media(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let media_id = media_id_param(params)?;
    super::require_active(&authorizer)?;
    match downloads::media(app, &authorizer.appid, media_id).await? {
        Download::File {
            content_type,
            bytes,
        } => Ok(file_response(content_type.as_deref(), bytes)),
        Download::Document(doc) => match doc.get("video_url").and_then(|v| v.as_str()) {
            Some(url) => Ok(json_response(
                StatusCode::OK,
                &VideoUrlBody {
                    video_url: url.to_owned(),
                },
            )),
            None => Err(ApiError::from(crate::wechat::WechatError::Decode {
                endpoint: crate::wechat::paths::MEDIA_GET,
                path: "video_url".to_owned(),
                source: serde::de::Error::custom("missing"),
            })),
        },
    }
}
