//! What an authorizer push becomes as an event: its type, its `data` (every
//! field WeChat sent, snake_case, plus decoded extras) and the identity that
//! makes WeChat's retry the same event (wechat-api.md §6, §8).

use crate::store::{feed_key, EventRecord};
use crate::xml::AuthorizerMessage;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// How long events and their deliveries are kept.
pub const EVENT_TTL_SECS: u64 = 7 * 86400;

/// Message types with a type of their own; others are `message.other`.
const MESSAGE_TYPES: [&str; 7] = [
    "text",
    "image",
    "voice",
    "video",
    "shortvideo",
    "location",
    "link",
];
/// Event names with a type of their own (lower-cased); others are `event.other`.
const EVENT_NAMES: [&str; 8] = [
    "subscribe",
    "unsubscribe",
    "scan",
    "click",
    "view",
    "location",
    "templatesendjobfinish",
    "masssendjobfinish",
];
/// A subscribe from a parametric QR code carries `qrscene_<scene>`.
const QR_SCENE_PREFIX: &str = "qrscene_";

/// Every event type wxopen emits, for validating subscriptions.
pub const EVENT_TYPES: &[&str] = &[
    "message.text",
    "message.image",
    "message.voice",
    "message.video",
    "message.shortvideo",
    "message.location",
    "message.link",
    "message.other",
    "event.subscribe",
    "event.unsubscribe",
    "event.scan",
    "event.click",
    "event.view",
    "event.location",
    "event.templatesendjobfinish",
    "event.masssendjobfinish",
    "event.other",
    "authorizer.authorized",
    "authorizer.updated",
    "authorizer.revoked",
    "authorizer.needs_reauth",
    "job.finished",
    "webhook.ping",
];

/// The event type of a follower push.
pub fn push_type(message: &AuthorizerMessage) -> String {
    if message.msg_type == "event" {
        let name = message
            .fields
            .get("Event")
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default();
        match EVENT_NAMES.contains(&name.as_str()) {
            true => format!("event.{name}"),
            false => "event.other".to_owned(),
        }
    } else if MESSAGE_TYPES.contains(&message.msg_type.as_str()) {
        format!("message.{}", message.msg_type)
    } else {
        "message.other".to_owned()
    }
}

/// What tells WeChat's retries of one push apart from another push: MsgId for
/// messages, FromUserName + CreateTime (+ Event) for events.
pub fn push_identity(appid: &str, message: &AuthorizerMessage) -> String {
    match (message.msg_type.as_str(), message.msg_id) {
        (t, Some(id)) if t != "event" => format!("msg\n{appid}\n{id}"),
        _ => format!(
            "event\n{appid}\n{}\n{}\n{}",
            message.from_user_name,
            message.create_time,
            message
                .fields
                .get("Event")
                .map(String::as_str)
                .unwrap_or("")
        ),
    }
}

/// A stable event id from an identity: the same identity, the same id.
pub fn event_id(identity: &str) -> String {
    let digest = Sha256::digest(identity.as_bytes());
    format!("evt_{}", hex::encode(&digest[..16]))
}

/// `ToUserName` → `to_user_name`, `MsgID` → `msg_id`, `Location_X` → `location_x`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) => p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()),
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every field of the push under its snake_case name, as WeChat sent it
/// (strings: a MsgId does not fit a JSON number everywhere), plus `scene`
/// decoded from a QR code's subscribe or SCAN.
pub fn push_data(message: &AuthorizerMessage) -> Map<String, Value> {
    let mut data: Map<String, Value> = message
        .fields
        .iter()
        .map(|(k, v)| (snake_case(k), Value::String(v.clone())))
        .collect();
    if let Some(scene) = scene(message) {
        data.insert("scene".into(), Value::String(scene));
    }
    data
}

/// The QR scene of a subscribe (`qrscene_<scene>`) or SCAN (`<scene>`).
pub fn scene(message: &AuthorizerMessage) -> Option<String> {
    let event = message.fields.get("Event")?;
    let key = message.fields.get("EventKey")?;
    if event.eq_ignore_ascii_case("subscribe") {
        key.strip_prefix(QR_SCENE_PREFIX).map(str::to_owned)
    } else if event.eq_ignore_ascii_case("SCAN") {
        Some(key.clone()).filter(|k| !k.is_empty())
    } else {
        None
    }
}

/// The event a follower push becomes.
pub fn from_push(
    appid: &str,
    tenant: Option<String>,
    message: &AuthorizerMessage,
    now: u64,
) -> EventRecord {
    EventRecord {
        id: event_id(&push_identity(appid, message)),
        event_type: push_type(message),
        appid: appid.to_owned(),
        tenant,
        created_at: now,
        data: push_data(message),
        expires_at: now.saturating_add(EVENT_TTL_SECS),
    }
}

/// An event wxopen raises itself (`authorizer.*`, `job.finished`), its id
/// from `identity` (what makes a repeat the same event).
pub fn lifecycle(
    event_type: &str,
    appid: &str,
    tenant: Option<String>,
    identity: &str,
    data: Map<String, Value>,
    now: u64,
) -> EventRecord {
    EventRecord {
        id: event_id(&format!("{event_type}\n{appid}\n{identity}")),
        event_type: event_type.to_owned(),
        appid: appid.to_owned(),
        tenant,
        created_at: now,
        data,
        expires_at: now.saturating_add(EVENT_TTL_SECS),
    }
}

/// Whether a subscription pattern (`*`, `message.*`, an exact type) matches a type.
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    crate::store::type_filter_matches(pattern, event_type)
}

/// Whether `pattern` can match anything wxopen emits.
pub fn valid_pattern(pattern: &str) -> bool {
    pattern == "*" || EVENT_TYPES.iter().any(|t| pattern_matches(pattern, t))
}

/// The event as the tenant sees it: delivered, in the feed, and in `GET /v1/events/{id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventBody {
    /// Stable: WeChat's retry of a push is the same event.
    #[schema(example = "evt_5b0c1f3e9a7d4c2b8e6f0a1d2c3b4a59")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "message.text")]
    pub event_type: String,
    /// Unix seconds when wxopen accepted it.
    pub created_at: u64,
    #[schema(example = "wx5add0a0000000001")]
    pub appid: String,
    /// The authorizer's tenant; null while the account is bound to none.
    pub tenant: Option<String>,
    /// Every field WeChat sent, snake_case, as strings; plus `scene` for QR scans.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    /// This event's position in the tenant's feed (`GET /v1/events?after=`).
    pub cursor: String,
}

impl From<&EventRecord> for EventBody {
    fn from(e: &EventRecord) -> Self {
        EventBody {
            id: e.id.clone(),
            event_type: e.event_type.clone(),
            created_at: e.created_at,
            appid: e.appid.clone(),
            tenant: e.tenant.clone(),
            data: e.data.clone(),
            cursor: feed_key(e.created_at, &e.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_authorizer_message;

    fn push(xml: &str) -> AuthorizerMessage {
        parse_authorizer_message(xml).unwrap()
    }

    #[test]
    fn field_names_become_snake_case() {
        for (from, to) in [
            ("ToUserName", "to_user_name"),
            ("MsgId", "msg_id"),
            ("MsgID", "msg_id"),
            ("Location_X", "location_x"),
            ("EventKey", "event_key"),
            ("PicUrl", "pic_url"),
            ("HQMusicUrl", "hq_music_url"),
            ("Content", "content"),
        ] {
            assert_eq!(snake_case(from), to);
        }
    }

    #[test]
    fn a_text_message_keeps_every_field_and_its_id_follows_msg_id() {
        let m = push("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>123</MsgId></xml>");
        let e = from_push("wx1", Some("acme".into()), &m, 5);
        assert_eq!(e.event_type, "message.text");
        assert_eq!(e.data["content"], "hi");
        assert_eq!(e.data["msg_id"], "123");
        assert_eq!(e.data["from_user_name"], "o1");
        assert_eq!(e.data["create_time"], "1700000000");
        assert_eq!(e.expires_at, 5 + EVENT_TTL_SECS);
        let again = from_push("wx1", Some("acme".into()), &m, 9);
        assert_eq!(e.id, again.id, "a retry is the same event");
        assert_ne!(e.id, from_push("wx2", None, &m, 5).id);
    }

    #[test]
    fn qr_scenes_are_decoded_from_subscribe_and_scan() {
        let sub = push("<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_42</EventKey><Ticket>T</Ticket></xml>");
        assert_eq!(push_type(&sub), "event.subscribe");
        assert_eq!(push_data(&sub)["scene"], "42");
        assert_eq!(push_data(&sub)["ticket"], "T");
        let scan = push("<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>SCAN</Event><EventKey>store_7</EventKey></xml>");
        assert_eq!(push_type(&scan), "event.scan");
        assert_eq!(push_data(&scan)["scene"], "store_7");
        let plain = push("<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>");
        assert!(!push_data(&plain).contains_key("scene"));
        let other = push("<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe_msg_popup_event</Event></xml>");
        assert_eq!(push_type(&other), "event.other");
        assert_eq!(push_data(&other)["event"], "subscribe_msg_popup_event");
    }

    #[test]
    fn events_of_one_follower_differ_by_time_and_name() {
        let at = |t: u64, ev: &str| {
            push(&format!("<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>{t}</CreateTime><MsgType>event</MsgType><Event>{ev}</Event></xml>"))
        };
        let id = |m: &AuthorizerMessage| event_id(&push_identity("wx1", m));
        assert_eq!(id(&at(1, "CLICK")), id(&at(1, "CLICK")));
        assert_ne!(id(&at(1, "CLICK")), id(&at(2, "CLICK")));
        assert_ne!(id(&at(1, "CLICK")), id(&at(1, "VIEW")));
    }

    #[test]
    fn patterns_match_exactly_by_prefix_or_everything() {
        assert!(pattern_matches("*", "event.click"));
        assert!(pattern_matches("message.*", "message.text"));
        assert!(!pattern_matches("message.*", "event.click"));
        assert!(pattern_matches("event.click", "event.click"));
        assert!(!pattern_matches("event.cl*", "event.click"));
        assert!(valid_pattern("authorizer.*"));
        assert!(!valid_pattern("message.sticker"));
        assert!(!valid_pattern("nothing.*"));
    }
}
