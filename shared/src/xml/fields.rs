//! The hardened reader behind every parser: `<xml>` → its direct children as a
//! name → text map.

use std::collections::BTreeMap;

use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

use super::{XmlError, MAX_XML_BYTES, MAX_XML_DEPTH};

/// The root element WeChat uses for every push and reply.
const ROOT: &str = "xml";

/// The direct children of `<xml>`. A leaf child maps to its text (CDATA and
/// references resolved); a child with elements inside maps to its raw inner XML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Fields(pub(super) BTreeMap<String, String>);

impl Fields {
    /// A required field.
    pub(super) fn required(&self, name: &'static str) -> Result<&str, XmlError> {
        self.optional(name).ok_or(XmlError::MissingField(name))
    }

    pub(super) fn optional(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
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
}

/// The child being read, while the reader is inside it.
struct OpenField {
    name: String,
    text: String,
    /// Byte offset just after the child's start tag.
    inner_start: usize,
    has_elements: bool,
}

/// Parse a flat WeChat document.
pub(super) fn parse_fields(body: &[u8]) -> Result<Fields, XmlError> {
    if body.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge(body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut fields = BTreeMap::new();
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut open: Option<OpenField> = None;

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
                let name: &str = qname.as_ref();
                match depth {
                    1 => root_seen = open_root(root_seen, name)?,
                    2 => {
                        open = Some(OpenField {
                            name: name.to_owned(),
                            text: String::new(),
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
                let name: &str = qname.as_ref();
                match depth {
                    0 => root_seen = open_root(root_seen, name)?,
                    1 => insert(&mut fields, name.to_owned(), String::new())?,
                    _ => mark_elements(&mut open),
                }
            }
            Event::End(_) => {
                if depth == 2 {
                    if let Some(field) = open.take() {
                        let value = if field.has_elements {
                            text.get(field.inner_start..event_start)
                                .ok_or_else(|| malformed("element boundary"))?
                                .to_owned()
                        } else {
                            field.text
                        };
                        insert(&mut fields, field.name, value)?;
                    }
                }
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| malformed("unmatched end tag"))?;
            }
            Event::Text(chunk) => push_text(depth, &mut open, &chunk.xml10_content())?,
            Event::CData(chunk) => push_text(depth, &mut open, &chunk.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference)?;
                push_text(depth, &mut open, resolved.encode_utf8(&mut [0u8; 4]))?;
            }
            Event::Eof => {
                if depth != 0 {
                    return Err(malformed("unclosed element"));
                }
                if !root_seen {
                    return Err(malformed("no <xml> root element"));
                }
                return Ok(Fields(fields));
            }
        }
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

fn mark_elements(open: &mut Option<OpenField>) {
    if let Some(field) = open {
        field.has_elements = true;
    }
}

fn insert(
    fields: &mut BTreeMap<String, String>,
    name: String,
    value: String,
) -> Result<(), XmlError> {
    if fields.contains_key(&name) {
        return Err(XmlError::DuplicateField(name));
    }
    fields.insert(name, value);
    Ok(())
}

/// Text belongs to the open field; outside fields only whitespace is allowed.
fn push_text(depth: usize, open: &mut Option<OpenField>, chunk: &str) -> Result<(), XmlError> {
    match (depth, open) {
        (2, Some(field)) => {
            field.text.push_str(chunk);
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
        parse_fields(body.as_bytes()).ok()?.0.get(name).cloned()
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
