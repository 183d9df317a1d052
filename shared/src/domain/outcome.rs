//! What a send records: each recipient's status, why a batch or job stopped,
//! and WeChat's later delivery report. Stored in the text forms written here
//! (the same forms as before these were types, so older records still read).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// One recipient's outcome, as stored and as answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    /// WeChat accepted the message.
    Sent,
    /// WeChat refused this recipient (`errcode` says why).
    Failed,
    /// The request timed out after it was sent: it may have arrived.
    Unknown,
    /// Not sent: the send stopped first, or WeChat stayed unavailable.
    Unsent,
}

impl RecipientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Sent => "sent",
            RecipientStatus::Failed => "failed",
            RecipientStatus::Unknown => "unknown",
            RecipientStatus::Unsent => "unsent",
        }
    }
}

/// A recipient of a job as `GET /v1/jobs/{job_id}` reports it: its stored
/// status, or `pending` while no worker has reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientProgress {
    Sent,
    Failed,
    Unknown,
    Unsent,
    Pending,
}

impl From<RecipientStatus> for RecipientProgress {
    fn from(s: RecipientStatus) -> Self {
        match s {
            RecipientStatus::Sent => RecipientProgress::Sent,
            RecipientStatus::Failed => RecipientProgress::Failed,
            RecipientStatus::Unknown => RecipientProgress::Unknown,
            RecipientStatus::Unsent => RecipientProgress::Unsent,
        }
    }
}

/// Why a batch (and its job) stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// 45009: the account's daily quota is spent.
    QuotaExhausted,
    AuthorizerRevoked,
    AuthorizerNeedsReauth,
    AuthorizerUnknown,
    /// 40036/40037/47003: the template id or data is wrong.
    InvalidTemplate {
        errcode: Option<i64>,
    },
    /// Another WeChat refusal that would repeat for every recipient.
    WechatError {
        errcode: Option<i64>,
    },
    /// The job expired (or vanished) under a chunk still being worked.
    JobMissing,
    /// The job's stored message could not be read.
    InvalidJob,
    /// A stored reason this version does not know (or none): kept as written.
    Other(String),
    /// Another worker stopped the job for this reason; this one only follows.
    JobStopped(Box<StopReason>),
}

/// The code a client sees for a stop (`stop_reason`), its errcode aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopCode {
    QuotaExhausted,
    AuthorizerRevoked,
    AuthorizerNeedsReauth,
    AuthorizerUnknown,
    InvalidTemplate,
    WechatError,
    JobMissing,
    InvalidJob,
    /// Stopped for a reason this version does not name.
    Stopped,
}

impl StopCode {
    pub fn as_str(self) -> &'static str {
        match self {
            StopCode::QuotaExhausted => "quota_exhausted",
            StopCode::AuthorizerRevoked => "authorizer_revoked",
            StopCode::AuthorizerNeedsReauth => "authorizer_needs_reauth",
            StopCode::AuthorizerUnknown => "authorizer_unknown",
            StopCode::InvalidTemplate => "invalid_template",
            StopCode::WechatError => "wechat_error",
            StopCode::JobMissing => "job_missing",
            StopCode::InvalidJob => "invalid_job",
            StopCode::Stopped => "stopped",
        }
    }
}

impl StopReason {
    /// The code clients see.
    pub fn code(&self) -> StopCode {
        match self {
            StopReason::QuotaExhausted => StopCode::QuotaExhausted,
            StopReason::AuthorizerRevoked => StopCode::AuthorizerRevoked,
            StopReason::AuthorizerNeedsReauth => StopCode::AuthorizerNeedsReauth,
            StopReason::AuthorizerUnknown => StopCode::AuthorizerUnknown,
            StopReason::InvalidTemplate { .. } => StopCode::InvalidTemplate,
            StopReason::WechatError { .. } => StopCode::WechatError,
            StopReason::JobMissing => StopCode::JobMissing,
            StopReason::InvalidJob => StopCode::InvalidJob,
            StopReason::Other(_) => StopCode::Stopped,
            StopReason::JobStopped(reason) => reason.code(),
        }
    }

    /// WeChat's errcode behind the stop, when there is one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            StopReason::QuotaExhausted => Some(crate::wechat::ERRCODE_QUOTA),
            StopReason::InvalidTemplate { errcode } | StopReason::WechatError { errcode } => {
                *errcode
            }
            StopReason::JobStopped(reason) => reason.errcode(),
            _ => None,
        }
    }

    /// Reads a stored `code` or `code:errcode` back; an unknown code stays `Other`.
    pub fn parse(stored: &str) -> StopReason {
        let (code, errcode) = match stored.split_once(':') {
            Some((code, n)) => (code, n.parse().ok()),
            None => (stored, None),
        };
        match code {
            "quota_exhausted" => StopReason::QuotaExhausted,
            "authorizer_revoked" => StopReason::AuthorizerRevoked,
            "authorizer_needs_reauth" => StopReason::AuthorizerNeedsReauth,
            "authorizer_unknown" => StopReason::AuthorizerUnknown,
            "invalid_template" => StopReason::InvalidTemplate { errcode },
            "wechat_error" => StopReason::WechatError { errcode },
            "job_missing" => StopReason::JobMissing,
            "invalid_job" => StopReason::InvalidJob,
            _ => StopReason::Other(stored.to_owned()),
        }
    }
}

/// The stored form: `code`, or `code:errcode` when WeChat gave one (the quota's
/// 45009 is implied by its code).
impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Other(stored) => f.write_str(stored),
            StopReason::JobStopped(reason) => reason.fmt(f),
            StopReason::InvalidTemplate {
                errcode: Some(code),
            }
            | StopReason::WechatError {
                errcode: Some(code),
            } => write!(f, "{}:{code}", self.code().as_str()),
            _ => f.write_str(self.code().as_str()),
        }
    }
}

impl FromStr for StopReason {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(StopReason::parse(s))
    }
}

/// WeChat's TEMPLATESENDJOBFINISH report for one message, as answered
/// (`Status`: `success`, `failed:user block`, `failed: system failed`, others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Delivered.
    Success,
    /// The follower blocked the account's messages.
    UserBlock,
    /// WeChat failed to deliver it.
    SystemFailed,
    /// Any other failure WeChat reported.
    Failed,
}

impl DeliveryStatus {
    /// Reads WeChat's `Status` text (stored as WeChat sent it).
    pub fn from_wechat(status: &str) -> DeliveryStatus {
        let status = status.trim();
        if status.eq_ignore_ascii_case("success") {
            return DeliveryStatus::Success;
        }
        let reason = status
            .strip_prefix("failed:")
            .map(str::trim)
            .unwrap_or_default();
        match reason {
            "user block" => DeliveryStatus::UserBlock,
            "system failed" => DeliveryStatus::SystemFailed,
            _ => DeliveryStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_round_trip_through_their_stored_form() {
        for reason in [
            StopReason::QuotaExhausted,
            StopReason::AuthorizerRevoked,
            StopReason::AuthorizerNeedsReauth,
            StopReason::AuthorizerUnknown,
            StopReason::InvalidTemplate {
                errcode: Some(40037),
            },
            StopReason::WechatError {
                errcode: Some(48001),
            },
            StopReason::WechatError { errcode: None },
            StopReason::JobMissing,
            StopReason::InvalidJob,
        ] {
            assert_eq!(StopReason::parse(&reason.to_string()), reason);
        }
        assert_eq!(
            StopReason::InvalidTemplate {
                errcode: Some(40037)
            }
            .to_string(),
            "invalid_template:40037"
        );
        assert_eq!(StopReason::QuotaExhausted.to_string(), "quota_exhausted");
    }

    #[test]
    fn an_unknown_stored_reason_is_kept_as_written() {
        let r = StopReason::parse("something_else:7");
        assert_eq!(r.to_string(), "something_else:7");
        assert_eq!(r.code(), StopCode::Stopped);
    }

    #[test]
    fn a_stop_followed_from_the_job_record_keeps_its_code_and_errcode() {
        let followed = StopReason::JobStopped(Box::new(StopReason::parse("quota_exhausted")));
        assert_eq!(followed.code(), StopCode::QuotaExhausted);
        assert_eq!(followed.errcode(), Some(45009));
        assert_eq!(followed.to_string(), "quota_exhausted");
    }

    #[test]
    fn recipient_statuses_are_stored_in_their_old_text() {
        for s in [
            RecipientStatus::Sent,
            RecipientStatus::Failed,
            RecipientStatus::Unknown,
            RecipientStatus::Unsent,
        ] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(
                serde_json::from_str::<RecipientStatus>(&format!("\"{}\"", s.as_str())).unwrap(),
                s
            );
        }
    }

    #[test]
    fn wechat_delivery_statuses_are_read() {
        assert_eq!(
            DeliveryStatus::from_wechat("success"),
            DeliveryStatus::Success
        );
        assert_eq!(
            DeliveryStatus::from_wechat("failed:user block"),
            DeliveryStatus::UserBlock
        );
        assert_eq!(
            DeliveryStatus::from_wechat("failed: system failed"),
            DeliveryStatus::SystemFailed
        );
        assert_eq!(
            DeliveryStatus::from_wechat("failed:whatever"),
            DeliveryStatus::Failed
        );
    }
}
