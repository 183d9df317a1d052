//! `POST /v1/authorizers/{appid}/subscribe-messages`: a subscription
//! notification to one follower, sent now; an `Idempotency-Key` is honoured
//! as on every sending route. Scope `send`.

use super::{idempotent_send, views::SentStatus};
use crate::app::App;
use crate::domain::{HttpUrl, InvalidValue, OpenId, TemplateId, Text};
use crate::http::api::body;
use crate::http::{json_response, ApiError, Params, Request, Response};
use crate::service::subscribe;
use crate::wechat::{SubscribeMessage, SubscribeMiniProgram, SubscribeValue};
use http::StatusCode;
use serde::{Deserialize, Serialize};
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
    "touser": "oSbx01Follower00000000000001", "template_id": "SimTpl01OrderShipped",
    "page": "https://shop.example.com/orders/1042",
    "data": {"thing1": {"value": "Flat white"}, "time2": {"value": "2026-12-03 15:30"}}
}))]
pub(crate) struct SubscribeMessageRequest {
    pub touser: OpenId,
    pub template_id: TemplateId,
    /// A web page opened when the card is tapped.
    pub page: Option<HttpUrl>,
    pub miniprogram: Option<SubscribeMiniProgramRequest>,
    /// 1..=20 keys (`thing1`, `time2`, …) each with its value.
    pub data: BTreeMap<String, SubscribeValueRequest>,
}

impl TryFrom<SubscribeMessageRequest> for SubscribeMessage {
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
        Ok(SubscribeMessage {
            touser: r.touser.into_string(),
            template_id: r.template_id.into_string(),
            page: r.page.map(String::from),
            miniprogram: r.miniprogram.map(|m| SubscribeMiniProgram {
                appid: m.appid.into_string(),
                pagepath: m.pagepath.map(Text::into_string),
            }),
            data,
        })
    }
}

/// A notification WeChat accepted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubscribeSentBody {
    pub status: SentStatus,
    pub touser: String,
}

/// `POST /v1/authorizers/{appid}/subscribe-messages`.
#[utoipa::path(
    post, path = "/v1/authorizers/{appid}/subscribe-messages", operation_id = "send_subscribe_message", tag = "messages",
    summary = "Send a subscription notification",
    description = "message/subscribe/bizsend to one follower who subscribed to the template (WeChat's 43101 otherwise: the recipient's 400).",
    params(
        ("appid" = String, Path, description = "The authorizer's appid.", example = "wx5add0a0000000001"),
        ("Idempotency-Key" = Option<String>, Header, description = "The same key and body answer the first answer again; another body is a 409."),
    ),
    request_body = SubscribeMessageRequest,
    responses((status = 200, description = "WeChat accepted it.", body = SubscribeSentBody)),
    security(("api_key" = []))
)]
pub async fn send(app: &App, req: Request, params: &Params) -> Result<Response, ApiError> {
    // Notifications carry no dedupe id: the seed goes unused.
    idempotent_send(
        app,
        req,
        params,
        |req| body::json::<SubscribeMessageRequest>(req).and_then(SubscribeMessage::try_from),
        |authorizer, message, _seed| async move {
            subscribe::send(app, &authorizer.appid, &message).await?;
            Ok(json_response(
                StatusCode::OK,
                &SubscribeSentBody {
                    status: SentStatus::Sent,
                    touser: message.touser,
                },
            ))
        },
    )
    .await
}
