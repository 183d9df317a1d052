//! Web OAuth on behalf of an authorizer over HTTP (issue 16): the client API
//! `POST /v1/authorizers/{appid}/oauth-links` and `GET /v1/oauth-results/{id}`
//! (JSON, scope `send`, tenant-checked), and the customer's pages
//! `GET /oauth/{id}` and `GET /oauth/callback` (redirects; every failure is a
//! zh + en page like the authorization pages, never JSON).

use super::api::{read_json, require_active};
use super::authorize::{problem, redirect, token_problem, unavailable};
use super::{json_response, query_params, ApiError, Params, Request, Response};
use crate::app::App;
use crate::http::auth::{authenticate, authorizer_for_key};
use crate::pages::problems;
use crate::secret::Secret;
use crate::service::keys::SCOPE_SEND;
use crate::service::oauth::{self, Callback, NewOauthLink, OauthFlowError};
use crate::store::TenantScope;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the customer is asked for, and where they go back to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scope": "snsapi_base", "return_url": "https://erp.example.com/wechat/identified", "state": "order-1042"}))]
pub(crate) struct CreateOauthLinkRequest {
    /// `snsapi_base` (the openid, silently inside WeChat) or `snsapi_userinfo`
    /// (also nickname and avatar, after the customer consents).
    pub scope: String,
    /// Where the browser goes back with `wxopen_result` (or `error=access_denied`)
    /// and `state`; its origin must be one of `WXOPEN_RETURN_URL_ORIGINS`.
    #[schema(max_length = 2048)]
    pub return_url: String,
    /// Handed back unchanged on `return_url` (at most 256 bytes).
    #[schema(max_length = 256)]
    pub state: Option<String>,
    /// Seconds the link may be opened: 60..=604800; one hour when absent.
    #[schema(minimum = 60, maximum = 604800)]
    pub expires_in: Option<u64>,
}

/// A link to send customers (open it inside WeChat).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"url": "https://wx.example.com/oauth/3kq0Yb1xq0Yb1xq0Yb1xq0Yb1xq0Yb1x", "expires_at": 1767225600}))]
pub(crate) struct OauthLinkBody {
    pub url: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// Who the customer is under the account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"appid": "wx5add0a0000000001", "openid": "oSandboxFollower00000000001", "scope": "snsapi_userinfo", "nickname": "Li Lei", "headimgurl": "https://thirdwx.qlogo.cn/mmopen/x/132"}))]
pub(crate) struct OauthResultBody {
    pub appid: String,
    pub openid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// What the customer granted.
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headimgurl: Option<String>,
}

/// `POST /v1/authorizers/{appid}/oauth-links` → 201.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/oauth-links", operation_id = "create_oauth_link", tag = "identity",
    summary = "Create a web OAuth link on the account's behalf",
    description = "A link that identifies whoever opens it inside WeChat under the authorizer's account (代公众号发起网页授权). It may be opened many times until it expires; each opening is its own attempt. The browser comes back to `return_url` with `wxopen_result` (read it once with `GET /v1/oauth-results/{id}` within 10 minutes) or `error=access_denied`, and the link's `state`.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body = CreateOauthLinkRequest,
    responses((status = 201, description = "The link.", body = OauthLinkBody)),
    security(("api_key" = []))
)]
pub async fn create_link(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let appid = params
        .get("appid")
        .ok_or_else(|| ApiError::field("appid", "is a required path parameter"))?;
    let authorizer = authorizer_for_key(app, &key, appid).await?;
    let body: CreateOauthLinkRequest = read_json(&req)?;
    require_active(&authorizer)?;
    // authorizer_for_key let the key act for the authorizer's tenant; a key for
    // every tenant may also use an unbound one (tenant ""), whose results only
    // such a key can read.
    let tenant = authorizer.tenant.clone().unwrap_or_default();
    let (link, url) = oauth::create_link(
        app,
        NewOauthLink {
            tenant,
            appid: authorizer.appid.clone(),
            scope: body.scope,
            return_url: body.return_url,
            client_state: body.state,
            expires_in: body.expires_in,
        },
    )
    .await
    .map_err(|e| match e {
        oauth::OauthLinkError::Store(s) => ApiError::from(s),
        other => ApiError::field(other.field(), &other),
    })?;
    Ok(json_response(
        StatusCode::CREATED,
        &OauthLinkBody {
            url,
            expires_at: link.expires_at,
        },
    ))
}

/// `GET /v1/oauth-results/{id}`: once, for the link's tenant; 404 otherwise.
#[utoipa::path(
    get, path = "/v1/oauth-results/{id}", operation_id = "get_oauth_result", tag = "identity",
    summary = "Read a web OAuth result once",
    description = "Who the customer is, as `return_url` received it in `wxopen_result`. Readable once, within 10 minutes, by a key of the link's tenant; anything else is 404. The customer's own WeChat tokens are never stored or returned.",
    params(("id" = String, Path, description = "`wxopen_result` from `return_url`.")),
    responses((status = 200, description = "The customer.", body = OauthResultBody)),
    security(("api_key" = []))
)]
pub async fn get_result(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let id = params.get("id").unwrap_or_default();
    let gone = || ApiError::not_found("no such oauth result (unknown, expired or already read)");
    // Taken as one of the key's tenants only: another tenant's result is
    // left untouched, and answers like an unknown one.
    let tenants: Vec<Option<&str>> = match &key.tenants {
        TenantScope::All => vec![None],
        TenantScope::Only(ts) => ts.iter().map(|t| Some(t.as_str())).collect(),
    };
    for tenant in tenants {
        if let Some(r) = oauth::take_result(app, tenant, id).await? {
            return Ok(json_response(
                StatusCode::OK,
                &OauthResultBody {
                    appid: r.appid,
                    openid: r.openid,
                    unionid: r.unionid,
                    scope: r.scope,
                    nickname: r.nickname,
                    headimgurl: r.headimgurl,
                },
            ));
        }
    }
    Err(gone())
}

/// `GET /oauth/{id}`: 302 to WeChat's authorize page with a fresh one-time state.
pub async fn open(app: &App, _req: Request, params: &Params) -> Result<Response, ApiError> {
    let id = params.get("id").unwrap_or_default();
    Ok(match oauth::open(app, id).await {
        Ok(url) => redirect(&url),
        Err(e) => flow_problem(&e),
    })
}

/// `GET /oauth/callback?code&state&appid`: 302 to the link's `return_url`.
pub async fn callback(app: &App, req: Request) -> Result<Response, ApiError> {
    let mut query = query_params(&req);
    let cb = Callback {
        code: query
            .remove("code")
            .filter(|c| !c.is_empty())
            .map(Secret::new),
        state: query.remove("state"),
        appid: query.remove("appid"),
    };
    Ok(match oauth::finish(app, cb).await {
        Ok(location) => redirect(&location),
        Err(e) => flow_problem(&e),
    })
}

fn flow_problem(e: &OauthFlowError) -> Response {
    match e {
        OauthFlowError::LinkGone => problem(StatusCode::NOT_FOUND, &problems::oauth_link_gone()),
        OauthFlowError::StateRefused => {
            problem(StatusCode::BAD_REQUEST, &problems::oauth_state_refused())
        }
        OauthFlowError::WrongAccount => {
            problem(StatusCode::BAD_REQUEST, &problems::oauth_wrong_account())
        }
        OauthFlowError::CodeRefused => {
            problem(StatusCode::BAD_REQUEST, &problems::oauth_code_refused())
        }
        OauthFlowError::Token(t) => token_problem(t),
        OauthFlowError::Store(s) => unavailable(s),
    }
}
