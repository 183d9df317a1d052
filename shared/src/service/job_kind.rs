//! What a bulk send carries, by kind: a template message or a subscription
//! notification, each without its recipient. A job stores its kind as text
//! (`Job.kind`) and the message as JSON (`Job.payload`); [`BulkMessage::from_job`]
//! is the one place that turns them back into a typed message, and
//! [`BulkMessage::send_to`] the one place that picks the WeChat call.

use crate::secret::Secret;
use crate::wechat::{SubscribeMessage, TemplateMessage, WechatClient, WechatError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The kinds of job, by their stored names (records written before
/// subscription jobs existed say `template`, which still reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// `message/template/send`.
    Template,
    /// `message/subscribe/bizsend`.
    Subscribe,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Template => "template",
            JobKind::Subscribe => "subscribe",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        match s {
            "template" => Some(JobKind::Template),
            "subscribe" => Some(JobKind::Subscribe),
            _ => None,
        }
    }
}

/// One message for many recipients (`touser` empty: filled per recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkMessage {
    Template(TemplateMessage),
    Subscribe(SubscribeMessage),
}

impl From<TemplateMessage> for BulkMessage {
    fn from(m: TemplateMessage) -> Self {
        BulkMessage::Template(m)
    }
}

impl From<SubscribeMessage> for BulkMessage {
    fn from(m: SubscribeMessage) -> Self {
        BulkMessage::Subscribe(m)
    }
}

/// A job whose kind or payload cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("job of kind `{kind}` has an unreadable payload: {reason}")]
pub struct UnreadableJob {
    pub kind: String,
    pub reason: String,
}

impl BulkMessage {
    pub fn kind(&self) -> JobKind {
        match self {
            BulkMessage::Template(_) => JobKind::Template,
            BulkMessage::Subscribe(_) => JobKind::Subscribe,
        }
    }

    /// The message as a job stores it.
    pub fn payload(&self) -> Result<String, serde_json::Error> {
        match self {
            BulkMessage::Template(m) => serde_json::to_string(m),
            BulkMessage::Subscribe(m) => serde_json::to_string(m),
        }
    }

    /// The message a job stored, read as its kind says.
    pub fn from_job(kind: &str, payload: &str) -> Result<BulkMessage, UnreadableJob> {
        let unreadable = |reason: String| UnreadableJob {
            kind: kind.to_owned(),
            reason,
        };
        match JobKind::parse(kind) {
            Some(JobKind::Template) => serde_json::from_str(payload).map(BulkMessage::Template),
            Some(JobKind::Subscribe) => serde_json::from_str(payload).map(BulkMessage::Subscribe),
            None => return Err(unreadable("unknown kind".into())),
        }
        .map_err(|e| unreadable(e.to_string()))
    }

    /// Whether WeChat drops a repeat of the same send (template messages carry
    /// a `client_msg_id`; bizsend has none), so a send whose outcome is
    /// unknown may be made again.
    pub fn dedupes_repeats(&self) -> bool {
        match self {
            BulkMessage::Template(_) => true,
            BulkMessage::Subscribe(_) => false,
        }
    }

    /// The message for one recipient (`client_msg_id` is used where the kind has one).
    pub fn to_recipient(&self, openid: &str, client_msg_id: String) -> BulkMessage {
        match self {
            BulkMessage::Template(m) => BulkMessage::Template(TemplateMessage {
                touser: openid.to_owned(),
                client_msg_id: Some(client_msg_id),
                ..m.clone()
            }),
            BulkMessage::Subscribe(m) => BulkMessage::Subscribe(SubscribeMessage {
                touser: openid.to_owned(),
                ..m.clone()
            }),
        }
    }

    /// Sends this (addressed) message with WeChat's call for its kind; the
    /// msgid, where the kind has one.
    pub async fn send_to(
        &self,
        wechat: &WechatClient,
        token: &Secret,
    ) -> Result<Option<u64>, WechatError> {
        match self {
            BulkMessage::Template(m) => wechat.send_template(token, m).await.map(Some),
            BulkMessage::Subscribe(m) => wechat.send_subscribe(token, m).await.map(|()| None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn subscribe() -> BulkMessage {
        BulkMessage::Subscribe(SubscribeMessage {
            touser: String::new(),
            template_id: "T".into(),
            page: None,
            miniprogram: None,
            data: BTreeMap::new(),
        })
    }

    #[test]
    fn a_job_written_as_template_still_reads_as_a_template_message() {
        let payload = r#"{"touser":"","template_id":"T","data":{"first":{"value":"x"}}}"#;
        let m = BulkMessage::from_job("template", payload).unwrap();
        assert_eq!(m.kind(), JobKind::Template);
        assert!(m.dedupes_repeats());
    }

    #[test]
    fn a_subscribe_job_round_trips_and_never_claims_dedupe() {
        let m = subscribe();
        let back = BulkMessage::from_job(m.kind().as_str(), &m.payload().unwrap()).unwrap();
        assert_eq!(back, m);
        assert!(!back.dedupes_repeats());
        match back.to_recipient("oA", "id".into()) {
            BulkMessage::Subscribe(s) => assert_eq!(s.touser, "oA"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_kinds_and_bad_payloads_are_refused() {
        assert!(BulkMessage::from_job("mass", "{}").is_err());
        assert!(BulkMessage::from_job("subscribe", "{}").is_err());
    }

    #[test]
    fn stored_names_match_serde_names() {
        for kind in [JobKind::Template, JobKind::Subscribe] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().into())
            );
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
        }
    }
}
