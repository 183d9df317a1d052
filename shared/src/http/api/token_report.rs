//! `POST /v1/authorizers/{appid}/access-token/invalidate` (scope `token:read`):
//! a client that took the token for its own WeChat call reports that WeChat
//! rejected it, and gets the token to use now.

use super::{acting, body};
use crate::app::App;
use crate::http::{json_response, ApiError, Params, Request, Response};
use crate::service::access_token;
use crate::service::keys::SCOPE_TOKEN_READ;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The token WeChat rejected.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"access_token": "ACCESS_TOKEN_WECHAT_REJECTED"}))]
pub(crate) struct InvalidateTokenRequest {
    /// The access token as `/access-token` gave it (1..=512 characters).
    pub access_token: String,
}

// No Debug: the body holds a token.
impl InvalidateTokenRequest {
    fn checked(self) -> Result<String, ApiError> {
        if (1..=512).contains(&self.access_token.len()) {
            Ok(self.access_token)
        } else {
            Err(ApiError::field(
                "access_token",
                "must be 1..=512 characters",
            ))
        }
    }
}

/// What the report did, and the token to use now.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvalidatedTokenBody {
    pub appid: String,
    /// True when the reported token was still the stored one and has been
    /// replaced; false when wxopen had already moved on to another.
    pub invalidated: bool,
    /// The token to use now.
    pub access_token: String,
    /// Unix seconds; null if unknown.
    pub expires_at: Option<u64>,
}

/// `POST /v1/authorizers/{appid}/access-token/invalidate`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/access-token/invalidate", operation_id = "invalidate_access_token", tag = "authorizers",
    summary = "Report a token WeChat rejected",
    description = "When WeChat answers 40001/40014/42001 to your own call with a token from `/access-token`, report it here: wxopen invalidates it only if it is still the stored one (a stale report never discards a good token), renews it once under its lease, and answers the token to use now (scope `token:read`).",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body = InvalidateTokenRequest,
    responses((status = 200, description = "The token to use now (answered with `Cache-Control: no-store`).", body = InvalidatedTokenBody,
        headers(("Cache-Control" = String, description = "`no-store`")))),
    security(("api_key" = []))
)]
pub async fn invalidate(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_TOKEN_READ).await?;
    let presented = body::json::<InvalidateTokenRequest>(&req)?.checked()?;
    super::require_active(&authorizer)?;
    let reported = access_token::invalidate(app, &authorizer.appid, &presented).await?;
    let expires_at = app
        .store
        .get_authorizer(&authorizer.appid)
        .await?
        .map(|a| a.token.expires_at)
        .filter(|e| *e > 0);
    let mut resp = json_response(
        StatusCode::OK,
        &InvalidatedTokenBody {
            appid: authorizer.appid,
            invalidated: reported.invalidated,
            access_token: reported.token.expose().to_owned(),
            expires_at,
        },
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}
