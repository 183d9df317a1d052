//! `POST /v1/authorizers/{appid}/qrcodes`: a parametric QR code of the
//! authorizer's, carrying the tenant's own scene; scans come back as
//! `SCAN`/`subscribe` pushes with that scene.

use super::{body, param, require_active};
use crate::app::App;
use crate::http::auth::{authenticate, authorizer_for_key};
use crate::http::{json_response, ApiError, Params, Request, Response};
use crate::service::keys::SCOPE_SEND;
use crate::service::qrcodes;
use crate::wechat::{QrRequest, Scene};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A QR code: exactly one of `scene_id` and `scene_str`; temporary with
/// `expire_seconds`, permanent without (WeChat keeps at most 100,000 of an
/// account's permanent codes).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scene_str": "order-1042", "expire_seconds": 86400}))]
pub(crate) struct CreateQrCodeRequest {
    /// 1..=100000 for a permanent code; up to 4294967295 for a temporary one.
    #[schema(minimum = 1, maximum = 4294967295_u64)]
    pub scene_id: Option<u32>,
    /// 1..=64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub scene_str: Option<String>,
    /// Seconds, 60..=2592000 (30 days); leave it out for a permanent code.
    #[schema(minimum = 60, maximum = 2592000)]
    pub expire_seconds: Option<u32>,
}

impl TryFrom<CreateQrCodeRequest> for QrRequest {
    type Error = ApiError;

    fn try_from(r: CreateQrCodeRequest) -> Result<QrRequest, ApiError> {
        let scene = match (r.scene_id, r.scene_str) {
            (Some(id), None) => Scene::Id(id),
            (None, Some(s)) => Scene::Str(s),
            _ => {
                return Err(ApiError::field(
                    "",
                    "give exactly one of `scene_id` and `scene_str`",
                ))
            }
        };
        let request = QrRequest {
            scene,
            expire_seconds: r.expire_seconds,
        };
        qrcodes::check(&request).map_err(|(field, problem)| ApiError::field(field, problem))?;
        Ok(request)
    }
}

/// The created code.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QrCodeBody {
    /// WeChat's ticket: it shows the image, and every scan's push carries it.
    pub ticket: String,
    /// What the code encodes.
    #[schema(example = "http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI")]
    pub url: String,
    /// WeChat's image of the code (`showqrcode?ticket=`).
    pub image_url: String,
    /// Unix seconds; absent for a permanent code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// `POST /v1/authorizers/{appid}/qrcodes`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/qrcodes", operation_id = "create_qrcode", tag = "identity",
    summary = "Create a parametric QR code",
    description = "A QR code carrying your scene (`scene_id` or `scene_str`): temporary with `expire_seconds`, permanent without. Scans reach you as the account's `SCAN` (a follower) or `subscribe` (a new follower) event with the scene. The scene's limits are checked before WeChat is called.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body = CreateQrCodeRequest,
    responses((status = 201, description = "The code.", body = QrCodeBody)),
    security(("api_key" = []))
)]
pub async fn create(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    let request = QrRequest::try_from(body::json::<CreateQrCodeRequest>(&req)?)?;
    require_active(&authorizer)?;
    let created = qrcodes::create(app, &authorizer.appid, &request).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &QrCodeBody {
            ticket: created.ticket,
            url: created.url,
            image_url: created.image_url,
            expires_at: created.expires_at,
        },
    ))
}
