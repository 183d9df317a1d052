//! Framework-free HTTP: `http::Request<Bytes>` → `http::Response<Bytes>`, used
//! unchanged by the Lambda binaries (through lambda_http) and by `wxopen serve`
//! (through axum). The route table here is the single list of routes; the SAM
//! template, the function binaries and the OpenAPI document are tested against
//! it. Adding a `/v1` route: see `api`'s module documentation.

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod authorize;
pub(crate) mod callback;
pub(crate) mod error;
pub mod limits;
pub(crate) mod oauth;
pub(crate) mod openapi;

pub(crate) use error::ApiError;

use crate::app::App;
use bytes::Bytes;
use http::{Method, StatusCode};

pub type Request = http::Request<Bytes>;
pub type Response = http::Response<Bytes>;

/// Largest body any route accepts (media uploads); pushes have their own 64 KiB limit.
pub const MAX_BODY_BYTES: usize = 12 * 1024 * 1024;

/// Which Lambda function serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Callback,
    Authorize,
    Send,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Callback => "callback",
            Function::Authorize => "authorize",
            Function::Send => "send",
        }
    }
}

/// A route: method, path pattern with `{param}` segments, and its function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub function: Function,
    pub handler: Handler,
}

/// Names the handler a route dispatches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    ComponentUrlCheck,
    ComponentEvents,
    AuthorizerUrlCheck,
    AuthorizerEvents,
    AuthorizePage,
    AuthorizeCallback,
    CreateLink,
    ListAuthorizers,
    GetAuthorizer,
    AccessToken,
    TemplateMessages,
    MassMessages,
    MassStatus,
    CustomMessages,
    Media,
    GetJob,
    ListFollowers,
    GetFollower,
    BatchgetFollowers,
    SetFollowerRemark,
    FollowerTags,
    DownloadMedia,
    WechatGet,
    WechatPost,
    ListTags,
    CreateTag,
    RenameTag,
    DeleteTag,
    TagMembers,
    UntagMembers,
    PreviewMass,
    DeleteMass,
    InvalidateToken,
    GetQuota,
    ClearQuota,
    ClearComponentQuota,
    RefreshProfile,
    ListTemplates,
    AddTemplate,
    DeleteTemplate,
    GetIndustry,
    SetIndustry,
    SubscribeMessages,
    AddMaterial,
    ListMaterials,
    CountMaterials,
    GetMaterial,
    DeleteMaterial,
    CreateWebhook,
    ListWebhooks,
    GetWebhook,
    DeleteWebhook,
    RotateWebhookSecret,
    PingWebhook,
    ListEvents,
    GetEvent,
    RedeliverEvent,
    Health,
    OpenApi,
    // Identity (issue 16).
    CreateQrCode,
    CreateJssdkConfig,
    CreateOauthLink,
    GetOauthResult,
    OauthOpen,
    OauthCallback,
}

use Function::*;
use Handler::*;

/// Every route of every HTTP function.
#[rustfmt::skip] // one route a line reads as the table it is
pub const ROUTES: &[Route] = &[
    Route { method: "GET", pattern: "/wechat/component/events", function: Callback, handler: ComponentUrlCheck },
    Route { method: "POST", pattern: "/wechat/component/events", function: Callback, handler: ComponentEvents },
    Route { method: "GET", pattern: "/wechat/authorizers/{appid}/events", function: Callback, handler: AuthorizerUrlCheck },
    Route { method: "POST", pattern: "/wechat/authorizers/{appid}/events", function: Callback, handler: AuthorizerEvents },
    Route { method: "GET", pattern: "/authorize/{link_id}", function: Authorize, handler: AuthorizePage },
    Route { method: "GET", pattern: "/authorize/{link_id}/callback", function: Authorize, handler: AuthorizeCallback },
    Route { method: "POST", pattern: "/v1/authorization-links", function: Send, handler: CreateLink },
    Route { method: "GET", pattern: "/v1/authorizers", function: Send, handler: ListAuthorizers },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}", function: Send, handler: GetAuthorizer },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/access-token", function: Send, handler: AccessToken },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/template-messages", function: Send, handler: TemplateMessages },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/mass-messages", function: Send, handler: MassMessages },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/mass-messages/{msg_id}", function: Send, handler: MassStatus },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/custom-messages", function: Send, handler: CustomMessages },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/media", function: Send, handler: Media },
    Route { method: "GET", pattern: "/v1/jobs/{job_id}", function: Send, handler: GetJob },
    // Issue #17: the official-account API.
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/followers", function: Send, handler: ListFollowers },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/followers/batchget", function: Send, handler: BatchgetFollowers },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/followers/{openid}", function: Send, handler: GetFollower },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/followers/{openid}/remark", function: Send, handler: SetFollowerRemark },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/followers/{openid}/tags", function: Send, handler: FollowerTags },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/media/{media_id}", function: Send, handler: DownloadMedia },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/wechat/{path+}", function: Send, handler: WechatGet },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/wechat/{path+}", function: Send, handler: WechatPost },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/tags", function: Send, handler: ListTags },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/tags", function: Send, handler: CreateTag },
    Route { method: "PATCH", pattern: "/v1/authorizers/{appid}/tags/{tag_id}", function: Send, handler: RenameTag },
    Route { method: "DELETE", pattern: "/v1/authorizers/{appid}/tags/{tag_id}", function: Send, handler: DeleteTag },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/tags/{tag_id}/members", function: Send, handler: TagMembers },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/tags/{tag_id}/members/remove", function: Send, handler: UntagMembers },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/mass-messages/preview", function: Send, handler: PreviewMass },
    Route { method: "DELETE", pattern: "/v1/authorizers/{appid}/mass-messages/{msg_id}", function: Send, handler: DeleteMass },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/access-token/invalidate", function: Send, handler: InvalidateToken },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/quota", function: Send, handler: GetQuota },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/quota/clear", function: Send, handler: ClearQuota },
    Route { method: "POST", pattern: "/v1/component/quota/clear", function: Send, handler: ClearComponentQuota },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/profile/refresh", function: Send, handler: RefreshProfile },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/templates", function: Send, handler: ListTemplates },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/templates", function: Send, handler: AddTemplate },
    Route { method: "DELETE", pattern: "/v1/authorizers/{appid}/templates/{template_id}", function: Send, handler: DeleteTemplate },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/industry", function: Send, handler: GetIndustry },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/industry", function: Send, handler: SetIndustry },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/subscribe-messages", function: Send, handler: SubscribeMessages },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/materials", function: Send, handler: AddMaterial },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/materials", function: Send, handler: ListMaterials },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/materials/count", function: Send, handler: CountMaterials },
    Route { method: "GET", pattern: "/v1/authorizers/{appid}/materials/{media_id}", function: Send, handler: GetMaterial },
    Route { method: "DELETE", pattern: "/v1/authorizers/{appid}/materials/{media_id}", function: Send, handler: DeleteMaterial },
    Route { method: "POST", pattern: "/v1/webhooks", function: Send, handler: CreateWebhook },
    Route { method: "GET", pattern: "/v1/webhooks", function: Send, handler: ListWebhooks },
    Route { method: "GET", pattern: "/v1/webhooks/{id}", function: Send, handler: GetWebhook },
    Route { method: "DELETE", pattern: "/v1/webhooks/{id}", function: Send, handler: DeleteWebhook },
    Route { method: "POST", pattern: "/v1/webhooks/{id}/rotate-secret", function: Send, handler: RotateWebhookSecret },
    Route { method: "POST", pattern: "/v1/webhooks/{id}/ping", function: Send, handler: PingWebhook },
    Route { method: "GET", pattern: "/v1/events", function: Send, handler: ListEvents },
    Route { method: "GET", pattern: "/v1/events/{id}", function: Send, handler: GetEvent },
    Route { method: "POST", pattern: "/v1/events/{id}/redeliver", function: Send, handler: RedeliverEvent },
    Route { method: "GET", pattern: "/healthz", function: Send, handler: Health },
    Route { method: "GET", pattern: "/v1/openapi.json", function: Send, handler: OpenApi },
    // Identity (issue 16).
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/qrcodes", function: Send, handler: CreateQrCode },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/jssdk-config", function: Send, handler: CreateJssdkConfig },
    Route { method: "POST", pattern: "/v1/authorizers/{appid}/oauth-links", function: Send, handler: CreateOauthLink },
    Route { method: "GET", pattern: "/v1/oauth-results/{id}", function: Send, handler: GetOauthResult },
    // Before `/oauth/{id}`, which its path also matches: the first match wins.
    Route { method: "GET", pattern: "/oauth/callback", function: Authorize, handler: OauthCallback },
    Route { method: "GET", pattern: "/oauth/{id}", function: Authorize, handler: OauthOpen },
];

/// Path parameters of a matched route, in pattern order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Matches a path against a pattern; parameters are percent-decoded and must be non-empty.
/// A last `{name+}` takes the rest of the path (one or more segments, each
/// decoded alone, so an encoded `/` stays inside its segment and is refused by the route).
pub(crate) fn match_pattern(pattern: &'static str, path: &str) -> Option<Params> {
    let mut want = pattern.trim_matches('/').split('/');
    let mut got = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(Params(params)),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix("+}")) {
                    let mut segments = vec![percent_decode(g)?];
                    for rest in got.by_ref() {
                        segments.push(percent_decode(rest)?);
                    }
                    if segments.iter().any(|s| s.is_empty() || s.contains('/')) {
                        return None;
                    }
                    params.push((name, segments.join("/")));
                    return want.next().is_none().then_some(Params(params));
                }
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    let value = percent_decode(g)?;
                    if value.is_empty() {
                        return None;
                    }
                    params.push((name, value));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Finds the route for a request. `only` restricts to one function's routes (a Lambda).
pub fn find_route(
    method: &Method,
    path: &str,
    only: Option<Function>,
) -> Result<(&'static Route, Params), StatusCode> {
    let mut path_matched = false;
    for route in ROUTES
        .iter()
        .filter(|r| only.is_none_or(|f| r.function == f))
    {
        if let Some(params) = match_pattern(route.pattern, path) {
            if route.method == method.as_str() {
                return Ok((route, params));
            }
            path_matched = true;
        }
    }
    Err(if path_matched {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        StatusCode::NOT_FOUND
    })
}

/// Serves one request: route, dispatch, and map any error to its JSON answer.
pub async fn handle(app: &App, only: Option<Function>, req: Request) -> Response {
    let (route, params) = match find_route(req.method(), req.uri().path(), only) {
        Ok(found) => found,
        Err(StatusCode::METHOD_NOT_ALLOWED) => {
            return ApiError::method_not_allowed().into_response()
        }
        Err(_) => return ApiError::not_found("no such route").into_response(),
    };
    if let Err(too_large) = limits::check_body(route.handler, req.body().len()) {
        return too_large.into_response();
    }
    let result = match route.handler {
        ComponentUrlCheck => callback::component_url_check(app, req).await,
        ComponentEvents => callback::component_events(app, req).await,
        AuthorizerUrlCheck => callback::authorizer_url_check(app, req, &params).await,
        AuthorizerEvents => callback::authorizer_events(app, req, &params).await,
        AuthorizePage => authorize::page(app, req, &params).await,
        AuthorizeCallback => authorize::callback(app, req, &params).await,
        CreateLink => authorize::create_link(app, req).await,
        ListAuthorizers => api::list_authorizers(app, req).await,
        GetAuthorizer => api::get_authorizer(app, req, &params).await,
        AccessToken => api::access_token(app, req, &params).await,
        TemplateMessages => api::template_messages(app, req, &params).await,
        MassMessages => api::mass_messages(app, req, &params).await,
        MassStatus => api::mass_status(app, req, &params).await,
        CustomMessages => api::custom_messages(app, req, &params).await,
        Media => api::media(app, req, &params).await,
        GetJob => api::get_job(app, req, &params).await,
        ListFollowers => api::followers::list_followers(app, req, &params).await,
        GetFollower => api::followers::get_follower(app, req, &params).await,
        BatchgetFollowers => api::followers::batchget_followers(app, req, &params).await,
        SetFollowerRemark => api::followers::set_remark(app, req, &params).await,
        FollowerTags => api::followers::follower_tags(app, req, &params).await,
        DownloadMedia => api::downloads::download_media(app, req, &params).await,
        WechatGet => api::proxy::wechat_get(app, req, &params).await,
        WechatPost => api::proxy::wechat_post(app, req, &params).await,
        ListTags => api::tags::list_tags(app, req, &params).await,
        CreateTag => api::tags::create_tag(app, req, &params).await,
        RenameTag => api::tags::rename_tag(app, req, &params).await,
        DeleteTag => api::tags::delete_tag(app, req, &params).await,
        TagMembers => api::tags::add_members(app, req, &params).await,
        UntagMembers => api::tags::remove_members(app, req, &params).await,
        PreviewMass => api::mass_admin::preview(app, req, &params).await,
        DeleteMass => api::mass_admin::delete(app, req, &params).await,
        InvalidateToken => api::token_report::invalidate(app, req, &params).await,
        GetQuota => api::quota::get_quota(app, req, &params).await,
        ClearQuota => api::quota::clear_quota(app, req, &params).await,
        ClearComponentQuota => api::quota::clear_component_quota(app, req).await,
        RefreshProfile => api::profile::refresh_profile(app, req, &params).await,
        ListTemplates => api::templates::list(app, req, &params).await,
        AddTemplate => api::templates::add(app, req, &params).await,
        DeleteTemplate => api::templates::delete(app, req, &params).await,
        GetIndustry => api::templates::get_industry(app, req, &params).await,
        SetIndustry => api::templates::set_industry(app, req, &params).await,
        SubscribeMessages => api::subscribe::send(app, req, &params).await,
        AddMaterial => api::materials::add(app, req, &params).await,
        ListMaterials => api::materials::list(app, req, &params).await,
        CountMaterials => api::materials::count(app, req, &params).await,
        GetMaterial => api::materials::get(app, req, &params).await,
        DeleteMaterial => api::materials::delete(app, req, &params).await,
        CreateWebhook => api::events::create_webhook(app, req).await,
        ListWebhooks => api::events::list_webhooks(app, req).await,
        GetWebhook => api::events::get_webhook(app, req, &params).await,
        DeleteWebhook => api::events::delete_webhook(app, req, &params).await,
        RotateWebhookSecret => api::events::rotate_secret(app, req, &params).await,
        PingWebhook => api::events::ping_webhook(app, req, &params).await,
        ListEvents => api::events::list_events(app, req).await,
        GetEvent => api::events::get_event(app, req, &params).await,
        RedeliverEvent => api::events::redeliver(app, req, &params).await,
        Health => Ok(health()),
        OpenApi => Ok(openapi::document()),
        // Identity (issue 16).
        CreateQrCode => api::qrcodes::create(app, req, &params).await,
        CreateJssdkConfig => api::jssdk::create(app, req, &params).await,
        CreateOauthLink => oauth::create_link(app, req, &params).await,
        GetOauthResult => oauth::get_result(app, req, &params).await,
        OauthOpen => oauth::open(app, req, &params).await,
        OauthCallback => oauth::callback(app, req).await,
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// `GET /healthz`: liveness; no secrets.
#[utoipa::path(
    get, path = "/healthz", operation_id = "health", tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "The process answers.", body = api::views::HealthBody))
)]
fn health() -> Response {
    json_response(
        StatusCode::OK,
        &api::views::HealthBody {
            status: api::views::HealthStatus::Ok,
        },
    )
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(bytes))
        .unwrap_or_else(|_| http::Response::new(Bytes::new()))
}

/// A plain-text response (WeChat push answers: `success`, echostr).
pub(crate) fn text_response(status: StatusCode, body: impl Into<Bytes>) -> Response {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body.into())
        .unwrap_or_else(|_| http::Response::new(Bytes::new()))
}

/// An HTML page, with the pages' security headers (never framed, no script;
/// see [`crate::pages::CONTENT_SECURITY_POLICY`]).
pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "strict-origin-when-cross-origin")
        .header("x-frame-options", "DENY")
        .header(
            "content-security-policy",
            crate::pages::CONTENT_SECURITY_POLICY.as_str(),
        )
        .body(Bytes::from(body))
        .unwrap_or_else(|_| http::Response::new(Bytes::new()))
}

/// Query parameters of a request (last value wins).
pub(crate) fn query_params(req: &Request) -> std::collections::HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_params_and_reject_extra_segments() {
        let p = match_pattern(
            "/v1/authorizers/{appid}/mass-messages/{msg_id}",
            "/v1/authorizers/wx1/mass-messages/42",
        )
        .unwrap();
        assert_eq!(p.get("appid"), Some("wx1"));
        assert_eq!(p.get("msg_id"), Some("42"));
        assert!(match_pattern("/v1/authorizers/{appid}", "/v1/authorizers/wx1/extra").is_none());
        assert!(match_pattern("/v1/authorizers/{appid}", "/v1/authorizers/").is_none());
        assert!(match_pattern("/healthz", "/healthz").is_some());
    }

    #[test]
    fn a_greedy_tail_takes_the_rest_segment_by_segment() {
        let pattern = "/v1/authorizers/{appid}/wechat/{path+}";
        let p = match_pattern(pattern, "/v1/authorizers/wx1/wechat/cgi-bin/user/info").unwrap();
        assert_eq!(p.get("path"), Some("cgi-bin/user/info"));
        assert!(match_pattern(pattern, "/v1/authorizers/wx1/wechat").is_none());
        assert!(match_pattern(pattern, "/v1/authorizers/wx1/wechat/a//b").is_none());
        // an encoded slash cannot hide a segment
        assert!(match_pattern(pattern, "/v1/authorizers/wx1/wechat/cgi-bin%2Ftoken").is_none());
    }

    #[test]
    fn find_route_distinguishes_404_405_and_function_filter() {
        assert_eq!(
            find_route(&Method::GET, "/nope", None).unwrap_err(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            find_route(&Method::DELETE, "/healthz", None).unwrap_err(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let (r, _) = find_route(&Method::POST, "/wechat/component/events", None).unwrap();
        assert_eq!(r.handler, Handler::ComponentEvents);
        assert!(find_route(
            &Method::POST,
            "/wechat/component/events",
            Some(Function::Send)
        )
        .is_err());
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.pattern == b.pattern),
                    "{} {}",
                    a.method,
                    a.pattern
                );
            }
        }
    }
}
