//! WeChat's API quotas (scope `admin`): an authorizer's use of one API,
//! and resets of an authorizer's or the component's quotas.

use super::acting;
use crate::app::App;
use crate::http::auth::authenticate;
use crate::http::{json_response, query_params, ApiError, Params, Request, Response};
use crate::service::keys::SCOPE_ADMIN;
use crate::service::quota;
use crate::store::TenantScope;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// One API's quota today.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QuotaBody {
    pub cgi_path: String,
    pub daily_limit: u64,
    pub used: u64,
    pub remain: u64,
}

/// A reset was done.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QuotaClearedBody {
    /// The authorizer's appid, or the component's.
    pub appid: String,
    pub cleared: bool,
}

/// `cgi_path`: an API path as WeChat names it (`/cgi-bin/…`).
fn cgi_path(req: &Request) -> Result<String, ApiError> {
    let path = query_params(req).remove("cgi_path").ok_or_else(|| {
        ApiError::field(
            "cgi_path",
            "is required (e.g. /cgi-bin/message/template/send)",
        )
    })?;
    let ok = path.starts_with('/')
        && path.len() <= 256
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'));
    if ok {
        Ok(path)
    } else {
        Err(ApiError::field(
            "cgi_path",
            "must be an API path such as /cgi-bin/message/template/send",
        ))
    }
}

/// `GET /v1/authorizers/{appid}/quota?cgi_path=`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/quota", operation_id = "get_quota", tag = "authorizers",
    summary = "Read an API's daily quota",
    description = "WeChat's openapi/quota/get for the authorizer (scope `admin`).",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("cgi_path" = String, Query, description = "The API, e.g. `/cgi-bin/message/template/send`."),
    ),
    responses((status = 200, description = "Today's limit and use.", body = QuotaBody)),
    security(("api_key" = []))
)]
pub async fn get_quota(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_ADMIN).await?;
    let cgi_path = cgi_path(&req)?;
    super::require_active(&authorizer)?;
    let q = quota::get(app, &authorizer.appid, &cgi_path).await?;
    Ok(json_response(
        StatusCode::OK,
        &QuotaBody {
            cgi_path,
            daily_limit: q.daily_limit,
            used: q.used,
            remain: q.remain,
        },
    ))
}

/// `POST /v1/authorizers/{appid}/quota/clear`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/quota/clear", operation_id = "clear_quota", tag = "authorizers",
    summary = "Reset an authorizer's daily quotas",
    description = "Through the component's clear_quota/v2 (scope `admin`). WeChat allows 10 resets a month per account (48006 after).",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    responses((status = 200, description = "Reset.", body = QuotaClearedBody)),
    security(("api_key" = []))
)]
pub async fn clear_quota(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::active_authorizer(app, &req, params, SCOPE_ADMIN).await?;
    quota::clear(app, Some(&authorizer.appid)).await?;
    Ok(json_response(
        StatusCode::OK,
        &QuotaClearedBody {
            appid: authorizer.appid,
            cleared: true,
        },
    ))
}

/// `POST /v1/component/quota/clear`.
#[utoipa::path(
    post, path = "/v1/component/quota/clear", operation_id = "clear_component_quota", tag = "authorizers",
    summary = "Reset the component's daily quotas",
    description = "The platform's own quotas (component token, authorizations), shared by every tenant: an `admin` key of every tenant only.",
    responses((status = 200, description = "Reset.", body = QuotaClearedBody)),
    security(("api_key" = []))
)]
pub async fn clear_component_quota(app: &App, req: Request) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_ADMIN).await?;
    if key.tenants != TenantScope::All {
        return Err(ApiError::forbidden(
            "the component's quota is every tenant's: use a key of every tenant",
        ));
    }
    quota::clear(app, None).await?;
    Ok(json_response(
        StatusCode::OK,
        &QuotaClearedBody {
            appid: app.config.component_appid.clone(),
            cleared: true,
        },
    ))
}
