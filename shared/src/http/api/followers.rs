//! `/v1/authorizers/{appid}/followers…`: the follower list, profiles (one or
//! up to 10,000 at once), remarks and a follower's tags. Scope `send`.

use super::{acting, body, param};
use crate::app::App;
use crate::domain::{OpenId, Recipients};
use crate::http::{json_response, query_params, ApiError, Params, Request, Response};
use crate::service::followers::{self, MAX_BATCHGET, MAX_REMARK_CHARS};
use crate::service::keys::SCOPE_SEND;
use crate::wechat::UserInfo;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The languages user/info answers in.
const LANGS: &[&str] = &["zh_CN", "zh_TW", "en"];

/// 1..=10,000 distinct openids.
pub(crate) type BatchOpenIds = Recipients<1, MAX_BATCHGET>;

/// `POST …/followers/batchget`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"openids": ["oSbx01Follower00000000000001", "oSbx01Follower00000000000002"]}))]
pub(crate) struct BatchgetRequest {
    /// 1..=10,000 distinct openids (wxopen asks WeChat 100 at a time).
    #[schema(inline)]
    pub openids: BatchOpenIds,
}

/// `POST …/followers/{openid}/remark`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"remark": "VIP since 2024"}))]
pub(crate) struct RemarkRequest {
    /// The account's note on the follower, under 30 characters; "" clears it.
    pub remark: String,
}

/// One page of follower openids.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FollowerPage {
    /// Followers in all.
    pub total: u64,
    pub openids: Vec<String>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A follower's profile as WeChat gives it (WeChat no longer gives nicknames).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "openid": "oSbx01Follower00000000000001", "subscribed": true, "language": "zh_CN",
    "subscribe_time": 1764547200, "unionid": null, "remark": "", "tag_ids": [100],
    "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 0, "qr_scene_str": ""
}))]
pub(crate) struct FollowerBody {
    pub openid: String,
    /// False for someone who does not (or no longer) follow; then nothing else is known.
    pub subscribed: bool,
    pub language: Option<String>,
    pub subscribe_time: Option<u64>,
    /// Only when the account is bound to an Open Platform account.
    pub unionid: Option<String>,
    pub remark: Option<String>,
    pub tag_ids: Vec<i64>,
    pub subscribe_scene: Option<String>,
    pub qr_scene: Option<i64>,
    pub qr_scene_str: Option<String>,
}

impl From<UserInfo> for FollowerBody {
    fn from(u: UserInfo) -> Self {
        FollowerBody {
            openid: u.openid,
            subscribed: u.subscribe == 1,
            language: u.language,
            subscribe_time: u.subscribe_time,
            unionid: u.unionid,
            remark: u.remark,
            tag_ids: u.tagid_list,
            subscribe_scene: u.subscribe_scene,
            qr_scene: u.qr_scene,
            qr_scene_str: u.qr_scene_str,
        }
    }
}

/// Profiles in request order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FollowerList {
    pub followers: Vec<FollowerBody>,
}

/// The ids of a follower's tags.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FollowerTags {
    pub openid: String,
    pub tag_ids: Vec<u64>,
}

/// A remark was set.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RemarkBody {
    pub openid: String,
    pub remark: String,
}

fn openid_param(params: &Params) -> Result<OpenId, ApiError> {
    OpenId::parse(param(params, "openid")?).map_err(|e| ApiError::field("openid", e))
}

/// `GET /v1/authorizers/{appid}/followers[?cursor=]`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/followers", operation_id = "list_followers", tag = "followers",
    summary = "List followers",
    description = "Up to 10,000 openids a page, in WeChat's order (user/get).",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("cursor" = Option<String>, Query, description = "A `next_cursor` of this listing (an openid)."),
    ),
    responses((status = 200, description = "One page of openids.", body = FollowerPage)),
    security(("api_key" = []))
)]
pub async fn list_followers(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let cursor = query_params(&req)
        .remove("cursor")
        .filter(|c| !c.is_empty())
        .map(|c| OpenId::parse(&c).map_err(|e| ApiError::field("cursor", e)))
        .transpose()?;
    super::require_active(&authorizer)?;
    let page = followers::list(app, &authorizer.appid, cursor.as_ref()).await?;
    // WeChat repeats the last openid as next_openid on the last full page and
    // answers an empty page after it: an empty page has no next.
    let openids = page.data.openid;
    let next_cursor =
        (!openids.is_empty() && !page.next_openid.is_empty()).then_some(page.next_openid);
    Ok(json_response(
        StatusCode::OK,
        &FollowerPage {
            total: page.total,
            openids,
            next_cursor,
        },
    ))
}

/// `GET /v1/authorizers/{appid}/followers/{openid}[?lang=]`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/followers/{openid}", operation_id = "get_follower", tag = "followers",
    summary = "Read a follower's profile",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("openid" = String, Path, description = "The follower's openid."),
        ("lang" = Option<String>, Query, description = "`zh_CN` (default), `zh_TW` or `en`."),
    ),
    responses((status = 200, description = "The profile.", body = FollowerBody)),
    security(("api_key" = []))
)]
pub async fn get_follower(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let openid = openid_param(params)?;
    let lang = query_params(&req).remove("lang");
    if let Some(l) = &lang {
        if !LANGS.contains(&l.as_str()) {
            return Err(ApiError::field("lang", "must be zh_CN, zh_TW or en"));
        }
    }
    super::require_active(&authorizer)?;
    let info = followers::info(app, &authorizer.appid, &openid, lang.as_deref()).await?;
    Ok(json_response(StatusCode::OK, &FollowerBody::from(info)))
}

/// `POST /v1/authorizers/{appid}/followers/batchget`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/followers/batchget", operation_id = "batchget_followers", tag = "followers",
    summary = "Read many followers' profiles",
    description = "1..=10,000 openids in one request: wxopen asks WeChat 100 at a time, several calls at once, and answers every profile in request order, or one error.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body = BatchgetRequest,
    responses((status = 200, description = "The profiles, in request order.", body = FollowerList)),
    security(("api_key" = []))
)]
pub async fn batchget_followers(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let request: BatchgetRequest = body::json(&req)?;
    super::require_active(&authorizer)?;
    let openids = request.openids.into_vec();
    let infos = followers::batchget(app, &authorizer.appid, &openids).await?;
    Ok(json_response(
        StatusCode::OK,
        &FollowerList {
            followers: infos.into_iter().map(FollowerBody::from).collect(),
        },
    ))
}

/// `POST /v1/authorizers/{appid}/followers/{openid}/remark`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/followers/{openid}/remark", operation_id = "set_follower_remark", tag = "followers",
    summary = "Set the account's note on a follower",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("openid" = String, Path, description = "The follower's openid."),
    ),
    request_body = RemarkRequest,
    responses((status = 200, description = "The remark was set.", body = RemarkBody)),
    security(("api_key" = []))
)]
pub async fn set_remark(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let openid = openid_param(params)?;
    let request: RemarkRequest = body::json(&req)?;
    if request.remark.chars().count() >= MAX_REMARK_CHARS {
        return Err(ApiError::field(
            "remark",
            format!("must be shorter than {MAX_REMARK_CHARS} characters"),
        ));
    }
    super::require_active(&authorizer)?;
    followers::remark(app, &authorizer.appid, &openid, &request.remark).await?;
    Ok(json_response(
        StatusCode::OK,
        &RemarkBody {
            openid: openid.into_string(),
            remark: request.remark,
        },
    ))
}

/// `GET /v1/authorizers/{appid}/followers/{openid}/tags`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/followers/{openid}/tags", operation_id = "get_follower_tags", tag = "followers",
    summary = "Read the tags a follower carries",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("openid" = String, Path, description = "The follower's openid."),
    ),
    responses((status = 200, description = "The follower's tag ids.", body = FollowerTags)),
    security(("api_key" = []))
)]
pub async fn follower_tags(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let openid = openid_param(params)?;
    super::require_active(&authorizer)?;
    let tag_ids = followers::tags_of(app, &authorizer.appid, &openid).await?;
    Ok(json_response(
        StatusCode::OK,
        &FollowerTags {
            openid: openid.into_string(),
            tag_ids,
        },
    ))
}
