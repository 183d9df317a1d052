//! Reading client request bodies into typed values, with errors that name the
//! offending field (`touser[3]`, `data.first.value`) so a client can fix its
//! request without guessing. Unknown fields are refused rather than ignored:
//! a misspelt optional field would otherwise be silently lost.

use crate::wechat::MessageContent;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// A request field that is missing, of the wrong type or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct InvalidInput {
    /// The field's path, e.g. `touser[3]` or `data.first.value`; empty for the whole body.
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A JSON object being read, with its path for error messages.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    map: &'a Map<String, Value>,
    path: Path<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

/// The name of a JSON value's type, for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Object<'a> {
    /// The whole body, which must be a JSON object.
    pub fn root(value: &'a Value) -> Result<Object<'a>, InvalidInput> {
        match value {
            Value::Object(map) => Ok(Object {
                map,
                path: Path::Root,
            }),
            other => Err(InvalidInput::new(
                "",
                format!("the body must be a JSON object, not {}", type_name(other)),
            )),
        }
    }

    /// The path of `key` inside this object.
    pub fn field(&self, key: &str) -> String {
        match self.path {
            Path::Root => key.to_owned(),
            _ => format!("{}.{key}", self.path),
        }
    }

    /// Refuses fields not in `allowed`, naming the first one.
    pub fn deny_unknown(&self, allowed: &[&str]) -> Result<(), InvalidInput> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(InvalidInput::new(
                self.field(k),
                format!("unknown field; expected one of: {}", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// Whether the field is present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An optional string (absent or null → None).
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, InvalidInput> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(InvalidInput::new(
                self.field(key),
                format!("must be a string, not {}", type_name(other)),
            )),
        }
    }

    /// A required, non-empty string of at most `max` bytes.
    pub fn str(&self, key: &str, max: usize) -> Result<&'a str, InvalidInput> {
        let s = self
            .opt_str(key)?
            .ok_or_else(|| InvalidInput::new(self.field(key), "is required"))?;
        check_len(&self.field(key), s, max)?;
        Ok(s)
    }

    /// An optional non-empty string of at most `max` bytes.
    pub fn opt_nonempty_str(&self, key: &str, max: usize) -> Result<Option<&'a str>, InvalidInput> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => check_len(&self.field(key), s, max).map(|()| Some(s)),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, InvalidInput> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(InvalidInput::new(
                self.field(key),
                format!("must be true or false, not {}", type_name(other)),
            )),
        }
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, InvalidInput> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| InvalidInput::new(self.field(key), "must be a whole number ≥ 0")),
            Some(other) => Err(InvalidInput::new(
                self.field(key),
                format!("must be a number, not {}", type_name(other)),
            )),
        }
    }

    pub fn opt_object(&'a self, key: &'a str) -> Result<Option<Object<'a>>, InvalidInput> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Object {
                map,
                path: Path::Field(&self.path, key),
            })),
            Some(other) => Err(InvalidInput::new(
                self.field(key),
                format!("must be an object, not {}", type_name(other)),
            )),
        }
    }

    pub fn object(&'a self, key: &'a str) -> Result<Object<'a>, InvalidInput> {
        self.opt_object(key)?
            .ok_or_else(|| InvalidInput::new(self.field(key), "is required"))
    }

    pub fn opt_value(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    /// The entries of this object, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn check_len(field: &str, s: &str, max: usize) -> Result<(), InvalidInput> {
    if s.trim().is_empty() {
        Err(InvalidInput::new(field, "must not be empty"))
    } else if s.len() > max {
        Err(InvalidInput::new(
            field,
            format!("must be at most {max} bytes"),
        ))
    } else {
        Ok(())
    }
}

/// Whether `s` could be an openid: 1..=64 characters of [A-Za-z0-9_-]
/// (WeChat's are 28), so a malformed list fails here instead of at WeChat.
pub fn valid_openid(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A list of distinct openids with a count in `min..=max`. A single string is
/// accepted as a list of one when `min` is 1.
pub fn openid_list(
    field: &str,
    value: Option<&Value>,
    min: usize,
    max: usize,
) -> Result<Vec<String>, InvalidInput> {
    let single = matches!(value, Some(Value::String(_)));
    let items: Vec<&Value> = match value {
        None | Some(Value::Null) => return Err(InvalidInput::new(field, "is required")),
        Some(v @ Value::String(_)) if min <= 1 => vec![v],
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => {
            return Err(InvalidInput::new(
                field,
                format!("must be an array of openids, not {}", type_name(other)),
            ))
        }
    };
    if items.len() < min || items.len() > max {
        return Err(InvalidInput::new(
            field,
            format!("must hold {min}..={max} openids, got {}", items.len()),
        ));
    }
    let mut seen = HashSet::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = || {
            if single {
                field.to_owned()
            } else {
                format!("{field}[{i}]")
            }
        };
        let openid = item.as_str().ok_or_else(|| {
            InvalidInput::new(at(), format!("must be a string, not {}", type_name(item)))
        })?;
        if !valid_openid(openid) {
            return Err(InvalidInput::new(
                at(),
                "is not an openid (1..=64 characters of A-Z a-z 0-9 _ -)",
            ));
        }
        if !seen.insert(openid) {
            return Err(InvalidInput::new(at(), format!("repeats openid {openid}")));
        }
        out.push(openid.to_owned());
    }
    Ok(out)
}

/// Where a message is going: limits which `msgtype`s are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageUse {
    Mass,
    Custom,
}

/// Longest text message accepted (WeChat's own limits are lower and vary).
const MAX_TEXT_BYTES: usize = 20_000;
const MAX_ID_BYTES: usize = 256;

/// The `msgtype` and its payload (`"msgtype": "text", "text": {"content": …}`),
/// the WeChat way. Returns the message and the payload key it read.
pub fn message_content(
    body: &Object<'_>,
    usage: MessageUse,
) -> Result<(MessageContent, &'static str), InvalidInput> {
    let allowed: &[&'static str] = match usage {
        MessageUse::Mass => &["text", "image", "voice", "mpnews", "mpvideo", "wxcard"],
        MessageUse::Custom => &["text", "image", "voice", "video", "mpnews", "wxcard"],
    };
    let msgtype = body.str("msgtype", 32)?;
    let Some(&msgtype) = allowed.iter().find(|t| **t == msgtype) else {
        return Err(InvalidInput::new(
            "msgtype",
            format!(
                "unknown message type `{msgtype}`; expected one of: {}",
                allowed.join(", ")
            ),
        ));
    };
    let payload = body.object(msgtype)?;
    let content = match msgtype {
        "text" => {
            payload.deny_unknown(&["content"])?;
            MessageContent::Text {
                content: payload.str("content", MAX_TEXT_BYTES)?.to_owned(),
            }
        }
        "wxcard" => {
            payload.deny_unknown(&["card_id"])?;
            MessageContent::WxCard {
                card_id: payload.str("card_id", MAX_ID_BYTES)?.to_owned(),
            }
        }
        "video" => {
            payload.deny_unknown(&["media_id", "thumb_media_id", "title", "description"])?;
            MessageContent::Video {
                media_id: payload.str("media_id", MAX_ID_BYTES)?.to_owned(),
                thumb_media_id: payload
                    .opt_nonempty_str("thumb_media_id", MAX_ID_BYTES)?
                    .map(str::to_owned),
                title: payload.opt_nonempty_str("title", 1024)?.map(str::to_owned),
                description: payload
                    .opt_nonempty_str("description", 4096)?
                    .map(str::to_owned),
            }
        }
        media => {
            payload.deny_unknown(&["media_id"])?;
            let media_id = payload.str("media_id", MAX_ID_BYTES)?.to_owned();
            match media {
                "image" => MessageContent::Image { media_id },
                "voice" => MessageContent::Voice { media_id },
                "mpnews" => MessageContent::MpNews { media_id },
                _ => MessageContent::MpVideo { media_id },
            }
        }
    };
    Ok((content, msgtype))
}

/// An absolute http(s) URL of reasonable length.
pub fn check_url(field: &str, url: &str) -> Result<(), InvalidInput> {
    if url.len() > 2048 {
        return Err(InvalidInput::new(field, "must be at most 2048 bytes"));
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(InvalidInput::new(field, "must be an absolute http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openid_lists_name_the_bad_entry() {
        let v = json!(["oA", 7]);
        let e = openid_list("touser", Some(&v), 1, 10).unwrap_err();
        assert_eq!(e.field, "touser[1]");
        let v = json!(["oA", "o B"]);
        assert_eq!(
            openid_list("touser", Some(&v), 1, 10).unwrap_err().field,
            "touser[1]"
        );
        let v = json!(["oA", "oA"]);
        assert!(openid_list("touser", Some(&v), 1, 10)
            .unwrap_err()
            .message
            .contains("repeats"));
    }

    #[test]
    fn openid_list_counts_are_enforced_and_a_single_string_is_a_list_of_one() {
        assert_eq!(
            openid_list("t", Some(&json!("oA")), 1, 5).unwrap(),
            vec!["oA"]
        );
        assert!(openid_list("t", Some(&json!("oA")), 2, 5).is_err());
        assert!(openid_list("t", Some(&json!([])), 1, 5)
            .unwrap_err()
            .message
            .contains("1..=5"));
        assert!(openid_list("t", None, 1, 5)
            .unwrap_err()
            .message
            .contains("required"));
    }

    #[test]
    fn nested_fields_are_named_by_path() {
        let v = json!({"text": {"content": 5}, "msgtype": "text"});
        let body = Object::root(&v).unwrap();
        let e = message_content(&body, MessageUse::Mass).unwrap_err();
        assert_eq!(e.field, "text.content");
        assert!(e.message.contains("string"));
    }

    #[test]
    fn unknown_message_types_and_fields_are_refused() {
        let v = json!({"msgtype": "video", "video": {"media_id": "m"}});
        let e = message_content(&Object::root(&v).unwrap(), MessageUse::Mass).unwrap_err();
        assert_eq!(e.field, "msgtype");
        let v = json!({"msgtype": "text", "text": {"content": "hi", "colour": "red"}});
        let e = message_content(&Object::root(&v).unwrap(), MessageUse::Custom).unwrap_err();
        assert_eq!(e.field, "text.colour");
    }

    #[test]
    fn message_content_reads_each_kind() {
        let v = json!({"msgtype": "mpnews", "mpnews": {"media_id": "m1"}});
        let (c, t) = message_content(&Object::root(&v).unwrap(), MessageUse::Mass).unwrap();
        assert_eq!(
            c,
            MessageContent::MpNews {
                media_id: "m1".into()
            }
        );
        assert_eq!(t, "mpnews");
    }

    #[test]
    fn the_body_must_be_an_object() {
        assert!(Object::root(&json!([1]))
            .unwrap_err()
            .message
            .contains("an array"));
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(check_url("url", "https://example.com/a").is_ok());
        assert!(check_url("url", "javascript:alert(1)").is_err());
        assert!(check_url("url", "/relative").is_err());
    }
}
