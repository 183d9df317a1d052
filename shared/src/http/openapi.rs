//! The client API's OpenAPI 3.1 document, generated from the request and answer
//! types, the handlers' `#[utoipa::path]` and the error codes each operation
//! can answer (`generator::errors_of`).
//!
//! `GET /v1/openapi.json` serves the committed `docs/openapi.json`, compiled
//! in: nothing is built at start-up or per request. The tests below fail when
//! that file is not what the types generate; to write it anew:
//! `WXOPEN_WRITE_OPENAPI=1 cargo test -p wxopen --lib http::openapi`.

use super::Response;
use bytes::Bytes;
use http::StatusCode;

/// The committed document, as served.
const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// `GET /v1/openapi.json`.
#[utoipa::path(
    get, path = "/v1/openapi.json", operation_id = "openapi", tag = "operations",
    summary = "This document",
    responses((status = 200, description = "The client API's OpenAPI 3.1 document.", body = Object))
)]
pub(crate) fn document() -> Response {
    http::Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from_static(DOCUMENT.as_bytes()))
        .unwrap_or_else(|_| http::Response::new(Bytes::new()))
}

/// The generator: built by the tests only (which hold the committed file to
/// it), so no binary carries it.
#[cfg(test)]
mod generator {
    use super::*;
    use crate::http::api::requests::{
        CreateLinkRequest, CustomMessageRequest, MassMessageRequest, MassPreviewRequest,
        MediaUploadForm, NewsUploadRequest, TemplateMessageRequest,
    };
    use crate::http::error::{ApiError, ErrorBody, ErrorCode};
    use std::collections::BTreeMap;
    use utoipa::openapi::content::ContentBuilder;
    use utoipa::openapi::example::ExampleBuilder;
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::response::ResponseBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    use utoipa::openapi::{OpenApi as Document, Ref};
    use utoipa::{Modify, OpenApi};

    #[derive(OpenApi)]
    #[openapi(
        info(
            title = "wxopen client API",
            description = "Send WeChat template, mass and customer-service messages and media for the official accounts that authorized your third-party platform, and read their tokens. JSON over HTTPS with `Authorization: Bearer <api key>`. Every error answers `{\"error\": {\"code\", \"message\", \"wechat_errcode\"?}}`; each operation lists the codes it can answer, by status.",
            license(name = "Apache-2.0", identifier = "Apache-2.0"),
        ),
        paths(
            crate::http::authorize::create_link,
            crate::http::api::list_authorizers,
            crate::http::api::get_authorizer,
            crate::http::api::access_token,
            crate::http::api::template_messages,
            crate::http::api::mass_messages,
            crate::http::api::mass_status,
            crate::http::api::custom_messages,
            crate::http::api::media,
            crate::http::api::get_job,
            crate::http::api::followers::list_followers,
            crate::http::api::followers::get_follower,
            crate::http::api::followers::batchget_followers,
            crate::http::api::followers::set_remark,
            crate::http::api::followers::follower_tags,
            crate::http::api::downloads::download_media,
            crate::http::api::proxy::wechat_get,
            crate::http::api::proxy::wechat_post,
            crate::http::api::tags::list_tags,
            crate::http::api::tags::create_tag,
            crate::http::api::tags::rename_tag,
            crate::http::api::tags::delete_tag,
            crate::http::api::tags::add_members,
            crate::http::api::tags::remove_members,
            crate::http::api::mass_admin::preview,
            crate::http::api::mass_admin::delete,
            crate::http::api::token_report::invalidate,
            crate::http::api::quota::get_quota,
            crate::http::api::quota::clear_quota,
            crate::http::api::quota::clear_component_quota,
            crate::http::api::profile::refresh_profile,
            crate::http::api::templates::list,
            crate::http::api::templates::add,
            crate::http::api::templates::delete,
            crate::http::api::templates::get_industry,
            crate::http::api::templates::set_industry,
            crate::http::api::subscribe::send,
            crate::http::api::materials::add,
            crate::http::api::materials::list,
            crate::http::api::materials::count,
            crate::http::api::materials::get,
            crate::http::api::materials::delete,
            crate::http::api::events::create_webhook,
            crate::http::api::events::list_webhooks,
            crate::http::api::events::get_webhook,
            crate::http::api::events::delete_webhook,
            crate::http::api::events::rotate_secret,
            crate::http::api::events::ping_webhook,
            crate::http::api::events::list_events,
            crate::http::api::events::get_event,
            crate::http::api::events::redeliver,
            crate::http::health,
            document,
            // Identity (issue 16).
            crate::http::api::qrcodes::create,
            crate::http::api::jssdk::create,
            crate::http::oauth::create_link,
            crate::http::oauth::get_result,
        ),
        components(schemas(
            ErrorBody,
            CreateLinkRequest,
            TemplateMessageRequest,
            MassMessageRequest,
            CustomMessageRequest,
            NewsUploadRequest,
            MediaUploadForm,
            MassPreviewRequest,
            crate::http::api::qrcodes::CreateQrCodeRequest,
            crate::http::api::jssdk::JssdkConfigRequest,
            crate::http::api::events::WebhookRequest,
            crate::http::oauth::CreateOauthLinkRequest,
        )),
        modifiers(&Contract),
        tags(
            (name = "authorization", description = "Merchants authorizing your platform."),
            (name = "authorizers", description = "The official accounts that authorized it."),
            (name = "messages", description = "Template, mass and customer-service messages, and jobs."),
            (name = "media", description = "Uploads for messages."),
            (name = "followers", description = "An official account's followers: profiles, remarks, tags."),
            (name = "pass-through", description = "Any other WeChat API, called with the authorizer's token."),
            (name = "events", description = "Follower messages and events, lifecycle changes: webhooks and the pull feed."),
            (name = "operations", description = "Liveness and this document."),
            (name = "identity", description = "Who a customer is: web OAuth on the account's behalf, JS-SDK configs, parametric QR codes."),
        )
    )]
    pub(super) struct ApiDoc;

    /// The document as the types describe it today.
    pub(super) fn generate() -> Result<String, serde_json::Error> {
        ApiDoc::openapi().to_pretty_json().map(|s| {
            // utoipa 5 writes a link's `operationId` in snake case; no other
            // key of the document is spelt `operation_id`.
            s.replace("\"operation_id\": ", "\"operationId\": ") + "\n"
        })
    }

    /// The error codes each operation can answer (besides its success answers).
    fn errors_of(operation_id: &str) -> Vec<ErrorCode> {
        use ErrorCode::*;
        let key: &[ErrorCode] = &[Unauthorized, StoreUnavailable];
        // Another tenant's authorizer is answered as an unknown one (`http::auth`).
        let authorizer: &[ErrorCode] = &[NotFound];
        // `serve` adds the last three while a body streams in (too slow, cut
        // off, or over the shared budget for large bodies).
        let json_body: &[ErrorCode] = &[
            InvalidJson,
            InvalidRequest,
            PayloadTooLarge,
            UnsupportedMediaType,
            RequestTimeout,
            UnreadableBody,
            ServerBusy,
        ];
        let idempotency: &[ErrorCode] = &[
            InvalidIdempotencyKey,
            IdempotencyConflict,
            IdempotencyInProgress,
        ];
        let wechat: &[ErrorCode] = &[
            AuthorizerRevoked,
            AuthorizerNeedsReauth,
            QuotaExhausted,
            WechatRejectedRecipient,
            WechatRejectedRequest,
            WechatRejected,
            WechatError,
            WechatOutcomeUnknown,
            WechatUnavailable,
            NoTicket,
            TokenRenewalBusy,
        ];
        let parts: Vec<&[ErrorCode]> = match operation_id {
            "create_authorization_link" => vec![
                key,
                &[InsufficientScope, Forbidden],
                json_body,
                &[
                    InvalidTenant,
                    InvalidAuthType,
                    InvalidBizAppid,
                    ReturnUrlNotAllowed,
                    InvalidExpiresIn,
                ],
            ],
            "list_authorizers" => vec![
                key,
                &[
                    InsufficientScope,
                    Forbidden,
                    TenantRequired,
                    InvalidRequest,
                    InvalidCursor,
                ],
            ],
            "get_authorizer" => vec![key, &[InsufficientScope], authorizer],
            "get_access_token" => vec![key, &[InsufficientScope], authorizer, wechat],
            "send_template_message" | "send_subscribe_message" => vec![
                key,
                &[InsufficientScope],
                authorizer,
                json_body,
                idempotency,
                wechat,
                &[InvalidTemplate],
            ],
            "send_mass_message" | "send_custom_message" => vec![
                key,
                &[InsufficientScope],
                authorizer,
                json_body,
                idempotency,
                wechat,
            ],
            "get_mass_status" => vec![
                key,
                &[InsufficientScope, InvalidRequest],
                authorizer,
                wechat,
            ],
            "upload_media" => vec![
                key,
                &[InsufficientScope, InvalidMultipart],
                authorizer,
                json_body,
                wechat,
            ],
            "list_followers" | "get_follower" | "get_follower_tags" | "download_media" => vec![
                key,
                &[InsufficientScope, InvalidRequest],
                authorizer,
                wechat,
            ],
            "preview_mass_message" => {
                vec![key, &[InsufficientScope], authorizer, json_body, wechat]
            }
            "delete_mass_message" => vec![
                key,
                &[InsufficientScope, InvalidRequest],
                authorizer,
                wechat,
            ],
            "invalidate_access_token" => {
                vec![key, &[InsufficientScope], authorizer, json_body, wechat]
            }
            "get_quota" => vec![
                key,
                &[InsufficientScope, InvalidRequest],
                authorizer,
                wechat,
            ],
            "clear_quota" | "refresh_authorizer_profile" => {
                vec![key, &[InsufficientScope], authorizer, wechat]
            }
            "clear_component_quota" => vec![key, &[InsufficientScope, Forbidden], wechat],
            "list_templates" | "get_industry" => {
                vec![key, &[InsufficientScope], authorizer, wechat]
            }
            "delete_template" => vec![
                key,
                &[InsufficientScope, InvalidRequest],
                authorizer,
                wechat,
            ],
            "add_template" | "set_industry" => {
                vec![key, &[InsufficientScope], authorizer, json_body, wechat]
            }
            "add_material" => vec![
                key,
                &[
                    InsufficientScope,
                    InvalidMultipart,
                    InvalidRequest,
                    PayloadTooLarge,
                    UnsupportedMediaType,
                ],
                authorizer,
                wechat,
            ],
            "list_materials" | "get_material" | "delete_material" => {
                vec![
                    key,
                    &[InsufficientScope, InvalidRequest],
                    authorizer,
                    wechat,
                ]
            }
            "count_materials" => vec![key, &[InsufficientScope], authorizer, wechat],
            "list_tags" => vec![key, &[InsufficientScope], authorizer, wechat],
            "delete_tag" => vec![
                key,
                &[InsufficientScope, InvalidRequest],
                authorizer,
                wechat,
            ],
            "create_tag" | "rename_tag" | "tag_followers" | "untag_followers" => {
                vec![key, &[InsufficientScope], authorizer, json_body, wechat]
            }
            "batchget_followers" | "set_follower_remark" => {
                vec![key, &[InsufficientScope], authorizer, json_body, wechat]
            }
            "wechat_get" | "wechat_post" => vec![
                key,
                &[
                    InsufficientScope,
                    Forbidden,
                    InvalidRequest,
                    PayloadTooLarge,
                ],
                authorizer,
                wechat,
            ],
            "get_job" => vec![key, &[InsufficientScope, NotFound, InvalidRequest]],
            // Identity (issue 16).
            "create_qrcode" | "create_jssdk_config" => {
                vec![key, &[InsufficientScope], authorizer, json_body, wechat]
            }
            "create_webhook" => vec![
                key,
                &[InsufficientScope, Forbidden, TenantRequired],
                json_body,
            ],
            "list_webhooks" => vec![key, &[InsufficientScope]],
            "get_webhook"
            | "delete_webhook"
            | "rotate_webhook_secret"
            | "ping_webhook"
            | "get_event"
            | "redeliver_event" => {
                vec![key, &[InsufficientScope, Forbidden, NotFound]]
            }
            "list_events" => vec![
                key,
                &[
                    InsufficientScope,
                    Forbidden,
                    TenantRequired,
                    InvalidRequest,
                    InvalidCursor,
                ],
            ],
            "create_oauth_link" => vec![key, &[InsufficientScope], authorizer, json_body],
            "get_oauth_result" => vec![key, &[InsufficientScope, NotFound]],
            _ => vec![],
        };
        let mut codes: Vec<ErrorCode> = Vec::new();
        for code in parts.into_iter().flatten() {
            if !codes.contains(code) {
                codes.push(*code);
            }
        }
        codes
    }

    /// What the derive cannot say: the bearer scheme, and each operation's error
    /// answers grouped by status, one example per code.
    struct Contract;

    impl Modify for Contract {
        fn modify(&self, doc: &mut Document) {
            let components = doc.components.get_or_insert_with(Default::default);
            components.add_security_scheme(
                "api_key",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "An API key from `wxopen keys create`, as `Authorization: Bearer wxk_…`.",
                        ))
                        .build(),
                ),
            );
            for item in doc.paths.paths.values_mut() {
                for operation in [
                    &mut item.get,
                    &mut item.post,
                    &mut item.put,
                    &mut item.delete,
                    &mut item.patch,
                ]
                .into_iter()
                .flatten()
                {
                    let id = operation.operation_id.clone().unwrap_or_default();
                    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
                    for code in errors_of(&id) {
                        by_status
                            .entry(code.status().as_u16())
                            .or_default()
                            .push(code);
                    }
                    for (status, codes) in by_status {
                        operation
                            .responses
                            .responses
                            .insert(status.to_string(), error_response(&codes).into());
                    }
                }
            }
        }
    }

    fn error_response(codes: &[ErrorCode]) -> utoipa::openapi::Response {
        let names: Vec<String> = codes.iter().map(|c| format!("`{}`", c.as_str())).collect();
        let mut content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody")));
        for code in codes {
            let mut example = ApiError::new(*code);
            if *code == ErrorCode::InvalidRequest {
                example = ApiError::field(
                    "touser[3]",
                    "is not an openid (1..=64 characters of A-Z a-z 0-9 _ -)",
                );
            }
            if *code == ErrorCode::QuotaExhausted {
                example = example.with_wechat_errcode(Some(45009));
            }
            if *code == ErrorCode::WechatRejected {
                example = ApiError::detailed(
                    *code,
                    "WeChat said: api unauthorized rid: 6650f1a2-1b2c3d4e-5f60718a",
                )
                .with_wechat_errcode(Some(48001));
            }
            let value = serde_json::to_value(example.body()).unwrap_or_default();
            content = content.examples_from_iter([(
                code.as_str(),
                ExampleBuilder::new().value(Some(value)).build(),
            )]);
        }
        let mut response = ResponseBuilder::new()
            .description(format!("Error: {}.", names.join(", ")))
            .content("application/json", content.build());
        if codes.iter().any(|c| c.retry_after().is_some()) {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds to wait before retrying."))
                    .build(),
            );
        }
        response.build()
    }
}

#[cfg(test)]
mod tests {
    use super::generator::{generate, ApiDoc};
    use super::*;
    use crate::http::error::ErrorCode;
    use crate::http::{Function, ROUTES};
    use utoipa::OpenApi;

    fn written_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let generated = generate().unwrap();
        if std::env::var_os("WXOPEN_WRITE_OPENAPI").is_some() {
            std::fs::write(written_path(), &generated).unwrap();
            return;
        }
        assert!(
            DOCUMENT == generated,
            "docs/openapi.json is stale: regenerate it with \
             `WXOPEN_WRITE_OPENAPI=1 cargo test -p wxopen --lib http::openapi` and commit it"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_and_served_as_committed() {
        let served = document();
        assert_eq!(served.status(), StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_slice(served.body()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(served.body().as_ref(), DOCUMENT.as_bytes());
    }

    #[test]
    fn every_client_route_is_an_operation_and_every_operation_a_route() {
        let doc = ApiDoc::openapi();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if op.is_some() {
                    documented.push((method.to_owned(), path.clone()));
                }
            }
        }
        documented.sort();
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .filter(|r| r.function == Function::Send || r.pattern.starts_with("/v1/"))
            // a greedy `{path+}` is the document's `{path}`
            .map(|r| (r.method.to_owned(), r.pattern.replace("+}", "}")))
            .collect();
        routes.sort();
        assert_eq!(documented, routes);
    }

    /// Found by schemathesis: utoipa 5 wrote `operation_id` in links, so no
    /// stateful test could follow them.
    #[test]
    fn every_link_names_an_operation_of_the_document() {
        let doc: serde_json::Value = serde_json::from_str(&generate().unwrap()).unwrap();
        let mut ids = Vec::new();
        let mut targets = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.push(op["operationId"].as_str().unwrap().to_owned());
                for response in op["responses"].as_object().unwrap().values() {
                    if let Some(links) = response["links"].as_object() {
                        for link in links.values() {
                            targets.push(link["operationId"].as_str().unwrap().to_owned());
                        }
                    }
                }
            }
        }
        assert!(targets.len() >= 2, "{targets:?}");
        for target in targets {
            assert!(ids.contains(&target), "{target}");
        }
    }

    #[test]
    fn every_authenticated_operation_lists_its_errors_with_an_example_each() {
        let doc: serde_json::Value = serde_json::from_str(&generate().unwrap()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op.get("security").is_none() {
                    continue;
                }
                let responses = &op["responses"];
                assert!(responses["401"].is_object(), "{method} {path}: no 401");
                for (status, response) in responses.as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        let examples = &response["content"]["application/json"]["examples"];
                        for example in examples.as_object().unwrap().values() {
                            let code = example["value"]["error"]["code"].as_str().unwrap();
                            let expected =
                                ErrorCode::ALL.iter().find(|c| c.as_str() == code).unwrap();
                            assert_eq!(expected.status().as_str(), status, "{code}");
                        }
                    }
                }
            }
        }
    }
}
