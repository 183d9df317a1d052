//! The client API under /v1 (design.md §3): authenticate, parse, call a
//! service, answer JSON. Each handler checks the key's scope and its tenant
//! against the authorizer's before touching anything.

mod body;
mod errors;
pub mod idempotency;
mod multipart;

pub use body::MAX_JSON_BYTES;
pub use errors::stop_error;

use super::auth::{authenticate, authenticate_any, authorizer_for_key, require_tenant};
use super::{json_response, query_params, ApiError, Params, Request, Response};
use crate::app::App;
use crate::service::keys::{SCOPE_SEND, SCOPE_TOKEN_READ};
use crate::service::{delivery, jobs, mass, media, send};
use crate::store::{Authorizer, AuthorizerStatus, RecipientResult, StoreError, TenantScope};
use http::StatusCode;
use idempotency::Begin;
use serde_json::{json, Value};

const DEFAULT_LIST_LIMIT: u32 = 100;
const MAX_LIST_LIMIT: u32 = 500;
const DEFAULT_JOB_PAGE: usize = 1000;

fn param<'p>(params: &'p Params, name: &str) -> Result<&'p str, ApiError> {
    params.get(name).ok_or_else(|| {
        ApiError::bad_request("invalid_request", format!("missing path parameter {name}"))
    })
}

/// 422 for an authorizer that cannot be acted for any more.
fn require_active(a: &Authorizer) -> Result<(), ApiError> {
    match a.status {
        AuthorizerStatus::Active => Ok(()),
        AuthorizerStatus::Revoked => Err(stop_error(&delivery::StopReason::AuthorizerRevoked)),
        AuthorizerStatus::NeedsReauth => {
            Err(stop_error(&delivery::StopReason::AuthorizerNeedsReauth))
        }
    }
}

/// An authorizer as the client API shows it: never a token or secret.
pub fn authorizer_json(a: &Authorizer) -> Value {
    json!({
        "appid": a.appid,
        "tenant": a.tenant,
        "name": a.profile.nick_name,
        "user_name": a.profile.user_name,
        "principal_name": a.profile.principal_name,
        "head_img": a.profile.head_img,
        "status": a.status.as_str(),
        "func_info": a.func_info,
        "token_expires_at": (a.token.expires_at > 0).then_some(a.token.expires_at),
        "authorized_at": a.authorized_at,
        "updated_at": a.updated_at,
    })
}

fn number_param(
    query: &std::collections::HashMap<String, String>,
    name: &str,
) -> Result<Option<u64>, ApiError> {
    query
        .get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_request",
                    format!("query parameter `{name}` must be a whole number"),
                )
            })
        })
        .transpose()
}

/// `GET /v1/authorizers[?tenant=&cursor=&limit=]`.
pub async fn list_authorizers(app: &App, req: Request) -> Result<Response, ApiError> {
    let key = authenticate_any(app, &req).await?;
    let query = query_params(&req);
    let tenant = match (query.get("tenant").filter(|t| !t.is_empty()), &key.tenants) {
        (Some(t), _) => {
            require_tenant(&key, t)?;
            Some(t.clone())
        }
        (None, TenantScope::All) => None,
        (None, TenantScope::Only(list)) => match list.as_slice() {
            [only] => Some(only.clone()),
            _ => {
                return Err(ApiError::bad_request(
                    "tenant_required",
                    "this API key serves several tenants: name one with ?tenant=",
                ))
            }
        },
    };
    let limit = number_param(&query, "limit")?
        .map(|l| l.clamp(1, u64::from(MAX_LIST_LIMIT)) as u32)
        .unwrap_or(DEFAULT_LIST_LIMIT);
    let cursor = query.get("cursor").filter(|c| !c.is_empty());
    let page = app
        .store
        .list_authorizers(tenant.as_deref(), cursor.map(String::as_str), limit)
        .await
        .map_err(|e| match e {
            // The cursor is the only part of this request the store can refuse.
            StoreError::Invalid(_) if cursor.is_some() => ApiError::bad_request(
                "invalid_cursor",
                "cursor is not a next_cursor of this listing",
            ),
            other => other.into(),
        })?;
    let items: Vec<Value> = page.items.iter().map(authorizer_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"authorizers": items, "next_cursor": page.next}),
    ))
}

/// `GET /v1/authorizers/{appid}`.
pub async fn get_authorizer(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    let key = authenticate_any(app, &req).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    Ok(json_response(StatusCode::OK, &authorizer_json(&authorizer)))
}

/// `GET /v1/authorizers/{appid}/access-token` (scope `token:read`).
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
        &json!({"appid": authorizer.appid, "access_token": token.expose(), "expires_at": expires_at}),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

fn results_json(results: &[RecipientResult]) -> Vec<Value> {
    results
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .collect()
}

fn counts_json(results: &[RecipientResult]) -> Value {
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    json!({
        "sent": count(send::status::SENT),
        "failed": count(send::status::FAILED),
        "unknown": count(send::status::UNKNOWN),
        "unsent": count(send::status::UNSENT),
    })
}

/// A fresh seed for WeChat dedupe ids when the client gave no Idempotency-Key.
fn request_seed() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    format!("req_{}", hex::encode(bytes))
}

/// The path every sending route shares: a key with `send` scope for the
/// authorizer's tenant, the body parsed (400 before 422), an active
/// authorizer, then `send` at most once per Idempotency-Key (a replay answers
/// the first result). `send` gets the seed its WeChat dedupe ids derive from:
/// the idempotency key's, or a fresh one per request.
async fn idempotent_send<T, E, Fut>(
    app: &App,
    req: Request,
    params: &Params,
    parse: impl FnOnce(&Value) -> Result<T, E>,
    send: impl FnOnce(Authorizer, T, String) -> Fut,
) -> Result<Response, ApiError>
where
    ApiError: From<E>,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    let request = parse(&body::json_body(&req)?)?;
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
pub async fn template_messages(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    idempotent_send(
        app,
        req,
        params,
        send::parse_template,
        |authorizer, request, seed| async move {
            if request.recipients.len() <= app.config.inline_send_limit {
                send_inline(app, &authorizer, request, &seed).await
            } else {
                enqueue(app, &authorizer, request).await
            }
        },
    )
    .await
}

async fn send_inline(
    app: &App,
    authorizer: &Authorizer,
    request: send::TemplateSend,
    seed: &str,
) -> Result<Response, ApiError> {
    let report =
        send::send_inline(app, &authorizer.appid, request, &format!("inline\0{seed}")).await?;
    let mut body = json!({
        "mode": "inline",
        "total": report.results.len(),
        "counts": counts_json(&report.results),
        "results": results_json(&report.results),
    });
    if let Some(stop) = &report.stop {
        body["stop_reason"] = json!(stop.code());
        body["wechat_errcode"] = json!(stop.errcode());
    }
    Ok(json_response(StatusCode::OK, &body))
}

async fn enqueue(
    app: &App,
    authorizer: &Authorizer,
    request: send::TemplateSend,
) -> Result<Response, ApiError> {
    let tenant = authorizer.tenant.clone().unwrap_or_default();
    let job =
        send::enqueue_job(app, &authorizer.appid, &tenant, request, send::new_job_id()).await?;
    let location = format!("/v1/jobs/{}", job.job_id);
    let mut resp = json_response(
        StatusCode::ACCEPTED,
        &json!({"mode": "job", "job_id": job.job_id, "state": "queued", "total": job.total, "chunks": job.chunks, "status_url": location}),
    );
    if let Ok(v) = http::HeaderValue::from_str(&location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(resp)
}

/// `POST /v1/authorizers/{appid}/mass-messages`.
pub async fn mass_messages(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    idempotent_send(
        app,
        req,
        params,
        mass::parse_mass,
        |authorizer, request, seed| async move {
            let accepted = mass::send_mass(app, &authorizer.appid, &request, &mass::clientmsgid(&seed)).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"msg_id": accepted.msg_id, "msg_data_id": accepted.msg_data_id, "duplicate": accepted.duplicate}),
            ))
        },
    )
    .await
}

/// `GET /v1/authorizers/{appid}/mass-messages/{msg_id}`.
pub async fn mass_status(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    let msg_id: u64 = param(params, "msg_id")?
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_request", "msg_id must be a whole number"))?;
    require_active(&authorizer)?;
    let view = mass::mass_status(app, &authorizer.appid, msg_id).await?;
    let finish = view
        .finish
        .map(|e| json!({"status": e.status, "counts": e.counts, "create_time": e.create_time}));
    Ok(json_response(
        StatusCode::OK,
        &json!({"msg_id": view.msg_id, "wechat_status": view.wechat_status, "finish": finish}),
    ))
}

/// `POST /v1/authorizers/{appid}/custom-messages`.
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
        mass::parse_custom,
        |authorizer, message, _seed| async move {
            mass::send_custom(app, &authorizer.appid, &message).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"status": "sent", "touser": message.touser}),
            ))
        },
    )
    .await
}

/// `POST /v1/authorizers/{appid}/media`: a file as multipart/form-data
/// (`type` = article_image|image|voice|video|thumb, file in `media`), or news
/// articles as JSON (`{"type": "news", "articles": […]}`).
pub async fn media(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let authorizer = authorizer_for_key(app, &key, param(params, "appid")?).await?;
    match body::media_type(&req).as_deref() {
        Some("application/json") => {
            let articles = media::parse_news(&body::json_body(&req)?)?;
            require_active(&authorizer)?;
            let media_id = media::upload_news(app, &authorizer.appid, &articles).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"type": "news", "media_id": media_id}),
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
                    invalid(
                        "type",
                        format!("is required: one of {}", media::UPLOAD_KINDS),
                    )
                })?;
            let kind = media::UploadKind::parse(&kind_name).ok_or_else(|| {
                invalid(
                    "type",
                    format!(
                        "unknown media type `{kind_name}`; expected one of {}",
                        media::UPLOAD_KINDS
                    ),
                )
            })?;
            let file = form.file.ok_or_else(|| {
                invalid("media", "is required: the file, as a multipart file field")
            })?;
            media::check_upload(kind, &file.filename, file.data.len())?;
            require_active(&authorizer)?;
            let body = match media::upload(app, &authorizer.appid, kind, &file.filename, file.data)
                .await?
            {
                media::Uploaded::Url(url) => json!({"type": "article_image", "url": url}),
                media::Uploaded::Media(m) => {
                    json!({"type": m.media_type, "media_id": m.media_id, "created_at": m.created_at})
                }
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        other => Err(body::unsupported(
            "multipart/form-data (files) or application/json (news)",
            other,
        )),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    crate::service::input::InvalidInput::new(field, message).into()
}

/// `GET /v1/jobs/{job_id}[?cursor=&limit=]`: progress, totals and one page of per-recipient results.
pub async fn get_job(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_SEND).await?;
    let job_id = param(params, "job_id")?;
    let query = query_params(&req);
    let cursor = number_param(&query, "cursor")?.unwrap_or(0) as usize;
    let limit = number_param(&query, "limit")?
        .map(|l| l as usize)
        .unwrap_or(DEFAULT_JOB_PAGE);
    let view = jobs::job_view(app, job_id, cursor, limit)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("job {job_id} is not known (or has expired)"))
        })?;
    let allowed = match &key.tenants {
        TenantScope::All => true,
        TenantScope::Only(_) => !view.job.tenant.is_empty() && key.tenants.allows(&view.job.tenant),
    };
    if !allowed {
        return Err(ApiError::forbidden(
            "this API key may not act for that tenant",
        ));
    }
    let recipients: Vec<Value> = view
        .recipients
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(&r.result).unwrap_or(Value::Null);
            if let Some(d) = &r.delivery {
                v["delivery"] = json!(d);
            }
            v
        })
        .collect();
    let c = view.counts;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "job_id": view.job.id,
            "appid": view.job.appid,
            "kind": view.job.kind,
            "state": view.state,
            "stop_reason": view.stop.as_ref().map(|s| s.code().to_owned()),
            "wechat_errcode": view.stop.as_ref().and_then(|s| s.errcode()),
            "created_at": view.job.created_at,
            "total": view.job.total,
            "counts": {"sent": c.sent, "failed": c.failed, "unknown": c.unknown, "unsent": c.unsent, "pending": c.pending},
            "recipients": recipients,
            "next_cursor": view.next_cursor,
        }),
    ))
}
