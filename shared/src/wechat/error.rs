//! One error type for every WeChat call, with a variant per failure layer
//! (transport, HTTP, decoding, WeChat's own errcode) and a coarse
//! [`ErrorClass`] that callers branch on.
//!
//! Nothing here holds a URL or a token: reqwest errors are stripped of their
//! URL before they are kept, and WeChat's `errmsg` never echoes credentials.

use std::fmt;

/// Whether a failed request may have reached WeChat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The request never left this machine (connect failure, DNS): safe to retry.
    NotSent,
    /// The request may have been delivered and acted on (timeout or broken
    /// connection after sending): WeChat's outcome is unknown.
    Unknown,
}

impl fmt::Display for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sent::NotSent => "not sent",
            Sent::Unknown => "outcome unknown",
        })
    }
}

/// A failed WeChat call. `endpoint` is the request path without its query.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// WeChat answered with a non-zero errcode.
    #[error("WeChat {endpoint} answered errcode {errcode}: {errmsg}")]
    Api {
        endpoint: &'static str,
        errcode: i64,
        /// WeChat's own text (often ends with `rid: …`, useful to WeChat support).
        errmsg: String,
        /// The earlier message's id when WeChat reports a duplicate mass send (45065).
        msg_id: Option<u64>,
    },
    /// The HTTP exchange failed: no answer was read.
    #[error("request to WeChat {endpoint} failed after {attempts} attempt(s) ({sent})")]
    Transport {
        endpoint: &'static str,
        sent: Sent,
        attempts: u32,
        /// The reqwest error, with its URL removed.
        #[source]
        source: reqwest::Error,
    },
    /// WeChat answered with an HTTP status other than 2xx.
    #[error("WeChat {endpoint} answered HTTP {status} after {attempts} attempt(s)")]
    Http {
        endpoint: &'static str,
        status: u16,
        attempts: u32,
    },
    /// The answer's body was larger than the caller accepts (media, the pass-through).
    #[error("WeChat {endpoint} answered a body over {limit} bytes")]
    TooLarge {
        endpoint: &'static str,
        limit: usize,
    },
    /// The answer was not the JSON we expected; `path` names the failing field.
    #[error("cannot decode WeChat {endpoint} reply at `{path}`")]
    Decode {
        endpoint: &'static str,
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What a caller should do about a failure, independent of the layer it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The access token is invalid, expired or missing (40001, 40014, 42001,
    /// 41001): invalidate it, renew once, retry once.
    TokenInvalid,
    /// WeChat is busy (-1) and stayed busy through our retries.
    Busy,
    /// The daily quota for this API is spent (45009): stop, do not retry.
    Quota,
    /// The authorizer refresh token was revoked or replaced (61023): the
    /// merchant must authorize again (or reconcile via the authorizer list).
    RefreshTokenInvalid,
    /// A problem with one recipient only; record it and go on with the others.
    /// See [`RECIPIENT_ERRCODES`].
    Recipient,
    /// A mass send with this `clientmsgid` was already made (45065).
    AlreadySent,
    /// WeChat may or may not have acted: a timeout or broken connection after
    /// the request left, or a 200 reply we could not decode.
    Unknown,
    /// WeChat could not be reached (connect failure) or kept failing (HTTP 5xx).
    Unavailable,
    /// Anything else: bad input, bad configuration, an unexpected errcode.
    Other,
}

/// errcodes that concern a single recipient, so a bulk send goes on:
/// - 40003 invalid openid (not an openid of this account);
/// - 43004 the recipient does not follow the account;
/// - 43019 the recipient is on the account's blacklist;
/// - 43101 the recipient refused this kind of message;
/// - 45015 the recipient's customer-service reply window (48 h) is closed;
/// - 45047 too many customer-service messages to this recipient without a reply.
///
/// Not included: 40036/40037 (bad template id) and 47003 (bad template data)
/// fail every recipient alike, so they stop a job instead of repeating per openid.
pub const RECIPIENT_ERRCODES: &[i64] = &[40003, 43004, 43019, 43101, 45015, 45047];

/// errcodes meaning the access token itself is bad.
pub const TOKEN_INVALID_ERRCODES: &[i64] = &[40001, 40014, 41001, 42001];

/// WeChat is busy; the only errcode worth retrying at once.
pub const ERRCODE_BUSY: i64 = -1;
/// The daily call quota is spent.
pub const ERRCODE_QUOTA: i64 = 45009;
/// The authorizer refresh token is no longer valid.
pub const ERRCODE_REFRESH_TOKEN_INVALID: i64 = 61023;
/// A mass send with the same `clientmsgid` was already made.
pub const ERRCODE_ALREADY_SENT: i64 = 45065;

/// The class of a WeChat errcode (0 is not an error and maps to `Other`).
pub fn class_of_errcode(errcode: i64) -> ErrorClass {
    match errcode {
        ERRCODE_BUSY => ErrorClass::Busy,
        ERRCODE_QUOTA => ErrorClass::Quota,
        ERRCODE_REFRESH_TOKEN_INVALID => ErrorClass::RefreshTokenInvalid,
        ERRCODE_ALREADY_SENT => ErrorClass::AlreadySent,
        code if TOKEN_INVALID_ERRCODES.contains(&code) => ErrorClass::TokenInvalid,
        code if RECIPIENT_ERRCODES.contains(&code) => ErrorClass::Recipient,
        _ => ErrorClass::Other,
    }
}

impl WechatError {
    /// What kind of failure this is, for callers that branch on it.
    pub fn class(&self) -> ErrorClass {
        match self {
            WechatError::Api { errcode, .. } => class_of_errcode(*errcode),
            WechatError::Transport {
                sent: Sent::NotSent,
                ..
            } => ErrorClass::Unavailable,
            WechatError::Transport {
                sent: Sent::Unknown,
                ..
            } => ErrorClass::Unknown,
            WechatError::Http { status, .. } if *status >= 500 => ErrorClass::Unavailable,
            WechatError::Http { .. } => ErrorClass::Other,
            WechatError::Decode { .. } => ErrorClass::Unknown,
            WechatError::TooLarge { .. } => ErrorClass::Other,
        }
    }

    /// WeChat's errcode, when WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WechatError::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// The request path (without query) of the call that failed.
    pub fn endpoint(&self) -> &'static str {
        match self {
            WechatError::Api { endpoint, .. }
            | WechatError::Transport { endpoint, .. }
            | WechatError::Http { endpoint, .. }
            | WechatError::Decode { endpoint, .. }
            | WechatError::TooLarge { endpoint, .. } => endpoint,
        }
    }

    /// Records how many attempts were made before giving up.
    pub(crate) fn after_attempts(mut self, made: u32) -> Self {
        match &mut self {
            WechatError::Transport { attempts, .. } | WechatError::Http { attempts, .. } => {
                *attempts = made
            }
            WechatError::Api { .. } | WechatError::Decode { .. } | WechatError::TooLarge { .. } => {
            }
        }
        self
    }
}

/// Why a [`super::WechatClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("WeChat base_url is not a valid http(s) URL")]
    InvalidBaseUrl,
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errcodes_are_token_invalid() {
        for code in [40001, 40014, 42001, 41001] {
            assert_eq!(class_of_errcode(code), ErrorClass::TokenInvalid, "{code}");
        }
    }

    #[test]
    fn recipient_errcodes_are_recipient() {
        for &code in RECIPIENT_ERRCODES {
            assert_eq!(class_of_errcode(code), ErrorClass::Recipient, "{code}");
        }
    }

    #[test]
    fn template_errors_stop_the_job_rather_than_count_per_recipient() {
        assert_eq!(class_of_errcode(40037), ErrorClass::Other);
        assert_eq!(class_of_errcode(40036), ErrorClass::Other);
    }

    #[test]
    fn single_codes_have_their_own_class() {
        assert_eq!(class_of_errcode(-1), ErrorClass::Busy);
        assert_eq!(class_of_errcode(45009), ErrorClass::Quota);
        assert_eq!(class_of_errcode(61023), ErrorClass::RefreshTokenInvalid);
        assert_eq!(class_of_errcode(45065), ErrorClass::AlreadySent);
        assert_eq!(class_of_errcode(48006), ErrorClass::Other);
    }

    #[test]
    fn errors_can_cross_tasks_and_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<WechatError>();
        assert_send_sync::<super::super::WechatClient>();
    }

    #[test]
    fn http_5xx_is_unavailable_and_4xx_is_other() {
        let e = |status| WechatError::Http {
            endpoint: "/x",
            status,
            attempts: 1,
        };
        assert_eq!(e(502).class(), ErrorClass::Unavailable);
        assert_eq!(e(404).class(), ErrorClass::Other);
        assert_eq!(e(502).errcode(), None);
    }
}
