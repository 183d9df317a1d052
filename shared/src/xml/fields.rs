//! The hardened reader behind every parser: `<xml>` → its direct children as
//! (name, text) pairs, borrowed from the body wherever the text needs no decoding.

use std::borrow::Cow;
use std::collections::BTreeMap;

use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

use super::{XmlError, MAX_XML_BYTES, MAX_XML_DEPTH};

/// The root element WeChat uses for every push and reply.
const ROOT: &str = "xml";

/// The direct children of `<xml>`, in document order, names unique. A leaf child
/// holds its text (CDATA and references resolved); a child with elements inside
/// holds its raw inner XML. Pushes run hot (a ticket every 10 minutes per platform,
/// every follower message), so values borrow from the body instead of allocating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Fields<'a>(pub(super) Vec<(&'a str, Cow<'a, str>)>);

impl<'a> Fields<'a> {
    /// A required field.
    pub(super) fn required(&self, name: &'static str) -> Result<&str, XmlError> {
        self.optional(name).ok_or(XmlError::MissingField(name))
    }

    pub(super) fn optional(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value.as_ref())
    }

    /// A required integer field (surrounding whitespace tolerated).
    pub(super) fn required_i64(&self, name: &'static str) -> Result<i64, XmlError> {
        self.required(name)?
            .trim()
            .parse()
            .map_err(|_| XmlError::InvalidField(name))
    }

    pub(super) fn optional_i64(&self, name: &'static str) -> Result<Option<i64>, XmlError> {
        self.optional(name)
            .map(|value| {
                value
                    .trim()
                    .parse()
                    .map_err(|_| XmlError::InvalidField(name))
            })
            .transpose()
    }

    /// Every field, owned, for kinds kept raw.
    pub(super) fn into_map(self) -> BTreeMap<String, String> {
        self.0
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.into_owned()))
            .collect()
    }
}

/// The child being read, while the reader is inside it.
struct OpenField<'a> {
    name: &'a str,
    text: Cow<'a, str>,
    /// Byte offset just after the child's start tag.
    inner_start: usize,
    has_elements: bool,
}

/// Parse a flat WeChat document.
pub(super) fn parse_fields(body: &[u8]) -> Result<Fields<'_>, XmlError> {
    if body.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge(body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8"))?;
    parse_fields_str(text)
}

/// [`parse_fields`] for text already known to be UTF-8 (a decrypted push).
pub(super) fn parse_fields_str(text: &str) -> Result<Fields<'_>, XmlError> {
    if text.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge(text.len()));
    }
    if let Some(fields) = super::flat::scan(text) {
        return Ok(Fields(fields));
    }
    parse_with_quick_xml(text)
}

/// The general path: any well-formed document within the limits. `flat::scan`
/// answers first for the canonical shape and is tested against this.
pub(super) fn parse_with_quick_xml(text: &str) -> Result<Fields<'_>, XmlError> {
    let mut reader = Reader::from_str(text);
    // End tags are matched here against names borrowed from the body, which is
    // cheaper than quick-xml's own check (it copies every name into a stack buffer).
    reader.config_mut().check_end_names = false;
    let mut open_names: [&str; MAX_XML_DEPTH] = [""; MAX_XML_DEPTH];
    let mut fields = Vec::with_capacity(16);
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut open: Option<OpenField<'_>> = None;

    loop {
        let event_start = offset(&reader)?;
        let event = reader
            .read_event()
            .map_err(|err| malformed(&err.to_string()))?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Start(start) => {
                depth = enter(depth)?;
                let qname = start.name();
                let name = tag_name(text, event_start, qname.as_ref())?;
                if let Some(slot) = open_names.get_mut(depth - 1) {
                    *slot = name;
                }
                match depth {
                    1 => root_seen = open_root(root_seen, name)?,
                    2 => {
                        open = Some(OpenField {
                            name,
                            text: Cow::Borrowed(""),
                            inner_start: offset(&reader)?,
                            has_elements: false,
                        })
                    }
                    _ => mark_elements(&mut open),
                }
            }
            Event::Empty(start) => {
                enter(depth)?;
                let qname = start.name();
                let name = tag_name(text, event_start, qname.as_ref())?;
                match depth {
                    0 => root_seen = open_root(root_seen, name)?,
                    1 => fields.push((name, Cow::Borrowed(""))),
                    _ => mark_elements(&mut open),
                }
            }
            Event::End(end) => {
                let expected = depth.checked_sub(1).and_then(|at| open_names.get(at));
                if expected.copied() != Some(end.name().as_ref()) {
                    return Err(malformed("end tag does not match its start tag"));
                }
                if depth == 2 {
                    if let Some(field) = open.take() {
                        let value = if field.has_elements {
                            Cow::Borrowed(
                                text.get(field.inner_start..event_start)
                                    .ok_or_else(|| malformed("element boundary"))?,
                            )
                        } else {
                            field.text
                        };
                        fields.push((field.name, value));
                    }
                }
                depth -= 1;
            }
            // Whitespace between fields is most text events: check it as is, since
            // normalising its line ends would only be thrown away.
            Event::Text(chunk) if depth != 2 => refuse_stray_text(depth, &chunk)?,
            Event::Text(chunk) => push_text(depth, &mut open, chunk.xml10_content())?,
            Event::CData(chunk) => push_text(depth, &mut open, chunk.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference)?;
                let mut utf8 = [0u8; 4];
                let resolved: &str = resolved.encode_utf8(&mut utf8);
                push_text(depth, &mut open, Cow::Owned(resolved.to_owned()))?;
            }
            Event::Eof => {
                if depth != 0 {
                    return Err(malformed("unclosed element"));
                }
                if !root_seen {
                    return Err(malformed("no <xml> root element"));
                }
                refuse_duplicates(&fields)?;
                return Ok(Fields(fields));
            }
        }
    }
}

/// The tag name as a slice of the body: a start tag's name follows its `<` at `event_start`.
fn tag_name<'a>(text: &'a str, event_start: usize, name: &str) -> Result<&'a str, XmlError> {
    event_start
        .checked_add(1)
        .and_then(|from| text.get(from..from.checked_add(name.len())?))
        .filter(|slice| *slice == name)
        .ok_or_else(|| malformed("tag name not where its start tag begins"))
}

/// A field named twice is ambiguous: refuse the document.
fn refuse_duplicates(fields: &[(&str, Cow<'_, str>)]) -> Result<(), XmlError> {
    let mut names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    match names.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(XmlError::DuplicateField(pair[0].to_owned())),
        None => Ok(()),
    }
}

fn malformed(reason: &str) -> XmlError {
    XmlError::Malformed(reason.to_owned())
}

fn offset(reader: &Reader<&[u8]>) -> Result<usize, XmlError> {
    usize::try_from(reader.buffer_position()).map_err(|_| malformed("offset"))
}

/// Step one element deeper, refusing to pass the limit.
fn enter(depth: usize) -> Result<usize, XmlError> {
    let deeper = depth + 1;
    if deeper > MAX_XML_DEPTH {
        Err(XmlError::TooDeep)
    } else {
        Ok(deeper)
    }
}

fn open_root(root_seen: bool, name: &str) -> Result<bool, XmlError> {
    if root_seen {
        return Err(malformed("more than one root element"));
    }
    if name != ROOT {
        return Err(malformed("root element is not <xml>"));
    }
    Ok(true)
}

fn mark_elements(open: &mut Option<OpenField<'_>>) {
    if let Some(field) = open {
        field.has_elements = true;
    }
}

/// Text outside the open field: inside a nested child it is part of the field's raw
/// inner XML; around the fields only whitespace is allowed.
fn refuse_stray_text(depth: usize, chunk: &str) -> Result<(), XmlError> {
    if depth >= 3 || chunk.trim().is_empty() {
        Ok(())
    } else {
        Err(malformed("text outside a field"))
    }
}

/// Text belongs to the open field; outside fields only whitespace is allowed.
fn push_text<'a>(
    depth: usize,
    open: &mut Option<OpenField<'a>>,
    chunk: Cow<'a, str>,
) -> Result<(), XmlError> {
    match (depth, open) {
        (2, Some(field)) => {
            if field.text.is_empty() {
                field.text = chunk;
            } else {
                field.text.to_mut().push_str(&chunk);
            }
            Ok(())
        }
        // Inside a nested child: kept as raw inner XML of the field.
        (3.., _) => Ok(()),
        _ if chunk.trim().is_empty() => Ok(()),
        _ => Err(malformed("text outside a field")),
    }
}

/// Only the five predefined entities and numeric character references exist here.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, XmlError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(ch)) => Ok(ch),
            _ => Err(malformed("invalid character reference")),
        };
    }
    match reference.xml10_content().as_ref() {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => Err(malformed("unknown entity reference")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: &str, name: &str) -> Option<String> {
        parse_fields(body.as_bytes())
            .ok()?
            .optional(name)
            .map(str::to_owned)
    }

    #[test]
    fn cdata_text_and_references_concatenate_into_one_value() {
        let body = "<xml><A>x&lt;<![CDATA[<y>]]>&#x41;&#66;&amp;</A></xml>";
        assert_eq!(field(body, "A").as_deref(), Some("x<<y>AB&"));
    }

    #[test]
    fn nested_child_keeps_its_raw_inner_xml() {
        let body = "<xml><R><Count>1</Count><List><item>a</item></List></R></xml>";
        assert_eq!(
            field(body, "R").as_deref(),
            Some("<Count>1</Count><List><item>a</item></List>")
        );
    }

    #[test]
    fn empty_element_is_an_empty_field() {
        assert_eq!(field("<xml><A/></xml>", "A").as_deref(), Some(""));
    }

    #[test]
    fn custom_entity_is_refused() {
        let got = parse_fields(b"<xml><A>&xxe;</A></xml>");
        assert!(matches!(got, Err(XmlError::Malformed(_))), "{got:?}");
    }

    #[test]
    fn mismatched_end_tags_are_refused_at_every_depth() {
        for body in [
            "<xml><A>1</B></xml>",
            "<xml><A>1</A></xmm>",
            "<xml><R><C>1</D></R></xml>",
        ] {
            let got = parse_fields(body.as_bytes());
            assert!(
                matches!(got, Err(XmlError::Malformed(_))),
                "{body}: {got:?}"
            );
        }
    }

    #[test]
    fn declaration_comments_and_whitespace_around_fields_are_read() {
        let body = "<?xml version=\"1.0\"?>\n<!-- push -->\n<xml>\n  <A><![CDATA[a]]></A>\n  <!-- c -->\n  <Bee>2</Bee >\n  <C/>\n</xml>\n";
        let fields = parse_fields(body.as_bytes()).expect("valid document");
        assert_eq!(fields.optional("A"), Some("a"));
        assert_eq!(fields.optional("Bee"), Some("2"));
        assert_eq!(fields.optional("C"), Some(""));
    }

    #[test]
    fn text_between_fields_is_refused_unless_whitespace() {
        for body in ["<xml>junk<A>1</A></xml>", "<xml><A>1</A>\n x\n</xml>"] {
            let got = parse_fields(body.as_bytes());
            assert!(
                matches!(got, Err(XmlError::Malformed(_))),
                "{body}: {got:?}"
            );
        }
        assert!(parse_fields(b"<xml>\r\n\t<A>1</A>\r\n</xml>").is_ok());
    }

    #[test]
    fn duplicate_field_is_refused() {
        let got = parse_fields(b"<xml><A>1</A><A>2</A></xml>");
        assert_eq!(got, Err(XmlError::DuplicateField("A".into())));
    }

    #[test]
    fn non_xml_root_is_refused() {
        let got = parse_fields(b"<root><A>1</A></root>");
        assert!(matches!(got, Err(XmlError::Malformed(_))), "{got:?}");
    }

    #[test]
    fn depth_at_the_limit_is_accepted_and_one_more_is_refused() {
        let nest = |n: usize| {
            let mut s = String::from("<xml>");
            for _ in 1..n {
                s.push_str("<a>");
            }
            for _ in 1..n {
                s.push_str("</a>");
            }
            s.push_str("</xml>");
            s
        };
        assert!(parse_fields(nest(MAX_XML_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            parse_fields(nest(MAX_XML_DEPTH + 1).as_bytes()),
            Err(XmlError::TooDeep)
        );
    }

    #[test]
    fn self_closing_element_past_the_depth_limit_is_refused() {
        let mut s = String::from("<xml>");
        for _ in 1..MAX_XML_DEPTH {
            s.push_str("<a>");
        }
        s.push_str("<b/>");
        for _ in 1..MAX_XML_DEPTH {
            s.push_str("</a>");
        }
        s.push_str("</xml>");
        assert_eq!(parse_fields(s.as_bytes()), Err(XmlError::TooDeep));
    }
}
