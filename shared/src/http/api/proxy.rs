//! `GET|POST /v1/authorizers/{appid}/wechat/{path}`: the pass-through (scope
//! `proxy`). The path is checked segment by segment and against the
//! allow-list before anything else happens; WeChat's answer comes back as
//! sent, with `Wxopen-Wechat-Errcode` when it is a JSON error.

use super::downloads::FileBytes;
use super::{acting, param};
use crate::app::App;
use crate::http::error::ErrorCode;
use crate::http::{ApiError, Params, Request, Response, MAX_BODY_BYTES};
use crate::service::keys::SCOPE_PROXY;
use crate::service::proxy::{self, PathRefused};
use crate::wechat::{PassThrough, RawAnswer};
use http::{header, HeaderValue, StatusCode};

/// The header naming WeChat's errcode on a JSON error answer.
pub const ERRCODE_HEADER: &str = "wxopen-wechat-errcode";

/// The most of WeChat's answer passed back (a media download's size).
const MAX_ANSWER_BYTES: usize = MAX_BODY_BYTES;

/// The WeChat path: segments of `[A-Za-z0-9_.-]`, none starting with `.`
/// (so no `..` can climb out of the API base).
fn wechat_path(params: &Params) -> Result<String, ApiError> {
    let path = param(params, "path")?;
    let ok = path.split('/').all(|seg| {
        !seg.is_empty()
            && !seg.starts_with('.')
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    });
    if ok {
        Ok(path.to_owned())
    } else {
        Err(ApiError::field(
            "path",
            "must be a WeChat API path: segments of A-Z a-z 0-9 _ - .",
        ))
    }
}

fn refused(e: PathRefused) -> ApiError {
    ApiError::detailed(ErrorCode::Forbidden, e.to_string())
}

/// The answer as WeChat sent it.
fn answer(raw: RawAnswer) -> Response {
    let errcode = raw.errcode();
    let mut resp = http::Response::new(raw.body);
    *resp.status_mut() = StatusCode::from_u16(raw.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = resp.headers_mut();
    if let Some(ct) = raw
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(code) = errcode {
        headers.insert(ERRCODE_HEADER, HeaderValue::from(code));
    }
    resp
}

/// `GET /v1/authorizers/{appid}/wechat/{path}`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/wechat/{path}", operation_id = "wechat_get", tag = "pass-through",
    summary = "Call a WeChat API (GET) with the authorizer's token",
    description = "wxopen calls `{WECHAT_API_BASE}/{path}` with your query (minus any `access_token`) and the authorizer's token, and answers what WeChat answered (status, content type, bytes), with `Wxopen-Wechat-Errcode` on a JSON error. A token WeChat rejects is renewed once and the call retried once. `path` must be under `WXOPEN_PROXY_PATHS` (default `cgi-bin/`, `datacube/`, `card/`, `merchant/`, `semantic/`) and never a token path (403). Scope `proxy`.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("path" = String, Path, description = "The WeChat API path, e.g. `cgi-bin/user/get`.", example = "cgi-bin/user/get"),
    ),
    responses((status = 200, description = "WeChat's answer, as sent (any status WeChat gave).", content((FileBytes = "*/*")),
        headers(("Wxopen-Wechat-Errcode" = Option<i64>, description = "WeChat's errcode when the answer is a JSON error.")))),
    security(("api_key" = []))
)]
pub async fn wechat_get(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    pass(app, req, params, reqwest::Method::GET).await
}

/// `POST /v1/authorizers/{appid}/wechat/{path}`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/wechat/{path}", operation_id = "wechat_post", tag = "pass-through",
    summary = "Call a WeChat API (POST) with the authorizer's token",
    description = "As the GET, with the body and its content type passed as sent (JSON, or multipart up to the media limit).",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("path" = String, Path, description = "The WeChat API path, e.g. `cgi-bin/tags/get`.", example = "cgi-bin/tags/create"),
    ),
    request_body(content = FileBytes, description = "Passed to WeChat as sent, with its content type.", content_type = "*/*"),
    responses((status = 200, description = "WeChat's answer, as sent (any status WeChat gave).", content((FileBytes = "*/*")),
        headers(("Wxopen-Wechat-Errcode" = Option<i64>, description = "WeChat's errcode when the answer is a JSON error.")))),
    security(("api_key" = []))
)]
pub async fn wechat_post(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    pass(app, req, params, reqwest::Method::POST).await
}

async fn pass(
    app: &App,
    req: Request,
    params: &Params,
    method: reqwest::Method,
) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_PROXY).await?;
    let path = wechat_path(params)?;
    proxy::check_path(&app.config.proxy_paths, &path).map_err(refused)?;
    super::require_active(&authorizer)?;
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = PassThrough {
        method,
        path,
        query: proxy::strip_tokens(query),
        content_type,
        body: req.into_body(),
    };
    let raw = proxy::pass(app, &authorizer.appid, &request, MAX_ANSWER_BYTES).await?;
    Ok(answer(raw))
}
