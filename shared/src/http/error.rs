//! The one place where failures become HTTP answers:
//! `{"error": {"code": "snake_case", "message": "...", "wechat_errcode": N?}}`.
//! Messages are written for the client; no secret, token or internal detail
//! (the cause is logged, without secrets, at the point of conversion).

use super::{json_response, Response};
use crate::store::StoreError;
use crate::tokens::TokenError;
use crate::wechat::{ErrorClass, WechatError};
use http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub wechat_errcode: Option<i64>,
    /// Seconds, for 429/503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            wechat_errcode: None,
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {limit} bytes"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }

    pub fn with_wechat_errcode(mut self, errcode: Option<i64>) -> Self {
        self.wechat_errcode = errcode;
        self
    }

    pub fn into_response(self) -> Response {
        let mut err = serde_json::json!({"code": self.code, "message": self.message});
        if let Some(c) = self.wechat_errcode {
            err["wechat_errcode"] = c.into();
        }
        let mut resp = json_response(self.status, &serde_json::json!({ "error": err }));
        if let Some(secs) = self.retry_after {
            if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        let mut err = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "state store unavailable; retry later",
        );
        err.retry_after = Some(5);
        err
    }
}

impl From<WechatError> for ApiError {
    fn from(e: WechatError) -> Self {
        let errcode = e.errcode();
        tracing::warn!(error = %e, errcode, "wechat call failed");
        let (status, code, message, retry_after) = match e.class() {
            ErrorClass::Quota => (
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exhausted",
                "WeChat quota for this account is spent (45009)".to_owned(),
                Some(3600),
            ),
            ErrorClass::Busy | ErrorClass::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "wechat_unavailable",
                "WeChat is not answering; retry later".to_owned(),
                Some(30),
            ),
            ErrorClass::Unknown => (
                StatusCode::BAD_GATEWAY,
                "wechat_outcome_unknown",
                "WeChat did not answer in time; the request may have been carried out".to_owned(),
                None,
            ),
            ErrorClass::Recipient => (
                StatusCode::BAD_REQUEST,
                "wechat_rejected_recipient",
                format!("WeChat rejected the recipient: {e}"),
                None,
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "wechat_error",
                format!("WeChat refused the call: {e}"),
                None,
            ),
        };
        let mut err = ApiError::new(status, code, message).with_wechat_errcode(errcode);
        err.retry_after = retry_after;
        err
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NoTicket => {
                let mut err =
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_ticket", e.to_string());
                err.retry_after = Some(60);
                err
            }
            TokenError::UnknownAuthorizer(_) => ApiError::not_found(e.to_string()),
            TokenError::Revoked(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "authorizer_revoked",
                e.to_string(),
            ),
            TokenError::NeedsReauth(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "authorizer_needs_reauth",
                e.to_string(),
            ),
            TokenError::Busy => {
                let mut err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "token_renewal_busy",
                    e.to_string(),
                );
                err.retry_after = Some(2);
                err
            }
            TokenError::Wechat(w) => w.into(),
            TokenError::Store(s) => s.into(),
        }
    }
}
