//! The one place where failures become HTTP answers:
//! `{"error": {"code": "snake_case", "message": "...", "wechat_errcode": N?}}`.
//!
//! Every code has one status, one message and (where a retry helps) one
//! `Retry-After`, in [`ErrorCode`]; an answer may add a detail after the
//! message (the field at fault, the scope missing). Every conversion from a
//! service, store or WeChat error is here, matching on their enums. Messages
//! are written for the client: no secret, token or internal detail (the cause
//! is logged, without secrets, at the point of conversion).

use super::{json_response, Response};
use crate::domain::{InvalidValue, StopReason};
use crate::service::downloads::DownloadError;
use crate::service::links::LinkError;
use crate::service::mass::MassStatusError;
use crate::service::media::UploadRefused;
use crate::service::push::PushError;
use crate::service::send::SendError;
use crate::store::StoreError;
use crate::tokens::TokenError;
use crate::wechat::{ErrorClass, WechatError};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// Every error code an answer can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidJson,
    InvalidMultipart,
    InvalidCursor,
    InvalidIdempotencyKey,
    TenantRequired,
    InvalidTenant,
    InvalidAuthType,
    InvalidBizAppid,
    ReturnUrlNotAllowed,
    InvalidExpiresIn,
    InvalidTemplate,
    WechatRejectedRecipient,
    WechatRejectedRequest,
    Unauthorized,
    Forbidden,
    InsufficientScope,
    NotFound,
    MethodNotAllowed,
    IdempotencyConflict,
    IdempotencyInProgress,
    PayloadTooLarge,
    UnreadableBody,
    RequestTimeout,
    UnsupportedMediaType,
    AuthorizerRevoked,
    AuthorizerNeedsReauth,
    QuotaExhausted,
    Internal,
    WechatError,
    WechatOutcomeUnknown,
    WechatUnavailable,
    StoreUnavailable,
    NoTicket,
    TokenRenewalBusy,
    ServerBusy,
    // WeChat's pushes (answered to WeChat, not to clients).
    WrongAppid,
    BadSignature,
    MalformedPush,
    MalformedCheck,
    Replayed,
    RetryLater,
}

impl ErrorCode {
    /// Every code, for the document and the tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidMultipart,
        ErrorCode::InvalidCursor,
        ErrorCode::InvalidIdempotencyKey,
        ErrorCode::TenantRequired,
        ErrorCode::InvalidTenant,
        ErrorCode::InvalidAuthType,
        ErrorCode::InvalidBizAppid,
        ErrorCode::ReturnUrlNotAllowed,
        ErrorCode::InvalidExpiresIn,
        ErrorCode::InvalidTemplate,
        ErrorCode::WechatRejectedRecipient,
        ErrorCode::WechatRejectedRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::InsufficientScope,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::IdempotencyConflict,
        ErrorCode::IdempotencyInProgress,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnreadableBody,
        ErrorCode::RequestTimeout,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::AuthorizerRevoked,
        ErrorCode::AuthorizerNeedsReauth,
        ErrorCode::QuotaExhausted,
        ErrorCode::Internal,
        ErrorCode::WechatError,
        ErrorCode::WechatOutcomeUnknown,
        ErrorCode::WechatUnavailable,
        ErrorCode::StoreUnavailable,
        ErrorCode::NoTicket,
        ErrorCode::TokenRenewalBusy,
        ErrorCode::ServerBusy,
        ErrorCode::WrongAppid,
        ErrorCode::BadSignature,
        ErrorCode::MalformedPush,
        ErrorCode::MalformedCheck,
        ErrorCode::Replayed,
        ErrorCode::RetryLater,
    ];

    /// The HTTP status, message and `Retry-After` seconds of this code.
    fn spec(self) -> (StatusCode, &'static str, Option<u64>) {
        use ErrorCode::*;
        match self {
            InvalidRequest => (StatusCode::BAD_REQUEST, "the request is not valid", None),
            InvalidJson => (StatusCode::BAD_REQUEST, "the body is not valid JSON", None),
            InvalidMultipart => (StatusCode::BAD_REQUEST, "the multipart/form-data body is not valid", None),
            InvalidCursor => (StatusCode::BAD_REQUEST, "cursor is not a next_cursor of this listing", None),
            InvalidIdempotencyKey => (StatusCode::BAD_REQUEST, "Idempotency-Key must be 1..=255 visible ASCII characters", None),
            TenantRequired => (StatusCode::BAD_REQUEST, "this API key serves several tenants: name one with ?tenant=", None),
            InvalidTenant => (StatusCode::BAD_REQUEST, "invalid tenant: use 1..=64 characters of [A-Za-z0-9_.-]", None),
            InvalidAuthType => (StatusCode::BAD_REQUEST, "auth_type must be 1 (official accounts), 2 (mini programs) or 3 (both)", None),
            InvalidBizAppid => (StatusCode::BAD_REQUEST, "biz_appid must be an appid: `wx` and 16 letters or digits", None),
            ReturnUrlNotAllowed => (StatusCode::BAD_REQUEST, "return_url must be an absolute http(s) URL on an allowed origin (WXOPEN_RETURN_URL_ORIGINS)", None),
            InvalidExpiresIn => (StatusCode::BAD_REQUEST, "expires_in must be 60..=2592000 seconds", None),
            InvalidTemplate => (StatusCode::BAD_REQUEST, "WeChat rejected the template id or its data for this account", None),
            WechatRejectedRecipient => (StatusCode::BAD_REQUEST, "WeChat rejected the recipient", None),
            WechatRejectedRequest => (StatusCode::BAD_REQUEST, "WeChat rejected what the request asked for (a media_id, tag, file or value it does not accept)", None),
            Unauthorized => (StatusCode::UNAUTHORIZED, "no valid API key", None),
            Forbidden => (StatusCode::FORBIDDEN, "this API key may not act for that tenant", None),
            InsufficientScope => (StatusCode::FORBIDDEN, "this API key lacks the scope this route needs", None),
            NotFound => (StatusCode::NOT_FOUND, "not found", None),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route", None),
            IdempotencyConflict => (StatusCode::CONFLICT, "this Idempotency-Key was used with a different request; use a new key for a new request", None),
            IdempotencyInProgress => (StatusCode::CONFLICT, "a request with this Idempotency-Key is still being carried out; retry shortly", Some(1)),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large", None),
            UnreadableBody => (StatusCode::BAD_REQUEST, "the request body could not be read", None),
            RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time", None),
            UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "the body has the wrong content type", None),
            AuthorizerRevoked => (StatusCode::UNPROCESSABLE_ENTITY, "the merchant revoked the authorization; it must authorize again", None),
            AuthorizerNeedsReauth => (StatusCode::UNPROCESSABLE_ENTITY, "WeChat rejected the authorizer's refresh token; the merchant must authorize again", None),
            QuotaExhausted => (StatusCode::TOO_MANY_REQUESTS, "WeChat's daily quota for this account is spent (45009)", Some(3600)),
            Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error; it has been logged", None),
            WechatError => (StatusCode::BAD_GATEWAY, "WeChat refused the call", None),
            WechatOutcomeUnknown => (StatusCode::BAD_GATEWAY, "WeChat did not answer in time; the request may have been carried out", None),
            WechatUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "WeChat is busy or unreachable; nothing was done; retry later", Some(30)),
            StoreUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "state store unavailable; retry later", Some(5)),
            NoTicket => (StatusCode::SERVICE_UNAVAILABLE, "no component_verify_ticket yet; WeChat was asked to push one; retry shortly", Some(60)),
            TokenRenewalBusy => (StatusCode::SERVICE_UNAVAILABLE, "a token renewal elsewhere did not finish in time; retry shortly", Some(2)),
            ServerBusy => (StatusCode::SERVICE_UNAVAILABLE, "too many large request bodies are being received at once; retry shortly", Some(1)),
            WrongAppid => (StatusCode::BAD_REQUEST, "push is addressed to another component", None),
            BadSignature => (StatusCode::UNAUTHORIZED, "the signature does not match", None),
            MalformedPush => (StatusCode::BAD_REQUEST, "push is not acceptable", None),
            MalformedCheck => (StatusCode::BAD_REQUEST, "signature, timestamp, nonce and echostr are required", None),
            Replayed => (StatusCode::UNAUTHORIZED, "timestamp outside the accepted window", None),
            RetryLater => (StatusCode::SERVICE_UNAVAILABLE, "push could not be handled now; retry", Some(5)),
        }
    }

    /// The code as clients see it (its serde name).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidJson => "invalid_json",
            InvalidMultipart => "invalid_multipart",
            InvalidCursor => "invalid_cursor",
            InvalidIdempotencyKey => "invalid_idempotency_key",
            TenantRequired => "tenant_required",
            InvalidTenant => "invalid_tenant",
            InvalidAuthType => "invalid_auth_type",
            InvalidBizAppid => "invalid_biz_appid",
            ReturnUrlNotAllowed => "return_url_not_allowed",
            InvalidExpiresIn => "invalid_expires_in",
            InvalidTemplate => "invalid_template",
            WechatRejectedRecipient => "wechat_rejected_recipient",
            WechatRejectedRequest => "wechat_rejected_request",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            InsufficientScope => "insufficient_scope",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            IdempotencyConflict => "idempotency_conflict",
            IdempotencyInProgress => "idempotency_in_progress",
            PayloadTooLarge => "payload_too_large",
            UnreadableBody => "unreadable_body",
            RequestTimeout => "request_timeout",
            UnsupportedMediaType => "unsupported_media_type",
            AuthorizerRevoked => "authorizer_revoked",
            AuthorizerNeedsReauth => "authorizer_needs_reauth",
            QuotaExhausted => "quota_exhausted",
            Internal => "internal",
            WechatError => "wechat_error",
            WechatOutcomeUnknown => "wechat_outcome_unknown",
            WechatUnavailable => "wechat_unavailable",
            StoreUnavailable => "store_unavailable",
            NoTicket => "no_ticket",
            TokenRenewalBusy => "token_renewal_busy",
            ServerBusy => "server_busy",
            WrongAppid => "wrong_appid",
            BadSignature => "bad_signature",
            MalformedPush => "malformed_push",
            MalformedCheck => "malformed_check",
            Replayed => "replayed",
            RetryLater => "retry_later",
        }
    }

    pub fn status(self) -> StatusCode {
        self.spec().0
    }

    pub fn message(self) -> &'static str {
        self.spec().1
    }

    /// Seconds for `Retry-After`, on the codes a later retry can cure.
    pub fn retry_after(self) -> Option<u64> {
        self.spec().2
    }
}

/// A failure on its way to becoming an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    /// What exactly, after the code's message (`` `touser[3]`: is not an openid… ``).
    pub detail: Option<String>,
    pub wechat_errcode: Option<i64>,
}

/// The error answer's body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    pub code: ErrorCode,
    /// For people: the code's message, and what exactly when there is more to say.
    #[schema(examples("the request is not valid: `touser[3]`: is not an openid (1..=64 characters of A-Z a-z 0-9 _ -)"))]
    pub message: String,
    /// WeChat's errcode, when WeChat's answer is the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(examples(45009))]
    pub wechat_errcode: Option<i64>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError {
            code,
            detail: None,
            wechat_errcode: None,
        }
    }

    /// The code with what exactly went wrong.
    pub fn detailed(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError {
            detail: Some(detail.into()),
            ..ApiError::new(code)
        }
    }

    /// 400 `invalid_request` naming the field at fault (`touser[3]`, `data.first.value`).
    pub fn field(field: &str, problem: impl std::fmt::Display) -> Self {
        if field.is_empty() {
            ApiError::detailed(ErrorCode::InvalidRequest, problem.to_string())
        } else {
            ApiError::detailed(ErrorCode::InvalidRequest, format!("`{field}`: {problem}"))
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::detailed(ErrorCode::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::detailed(ErrorCode::Forbidden, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::detailed(ErrorCode::NotFound, detail)
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(ErrorCode::MethodNotAllowed)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        ApiError::detailed(
            ErrorCode::PayloadTooLarge,
            format!("at most {limit} bytes are accepted"),
        )
    }

    pub fn internal() -> Self {
        ApiError::new(ErrorCode::Internal)
    }

    pub fn with_wechat_errcode(mut self, errcode: Option<i64>) -> Self {
        self.wechat_errcode = errcode;
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn message(&self) -> String {
        match &self.detail {
            Some(detail) => format!("{}: {detail}", self.code.message()),
            None => self.code.message().to_owned(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorObject {
                code: self.code,
                message: self.message(),
                wechat_errcode: self.wechat_errcode,
            },
        }
    }

    pub fn into_response(self) -> Response {
        let mut resp = json_response(self.status(), &self.body());
        if let Some(secs) = self.code.retry_after() {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        resp
    }
}

impl From<InvalidValue> for ApiError {
    /// A value refused outside any field (a whole body's rule).
    fn from(e: InvalidValue) -> Self {
        ApiError::field("", e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ApiError::new(ErrorCode::StoreUnavailable)
    }
}

/// WeChat's errcodes that fault what the request asked for, not WeChat or
/// the account: the client can fix its request (wechat-api.md §5).
const REQUEST_ERRCODES: &[i64] = &[
    40004, // media type
    40005, // file type
    40007, // media_id
    40008, // message type
    40009, // media size
    40013, // appid (a mini program's)
    40035, // an argument
    40037, // template_id
    40032, // openid list size
    40050, // tag id
    40102, // industry id
    44002, // empty post data
    44003, // empty news data
    45008, // article size
    45026, // templates an account may hold
    45056, // too many tags
    45057, // tag with too many followers to delete
    45058, // a system tag
    45059, // a follower's tag count
    45157, // tag name taken
    45158, // tag name too long
    45159, // tag id
    47001, // data format
    48006, // quota resets this month spent
    49003, // openid not of this account
    76021, // cgi_path of a quota read
];

/// The code for a WeChat refusal of the call that is not one recipient's.
fn refusal_code(errcode: Option<i64>) -> ErrorCode {
    match errcode {
        Some(c) if REQUEST_ERRCODES.contains(&c) => ErrorCode::WechatRejectedRequest,
        _ => ErrorCode::WechatError,
    }
}

impl From<WechatError> for ApiError {
    fn from(e: WechatError) -> Self {
        let errcode = e.errcode();
        tracing::warn!(error = %e, errcode, "wechat call failed");
        let code = match e.class() {
            ErrorClass::Quota => ErrorCode::QuotaExhausted,
            ErrorClass::Busy | ErrorClass::Unavailable => ErrorCode::WechatUnavailable,
            ErrorClass::Unknown => ErrorCode::WechatOutcomeUnknown,
            ErrorClass::Recipient => ErrorCode::WechatRejectedRecipient,
            _ => refusal_code(errcode),
        };
        let err = match (code, &e) {
            // WeChat's own words help the client with a refusal of its request.
            (
                ErrorCode::WechatRejectedRecipient
                | ErrorCode::WechatRejectedRequest
                | ErrorCode::WechatError,
                WechatError::Api { errmsg, .. },
            ) if !errmsg.is_empty() => ApiError::detailed(code, format!("WeChat said: {errmsg}")),
            _ => ApiError::new(code),
        };
        err.with_wechat_errcode(errcode)
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NoTicket => ApiError::new(ErrorCode::NoTicket),
            TokenError::UnknownAuthorizer(appid) => {
                ApiError::not_found(format!("authorizer {appid} is not known"))
            }
            TokenError::Revoked(_) => ApiError::new(ErrorCode::AuthorizerRevoked),
            TokenError::NeedsReauth(_) => ApiError::new(ErrorCode::AuthorizerNeedsReauth),
            TokenError::Busy => ApiError::new(ErrorCode::TokenRenewalBusy),
            TokenError::Wechat(w) => w.into(),
            TokenError::Store(s) => s.into(),
        }
    }
}

/// The answer for a send that stopped before anything was sent (and for an
/// authorizer that cannot be acted for).
impl From<&StopReason> for ApiError {
    fn from(reason: &StopReason) -> Self {
        let code = match reason {
            StopReason::JobStopped(inner) => return ApiError::from(inner.as_ref()),
            StopReason::QuotaExhausted => ErrorCode::QuotaExhausted,
            StopReason::AuthorizerRevoked => ErrorCode::AuthorizerRevoked,
            StopReason::AuthorizerNeedsReauth => ErrorCode::AuthorizerNeedsReauth,
            StopReason::AuthorizerUnknown => {
                return ApiError::not_found("the authorizer is not known")
            }
            StopReason::InvalidTemplate { .. } => ErrorCode::InvalidTemplate,
            StopReason::WechatError { errcode } => refusal_code(*errcode),
            StopReason::Other(_) => ErrorCode::WechatError,
            StopReason::JobMissing | StopReason::InvalidJob => {
                tracing::error!(reason = %reason, "a job's stop reason reached an inline answer");
                ErrorCode::Internal
            }
        };
        ApiError::new(code).with_wechat_errcode(reason.errcode())
    }
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Stopped(reason) => ApiError::from(&reason),
            SendError::Unavailable { errcode } => {
                ApiError::new(ErrorCode::WechatUnavailable).with_wechat_errcode(errcode)
            }
            SendError::Token(t) => t.into(),
            SendError::Store(s) => s.into(),
        }
    }
}

impl From<MassStatusError> for ApiError {
    fn from(e: MassStatusError) -> Self {
        match e {
            MassStatusError::UnknownMsgId(_) => {
                ApiError::not_found(e.to_string()).with_wechat_errcode(Some(40035))
            }
            MassStatusError::Token(t) => t.into(),
            MassStatusError::Store(s) => s.into(),
        }
    }
}

impl From<DownloadError> for ApiError {
    fn from(e: DownloadError) -> Self {
        match e {
            DownloadError::UnknownMedia(_) => ApiError::not_found(e.to_string())
                .with_wechat_errcode(Some(crate::service::downloads::UNKNOWN_MEDIA)),
            DownloadError::Token(t) => t.into(),
        }
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::InvalidAuthType => ApiError::new(ErrorCode::InvalidAuthType),
            LinkError::ReturnUrlNotAllowed => ApiError::new(ErrorCode::ReturnUrlNotAllowed),
            LinkError::InvalidExpiresIn => ApiError::new(ErrorCode::InvalidExpiresIn),
            LinkError::Store(s) => s.into(),
        }
    }
}

impl From<UploadRefused> for ApiError {
    fn from(e: UploadRefused) -> Self {
        ApiError::field("media", e)
    }
}

/// Failing now answers 503, so WeChat retries the push.
impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::Store(s) => s.into(),
            PushError::Exchange(x) => {
                tracing::warn!(error = %x, "push deferred to WeChat's retry");
                ApiError::new(ErrorCode::RetryLater)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(e: ApiError) -> (StatusCode, serde_json::Value, Option<String>) {
        let resp = e.into_response();
        let retry = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = serde_json::from_slice(resp.body()).unwrap();
        (resp.status(), body, retry)
    }

    #[test]
    fn every_code_serialises_as_its_snake_case_name_and_has_a_message() {
        for code in ErrorCode::ALL {
            let name = serde_json::to_value(code).unwrap();
            let name = name.as_str().unwrap();
            assert_eq!(name, code.as_str());
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(!code.message().is_empty(), "{name}");
        }
    }

    #[test]
    fn all_lists_every_code_once() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(ErrorCode::schema()).unwrap();
        let variants = schema["enum"].as_array().unwrap();
        assert_eq!(variants.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert!(
                variants.contains(&serde_json::json!(code.as_str())),
                "{code:?}"
            );
        }
    }

    #[test]
    fn the_same_code_reached_from_two_places_gives_the_same_answer() {
        let from_wechat = answer(ApiError::from(WechatError::Api {
            endpoint: "/cgi-bin/message/template/send",
            errcode: 45009,
            errmsg: "reach max api daily quota limit".into(),
            msg_id: None,
        }));
        let from_stop = answer(ApiError::from(&StopReason::QuotaExhausted));
        assert_eq!(from_wechat, from_stop);
        assert_eq!(from_stop.0, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(from_stop.1["error"]["wechat_errcode"], 45009);
        assert_eq!(from_stop.2.as_deref(), Some("3600"));

        let revoked = answer(ApiError::from(TokenError::Revoked("wx1".into())));
        assert_eq!(
            revoked,
            answer(ApiError::from(&StopReason::AuthorizerRevoked))
        );
        assert_eq!(revoked.1["error"]["code"], "authorizer_revoked");
    }

    #[test]
    fn a_refusal_of_the_requests_content_is_the_clients_400_not_a_502() {
        let refused = |errcode| {
            ApiError::from(WechatError::Api {
                endpoint: "/cgi-bin/message/mass/sendall",
                errcode,
                errmsg: "invalid tag id".into(),
                msg_id: None,
            })
        };
        assert_eq!(refused(40050).status(), StatusCode::BAD_REQUEST);
        assert_eq!(refused(40050).code, ErrorCode::WechatRejectedRequest);
        assert_eq!(refused(48001).status(), StatusCode::BAD_GATEWAY);
        let stopped = ApiError::from(&StopReason::WechatError {
            errcode: Some(47001),
        });
        assert_eq!(stopped.code, ErrorCode::WechatRejectedRequest);
    }

    #[test]
    fn a_field_error_names_the_field_after_the_codes_message() {
        let (status, body, retry) = answer(ApiError::field("touser[3]", "is not an openid"));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "invalid_request", "message": "the request is not valid: `touser[3]`: is not an openid"}})
        );
        assert_eq!(retry, None);
    }

    #[test]
    fn store_failures_are_503_with_retry_after_and_no_detail() {
        let (status, body, retry) =
            answer(StoreError::Invalid("connection refused to 10.0.0.1".into()).into());
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("5"));
        assert!(!body.to_string().contains("10.0.0.1"));
    }
}
