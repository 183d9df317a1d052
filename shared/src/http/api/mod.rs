//! The client API under /v1 (design.md §3): authenticate, read the body into
//! its type ([`requests`]), call a service, answer with a type ([`views`]).
//! Each handler checks the key's scope and its tenant against the
//! authorizer's before touching anything.
//!
//! How to add a route:
//! 1. a line in `http::ROUTES` (and its `Handler`), and the route in `template.yaml`;
//! 2. its body types in `requests/`, one file per resource (serde + `ToSchema`, checked domain types
//!    inside, `TryFrom` into what the service takes) and its answer in `views.rs`;
//! 3. the handler here with its `#[utoipa::path]` (success answers, links);
//! 4. its operation in `http::openapi` (`paths(...)` and the error codes it can
//!    answer), new error codes in `http::error::ErrorCode` with their conversions;
//! 5. regenerate `docs/openapi.json` (see `http::openapi`); its tests fail until then.

pub(crate) mod acting;
pub(crate) mod body;
pub(crate) mod downloads;
pub(crate) mod events;
pub(crate) mod followers;
pub(crate) mod idempotency;
pub(crate) mod jssdk;
pub(crate) mod mass_admin;
pub(crate) mod materials;
pub(crate) mod multipart;
pub(crate) mod profile;
pub(crate) mod proxy;
pub(crate) mod qrcodes;
pub(crate) mod quota;
pub(crate) mod requests;
pub(crate) mod subscribe;
pub(crate) mod tags;
pub(crate) mod templates;
pub(crate) mod token_report;
pub(crate) mod views;

pub(crate) use body::json as read_json;
pub(crate) use body::MAX_JSON_BYTES;

use super::auth::{authenticate, authorizer_for_key, require_tenant, visible_to_key};
use super::error::ErrorCode;
use super::{json_response, query_params, ApiError, Params, Request, Response};
use crate::app::App;
use crate::domain::StopReason;
use crate::service::keys::{SCOPE_SEND, SCOPE_TOKEN_READ};
use crate::service::{jobs, mass, media, send};
use crate::store::{Authorizer, AuthorizerStatus, StoreError, TenantScope};
use http::StatusCode;
use idempotency::Begin;
use requests::{
    CustomMessageRequest, MassMessageRequest, MediaUploadForm, NewsUploadRequest,
    TemplateMessageRequest,
};
use views::{
    AccessTokenBody, AuthorizerBody, AuthorizerList, CustomSentBody, InlineSendBody,
    JobAcceptedBody, JobBody, JobMode, MassAcceptedBody, MassStatusBody, NewsUploadedType,
    SentStatus, UploadedBody,
};

const DEFAULT_LIST_LIMIT: u32 = 100;
const MAX_LIST_LIMIT: u32 = 500;
const DEFAULT_JOB_PAGE: usize = 1000;

fn param<'p>(params: &'p Params, name: &str) -> Result<&'p str, ApiError> {
    params
        .get(name)
        .ok_or_else(|| ApiError::field(name, "is a required path parameter"))
}

/// 422 for an authorizer that cannot be acted for any more.
pub(crate) fn require_active(a: &Authorizer) -> Result<(), ApiError> {
    match a.status {
        AuthorizerStatus::Active => Ok(()),
        AuthorizerStatus::Revoked => Err(ApiError::from(&StopReason::AuthorizerRevoked)),
        AuthorizerStatus::NeedsReauth => Err(ApiError::from(&StopReason::AuthorizerNeedsReauth)),
    }
}

/// A whole-number query parameter within `range` (the document's bounds).
fn number_param(
    query: &std::collections::HashMap<String, String>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ApiError> {
    query
        .get(name)
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    ApiError::field(
                        name,
                        format!(
                            "must be a whole number in {}..={} (query parameter)",
                            range.start(),
                            range.end()
                        ),
                    )
                })
        })
        .transpose()
}

/// The largest job cursor a client may send (the document's `int64`).
const MAX_CURSOR: u64 = i64::MAX as u64;

/// `GET /v1/authorizers[?tenant=&cursor=&limit=]`.
#[utoipa::path(
    get, path = "/v1/authorizers", operation_id = "list_authorizers", tag = "authorizers",
    summary = "List authorizers",
    description = "The authorizers of a tenant (the key's only tenant, or `?tenant=`), or of every tenant for a key of every tenant, in appid order. Never token values.",
    params(
        ("tenant" = Option<String>, Query, description = "The tenant to list; required for a key of several tenants."),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 500, description = "Page size, 1..=500; default 100."),
        ("cursor" = Option<String>, Query, description = "A `next_cursor` of this listing."),
    ),
    responses((status = 200, description = "One page of authorizers.", body = AuthorizerList)),
    security(("api_key" = []))
)]
pub async fn list_authorizers(app: &App, req: Request) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let query = query_params(&req);
    let tenant = match (query.get("tenant").filter(|t| !t.is_empty()), &key.tenants) {
        (Some(t), _) => {
            require_tenant(&key, t)?;
            Some(t.clone())
        }
        (None, TenantScope::All) => None,
        (None, TenantScope::Only(list)) => match list.as_slice() {
            [only] => Some(only.clone()),
            _ => return Err(ApiError::new(ErrorCode::TenantRequired)),
        },
    };
    let limit = number_param(&query, "limit", 1..=u64::from(MAX_LIST_LIMIT))?
        .and_then(|l| u32::try_from(l).ok())
        .unwrap_or(DEFAULT_LIST_LIMIT);
    let cursor = query.get("cursor").filter(|c| !c.is_empty());
    let page = app
        .store
        .list_authorizers(tenant.as_deref(), cursor.map(String::as_str), limit)
        .await
        .map_err(|e| match e {
            // The cursor is the only part of this request the store can refuse.
            StoreError::Invalid(_) if cursor.is_some() => ApiError::new(ErrorCode::InvalidCursor),
            other => other.into(),
        })?;
    Ok(json_response(
        StatusCode::OK,
        &AuthorizerList {
            authorizers: page.items.iter().map(AuthorizerBody::from).collect(),
            next_cursor: page.next,
        },
    ))
}

/// `GET /v1/authorizers/{appid}`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}", operation_id = "get_authorizer", tag = "authorizers",
    summary = "Read one authorizer",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    responses((status = 200, description = "The authorizer.", body = AuthorizerBody)),
    security(("api_key" = []))
)]
pub async fn get_authorizer(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    Ok(json_response(
        StatusCode::OK,
        &AuthorizerBody::from(&authorizer),
    ))
}

/// `GET /v1/authorizers/{appid}/access-token` (scope `token:read`).
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/access-token", operation_id = "get_access_token", tag = "authorizers",
    summary = "Read the authorizer's access token",
    description = "The current authorizer access token, for your own WeChat calls (scope `token:read`). Do not renew it yourself: wxopen keeps it alive.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    responses((status = 200, description = "The token (answered with `Cache-Control: no-store`).", body = AccessTokenBody,
        headers(("Cache-Control" = String, description = "`no-store`")))),
    security(("api_key" = []))
)]
pub async fn access_token(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_TOKEN_READ).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    require_active(&authorizer)?;
    let token = app.tokens.authorizer_token(&authorizer.appid).await?;
    // The expiry belongs to the token just handed out unless a renewal raced in between; then it is the newer one's, later still.
    let expires_at = app
        .store
        .get_authorizer(&authorizer.appid)
        .await?
        .map(|a| a.token.expires_at)
        .filter(|e| *e > 0);
    let mut resp = json_response(
        StatusCode::OK,
        &AccessTokenBody {
            appid: authorizer.appid,
            access_token: token.expose().to_owned(),
            expires_at,
        },
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// A fresh seed for WeChat dedupe ids when the client gave no Idempotency-Key.
fn request_seed() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    format!("req_{}", hex::encode(bytes))
}

/// The path every sending route shares: a key with `send` scope for the
/// authorizer's tenant, the body read (400 before 422), an active
/// authorizer, then `send` at most once per Idempotency-Key (a replay answers
/// the first result). `send` gets the seed its WeChat dedupe ids derive from:
/// the idempotency key's, or a fresh one per request.
async fn idempotent_send<T, Fut>(
    app: &App,
    req: Request,
    params: &Params,
    read: impl FnOnce(&Request) -> Result<T, ApiError>,
    send: impl FnOnce(Authorizer, T, String) -> Fut,
) -> Result<Response, ApiError>
where
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    let request = read(&req)?;
    require_active(&authorizer)?;
    let guard = match idempotency::begin(app, &req, &key).await? {
        Begin::Replay(resp) => return Ok(resp),
        Begin::Proceed(guard) => guard,
    };
    let seed = guard
        .as_ref()
        .map(|g| g.seed().to_owned())
        .unwrap_or_else(request_seed);
    let result = send(authorizer, request, seed).await;
    idempotency::finish(app, guard, result).await
}

/// `POST /v1/authorizers/{appid}/template-messages`: inline (200) up to the
/// inline limit, otherwise a job (202).
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/template-messages", operation_id = "send_template_message", tag = "messages",
    summary = "Send a template message",
    description = "To 1..=10,000 openids. Up to `WXOPEN_INLINE_SEND_LIMIT` recipients (default 20) are sent now and answered 200 with each recipient's outcome; more become a job, answered 202.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("Idempotency-Key" = Option<String>, Header, description = "The same key and body answer the first answer again (`Idempotent-Replayed: true`); another body is a 409."),
    ),
    request_body = TemplateMessageRequest,
    responses(
        (status = 200, description = "Sent now: each recipient's outcome, in request order.", body = InlineSendBody),
        (status = 202, description = "Queued as a job.", body = JobAcceptedBody,
            headers(("Location" = String, description = "`/v1/jobs/{job_id}`")),
            links(("GetJob" = (operation_id = "get_job", parameters(("job_id" = "$response.body#/job_id")))))),
    ),
    security(("api_key" = []))
)]
pub async fn template_messages(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    idempotent_send(
        app,
        req,
        params,
        |req| body::json::<TemplateMessageRequest>(req).map(send::TemplateSend::from),
        |authorizer, request, seed| async move {
            bulk_send(app, &authorizer, request.into(), &seed).await
        },
    )
    .await
}

/// A bulk send of any kind: inline (200) up to the inline limit, otherwise a job (202).
pub(crate) async fn bulk_send(
    app: &App,
    authorizer: &Authorizer,
    request: send::BulkSend,
    seed: &str,
) -> Result<Response, ApiError> {
    if request.recipients.len() <= app.config.inline_send_limit {
        send_inline(app, authorizer, request, seed).await
    } else {
        enqueue(app, authorizer, request).await
    }
}

async fn send_inline(
    app: &App,
    authorizer: &Authorizer,
    request: send::BulkSend,
    seed: &str,
) -> Result<Response, ApiError> {
    let report =
        send::send_inline(app, &authorizer.appid, request, &format!("inline\0{seed}")).await?;
    Ok(json_response(StatusCode::OK, &InlineSendBody::new(&report)))
}

async fn enqueue(
    app: &App,
    authorizer: &Authorizer,
    request: send::BulkSend,
) -> Result<Response, ApiError> {
    let tenant = authorizer.tenant.clone().unwrap_or_default();
    let job =
        send::enqueue_job(app, &authorizer.appid, &tenant, request, send::new_job_id()).await?;
    let location = format!("/v1/jobs/{}", job.job_id);
    let mut resp = json_response(
        StatusCode::ACCEPTED,
        &JobAcceptedBody {
            mode: JobMode::Job,
            job_id: job.job_id,
            state: crate::store::JobState::Queued,
            total: job.total,
            chunks: job.chunks,
            status_url: location.clone(),
        },
    );
    if let Ok(v) = http::HeaderValue::from_str(&location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(resp)
}

/// `POST /v1/authorizers/{appid}/mass-messages`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/mass-messages", operation_id = "send_mass_message", tag = "messages",
    summary = "Send a mass message",
    description = "To every follower (`to_all`), a tag's followers (`tag_id`) or 2..=10,000 openids (`touser`). WeChat deduplicates a retried request with the same Idempotency-Key for 24 h.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("Idempotency-Key" = Option<String>, Header, description = "The same key and body answer the first answer again; another body is a 409."),
    ),
    request_body = MassMessageRequest,
    responses((status = 200, description = "WeChat accepted it.", body = MassAcceptedBody,
        links(("GetMassStatus" = (operation_id = "get_mass_status", parameters(("appid" = "$request.path.appid"), ("msg_id" = "$response.body#/msg_id"))))))),
    security(("api_key" = []))
)]
pub async fn mass_messages(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    idempotent_send(
        app,
        req,
        params,
        |req| body::json::<MassMessageRequest>(req).and_then(mass::MassRequest::try_from),
        |authorizer, request, seed| async move {
            let accepted =
                mass::send_mass(app, &authorizer.appid, &request, &mass::clientmsgid(&seed))
                    .await?;
            Ok(json_response(
                StatusCode::OK,
                &MassAcceptedBody::from(accepted),
            ))
        },
    )
    .await
}

/// `GET /v1/authorizers/{appid}/mass-messages/{msg_id}`.
#[utoipa::path(
    get, path = "/v1/authorizers/{appid}/mass-messages/{msg_id}", operation_id = "get_mass_status", tag = "messages",
    summary = "Read a mass message's status",
    description = "WeChat's mass/get answer, with WeChat's MASSSENDJOBFINISH report once it arrived.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("msg_id" = u64, Path, description = "The `msg_id` of the send."),
    ),
    responses((status = 200, description = "The status.", body = MassStatusBody)),
    security(("api_key" = []))
)]
pub async fn mass_status(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    let msg_id: u64 = param(params, "msg_id")?
        .parse()
        .map_err(|_| ApiError::field("msg_id", "must be a whole number"))?;
    require_active(&authorizer)?;
    let view = mass::mass_status(app, &authorizer.appid, msg_id).await?;
    Ok(json_response(StatusCode::OK, &MassStatusBody::from(view)))
}

/// `POST /v1/authorizers/{appid}/custom-messages`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/custom-messages", operation_id = "send_custom_message", tag = "messages",
    summary = "Send a customer-service message",
    description = "Only inside the follower's 48-hour window after they wrote to the account (WeChat answers 45015 otherwise).",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("Idempotency-Key" = Option<String>, Header, description = "The same key and body answer the first answer again; another body is a 409."),
    ),
    request_body = CustomMessageRequest,
    responses((status = 200, description = "WeChat accepted it.", body = CustomSentBody)),
    security(("api_key" = []))
)]
pub async fn custom_messages(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    // Customer-service messages carry no dedupe id: the seed goes unused.
    idempotent_send(
        app,
        req,
        params,
        |req| {
            body::json::<CustomMessageRequest>(req).and_then(crate::wechat::CustomMessage::try_from)
        },
        |authorizer, message, _seed| async move {
            mass::send_custom(app, &authorizer.appid, &message).await?;
            Ok(json_response(
                StatusCode::OK,
                &CustomSentBody {
                    status: SentStatus::Sent,
                    touser: message.touser,
                },
            ))
        },
    )
    .await
}

/// `POST /v1/authorizers/{appid}/media`: a file as multipart/form-data
/// (`type` = article_image|image|voice|video|thumb, file in `media`), or news
/// articles as JSON (`{"type": "news", "articles": […]}`).
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/media", operation_id = "upload_media", tag = "media",
    summary = "Upload media",
    description = "A file as multipart/form-data (`type` and the file in `media`; type, extension and size are checked before WeChat is called), or news articles as JSON.",
    params(("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001")),
    request_body(content(
        (MediaUploadForm = "multipart/form-data"),
        (NewsUploadRequest = "application/json"),
    )),
    responses((status = 200, description = "What the upload produced: a URL (article_image) or a media_id.", body = UploadedBody)),
    security(("api_key" = []))
)]
pub async fn media(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    match body::media_type(&req).as_deref() {
        Some("application/json") => {
            let articles: Vec<crate::wechat::Article> =
                body::json::<NewsUploadRequest>(&req)?.try_into()?;
            require_active(&authorizer)?;
            let media_id = media::upload_news(app, &authorizer.appid, &articles).await?;
            Ok(json_response(
                StatusCode::OK,
                &UploadedBody::News {
                    kind: NewsUploadedType::News,
                    media_id,
                },
            ))
        }
        Some("multipart/form-data") => {
            let form = multipart::read_form(&req, &["type"]).await?;
            let kind_name = form
                .fields
                .get("type")
                .cloned()
                .or_else(|| query_params(&req).remove("type"))
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::field(
                        "type",
                        format!("is required: one of {}", media::UPLOAD_KINDS),
                    )
                })?;
            let kind = media::UploadKind::parse(&kind_name).ok_or_else(|| {
                ApiError::field(
                    "type",
                    format!(
                        "unknown media type `{kind_name}`; expected one of {}",
                        media::UPLOAD_KINDS
                    ),
                )
            })?;
            let file = form.file.ok_or_else(|| {
                ApiError::field("media", "is required: the file, as a multipart file field")
            })?;
            media::check_upload(kind, &file.filename, file.data.len())?;
            require_active(&authorizer)?;
            let uploaded =
                media::upload(app, &authorizer.appid, kind, &file.filename, file.data).await?;
            Ok(json_response(StatusCode::OK, &UploadedBody::from(uploaded)))
        }
        other => Err(body::unsupported(
            "multipart/form-data (files) or application/json (news)",
            other,
        )),
    }
}

/// `GET /v1/jobs/{job_id}[?cursor=&limit=]`: progress, totals and one page of per-recipient results.
#[utoipa::path(
    get, path = "/v1/jobs/{job_id}", operation_id = "get_job", tag = "messages",
    summary = "Read a job",
    description = "A template-message job's state and totals, and one page of its recipients with WeChat's delivery report once it arrived.",
    params(
        ("job_id" = String, Path, description = "The `job_id` a send answered."),
        ("cursor" = Option<u64>, Query, description = "A `next_cursor` of this job (a position); default 0."),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 10000, description = "Recipients per page, 1..=10000; default 1000."),
    ),
    responses((status = 200, description = "The job.", body = JobBody)),
    security(("api_key" = []))
)]
pub async fn get_job(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let job_id = param(params, "job_id")?;
    let query = query_params(&req);
    let cursor = usize::try_from(number_param(&query, "cursor", 0..=MAX_CURSOR)?.unwrap_or(0))
        .map_err(|_| ApiError::field("cursor", "is too large"))?;
    let limit = number_param(&query, "limit", 1..=jobs::MAX_PAGE as u64)?
        .map(|l| usize::try_from(l).unwrap_or(jobs::MAX_PAGE))
        .unwrap_or(DEFAULT_JOB_PAGE);
    let view = jobs::job_view(app, job_id, cursor, limit)
        .await?
        .filter(|view| visible_to_key(&key, Some(view.job.tenant.as_str())))
        .ok_or_else(|| {
            ApiError::not_found(format!("job {job_id} is not known (or has expired)"))
        })?;
    Ok(json_response(StatusCode::OK, &JobBody::from(&view)))
}
