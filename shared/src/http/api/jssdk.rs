//! `POST /v1/authorizers/{appid}/jssdk-config`: what a page of the tenant's
//! passes to `wx.config`, signed over the authorizer's jsapi_ticket (which
//! never leaves wxopen).

use super::{body, param, require_active};
use crate::app::App;
use crate::http::auth::{authenticate, authorizer_for_key};
use crate::http::{json_response, ApiError, Params, Request, Response};
use crate::service::jssdk;
use crate::service::keys::SCOPE_SEND;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The page to configure.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://shop.example.com/orders/1042?from=menu"}))]
pub(crate) struct JssdkConfigRequest {
    /// The page's URL as `location.href.split('#')[0]` gives it: absolute
    /// http(s), no fragment, at most 2048 bytes. Its domain must be one of the
    /// account's JS interface safe domains (JS接口安全域名) for `wx.config` to succeed.
    #[schema(max_length = 2048)]
    pub url: String,
    /// The config this API gave for the same `url` that `wx.config` then
    /// refused (`invalid signature`): if it was signed over the ticket stored
    /// now, that ticket is compare-and-invalidated and a fresh one fetched
    /// (once, however many pages report it at the same time); otherwise
    /// nothing changes.
    pub refused: Option<RefusedConfig>,
}

/// A config as this API answered it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RefusedConfig {
    /// Ignored; accepted so the answer can be sent back as it was.
    #[allow(dead_code)]
    pub app_id: Option<String>,
    /// Unix seconds, as answered (a signed 64-bit integer in JSON terms).
    #[schema(minimum = 0)]
    pub timestamp: i64,
    pub nonce_str: String,
    pub signature: String,
}

/// `wx.config`'s fields, named as it names them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"appId": "wx5add0a0000000001", "timestamp": 1414587457, "nonceStr": "Wm3WZYTPz0wzccnW", "signature": "0f9de62fce790f9a083d5c99e95740ceb90c27ed"}))]
pub(crate) struct JssdkConfigBody {
    /// The authorizer's appid.
    pub app_id: String,
    /// Unix seconds.
    pub timestamp: u64,
    pub nonce_str: String,
    /// sha1 hex of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…`.
    pub signature: String,
}

/// `POST /v1/authorizers/{appid}/jssdk-config`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/jssdk-config", operation_id = "create_jssdk_config", tag = "identity",
    summary = "Sign a JS-SDK config for a page",
    description = "`appId`, `timestamp`, `nonceStr` and `signature` for `wx.config` on the page at `url`, signed over the authorizer's jsapi_ticket. The ticket is kept and renewed by wxopen like an access token (one `getticket` however many pages ask at once) and never returned.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body = JssdkConfigRequest,
    responses((status = 200, description = "The config.", body = JssdkConfigBody)),
    security(("api_key" = []))
)]
pub async fn create(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    let request = body::json::<JssdkConfigRequest>(&req)?;
    let url = jssdk::page_url(&request.url).map_err(|problem| ApiError::field("url", problem))?;
    require_active(&authorizer)?;
    let refused = match request.refused {
        Some(r) => Some(jssdk::Refused {
            timestamp: u64::try_from(r.timestamp)
                .map_err(|_| ApiError::field("refused.timestamp", "must be unix seconds"))?,
            nonce_str: r.nonce_str,
            signature: r.signature,
        }),
        None => None,
    };
    let config = jssdk::config(app, &authorizer.appid, url, refused.as_ref()).await?;
    Ok(json_response(
        StatusCode::OK,
        &JssdkConfigBody {
            app_id: config.app_id,
            timestamp: config.timestamp,
            nonce_str: config.nonce_str,
            signature: config.signature,
        },
    ))
}
