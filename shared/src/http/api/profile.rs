//! `POST /v1/authorizers/{appid}/profile/refresh`: the account's profile from
//! WeChat now, rather than as of the authorization or the last daily reconcile.

use super::{acting, views::AuthorizerBody};
use crate::app::App;
use crate::http::{json_response, ApiError, Params, Request, Response};
use crate::service::keys::SCOPE_SEND;
use crate::service::profile;
use http::StatusCode;

/// `POST /v1/authorizers/{appid}/profile/refresh`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/profile/refresh", operation_id = "refresh_authorizer_profile", tag = "authorizers",
    summary = "Refresh the authorizer's profile from WeChat",
    description = "Calls WeChat's api_get_authorizer_info now, stores the profile (name, avatar, `service_type`, `verify_type`, `alias`, `qrcode_url`, `principal_name`, `business_info`) and answers the authorizer. No body. When WeChat fails, nothing is stored. The daily reconcile does the same for every active authorizer.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    responses((status = 200, description = "The authorizer with its new profile.", body = AuthorizerBody)),
    security(("api_key" = []))
)]
pub async fn refresh_profile(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    let authorizer = acting::active_authorizer(app, &req, params, SCOPE_SEND).await?;
    let fresh = profile::refresh(app, &authorizer.appid).await?;
    // Read back for `updated_at`; the record is the one just checked, so a
    // miss means it went in between: answer with what was checked and fetched.
    let stored = app.store.get_authorizer(&authorizer.appid).await?;
    let answered = stored.unwrap_or_else(|| {
        let mut checked = authorizer;
        checked.profile = fresh;
        checked
    });
    Ok(json_response(
        StatusCode::OK,
        &AuthorizerBody::from(&answered),
    ))
}
