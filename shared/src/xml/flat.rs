//! The shape WeChat actually sends, read without a general XML reader:
//! `<xml>` followed by `<Name>text</Name>` or `<Name><![CDATA[text]]></Name>`
//! fields separated by whitespace, then `</xml>`.
//!
//! Every push is opened twice over XML (the envelope, then the decrypted
//! message), and quick-xml's per-event cost made that most of a push's time.
//! This scanner only ever *declines*: the moment a document steps outside that
//! exact shape (a declaration, comment, DOCTYPE, attribute, reference, nested or
//! self-closing element, `\r` that would need normalising, a duplicate name, …)
//! it returns `None` and the document goes to quick-xml, which stays the parser
//! of record for everything else. A property test holds the two to the same
//! answer on every document the scanner accepts.

use std::borrow::Cow;

/// The fields of a document in the exact canonical shape, or `None`.
pub(super) fn scan(text: &str) -> Option<Vec<(&str, Cow<'_, str>)>> {
    let mut rest = text.strip_prefix("<xml>")?;
    let mut fields: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(8);
    loop {
        rest = skip_whitespace(rest);
        if let Some(after) = rest.strip_prefix("</xml>") {
            return skip_whitespace(after).is_empty().then_some(fields);
        }
        let (name, value, after) = field(rest)?;
        if fields.iter().any(|(seen, _)| *seen == name) {
            return None;
        }
        fields.push((name, Cow::Borrowed(value)));
        rest = after;
    }
}

/// One `<Name>value</Name>` at the start of `rest`: its name, value and what follows.
fn field(rest: &str) -> Option<(&str, &str, &str)> {
    let rest = rest.strip_prefix('<')?;
    let name_len = rest
        .bytes()
        .position(|byte| !is_name_byte(byte))
        .filter(|&len| len > 0)?;
    let (name, rest) = rest.split_at(name_len);
    if !name.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_') {
        return None;
    }
    let rest = rest.strip_prefix('>')?;
    let (value, rest) = match rest.strip_prefix("<![CDATA[") {
        Some(cdata) => {
            let end = cdata_end(cdata)?;
            let value = cdata.get(..end)?;
            // quick-xml normalises line ends inside CDATA; leave that to it.
            if memchr::memchr(b'\r', value.as_bytes()).is_some() {
                return None;
            }
            (value, cdata.get(end + 3..)?)
        }
        None => {
            let end = memchr::memchr(b'<', rest.as_bytes())?;
            let value = rest.get(..end)?;
            if !value.bytes().all(is_plain_text_byte) {
                return None;
            }
            (value, rest.get(end..)?)
        }
    };
    let rest = rest
        .strip_prefix("</")?
        .strip_prefix(name)?
        .strip_prefix('>')?;
    Some((name, value, rest))
}

/// Where `]]>` starts. CDATA from WeChat rarely holds a `]`, so a memchr for it
/// beats building a substring searcher for every field.
fn cdata_end(cdata: &str) -> Option<usize> {
    let bytes = cdata.as_bytes();
    let mut from = 0;
    loop {
        let at = from + memchr::memchr(b']', bytes.get(from..)?)?;
        if bytes.get(at..at + 3) == Some(b"]]>".as_slice()) {
            return Some(at);
        }
        from = at + 1;
    }
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Plain (non-CDATA) text WeChat sends is numbers and words; anything that
/// could need decoding or normalising is left to quick-xml.
fn is_plain_text_byte(byte: u8) -> bool {
    !matches!(byte, b'&' | b'\r' | b'>' | b']') && (byte >= 0x20 || byte == b'\n' || byte == b'\t')
}

fn skip_whitespace(text: &str) -> &str {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::fields::{parse_with_quick_xml, Fields};
    use proptest::prelude::*;

    const TICKET: &str = "<xml><AppId><![CDATA[wx134c8103faa5a59e]]></AppId>\n<CreateTime>1713424427</CreateTime>\n<InfoType><![CDATA[component_verify_ticket]]></InfoType>\n<ComponentVerifyTicket><![CDATA[ticket@@@lEHjsBEi]]></ComponentVerifyTicket>\n</xml>";

    fn pairs<'a>(fields: &'a [(&'a str, Cow<'a, str>)]) -> Vec<(&'a str, &'a str)> {
        fields
            .iter()
            .map(|(name, value)| (*name, value.as_ref()))
            .collect()
    }

    #[test]
    fn the_shape_wechat_sends_is_read_without_quick_xml() {
        let fields = scan(TICKET).expect("a ticket push is in the canonical shape");
        assert_eq!(
            pairs(&fields),
            [
                ("AppId", "wx134c8103faa5a59e"),
                ("CreateTime", "1713424427"),
                ("InfoType", "component_verify_ticket"),
                ("ComponentVerifyTicket", "ticket@@@lEHjsBEi"),
            ]
        );
        assert_eq!(parse_with_quick_xml(TICKET), Ok(Fields(fields)));
    }

    #[test]
    fn empty_root_and_empty_field_are_canonical() {
        assert_eq!(scan("<xml></xml>\n"), Some(vec![]));
        let fields = scan("<xml><A></A><B><![CDATA[]]></B></xml>").expect("canonical");
        assert_eq!(pairs(&fields), [("A", ""), ("B", "")]);
    }

    #[test]
    fn anything_outside_the_shape_is_left_to_quick_xml() {
        for body in [
            "<?xml version=\"1.0\"?><xml><A>1</A></xml>",
            "<!DOCTYPE x><xml><A>1</A></xml>",
            "<xml><!DOCTYPE x><A>1</A></xml>",
            "<xml><!-- c --><A>1</A></xml>",
            " <xml><A>1</A></xml>",
            "<xml a=\"1\"><A>1</A></xml>",
            "<xml><A b=\"1\">1</A></xml>",
            "<xml><A >1</A></xml>",
            "<xml><A>1</A ></xml>",
            "<xml><A/></xml>",
            "<xml><A>&lt;</A></xml>",
            "<xml><A>&xxe;</A></xml>",
            "<xml><A>a>b</A></xml>",
            "<xml><A>a]]>b</A></xml>",
            "<xml><A>a\rb</A></xml>",
            "<xml><A><![CDATA[a\r\nb]]></A></xml>",
            "<xml><A><![CDATA[a]]>b</A></xml>",
            "<xml><A><![CDATA[a]]><![CDATA[b]]></A></xml>",
            "<xml><A><B>1</B></A></xml>",
            "<xml><A>1</B></xml>",
            "<xml><A>1</A><A>2</A></xml>",
            "<xml><1A>1</1A></xml>",
            "<xml><A>1</A>x</xml>",
            "<xml><A>1</A></xml>x",
            "<xml><A>1</A></xml><xml></xml>",
            "<xml><A>1</A>",
            "<xml><A>1",
            "<xml><A><![CDATA[1</A></xml>",
            "<xml><A>\u{1}</A></xml>",
        ] {
            assert_eq!(scan(body), None, "{body:?}");
        }
    }

    #[test]
    fn cdata_may_hold_brackets_that_do_not_end_it() {
        let fields = scan("<xml><A><![CDATA[a]b]]c]]]></A></xml>").expect("canonical");
        assert_eq!(pairs(&fields), [("A", "a]b]]c]")]);
    }

    /// A field as a generator sees it: the name and value are written as they
    /// come, so some documents are broken, nested or need decoding.
    fn field() -> impl Strategy<Value = (String, String, bool)> {
        (
            prop_oneof![
                Just("A".to_owned()),
                Just("Encrypt".to_owned()),
                "[A-Za-z_0-9][A-Za-z0-9_.-]{0,6}",
            ],
            "[ -~\t\n\r\u{85}\u{a0}\u{e9}\u{2028}\u{4e2d}]{0,12}",
            any::<bool>(),
        )
    }

    fn document(fields: &[(String, String, bool)], separator: &str) -> String {
        let mut body = String::from("<xml>");
        for (name, value, cdata) in fields {
            body.push_str(separator);
            if *cdata {
                body.push_str(&format!("<{name}><![CDATA[{value}]]></{name}>"));
            } else {
                body.push_str(&format!("<{name}>{value}</{name}>"));
            }
        }
        body.push_str(separator);
        body.push_str("</xml>");
        body
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the scanner accepts, quick-xml reads to exactly the same fields.
        #[test]
        fn scanner_agrees_with_quick_xml_on_everything_it_accepts(
            fields in prop::collection::vec(field(), 0..5),
            separator in prop_oneof![Just(""), Just("\n"), Just(" \t"), Just("\r\n"), Just(" x ")],
            edit in prop::option::of((any::<prop::sample::Index>(), prop_oneof![
                Just(""), Just("<"), Just(">"), Just("/"), Just("&amp;"), Just("]]>"),
                Just("<!--c-->"), Just("<B/>"), Just("\r"), Just(" "),
            ])),
            delete in any::<bool>(),
        ) {
            let mut body = document(&fields, separator);
            if let Some((at, insert)) = edit {
                let boundaries: Vec<usize> =
                    (0..=body.len()).filter(|&i| body.is_char_boundary(i)).collect();
                let at = boundaries[at.index(boundaries.len())];
                if delete && at < body.len() {
                    body.remove(at);
                }
                body.insert_str(at, insert);
            }
            if let Some(scanned) = scan(&body) {
                prop_assert_eq!(parse_with_quick_xml(&body), Ok(Fields(scanned)), "{:?}", body);
            }
        }

        /// The scanner is not a dead branch: canonical documents are its to read.
        #[test]
        fn scanner_reads_every_canonical_document(
            fields in prop::collection::btree_map(
                "[A-Za-z_][A-Za-z0-9_]{0,8}",
                ("[ -%'-;=?-\\\\^-~\t\n\u{e9}\u{4e2d}]{0,12}", any::<bool>()),
                0..6,
            ),
            separator in prop_oneof![Just(""), Just("\n"), Just(" \t"), Just("\r\n")],
        ) {
            let fields: Vec<(String, String, bool)> = fields
                .into_iter()
                .map(|(name, (value, cdata))| (name, value, cdata))
                .collect();
            let body = document(&fields, separator);
            let scanned = scan(&body).unwrap_or_default();
            let expected: Vec<(&str, &str)> =
                fields.iter().map(|(name, value, _)| (name.as_str(), value.as_str())).collect();
            prop_assert_eq!(pairs(&scanned), expected, "{:?}", body);
        }
    }
}
