//! `/v1/webhooks` and `/v1/events` (issue #15): subscriptions, the pull feed,
//! one event with its deliveries, redelivery. Scope `events` (or `admin`); a
//! key sees only its tenants' webhooks and events (403 otherwise, as for
//! authorizers).

use super::{body, number_param, param};
use crate::app::App;
use crate::http::auth::{authenticate, require_tenant};
use crate::http::error::ErrorCode;
use crate::http::{json_response, query_params, ApiError, Params, Request, Response};
use crate::service::events::model::{valid_pattern, EventBody};
use crate::service::events::record::subscribed;
use crate::service::events::webhooks::{self, NewWebhook, WebhookError};
use crate::service::keys::SCOPE_EVENTS;
use crate::store::{
    ApiKey, Attempt, Delivery, DeliveryState, EventRecord, FeedQuery, StoreError, TenantScope,
    Webhook,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Events a feed page holds by default and at most.
const DEFAULT_FEED_LIMIT: u32 = 100;
const MAX_FEED_LIMIT: u32 = 500;
/// The feed shows a second's events once that second is this far past, so a
/// write still in flight for it cannot land behind a cursor already handed out.
pub const FEED_SETTLE_SECS: u64 = 2;

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where events are POSTed: `https`, a public address.
    #[schema(example = "https://erp.example.com/wxopen/events")]
    pub url: String,
    /// Event types, `prefix.*` patterns, or `*`.
    #[schema(example = json!(["message.*", "event.subscribe"]))]
    pub events: Vec<String>,
    /// The tenant whose events it receives; required for a key of several
    /// tenants; omitted by a key of every tenant: every tenant's events.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Also called synchronously for `message.*` and `event.click|scan|subscribe`
    /// (header `Wxopen-Reply-Requested: true`); a 200
    /// `{"reply":{"msgtype":"text","content":"…"}}` within `WXOPEN_REPLY_BUDGET_MS`
    /// is the follower's passive reply.
    #[serde(default)]
    pub reply: bool,
}

/// A subscription as answered; `secret` only when it was just created or rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    #[schema(example = "wh_5b0c1f3e9a7d4c2b8e6f0a1d")]
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub tenant: Option<String>,
    pub reply: bool,
    pub created_at: u64,
    /// Disabled after failing continuously for 3 days; receives nothing.
    pub disabled: bool,
    /// Since when every delivery failed; null while healthy.
    pub failing_since: Option<u64>,
    /// The signing secret: shown here once, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookBody {
    fn from(w: &Webhook, with_secret: bool) -> Self {
        WebhookBody {
            id: w.id.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            tenant: w.tenant.clone(),
            reply: w.reply,
            created_at: w.created_at,
            disabled: w.disabled,
            failing_since: w.failing_since,
            secret: with_secret.then(|| w.secret.expose().to_owned()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookBody>,
}

/// One page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventBody>,
    /// Where to continue (`?after=`); the same cursor when nothing new was
    /// read: poll again with it.
    pub next_cursor: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    /// Unix seconds when it started.
    pub at: u64,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The first 1 KiB of the receiver's answer.
    pub response: Option<String>,
}

impl From<&Attempt> for AttemptBody {
    fn from(a: &Attempt) -> Self {
        AttemptBody {
            at: a.at,
            status: a.status,
            latency_ms: a.latency_ms,
            error: a.error.clone(),
            response: a.response.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStateBody {
    Pending,
    Succeeded,
    Failed,
}

/// An event's delivery to one webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryBody {
    pub webhook_id: String,
    pub state: DeliveryStateBody,
    /// When a pending delivery is next attempted.
    pub next_attempt_at: Option<u64>,
    /// Attempts made (the last 20 are listed).
    pub attempt_count: u32,
    pub attempts: Vec<AttemptBody>,
}

impl From<&Delivery> for DeliveryBody {
    fn from(d: &Delivery) -> Self {
        DeliveryBody {
            webhook_id: d.webhook_id.clone(),
            state: match d.state {
                DeliveryState::Pending => DeliveryStateBody::Pending,
                DeliveryState::Succeeded => DeliveryStateBody::Succeeded,
                DeliveryState::Failed => DeliveryStateBody::Failed,
            },
            next_attempt_at: (d.state == DeliveryState::Pending).then_some(d.due_at),
            attempt_count: d.attempt_count,
            attempts: d.attempts.iter().map(AttemptBody::from).collect(),
        }
    }
}

/// `GET /v1/events/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetail {
    pub event: EventBody,
    pub deliveries: Vec<DeliveryBody>,
}

/// `POST /v1/events/{id}/redeliver` and `POST /v1/webhooks/{id}/ping`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveriesQueued {
    pub event_id: String,
    /// The webhooks it is now pending for.
    pub webhook_ids: Vec<String>,
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Url(why) => ApiError::field("url", why),
            WebhookError::Events(why) => ApiError::field("events", why),
            WebhookError::TooMany => ApiError::detailed(
                ErrorCode::InvalidRequest,
                format!("a platform has at most {} webhooks", webhooks::MAX_WEBHOOKS),
            ),
            WebhookError::Store(e) => e.into(),
        }
    }
}

/// Whether the key may see a record of `tenant` (`None`: every tenant's, or unbound).
fn may_see(key: &ApiKey, tenant: Option<&str>) -> bool {
    match (&key.tenants, tenant) {
        (TenantScope::All, _) => true,
        (_, Some(t)) => key.tenants.allows(t),
        (_, None) => false,
    }
}

/// The tenant a request names or the key's only one.
fn tenant_for(key: &ApiKey, asked: Option<&str>) -> Result<Option<String>, ApiError> {
    match (asked.filter(|t| !t.is_empty()), &key.tenants) {
        (Some(t), _) => {
            crate::domain::Tenant::parse(t).map_err(|e| ApiError::field("tenant", e))?;
            require_tenant(key, t)?;
            Ok(Some(t.to_owned()))
        }
        (None, TenantScope::All) => Ok(None),
        (None, TenantScope::Only(list)) => match list.as_slice() {
            [only] => Ok(Some(only.clone())),
            _ => Err(ApiError::new(ErrorCode::TenantRequired)),
        },
    }
}

async fn webhook_for_key(app: &App, key: &ApiKey, id: &str) -> Result<Webhook, ApiError> {
    let webhook = app
        .store
        .get_webhook(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id} is not known")))?;
    if !may_see(key, webhook.tenant.as_deref()) {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    Ok(webhook)
}

async fn event_for_key(app: &App, key: &ApiKey, id: &str) -> Result<EventRecord, ApiError> {
    let event =
        app.store.get_event(id, app.now()).await?.ok_or_else(|| {
            ApiError::not_found(format!("event {id} is not known (or has expired)"))
        })?;
    if !may_see(key, event.tenant.as_deref()) {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    Ok(event)
}

/// `POST /v1/webhooks`.
#[utoipa::path(
    post, path = "/v1/webhooks", operation_id = "create_webhook", tag = "events",
    summary = "Subscribe a URL to events",
    description = "Events are POSTed to `url` signed with `Wxopen-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>`. The URL must be `https` and resolve to public addresses only (unless the server runs with `WXOPEN_WEBHOOK_ALLOW_PRIVATE=true`). The answer holds the signing `secret`, shown this once.",
    request_body = WebhookRequest,
    responses((status = 201, description = "Created; `secret` is shown only here.", body = WebhookBody,
        headers(("Location" = String, description = "`/v1/webhooks/{id}`")))),
    security(("api_key" = []))
)]
pub async fn create_webhook(app: &App, req: Request) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_EVENTS).await?;
    let request: WebhookRequest = body::json(&req)?;
    let tenant = tenant_for(&key, request.tenant.as_deref())?;
    let webhook = webhooks::create(
        app,
        NewWebhook {
            url: request.url,
            events: request.events,
            tenant,
            reply: request.reply,
        },
    )
    .await?;
    let mut resp = json_response(StatusCode::CREATED, &WebhookBody::from(&webhook, true));
    if let Ok(v) = http::HeaderValue::from_str(&format!("/v1/webhooks/{}", webhook.id)) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /v1/webhooks`.
#[utoipa::path(
    get, path = "/v1/webhooks", operation_id = "list_webhooks", tag = "events",
    summary = "List webhooks",
    description = "The subscriptions the key may see (of its tenants; every one for a key of every tenant). Never their secrets.",
    responses((status = 200, description = "The webhooks, by id.", body = WebhookList)),
    security(("api_key" = []))
)]
pub async fn list_webhooks(app: &App, req: Request) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_EVENTS).await?;
    let webhooks = app.store.list_webhooks().await?;
    let visible = webhooks
        .iter()
        .filter(|w| may_see(&key, w.tenant.as_deref()))
        .map(|w| WebhookBody::from(w, false))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &WebhookList { webhooks: visible },
    ))
}

/// `GET /v1/webhooks/{id}`.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}", operation_id = "get_webhook", tag = "events",
    summary = "Read a webhook",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses((status = 200, description = "The webhook, without its secret.", body = WebhookBody)),
    security(("api_key" = []))
)]
pub async fn get_webhook(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_EVENTS).await?;
    let webhook = webhook_for_key(app, &key, param(params, "id")?).await?;
    Ok(json_response(
        StatusCode::OK,
        &WebhookBody::from(&webhook, false),
    ))
}

/// `DELETE /v1/webhooks/{id}`.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "events",
    summary = "Delete a webhook",
    description = "It receives nothing more; deliveries already pending for it are dropped when next attempted.",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses((status = 204, description = "Deleted.")),
    security(("api_key" = []))
)]
pub async fn delete_webhook(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_EVENTS).await?;
    let webhook = webhook_for_key(app, &key, param(params, "id")?).await?;
    app.store.delete_webhook(&webhook.id).await?;
    tracing::info!(webhook_id = %webhook.id, "webhook deleted");
    Ok(no_content())
}

fn no_content() -> Response {
    let mut resp = http::Response::new(bytes::Bytes::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// `POST /v1/webhooks/{id}/rotate-secret`.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "events",
    summary = "Rotate a webhook's secret",
    description = "A new secret, shown once; for 24 h deliveries carry a `v1=` for the old one too.",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses((status = 200, description = "The webhook with its new `secret`.", body = WebhookBody)),
    security(("api_key" = []))
)]
pub async fn rotate_secret(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_EVENTS).await?;
    let webhook = webhook_for_key(app, &key, param(params, "id")?).await?;
    let rotated = webhooks::rotate(app, &webhook.id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {} is not known", webhook.id)))?;
    Ok(json_response(
        StatusCode::OK,
        &WebhookBody::from(&rotated, true),
    ))
}

/// `POST /v1/webhooks/{id}/ping`.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/ping", operation_id = "ping_webhook", tag = "events",
    summary = "Send a test event",
    description = "A `webhook.ping` event, delivered to this webhook only, signed and retried like any other.",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses((status = 202, description = "Queued for delivery.", body = DeliveriesQueued)),
    security(("api_key" = []))
)]
pub async fn ping_webhook(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_EVENTS).await?;
    let webhook = webhook_for_key(app, &key, param(params, "id")?).await?;
    let event = webhooks::ping(app, &webhook).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &DeliveriesQueued {
            event_id: event.id,
            webhook_ids: vec![webhook.id],
        },
    ))
}

/// `GET /v1/events`.
#[utoipa::path(
    get, path = "/v1/events", operation_id = "list_events", tag = "events",
    summary = "Read the event feed",
    description = "A tenant's events of the last 7 days in the order wxopen accepted them, cursor-paged: pass `next_cursor` as `after` to continue, and poll with it to follow the feed.",
    params(
        ("tenant" = Option<String>, Query, description = "The tenant; required unless the key has exactly one."),
        ("after" = Option<String>, Query, description = "A `next_cursor` (or an event's `cursor`): events after it."),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 500, description = "Events per page, 1..=500; default 100."),
        ("type" = Option<String>, Query, description = "Only this type, or `prefix.*`."),
        ("appid" = Option<String>, Query, description = "Only this authorizer's events."),
    ),
    responses((status = 200, description = "One page of events.", body = EventList)),
    security(("api_key" = []))
)]
pub async fn list_events(app: &App, req: Request) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_EVENTS).await?;
    let query = query_params(&req);
    let tenant = tenant_for(&key, query.get("tenant").map(String::as_str))?
        .ok_or_else(|| ApiError::new(ErrorCode::TenantRequired))?;
    let limit = number_param(&query, "limit", 1..=u64::from(MAX_FEED_LIMIT))?
        .and_then(|l| u32::try_from(l).ok())
        .unwrap_or(DEFAULT_FEED_LIMIT);
    let after = query.get("after").filter(|c| !c.is_empty()).cloned();
    let event_type = query.get("type").filter(|t| !t.is_empty()).cloned();
    if let Some(t) = &event_type {
        if !valid_pattern(t) {
            return Err(ApiError::field(
                "type",
                "is no event type, `prefix.*` or `*` (query parameter)",
            ));
        }
    }
    let now = app.now();
    let feed = FeedQuery {
        tenant,
        after: after.clone(),
        until: now.saturating_sub(FEED_SETTLE_SECS),
        event_type,
        appid: query.get("appid").filter(|a| !a.is_empty()).cloned(),
        limit,
    };
    let page = app.store.feed(&feed, now).await.map_err(|e| match e {
        StoreError::Invalid(_) => ApiError::new(ErrorCode::InvalidCursor),
        other => other.into(),
    })?;
    Ok(json_response(
        StatusCode::OK,
        &EventList {
            events: page.items.iter().map(EventBody::from).collect(),
            next_cursor: page.next.or(after),
        },
    ))
}

/// `GET /v1/events/{id}`.
#[utoipa::path(
    get, path = "/v1/events/{id}", operation_id = "get_event", tag = "events",
    summary = "Read an event and its deliveries",
    params(("id" = String, Path, description = "The event's id.")),
    responses((status = 200, description = "The event and every delivery with its attempts.", body = EventDetail)),
    security(("api_key" = []))
)]
pub async fn get_event(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_EVENTS).await?;
    let event = event_for_key(app, &key, param(params, "id")?).await?;
    let deliveries = app.store.list_deliveries(&event.id).await?;
    Ok(json_response(
        StatusCode::OK,
        &EventDetail {
            event: EventBody::from(&event),
            deliveries: deliveries.iter().map(DeliveryBody::from).collect(),
        },
    ))
}

/// `POST /v1/events/{id}/redeliver`.
#[utoipa::path(
    post, path = "/v1/events/{id}/redeliver", operation_id = "redeliver_event", tag = "events",
    summary = "Deliver an event again",
    description = "Every delivery of the event the key may see, and every webhook of the key's that subscribes to it now, becomes pending and is attempted at once (its earlier attempts stay listed).",
    params(("id" = String, Path, description = "The event's id.")),
    responses((status = 202, description = "Queued.", body = DeliveriesQueued)),
    security(("api_key" = []))
)]
pub async fn redeliver(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    let key = authenticate(app, &req, SCOPE_EVENTS).await?;
    let event = event_for_key(app, &key, param(params, "id")?).await?;
    let webhooks = app.store.list_webhooks().await?;
    let had: Vec<String> = app
        .store
        .list_deliveries(&event.id)
        .await?
        .into_iter()
        .map(|d| d.webhook_id)
        .collect();
    let mut targets: Vec<String> = webhooks
        .iter()
        .filter(|w| may_see(&key, w.tenant.as_deref()) && !w.disabled)
        .filter(|w| had.contains(&w.id) || subscribed(w, &event))
        .map(|w| w.id.clone())
        .collect();
    targets.sort();
    let now = app.now();
    for webhook_id in &targets {
        app.store.redeliver(&event, webhook_id, now).await?;
    }
    Ok(json_response(
        StatusCode::ACCEPTED,
        &DeliveriesQueued {
            event_id: event.id,
            webhook_ids: targets,
        },
    ))
}
