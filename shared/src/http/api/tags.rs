//! `/v1/authorizers/{appid}/tags…`: the account's follower tags and their
//! members (mass messages go to a tag). Scope `send`.

use super::{acting, body, param};
use crate::app::App;
use crate::domain::Recipients;
use crate::http::{json_response, ApiError, Params, Request, Response};
use crate::service::keys::SCOPE_SEND;
use crate::service::tags::{self, MAX_TAG_MEMBERS, MAX_TAG_NAME_CHARS};
use crate::wechat::Tag;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The system's tags (0, 1, 2) cannot be renamed or deleted (WeChat's 45058).
const LAST_SYSTEM_TAG: u64 = 2;

/// 1..=10,000 distinct openids.
pub(crate) type TagMembers = Recipients<1, MAX_TAG_MEMBERS>;

/// `POST …/tags` and `PATCH …/tags/{tag_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Spring buyers"}))]
pub(crate) struct TagNameRequest {
    /// 1..=30 characters, unique among the account's tags.
    pub name: String,
}

impl TagNameRequest {
    fn checked(self) -> Result<String, ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_TAG_NAME_CHARS {
            return Err(ApiError::field(
                "name",
                format!("must be 1..={MAX_TAG_NAME_CHARS} characters"),
            ));
        }
        Ok(name.to_owned())
    }
}

/// `POST …/tags/{tag_id}/members` and `…/members/remove`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"openids": ["oSbx01Follower00000000000001"]}))]
pub(crate) struct TagMembersRequest {
    /// 1..=10,000 distinct openids (wxopen calls WeChat 50 at a time).
    #[schema(inline)]
    pub openids: TagMembers,
}

/// A tag.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TagBody {
    pub id: u64,
    pub name: String,
    /// Followers carrying it.
    pub count: u64,
}

impl From<Tag> for TagBody {
    fn from(t: Tag) -> Self {
        TagBody {
            id: t.id,
            name: t.name,
            count: t.count,
        }
    }
}

/// Every tag of the account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TagList {
    pub tags: Vec<TagBody>,
}

/// What a members call did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TagMembersBody {
    pub tag_id: u64,
    /// Openids tagged (or untagged).
    pub count: usize,
    /// WeChat calls made (50 openids each).
    pub calls: usize,
}

/// A tag was deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TagDeletedBody {
    pub id: u64,
    pub deleted: bool,
}

/// A tag id of the path; the system's tags are refused for edits.
fn tag_id(params: &Params, editable: bool) -> Result<u64, ApiError> {
    let id: u64 = param(params, "tag_id")?
        .parse()
        .map_err(|_| ApiError::field("tag_id", "must be a whole number"))?;
    if editable && id <= LAST_SYSTEM_TAG {
        return Err(ApiError::field(
            "tag_id",
            "the system's tags 0, 1 and 2 cannot be changed",
        ));
    }
    Ok(id)
}

/// `GET /v1/authorizers/{appid}/tags`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/tags", operation_id = "list_tags", tag = "followers",
    summary = "List the account's tags",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    responses((status = 200, description = "Every tag with its follower count.", body = TagList)),
    security(("api_key" = []))
)]
pub async fn list_tags(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::active_authorizer(app, &req, params, SCOPE_SEND).await?;
    let list = tags::list(app, &authorizer.appid).await?;
    Ok(json_response(
        StatusCode::OK,
        &TagList {
            tags: list.into_iter().map(TagBody::from).collect(),
        },
    ))
}

/// `POST /v1/authorizers/{appid}/tags`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/tags", operation_id = "create_tag", tag = "followers",
    summary = "Create a tag",
    description = "At most 100 tags an account; a name used already is WeChat's 45157 (400).",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body = TagNameRequest,
    responses((status = 201, description = "The new tag.", body = TagBody)),
    security(("api_key" = []))
)]
pub async fn create_tag(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let name = body::json::<TagNameRequest>(&req)?.checked()?;
    super::require_active(&authorizer)?;
    let tag = tags::create(app, &authorizer.appid, &name).await?;
    Ok(json_response(StatusCode::CREATED, &TagBody::from(tag)))
}

/// `PATCH /v1/authorizers/{appid}/tags/{tag_id}`.
#[utoipa::path(
    patch, path = "/v1/authorizers/{appid}/tags/{tag_id}", operation_id = "rename_tag", tag = "followers",
    summary = "Rename a tag",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("tag_id" = u64, Path, description = "The tag's id (not 0, 1 or 2)."),
    ),
    request_body = TagNameRequest,
    responses((status = 200, description = "The renamed tag (its count is not re-read).", body = TagBody)),
    security(("api_key" = []))
)]
pub async fn rename_tag(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let id = tag_id(params, true)?;
    let name = body::json::<TagNameRequest>(&req)?.checked()?;
    super::require_active(&authorizer)?;
    tags::rename(app, &authorizer.appid, id, &name).await?;
    Ok(json_response(
        StatusCode::OK,
        &TagBody { id, name, count: 0 },
    ))
}

/// `DELETE /v1/authorizers/{appid}/tags/{tag_id}`.
#[utoipa::path(
    delete, path = "/v1/authorizers/{appid}/tags/{tag_id}", operation_id = "delete_tag", tag = "followers",
    summary = "Delete a tag",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("tag_id" = u64, Path, description = "The tag's id (not 0, 1 or 2)."),
    ),
    responses((status = 200, description = "Deleted.", body = TagDeletedBody)),
    security(("api_key" = []))
)]
pub async fn delete_tag(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let id = tag_id(params, true)?;
    super::require_active(&authorizer)?;
    tags::delete(app, &authorizer.appid, id).await?;
    Ok(json_response(
        StatusCode::OK,
        &TagDeletedBody { id, deleted: true },
    ))
}

async fn members(
    app: &App,
    req: Request,
    params: &Params,
    add: bool,
) -> Result<Response, ApiError> {
    let authorizer = acting::authorizer(app, &req, params, SCOPE_SEND).await?;
    let id = tag_id(params, false)?;
    let openids = body::json::<TagMembersRequest>(&req)?.openids.into_vec();
    super::require_active(&authorizer)?;
    let calls = tags::members(app, &authorizer.appid, id, &openids, add).await?;
    Ok(json_response(
        StatusCode::OK,
        &TagMembersBody {
            tag_id: id,
            count: openids.len(),
            calls,
        },
    ))
}

/// `POST /v1/authorizers/{appid}/tags/{tag_id}/members`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/tags/{tag_id}/members", operation_id = "tag_followers", tag = "followers",
    summary = "Tag followers",
    description = "1..=10,000 openids, tagged 50 per WeChat call. Tagging is idempotent: after an error, send the same request again.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("tag_id" = u64, Path, description = "The tag's id."),
    ),
    request_body = TagMembersRequest,
    responses((status = 200, description = "Every openid carries the tag.", body = TagMembersBody)),
    security(("api_key" = []))
)]
pub async fn add_members(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    members(app, req, params, true).await
}

/// `POST /v1/authorizers/{appid}/tags/{tag_id}/members/remove`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/tags/{tag_id}/members/remove", operation_id = "untag_followers", tag = "followers",
    summary = "Untag followers",
    description = "1..=10,000 openids, untagged 50 per WeChat call; idempotent like tagging.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("tag_id" = u64, Path, description = "The tag's id."),
    ),
    request_body = TagMembersRequest,
    responses((status = 200, description = "No openid carries the tag any more.", body = TagMembersBody)),
    security(("api_key" = []))
)]
pub async fn remove_members(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    members(app, req, params, false).await
}
