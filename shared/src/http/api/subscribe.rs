//! `POST /v1/authorizers/{appid}/subscribe-messages`: a subscription
//! notification to 1..=100,000 followers under the rules of template
//! messages: the same recipient forms and limits, inline up to
//! `WXOPEN_INLINE_SEND_LIMIT`, a job (`kind: subscribe`) above it, the same
//! `Idempotency-Key` handling. Scope `send`.

use super::requests::TemplateRecipients;
use super::views::{InlineSendBody, JobAcceptedBody};
use super::{bulk_send, idempotent_send};
use crate::app::App;
use crate::domain::{HttpUrl, InvalidValue, TemplateId, Text};
use crate::http::api::body;
use crate::http::{ApiError, Params, Request, Response};
use crate::service::send::SubscribeSend;
use crate::wechat::{SubscribeMessage, SubscribeMiniProgram, SubscribeValue};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Keys a notification may fill.
const MAX_KEYS: usize = 20;

/// One value: `{"value": "…"}` (notifications take no colour).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribeValueRequest {
    #[schema(inline)]
    pub value: Text<256>,
}

/// The mini program a notification opens.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribeMiniProgramRequest {
    #[schema(inline)]
    pub appid: Text<64>,
    #[schema(inline)]
    pub pagepath: Option<Text<1024>>,
}

/// `POST …/subscribe-messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "touser": ["oSbx01Follower00000000000001"], "template_id": "SimTpl01OrderShipped",
    "page": "https://shop.example.com/orders/1042",
    "data": {"thing1": {"value": "Flat white"}, "time2": {"value": "2026-12-03 15:30"}}
}))]
pub(crate) struct SubscribeMessageRequest {
    /// One openid, or 1..=100,000 distinct openids (as template messages).
    #[schema(inline)]
    pub touser: TemplateRecipients,
    pub template_id: TemplateId,
    /// A web page opened when the card is tapped.
    pub page: Option<HttpUrl>,
    pub miniprogram: Option<SubscribeMiniProgramRequest>,
    /// 1..=20 keys (`thing1`, `time2`, …) each with its value.
    pub data: BTreeMap<String, SubscribeValueRequest>,
}

impl TryFrom<SubscribeMessageRequest> for SubscribeSend {
    type Error = ApiError;

    fn try_from(r: SubscribeMessageRequest) -> Result<Self, ApiError> {
        if r.data.is_empty() || r.data.len() > MAX_KEYS {
            return Err(ApiError::field(
                "data",
                format!("must hold 1..={MAX_KEYS} keys"),
            ));
        }
        let mut data = BTreeMap::new();
        for (key, v) in r.data {
            let ok = (1..=32).contains(&key.len())
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(ApiError::field(
                    &format!("data.{key}"),
                    InvalidValue("is not a keyword name (1..=32 of A-Z a-z 0-9 _)".into()),
                ));
            }
            data.insert(
                key,
                SubscribeValue {
                    value: v.value.into_string(),
                },
            );
        }
        Ok(SubscribeSend {
            message: SubscribeMessage {
                touser: String::new(),
                template_id: r.template_id.into_string(),
                page: r.page.map(String::from),
                miniprogram: r.miniprogram.map(|m| SubscribeMiniProgram {
                    appid: m.appid.into_string(),
                    pagepath: m.pagepath.map(Text::into_string),
                }),
                data,
            },
            recipients: r.touser.into_strings(),
        })
    }
}

/// `POST /v1/authorizers/{appid}/subscribe-messages`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/subscribe-messages", operation_id = "send_subscribe_message", tag = "messages",
    summary = "Send a subscription notification",
    description = "message/subscribe/bizsend to 1..=100,000 openids, as template messages are sent: up to `WXOPEN_INLINE_SEND_LIMIT` recipients (default 20) are sent now and answered 200 with each recipient's outcome (a follower who did not subscribe is `failed` with WeChat's 43101); more become a job of kind `subscribe`, answered 202. WeChat does not deduplicate notifications, so a recipient whose outcome was unknown (a timeout after the request left) stays `unknown` and is never sent again.",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("Idempotency-Key" = Option<String>, Header, description = "The same key and body answer the first answer again (`Idempotent-Replayed: true`); another body is a 409."),
    ),
    request_body = SubscribeMessageRequest,
    responses(
        (status = 200, description = "Sent now: each recipient's outcome, in request order.", body = InlineSendBody),
        (status = 202, description = "Queued as a job.", body = JobAcceptedBody,
            headers(("Location" = String, description = "`/v1/jobs/{job_id}`")),
            links(("GetJob" = (operation_id = "get_job", parameters(("job_id" = "$response.body#/job_id")))))),
    ),
    security(("api_key" = []))
)]
pub async fn send(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    idempotent_send(
        app,
        req,
        params,
        |req| body::json::<SubscribeMessageRequest>(req).and_then(SubscribeSend::try_from),
        |authorizer, request, seed| async move {
            bulk_send(app, &authorizer, request.into(), &seed).await
        },
    )
    .await
}
