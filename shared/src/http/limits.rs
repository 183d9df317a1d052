//! How large a request body each route takes, decided from the route alone so
//! that a server can refuse a body before buffering it: WeChat pushes 64 KiB,
//! JSON bodies 2 MiB (a template message or subscription notification to up
//! to 100,000 recipients 4 MiB),
//! uploads 12 MiB on the media route only, and no body on
//! the routes that read none. Routes that need an API key read no more than
//! 64 KiB of a body before the key has been checked, so a stranger can never
//! make a server hold more than that per connection.
//!
//! `wxopen serve` applies these while the body streams in; [`check_body`]
//! applies them again in [`super::handle`], where a Lambda's body arrives
//! already read by API Gateway.

use super::error::ErrorCode;
use super::{ApiError, Function, Handler, Route};

/// A WeChat push: the encrypted XML envelope.
pub const PUSH_BODY_BYTES: usize = crate::xml::MAX_XML_BYTES;
/// A JSON body (10,000 openids with a message fit easily).
pub const JSON_BODY_BYTES: usize = 2 * 1024 * 1024;
/// A template message or subscription notification, which may go to 100,000
/// recipients (about 3.1 MB of openids).
pub const TEMPLATE_BODY_BYTES: usize = super::api::MAX_JSON_BYTES;
/// A media upload (WeChat's own limit is 10 MB; multipart framing adds a little).
pub const MEDIA_BODY_BYTES: usize = super::MAX_BODY_BYTES;
/// The most of a body read before the request's API key has been checked.
pub const UNAUTHENTICATED_BODY_BYTES: usize = 64 * 1024;

/// The largest body `handler` accepts, in bytes (0: the route reads no body).
pub fn body_limit(handler: Handler) -> usize {
    use Handler::*;
    match handler {
        ComponentEvents | AuthorizerEvents => PUSH_BODY_BYTES,
        TemplateMessages | SubscribeMessages => TEMPLATE_BODY_BYTES,
        CreateLink | MassMessages | CustomMessages | CreateWebhook => JSON_BODY_BYTES,
        BatchgetFollowers | SetFollowerRemark | CreateTag | RenameTag | TagMembers
        | UntagMembers | PreviewMass | InvalidateToken | AddTemplate | SetIndustry => {
            JSON_BODY_BYTES
        }
        Media | WechatPost | AddMaterial => MEDIA_BODY_BYTES,
        ComponentUrlCheck | AuthorizerUrlCheck | AuthorizePage | AuthorizeCallback
        | ListAuthorizers | GetAuthorizer | AccessToken | MassStatus | GetJob | Health
        | OpenApi => 0,
        ListWebhooks | GetWebhook | DeleteWebhook | RotateWebhookSecret | PingWebhook
        | ListEvents | GetEvent | RedeliverEvent => 0,
        ListFollowers | GetFollower | FollowerTags | DownloadMedia | WechatGet | ListTags
        | DeleteTag | DeleteMass | GetQuota | ClearQuota | ClearComponentQuota | ListTemplates
        | DeleteTemplate | GetIndustry | ListMaterials | CountMaterials | GetMaterial
        | DeleteMaterial | RefreshProfile => 0,
        // Identity (issue 16).
        CreateQrCode | CreateJssdkConfig | CreateOauthLink => JSON_BODY_BYTES,
        GetOauthResult | OauthOpen | OauthCallback => 0,
    }
}

/// Whether the route's handler refuses any request without a valid API key
/// (the client API; its health check aside).
pub fn needs_api_key(route: &Route) -> bool {
    route.function == Function::Send && route.handler != Handler::Health
}

/// 413 when a body of `len` bytes is over what `handler` accepts.
pub fn check_body(handler: Handler, len: usize) -> Result<(), ApiError> {
    match body_limit(handler) {
        limit if len <= limit => Ok(()),
        0 => Err(ApiError::detailed(
            ErrorCode::PayloadTooLarge,
            "this route takes no request body",
        )),
        limit => Err(ApiError::payload_too_large(limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ROUTES;
    use http::StatusCode;

    fn route(method: &str, pattern: &str) -> &'static Route {
        ROUTES
            .iter()
            .find(|r| r.method == method && r.pattern == pattern)
            .unwrap()
    }

    #[test]
    fn only_bulk_sends_uploads_and_the_pass_through_take_more_than_a_json_body() {
        let big: Vec<_> = ROUTES
            .iter()
            .filter(|r| body_limit(r.handler) > JSON_BODY_BYTES)
            .map(|r| r.pattern)
            .collect();
        assert_eq!(
            big,
            [
                "/v1/authorizers/{appid}/template-messages",
                "/v1/authorizers/{appid}/media",
                "/v1/authorizers/{appid}/wechat/{path+}",
                "/v1/authorizers/{appid}/subscribe-messages",
                "/v1/authorizers/{appid}/materials"
            ]
        );
    }

    #[test]
    fn a_template_message_to_the_most_recipients_fits_its_route() {
        let touser: Vec<String> = (0..crate::service::send::MAX_RECIPIENTS)
            .map(|i| format!("oSbx01Follower{i:014}"))
            .collect();
        let body = serde_json::json!({
            "touser": touser,
            "template_id": "tmpl-order-shipped-000000000000000000000",
            "url": "https://shop.example.com/orders/12345",
            "data": {"first": {"value": "Your order has shipped", "color": "#173177"}},
        });
        let len = serde_json::to_vec(&body).unwrap().len();
        let route = route("POST", "/v1/authorizers/{appid}/template-messages");
        assert!(
            check_body(route.handler, len).is_ok(),
            "{len} bytes refused"
        );
        assert!(
            len > JSON_BODY_BYTES,
            "the test no longer needs the larger limit"
        );
    }

    #[test]
    fn pushes_take_64_kib_and_routes_without_a_body_take_none() {
        let push = route("POST", "/wechat/authorizers/{appid}/events");
        assert!(check_body(push.handler, PUSH_BODY_BYTES).is_ok());
        assert_eq!(
            check_body(push.handler, PUSH_BODY_BYTES + 1)
                .unwrap_err()
                .status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        for get in ROUTES.iter().filter(|r| r.method == "GET") {
            assert!(check_body(get.handler, 0).is_ok(), "{}", get.pattern);
            assert!(check_body(get.handler, 1).is_err(), "{}", get.pattern);
        }
    }

    #[test]
    fn every_client_api_route_but_the_health_check_needs_a_key() {
        assert!(needs_api_key(route(
            "POST",
            "/v1/authorizers/{appid}/media"
        )));
        assert!(needs_api_key(route("POST", "/v1/authorization-links")));
        assert!(!needs_api_key(route("GET", "/healthz")));
        assert!(!needs_api_key(route("POST", "/wechat/component/events")));
        assert!(!needs_api_key(route(
            "GET",
            "/authorize/{link_id}/callback"
        )));
    }
}
