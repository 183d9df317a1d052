//! The `/v1` answer bodies, one type each, built from what the services
//! return. Nothing here carries a token or secret, except the access-token
//! answer whose purpose that is.

use crate::domain::{DeliveryStatus, RecipientProgress, RecipientStatus, StopCode};
use crate::service::jobs::{JobView, RecipientView};
use crate::service::mass::{MassAccepted, MassStatusView};
use crate::service::media::Uploaded;
use crate::store::{
    Authorizer, AuthorizerStatus, BusinessInfo, FinishEvent, JobState, RecipientResult,
};
use crate::wechat::{MassMsgStatus, MediaType};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// An authorizer (official account) as the client API shows it: never a token.
/// The profile fields are WeChat's, as last fetched (at authorization, by
/// `POST …/profile/refresh`, or by the daily reconcile); null when WeChat gave
/// none or gave something malformed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "appid": "wx5add0a0000000001", "tenant": "acme", "name": "Sandbox Coffee", "user_name": "gh_5add0a000001",
    "principal_name": "Sandbox Coffee Co., Ltd.", "head_img": "http://wx.qlogo.cn/mmopen/example/0",
    "service_type": 2, "verify_type": 0, "alias": "sandbox_coffee",
    "qrcode_url": "http://mmbiz.qpic.cn/mmbiz_jpg/example/0",
    "business_info": {"open_store": false, "open_scan": false, "open_pay": true, "open_card": false, "open_shake": false},
    "status": "active", "func_info": [1, 15],
    "token_expires_at": 1767225600, "authorized_at": 1767218400, "updated_at": 1767218400
}))]
pub(crate) struct AuthorizerBody {
    pub appid: String,
    /// The tenant it is bound to; null until a link binds it.
    pub tenant: Option<String>,
    pub name: Option<String>,
    /// The `gh_…` original id.
    pub user_name: Option<String>,
    /// The company or person behind the account.
    pub principal_name: Option<String>,
    pub head_img: Option<String>,
    /// WeChat's `service_type_info.id`: 0 subscription account, 1 subscription
    /// account upgraded from an old account, 2 service account.
    pub service_type: Option<i64>,
    /// WeChat's `verify_type_info.id`: -1 unverified, 0 WeChat-verified, 1 Sina
    /// Weibo, 2 Tencent Weibo, 3 qualified but name not verified, 4 and 5 as 3
    /// with a Sina or Tencent Weibo verification.
    pub verify_type: Option<i64>,
    /// The WeChat id followers can search for.
    pub alias: Option<String>,
    /// The account's QR code image.
    pub qrcode_url: Option<String>,
    pub business_info: Option<BusinessInfoBody>,
    pub status: AuthorizerStatus,
    /// The permission sets (func_info ids) the merchant granted.
    pub func_info: Vec<u32>,
    /// When the current access token expires (unix seconds); null without one.
    pub token_expires_at: Option<u64>,
    pub authorized_at: u64,
    pub updated_at: u64,
}

/// Which of WeChat's business features the account has opened; each null when WeChat gave none.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BusinessInfoBody {
    /// Stores (门店).
    pub open_store: Option<bool>,
    /// Scan (扫一扫).
    pub open_scan: Option<bool>,
    /// WeChat Pay.
    pub open_pay: Option<bool>,
    /// Cards and coupons.
    pub open_card: Option<bool>,
    /// Shake (摇一摇).
    pub open_shake: Option<bool>,
}

impl From<&BusinessInfo> for BusinessInfoBody {
    fn from(b: &BusinessInfo) -> Self {
        BusinessInfoBody {
            open_store: b.open_store,
            open_scan: b.open_scan,
            open_pay: b.open_pay,
            open_card: b.open_card,
            open_shake: b.open_shake,
        }
    }
}

impl From<&Authorizer> for AuthorizerBody {
    fn from(a: &Authorizer) -> Self {
        let p = &a.profile;
        AuthorizerBody {
            appid: a.appid.clone(),
            tenant: a.tenant.clone(),
            name: p.nick_name.clone(),
            user_name: p.user_name.clone(),
            principal_name: p.principal_name.clone(),
            head_img: p.head_img.clone(),
            service_type: p.service_type,
            verify_type: p.verify_type,
            alias: p.alias.clone(),
            qrcode_url: p.qrcode_url.clone(),
            business_info: p.business_info.as_ref().map(BusinessInfoBody::from),
            status: a.status,
            func_info: a.func_info.clone(),
            token_expires_at: (a.token.expires_at > 0).then_some(a.token.expires_at),
            authorized_at: a.authorized_at,
            updated_at: a.updated_at,
        }
    }
}

/// One page of authorizers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuthorizerList {
    pub authorizers: Vec<AuthorizerBody>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// An authorizer's current access token, for the caller's own WeChat calls.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccessTokenBody {
    pub appid: String,
    pub access_token: String,
    /// Unix seconds; null if unknown.
    pub expires_at: Option<u64>,
}

/// Recipients by status.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct SendCounts {
    pub sent: usize,
    pub failed: usize,
    pub unknown: usize,
    pub unsent: usize,
}

impl SendCounts {
    fn of(results: &[RecipientResult]) -> SendCounts {
        let count = |s: RecipientStatus| results.iter().filter(|r| r.status == s).count();
        SendCounts {
            sent: count(RecipientStatus::Sent),
            failed: count(RecipientStatus::Failed),
            unknown: count(RecipientStatus::Unknown),
            unsent: count(RecipientStatus::Unsent),
        }
    }
}

/// One recipient's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecipientBody {
    pub openid: String,
    pub status: RecipientStatus,
    /// WeChat's msgid, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgid: Option<u64>,
    /// WeChat's errcode, when refused or not sent for a WeChat reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
}

impl From<&RecipientResult> for RecipientBody {
    fn from(r: &RecipientResult) -> Self {
        RecipientBody {
            openid: r.openid.clone(),
            status: r.status,
            msgid: r.msgid,
            errcode: r.errcode,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InlineMode {
    Inline,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum JobMode {
    Job,
}

/// A template message sent now: each recipient's outcome, in request order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "mode": "inline", "total": 1, "counts": {"sent": 1, "failed": 0, "unknown": 0, "unsent": 0},
    "results": [{"openid": "oSbx01Follower00000000000001", "status": "sent", "msgid": 1000001}]
}))]
pub(crate) struct InlineSendBody {
    pub mode: InlineMode,
    pub total: usize,
    pub counts: SendCounts,
    pub results: Vec<RecipientBody>,
    /// Set when sending stopped early (the rest are `unsent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopCode>,
    /// WeChat's errcode behind the stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_errcode: Option<i64>,
}

impl InlineSendBody {
    pub(crate) fn new(report: &crate::service::send::InlineReport) -> Self {
        InlineSendBody {
            mode: InlineMode::Inline,
            total: report.results.len(),
            counts: SendCounts::of(&report.results),
            results: report.results.iter().map(RecipientBody::from).collect(),
            stop_reason: report.stop.as_ref().map(|s| s.code()),
            wechat_errcode: report.stop.as_ref().and_then(|s| s.errcode()),
        }
    }
}

/// A template message or subscription notification queued as a job; follow `status_url`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobAcceptedBody {
    pub mode: JobMode,
    pub job_id: String,
    pub state: JobState,
    pub total: u32,
    pub chunks: u32,
    /// `/v1/jobs/{job_id}` (also the `Location` header).
    pub status_url: String,
}

/// A mass message WeChat accepted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MassAcceptedBody {
    pub msg_id: u64,
    pub msg_data_id: Option<u64>,
    /// WeChat had already accepted this request (same Idempotency-Key); `msg_id` is that send's.
    pub duplicate: bool,
}

impl From<MassAccepted> for MassAcceptedBody {
    fn from(m: MassAccepted) -> Self {
        MassAcceptedBody {
            msg_id: m.msg_id,
            msg_data_id: m.msg_data_id,
            duplicate: m.duplicate,
        }
    }
}

/// WeChat's `msg_status` of a mass send.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum MassWechatStatus {
    SendSuccess,
    Sending,
    SendFail,
    Delete,
    Other,
}

/// WeChat's MASSSENDJOBFINISH report, once it arrived.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MassFinishBody {
    /// WeChat's text: `send success`, `send fail`, `err(N)`.
    pub status: String,
    /// TotalCount, FilterCount, SentCount, ErrorCount, …
    pub counts: BTreeMap<String, i64>,
    pub create_time: i64,
}

/// A mass send's status: WeChat's answer and its finish report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MassStatusBody {
    pub msg_id: u64,
    pub wechat_status: MassWechatStatus,
    pub finish: Option<MassFinishBody>,
}

impl From<MassStatusView> for MassStatusBody {
    fn from(v: MassStatusView) -> Self {
        MassStatusBody {
            msg_id: v.msg_id,
            wechat_status: match v.wechat_status {
                MassMsgStatus::SendSuccess => MassWechatStatus::SendSuccess,
                MassMsgStatus::Sending => MassWechatStatus::Sending,
                MassMsgStatus::SendFail => MassWechatStatus::SendFail,
                MassMsgStatus::Delete => MassWechatStatus::Delete,
                MassMsgStatus::Other => MassWechatStatus::Other,
            },
            finish: v.finish.map(|e: FinishEvent| MassFinishBody {
                status: e.status,
                counts: e.counts,
                create_time: e.create_time,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SentStatus {
    Sent,
}

/// A customer-service message WeChat accepted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CustomSentBody {
    pub status: SentStatus,
    pub touser: String,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ArticleImageType {
    ArticleImage,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TemporaryType {
    Image,
    Voice,
    Video,
    Thumb,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NewsUploadedType {
    News,
}

/// What an upload produced.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum UploadedBody {
    /// An article image: its URL, for article bodies.
    ArticleImage {
        #[serde(rename = "type")]
        #[schema(rename = "type")]
        kind: ArticleImageType,
        url: String,
    },
    /// Temporary media, valid 3 days.
    Temporary {
        #[serde(rename = "type")]
        #[schema(rename = "type")]
        kind: TemporaryType,
        media_id: String,
        created_at: u64,
    },
    /// News articles, for a mass send.
    News {
        #[serde(rename = "type")]
        #[schema(rename = "type")]
        kind: NewsUploadedType,
        media_id: String,
    },
}

impl From<Uploaded> for UploadedBody {
    fn from(u: Uploaded) -> Self {
        match u {
            Uploaded::Url(url) => UploadedBody::ArticleImage {
                kind: ArticleImageType::ArticleImage,
                url,
            },
            Uploaded::Media(m) => UploadedBody::Temporary {
                kind: match m.media_type {
                    MediaType::Image => TemporaryType::Image,
                    MediaType::Voice => TemporaryType::Voice,
                    MediaType::Video => TemporaryType::Video,
                    MediaType::Thumb => TemporaryType::Thumb,
                },
                media_id: m.media_id,
                created_at: m.created_at,
            },
        }
    }
}

/// Recipients by status over the whole job.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobCounts {
    pub sent: usize,
    pub failed: usize,
    pub unknown: usize,
    pub unsent: usize,
    /// Not reached by a worker yet.
    pub pending: usize,
}

/// One recipient of a job.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobRecipientBody {
    pub openid: String,
    pub status: RecipientProgress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
    /// WeChat's delivery report (TEMPLATESENDJOBFINISH), once it arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryStatus>,
}

impl From<&RecipientView> for JobRecipientBody {
    fn from(r: &RecipientView) -> Self {
        JobRecipientBody {
            openid: r.openid.clone(),
            status: r.status,
            msgid: r.msgid,
            errcode: r.errcode,
            delivery: r.delivery,
        }
    }
}

/// A job's progress and one page of its recipients.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobBody {
    pub job_id: String,
    pub appid: String,
    /// What the job sends: `template` or `subscribe`.
    #[schema(value_type = crate::service::job_kind::JobKind)]
    pub kind: String,
    pub state: JobState,
    /// Why the job stopped, when it did.
    pub stop_reason: Option<StopCode>,
    pub wechat_errcode: Option<i64>,
    pub created_at: u64,
    pub total: u32,
    pub counts: JobCounts,
    pub recipients: Vec<JobRecipientBody>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub next_cursor: Option<usize>,
}

impl From<&JobView> for JobBody {
    fn from(v: &JobView) -> Self {
        let c = v.counts;
        JobBody {
            job_id: v.job.id.clone(),
            appid: v.job.appid.clone(),
            kind: v.job.kind.clone(),
            state: v.state,
            stop_reason: v.stop.as_ref().map(|s| s.code()),
            wechat_errcode: v.stop.as_ref().and_then(|s| s.errcode()),
            created_at: v.job.created_at,
            total: v.job.total,
            counts: JobCounts {
                sent: c.sent,
                failed: c.failed,
                unknown: c.unknown,
                unsent: c.unsent,
                pending: c.pending,
            },
            recipients: v.recipients.iter().map(JobRecipientBody::from).collect(),
            next_cursor: v.next_cursor,
        }
    }
}

/// A new one-time authorization link: send the merchant to `url`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkBody {
    pub url: String,
    /// Unix seconds.
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HealthStatus {
    Ok,
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthBody {
    pub status: HealthStatus,
}
