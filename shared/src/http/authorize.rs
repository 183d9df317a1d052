//! Merchant authorization over HTTP: `POST /v1/authorization-links` (JSON, API
//! key with the `admin` scope), and the merchant's pages `GET /authorize/{link_id}`
//! and `GET /authorize/{link_id}/callback` (HTML; every failure is a friendly
//! page with a fitting status, never JSON).

use super::api::requests::CreateLinkRequest;
use super::api::views::LinkBody;
use super::{html_response, json_response, query_params, ApiError, Params, Request, Response};
use crate::app::App;
use crate::http::auth::{authenticate, require_tenant};
use crate::pages::{self, problems, AccountView, Problem, StartPage};
use crate::secret::Secret;
use crate::service::authorization::ExchangeError;
use crate::service::keys::SCOPE_ADMIN;
use crate::service::links::{self, Device, FinishError, LinkState, NewLink, StartError};
use crate::store::AuthorizerProfile;
use crate::tokens::TokenError;
use crate::wechat::ErrorClass;
use http::StatusCode;

/// WeChat's errcodes for an authorization code that is invalid/used or expired.
const CODE_REFUSED_ERRCODES: &[i64] = &[61009, 61010];
/// Longest authorization code worth passing on to WeChat.
const MAX_AUTH_CODE_LEN: usize = 512;

/// `POST /v1/authorization-links` → 201 `{url, expires_at}`. Creating links
/// binds accounts to a tenant, so it takes the `admin` scope (and the tenant
/// must be one the key may act for).
#[utoipa::path(
    post, path = "/v1/authorization-links", operation_id = "create_authorization_link", tag = "authorization",
    summary = "Create a merchant authorization link",
    description = "A one-time link for a tenant's merchant to authorize its official account (scope `admin`). The link is used up by a successful authorization, not by being viewed.",
    request_body = CreateLinkRequest,
    responses((status = 201, description = "The link.", body = LinkBody)),
    security(("api_key" = []))
)]
pub async fn create_link(app: &App, req: Request) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_ADMIN).await?;
    let body: CreateLinkRequest = super::api::read_json(&req)?;
    require_tenant(&key, &body.tenant)?;
    let created = links::create(app, NewLink::try_from(body)?).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &LinkBody {
            url: created.url,
            expires_at: created.link.expires_at,
        },
    ))
}

/// The browser a User-Agent describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Browser {
    device: Device,
    /// A phone browser other than WeChat's: the mobile page only works inside
    /// WeChat, so the PC page is offered with a hint to open the link in WeChat.
    phone_outside_wechat: bool,
}

/// Picks WeChat's page by User-Agent: the mobile page inside WeChat on a phone
/// (`MicroMessenger`, but not the desktop clients' `WindowsWechat`/`MacWechat`),
/// the PC page everywhere else.
fn browser_of(user_agent: &str) -> Browser {
    let in_wechat = user_agent.contains("MicroMessenger");
    let desktop_wechat = user_agent.contains("WindowsWechat") || user_agent.contains("MacWechat");
    let phone = ["Mobile", "Android", "iPhone", "iPad"]
        .iter()
        .any(|m| user_agent.contains(m));
    if in_wechat && !desktop_wechat {
        Browser {
            device: Device::Mobile,
            phone_outside_wechat: false,
        }
    } else {
        Browser {
            device: Device::Pc,
            phone_outside_wechat: phone && !in_wechat,
        }
    }
}

/// `GET /authorize/{link_id}`: the start page with a fresh pre_auth_code.
pub async fn page(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let id = params.get("link_id").unwrap_or_default();
    let link = match links::state(app, id).await {
        Ok(LinkState::Usable(link)) => link,
        Ok(LinkState::Used(link)) => {
            return Ok(used_link_page(app, link.used_by.as_deref(), None).await)
        }
        Ok(LinkState::Expired) => return Ok(problem(StatusCode::GONE, &problems::expired_link())),
        Ok(LinkState::Unknown) => {
            return Ok(problem(StatusCode::NOT_FOUND, &problems::unknown_link()))
        }
        Err(e) => return Ok(unavailable(&e)),
    };
    let user_agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let browser = browser_of(user_agent);
    let wechat_url = match links::start(app, &link, browser.device).await {
        Ok(url) => url,
        Err(StartError::Store(e)) => return Ok(unavailable(&e)),
        Err(StartError::Token(e)) => return Ok(token_problem(&e)),
    };
    let body = pages::start_page(&StartPage {
        wechat_url: &wechat_url,
        qr_code: browser.device == Device::Pc && !browser.phone_outside_wechat,
        open_in_wechat_hint: browser.phone_outside_wechat,
    });
    Ok(no_store(html_response(StatusCode::OK, body)))
}

/// `GET /authorize/{link_id}/callback?auth_code=&expires_in=`: finish, then the
/// result page or a 302 to the link's `return_url`.
pub async fn callback(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let id = params.get("link_id").unwrap_or_default();
    let query = query_params(&req);
    let code = query
        .get("auth_code")
        .map(|c| c.trim())
        .filter(|c| !c.is_empty() && c.len() <= MAX_AUTH_CODE_LEN)
        .map(Secret::new);
    match links::finish(app, id, code.as_ref()).await {
        Ok(done) => Ok(match &done.link.return_url {
            Some(url) => redirect(&return_location(url, &done.appid)),
            None => no_store(html_response(
                StatusCode::OK,
                pages::result_page(&account_view(&done.appid, &done.profile)),
            )),
        }),
        Err(e) => Ok(finish_problem(app, e).await),
    }
}

/// `return_url` with `authorizer_appid` and `status=authorized` appended (before any fragment).
fn return_location(return_url: &str, appid: &str) -> String {
    match url::Url::parse(return_url) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .append_pair("authorizer_appid", appid)
                .append_pair("status", "authorized");
            url.to_string()
        }
        // Checked when the link was created; an unparsable one cannot be stored.
        Err(_) => return_url.to_owned(),
    }
}

pub(super) fn redirect(location: &str) -> Response {
    let mut resp = html_response(StatusCode::FOUND, String::new());
    if let Ok(v) = http::HeaderValue::from_str(location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    no_store(resp)
}

async fn finish_problem(app: &App, e: FinishError) -> Response {
    match e {
        FinishError::UnknownLink => problem(StatusCode::NOT_FOUND, &problems::unknown_link()),
        FinishError::ExpiredLink => problem(StatusCode::GONE, &problems::expired_link()),
        FinishError::UsedLink { used_by, profile } => {
            used_link_page(app, used_by.as_deref(), profile).await
        }
        FinishError::MissingCode => problem(StatusCode::BAD_REQUEST, &problems::missing_code()),
        FinishError::CodeOfAnotherLink => {
            problem(StatusCode::BAD_REQUEST, &problems::code_refused())
        }
        FinishError::Store(e) => unavailable(&e),
        FinishError::Exchange(ExchangeError::Store(e)) => unavailable(&e),
        FinishError::Exchange(ExchangeError::TenantConflict { appid, .. }) => {
            let profile = match app.store.get_authorizer(&appid).await {
                Ok(found) => found.map(|a| a.profile).unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the conflicting authorizer's profile");
                    AuthorizerProfile::default()
                }
            };
            problem(
                StatusCode::CONFLICT,
                &problems::tenant_conflict(account_view(&appid, &profile)),
            )
        }
        FinishError::Exchange(ExchangeError::Token(e)) => token_problem(&e),
    }
}

async fn used_link_page(
    app: &App,
    used_by: Option<&str>,
    profile: Option<AuthorizerProfile>,
) -> Response {
    let Some(appid) = used_by.filter(|a| !a.is_empty()) else {
        return problem(StatusCode::GONE, &problems::used_link(None));
    };
    let profile = match profile {
        Some(p) => p,
        None => app
            .store
            .get_authorizer(appid)
            .await
            .ok()
            .flatten()
            .map(|a| a.profile)
            .unwrap_or_default(),
    };
    problem(
        StatusCode::GONE,
        &problems::used_link(Some(account_view(appid, &profile))),
    )
}

/// The page for a failure to get a WeChat token or answer.
pub(super) fn token_problem(e: &TokenError) -> Response {
    tracing::warn!(errcode = e.errcode(), error = %e, "authorization flow: WeChat step failed");
    match e {
        TokenError::Wechat(w)
            if w.errcode()
                .is_some_and(|c| CODE_REFUSED_ERRCODES.contains(&c)) =>
        {
            problem(StatusCode::BAD_REQUEST, &problems::code_refused())
        }
        TokenError::Wechat(w) => match w.class() {
            ErrorClass::Busy
            | ErrorClass::Unavailable
            | ErrorClass::Unknown
            | ErrorClass::TokenInvalid => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                &problems::try_again_later(),
            ),
            _ => problem(StatusCode::BAD_GATEWAY, &problems::wechat_refused()),
        },
        TokenError::NoTicket | TokenError::Busy | TokenError::Store(_) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &problems::try_again_later(),
        ),
        TokenError::UnknownAuthorizer(_) | TokenError::Revoked(_) | TokenError::NeedsReauth(_) => {
            problem(StatusCode::BAD_GATEWAY, &problems::wechat_refused())
        }
    }
}

pub(super) fn unavailable(e: &crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "authorization flow: store failure");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        &problems::try_again_later(),
    )
}

fn account_view<'a>(appid: &'a str, profile: &'a AuthorizerProfile) -> AccountView<'a> {
    AccountView {
        appid,
        name: profile.nick_name.as_deref().filter(|n| !n.is_empty()),
        avatar: profile.head_img.as_deref(),
    }
}

pub(super) fn problem(status: StatusCode, p: &Problem) -> Response {
    let mut resp = no_store(html_response(status, pages::problem_page(p)));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("10"),
        );
    }
    resp
}

/// Every page carries a one-time code or a personal result: never cached.
fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wechat_in_app_browser_on_a_phone_gets_the_mobile_page() {
        let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN";
        assert_eq!(browser_of(ua).device, Device::Mobile);
    }

    #[test]
    fn desktop_browsers_and_desktop_wechat_get_the_pc_page() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let windows_wechat = "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat";
        assert_eq!(
            browser_of(chrome),
            Browser {
                device: Device::Pc,
                phone_outside_wechat: false
            }
        );
        assert_eq!(browser_of(windows_wechat).device, Device::Pc);
        assert_eq!(browser_of("").device, Device::Pc);
    }

    #[test]
    fn a_phone_browser_outside_wechat_gets_the_pc_page_and_a_hint() {
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(
            browser_of(safari),
            Browser {
                device: Device::Pc,
                phone_outside_wechat: true
            }
        );
    }

    #[test]
    fn return_location_appends_appid_and_status_before_the_fragment() {
        assert_eq!(
            return_location("https://erp.example.com/done?x=1#top", "wx1"),
            "https://erp.example.com/done?x=1&authorizer_appid=wx1&status=authorized#top"
        );
        assert_eq!(
            return_location("https://erp.example.com", "wx1"),
            "https://erp.example.com/?authorizer_appid=wx1&status=authorized"
        );
    }
}
