//! Decrypted pushes to the authorizer message URL (wechat-api.md §5, §6).

use std::collections::BTreeMap;

use super::fields::{parse_fields_str, Fields};
use super::XmlError;

/// A message or event pushed to an authorizer's message URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerMessage {
    /// The account's gh_ id.
    pub to_user_name: String,
    /// The follower's openid.
    pub from_user_name: String,
    pub create_time: i64,
    pub msg_type: String,
    /// `MsgId` of user messages (events carry none): the deduplication key.
    pub msg_id: Option<i64>,
    pub kind: MessageKind,
    /// Every field of the push, so nothing is lost for kinds not modelled here.
    pub fields: BTreeMap<String, String>,
}

/// What an [`AuthorizerMessage`] is, with the fields of that kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    Text {
        content: String,
    },
    Image {
        pic_url: String,
        media_id: String,
    },
    Voice {
        media_id: String,
        format: String,
        recognition: Option<String>,
    },
    /// Outcome of a template message send (`TEMPLATESENDJOBFINISH`).
    TemplateSendJobFinish {
        msg_id: i64,
        /// `success`, `failed:user block`, `failed: system failed`, …
        status: String,
    },
    /// Outcome of a mass send (`MASSSENDJOBFINISH`).
    MassSendJobFinish {
        msg_id: i64,
        /// `send success`, `send fail`, `err(N)`, …
        status: String,
        total_count: i64,
        filter_count: i64,
        sent_count: i64,
        error_count: i64,
        /// The raw inner XML of `CopyrightCheckResult`, when present.
        copyright_check_result: Option<String>,
    },
    /// Any other event (`subscribe`, `CLICK`, …).
    Event {
        event: String,
        event_key: Option<String>,
    },
    /// A message type not modelled here: see [`AuthorizerMessage::fields`].
    Unknown,
}

/// Parse the decrypted XML of a push to an authorizer's message URL.
pub fn parse_authorizer_message(xml: &str) -> Result<AuthorizerMessage, XmlError> {
    let fields = parse_fields_str(xml)?;
    let msg_type = fields.required("MsgType")?.to_owned();
    let kind = match msg_type.as_str() {
        "text" => MessageKind::Text {
            content: fields.required("Content")?.to_owned(),
        },
        "image" => MessageKind::Image {
            pic_url: fields.required("PicUrl")?.to_owned(),
            media_id: fields.required("MediaId")?.to_owned(),
        },
        "voice" => MessageKind::Voice {
            media_id: fields.required("MediaId")?.to_owned(),
            format: fields.required("Format")?.to_owned(),
            recognition: fields.optional("Recognition").map(str::to_owned),
        },
        "event" => event_kind(&fields)?,
        _ => MessageKind::Unknown,
    };
    Ok(AuthorizerMessage {
        to_user_name: fields.required("ToUserName")?.to_owned(),
        from_user_name: fields.required("FromUserName")?.to_owned(),
        create_time: fields.required_i64("CreateTime")?,
        msg_type,
        msg_id: fields.optional_i64("MsgId")?,
        kind,
        fields: fields.into_map(),
    })
}

fn event_kind(fields: &Fields) -> Result<MessageKind, XmlError> {
    let event = fields.required("Event")?;
    // WeChat upper-cases these two; compare loosely so a lower-case sender still matches.
    if event.eq_ignore_ascii_case("TEMPLATESENDJOBFINISH") {
        return Ok(MessageKind::TemplateSendJobFinish {
            msg_id: job_msg_id(fields)?,
            status: fields.required("Status")?.to_owned(),
        });
    }
    if event.eq_ignore_ascii_case("MASSSENDJOBFINISH") {
        return Ok(MessageKind::MassSendJobFinish {
            msg_id: job_msg_id(fields)?,
            status: fields.required("Status")?.to_owned(),
            total_count: fields.required_i64("TotalCount")?,
            filter_count: fields.required_i64("FilterCount")?,
            sent_count: fields.required_i64("SentCount")?,
            error_count: fields.required_i64("ErrorCount")?,
            copyright_check_result: fields.optional("CopyrightCheckResult").map(str::to_owned),
        });
    }
    Ok(MessageKind::Event {
        event: event.to_owned(),
        event_key: fields.optional("EventKey").map(str::to_owned),
    })
}

/// Job-finish events spell it `MsgID`; accept `MsgId` too.
fn job_msg_id(fields: &Fields) -> Result<i64, XmlError> {
    match fields.optional_i64("MsgID")? {
        Some(id) => Ok(id),
        None => fields.required_i64("MsgId"),
    }
}
