//! How the sending services' failures map onto the error answers of design.md §3
//! (the JSON itself is written by `ApiError::into_response`).

use crate::http::ApiError;
use crate::service::delivery::StopReason;
use crate::service::input::InvalidInput;
use crate::service::mass::MassStatusError;
use crate::service::send::SendError;
use http::StatusCode;

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        let message = if e.field.is_empty() {
            e.message
        } else {
            e.to_string()
        };
        ApiError::bad_request("invalid_request", message)
    }
}

/// The answer for a send that stopped before anything was sent.
pub fn stop_error(reason: &StopReason) -> ApiError {
    let errcode = reason.errcode();
    let mut err = match reason.code() {
        "quota_exhausted" => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exhausted",
                "WeChat's daily quota for this account is spent (45009)",
            );
            e.retry_after = Some(3600);
            e
        }
        "authorizer_revoked" => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "authorizer_revoked",
            "the merchant revoked the authorization; it must authorize again",
        ),
        "authorizer_needs_reauth" => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "authorizer_needs_reauth",
            "WeChat rejected the authorizer's refresh token; the merchant must authorize again",
        ),
        "authorizer_unknown" => ApiError::not_found("the authorizer is not known"),
        "invalid_template" => ApiError::bad_request(
            "invalid_template",
            "WeChat rejected the template id or its data for this account",
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "wechat_error",
            "WeChat refused the send",
        ),
    };
    err.wechat_errcode = errcode;
    err
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Stopped(reason) => stop_error(&reason),
            SendError::Unavailable { errcode } => {
                let mut err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "wechat_unavailable",
                    "WeChat is busy or unreachable; nothing was sent; retry later",
                )
                .with_wechat_errcode(errcode);
                err.retry_after = Some(30);
                err
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
