//! Builders for the XML WeChat expects back: passive replies and envelopes.

use std::fmt::Write as _;

/// Append `<name><![CDATA[value]]></name>`, exact for any value:
/// - a `]]>` inside `value` would end the section early, so it is split across two
///   sections (`]]` + `]]><![CDATA[` + `>`);
/// - XML parsers turn a raw `\r` into `\n` even inside CDATA, so `\r` leaves the
///   section as the character reference `&#13;`.
pub(super) fn cdata_field(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push_str("><![CDATA[");
    let mut rest = value;
    // A byte search: both characters are ASCII, so `at` is always a char boundary.
    while let Some(at) = memchr::memchr2(b'\r', b']', rest.as_bytes()) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        if let Some(after) = from.strip_prefix('\r') {
            out.push_str("]]>&#13;<![CDATA[");
            rest = after;
        } else if let Some(after) = from.strip_prefix("]]>") {
            out.push_str("]]]]><![CDATA[>");
            rest = after;
        } else {
            out.push(']');
            rest = from.get(1..).unwrap_or("");
        }
    }
    out.push_str(rest);
    out.push_str("]]></");
    out.push_str(name);
    out.push('>');
}

/// Append `<name>value</name>` with the value escaped as text.
fn text_field(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", quick_xml::escape::escape(value));
}

/// `<xml>` with one CDATA child per `(name, value)`, in order. Names must be
/// plain XML names (they are written as given); values may hold anything.
pub fn flat_xml(fields: &[(&str, &str)]) -> String {
    let capacity = 11
        + fields
            .iter()
            .map(|(name, value)| 2 * name.len() + value.len() + 17)
            .sum::<usize>();
    let mut out = String::with_capacity(capacity);
    out.push_str("<xml>");
    for (name, value) in fields {
        cdata_field(&mut out, name, value);
    }
    out.push_str("</xml>");
    out
}

/// The passive text reply (wechat-api.md §6), to be encrypted before sending:
/// `to_user` is the follower's openid, `from_user` the account's gh_ id.
pub fn text_reply(to_user: &str, from_user: &str, create_time: i64, content: &str) -> String {
    let mut out = String::with_capacity(160 + to_user.len() + from_user.len() + content.len());
    out.push_str("<xml>");
    cdata_field(&mut out, "ToUserName", to_user);
    cdata_field(&mut out, "FromUserName", from_user);
    let _ = write!(out, "<CreateTime>{create_time}</CreateTime>");
    cdata_field(&mut out, "MsgType", "text");
    cdata_field(&mut out, "Content", content);
    out.push_str("</xml>");
    out
}

/// A passive reply other than text's shape (wechat-api.md §8): what the
/// follower sees in the chat. Values are written as given; the caller checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassiveReply {
    Text {
        content: String,
    },
    Image {
        media_id: String,
    },
    Voice {
        media_id: String,
    },
    Video {
        media_id: String,
        title: Option<String>,
        description: Option<String>,
    },
    Music {
        title: Option<String>,
        description: Option<String>,
        music_url: Option<String>,
        hq_music_url: Option<String>,
        thumb_media_id: String,
    },
    News {
        articles: Vec<NewsArticle>,
    },
}

/// One article of a `news` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewsArticle {
    pub title: String,
    pub description: Option<String>,
    pub pic_url: Option<String>,
    pub url: Option<String>,
}

/// Any passive reply, to be encrypted before sending: `to_user` is the
/// follower's openid, `from_user` the account's gh_ id.
pub fn passive_reply(
    to_user: &str,
    from_user: &str,
    create_time: i64,
    reply: &PassiveReply,
) -> String {
    let msg_type = match reply {
        PassiveReply::Text { content } => {
            return text_reply(to_user, from_user, create_time, content)
        }
        PassiveReply::Image { .. } => "image",
        PassiveReply::Voice { .. } => "voice",
        PassiveReply::Video { .. } => "video",
        PassiveReply::Music { .. } => "music",
        PassiveReply::News { .. } => "news",
    };
    let mut out = String::with_capacity(256 + to_user.len() + from_user.len());
    out.push_str("<xml>");
    cdata_field(&mut out, "ToUserName", to_user);
    cdata_field(&mut out, "FromUserName", from_user);
    let _ = write!(out, "<CreateTime>{create_time}</CreateTime>");
    cdata_field(&mut out, "MsgType", msg_type);
    let optional = |out: &mut String, name: &str, value: &Option<String>| {
        if let Some(value) = value {
            cdata_field(out, name, value);
        }
    };
    match reply {
        PassiveReply::Text { .. } => {}
        PassiveReply::Image { media_id } => media_only(&mut out, "Image", media_id),
        PassiveReply::Voice { media_id } => media_only(&mut out, "Voice", media_id),
        PassiveReply::Video {
            media_id,
            title,
            description,
        } => {
            out.push_str("<Video>");
            cdata_field(&mut out, "MediaId", media_id);
            optional(&mut out, "Title", title);
            optional(&mut out, "Description", description);
            out.push_str("</Video>");
        }
        PassiveReply::Music {
            title,
            description,
            music_url,
            hq_music_url,
            thumb_media_id,
        } => {
            out.push_str("<Music>");
            optional(&mut out, "Title", title);
            optional(&mut out, "Description", description);
            optional(&mut out, "MusicUrl", music_url);
            optional(&mut out, "HQMusicUrl", hq_music_url);
            cdata_field(&mut out, "ThumbMediaId", thumb_media_id);
            out.push_str("</Music>");
        }
        PassiveReply::News { articles } => {
            let _ = write!(
                out,
                "<ArticleCount>{}</ArticleCount><Articles>",
                articles.len()
            );
            for article in articles {
                out.push_str("<item>");
                cdata_field(&mut out, "Title", &article.title);
                optional(&mut out, "Description", &article.description);
                optional(&mut out, "PicUrl", &article.pic_url);
                optional(&mut out, "Url", &article.url);
                out.push_str("</item>");
            }
            out.push_str("</Articles>");
        }
    }
    out.push_str("</xml>");
    out
}

/// `<Image><MediaId/></Image>` and its voice twin.
fn media_only(out: &mut String, element: &str, media_id: &str) {
    let _ = write!(out, "<{element}>");
    cdata_field(out, "MediaId", media_id);
    let _ = write!(out, "</{element}>");
}

/// The encrypted passive-reply envelope
/// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>` (wechat-api.md §1).
pub fn encrypted_reply(encrypt: &str, msg_signature: &str, timestamp: &str, nonce: &str) -> String {
    let mut out = String::with_capacity(150 + encrypt.len() + timestamp.len() + nonce.len());
    out.push_str("<xml>");
    cdata_field(&mut out, "Encrypt", encrypt);
    cdata_field(&mut out, "MsgSignature", msg_signature);
    text_field(&mut out, "TimeStamp", timestamp);
    cdata_field(&mut out, "Nonce", nonce);
    out.push_str("</xml>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_field_splits_a_section_terminator_inside_the_value() {
        let mut out = String::new();
        cdata_field(&mut out, "C", "a]]>b");
        assert_eq!(out, "<C><![CDATA[a]]]]><![CDATA[>b]]></C>");
    }

    #[test]
    fn cdata_field_moves_carriage_returns_out_of_the_section() {
        let mut out = String::new();
        cdata_field(&mut out, "C", "a\r\nb");
        assert_eq!(out, "<C><![CDATA[a]]>&#13;<![CDATA[\nb]]></C>");
    }

    #[test]
    fn timestamp_is_escaped_as_text() {
        let xml = encrypted_reply("e", "s", "1<2", "n");
        assert!(xml.contains("<TimeStamp>1&lt;2</TimeStamp>"), "{xml}");
    }
}
