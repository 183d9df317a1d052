//! The reader refuses what could hurt: DTDs, entity tricks, huge or deep bodies,
//! and never panics on any input.

use proptest::prelude::*;
use wxopen::xml::{
    parse_authorizer_message, parse_component_push, parse_envelope, XmlError, MAX_XML_BYTES,
    MAX_XML_DEPTH,
};

#[test]
fn doctype_before_the_root_is_refused() {
    let body = b"<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><xml><Encrypt>&xxe;</Encrypt></xml>";
    assert_eq!(parse_envelope(body), Err(XmlError::Doctype));
}

#[test]
fn billion_laughs_is_refused_as_doctype() {
    let body = "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><xml><Encrypt>&lol2;</Encrypt></xml>";
    assert_eq!(parse_component_push(body), Err(XmlError::Doctype));
}

#[test]
fn doctype_inside_the_root_is_refused() {
    let got = parse_envelope(b"<xml><!DOCTYPE x><Encrypt>a</Encrypt></xml>");
    assert!(
        matches!(got, Err(XmlError::Doctype | XmlError::Malformed(_))),
        "{got:?}"
    );
}

#[test]
fn undeclared_entity_is_malformed() {
    let got = parse_envelope(b"<xml><Encrypt>&xxe;</Encrypt></xml>");
    assert!(matches!(got, Err(XmlError::Malformed(_))), "{got:?}");
}

#[test]
fn predefined_entities_and_character_references_resolve() {
    let got = parse_envelope(b"<xml><Encrypt>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;</Encrypt></xml>");
    assert_eq!(got.map(|e| e.encrypt), Ok("<>&'\"AB".to_owned()));
}

#[test]
fn body_over_the_limit_is_too_large() {
    let mut body = b"<xml><Encrypt>".to_vec();
    body.resize(MAX_XML_BYTES - "</Encrypt></xml>".len() + 1, b'A');
    body.extend_from_slice(b"</Encrypt></xml>");

    assert_eq!(
        parse_envelope(&body),
        Err(XmlError::TooLarge(MAX_XML_BYTES + 1))
    );
}

#[test]
fn body_at_the_limit_is_accepted() {
    let mut body = b"<xml><Encrypt>".to_vec();
    body.resize(MAX_XML_BYTES - "</Encrypt></xml>".len(), b'A');
    body.extend_from_slice(b"</Encrypt></xml>");

    assert!(parse_envelope(&body).is_ok());
}

#[test]
fn nesting_past_the_limit_is_too_deep() {
    let depth = MAX_XML_DEPTH + 1;
    let body = format!(
        "<xml>{}<Encrypt>a</Encrypt>{}</xml>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    assert_eq!(parse_envelope(body.as_bytes()), Err(XmlError::TooDeep));
}

#[test]
fn deep_nesting_attack_is_refused_before_reading_it_all() {
    let body = format!("<xml>{}", "<a>".repeat(20_000));
    assert_eq!(parse_envelope(body.as_bytes()), Err(XmlError::TooDeep));
}

#[test]
fn malformed_bodies_are_malformed() {
    for body in [
        &b""[..],
        b"not xml",
        b"<xml><Encrypt>a</Encrypt>",
        b"<xml><Encrypt>a</AppId></xml>",
        b"<xml><Encrypt>a</Encrypt></xml><xml></xml>",
        b"<xml><Encrypt>\xff\xfe</Encrypt></xml>",
        b"<xml>stray text<Encrypt>a</Encrypt></xml>",
        b"<xml><Encrypt>&#0;</Encrypt></xml>",
        b"<other><Encrypt>a</Encrypt></other>",
    ] {
        let got = parse_envelope(body);
        assert!(
            matches!(got, Err(XmlError::Malformed(_))),
            "{:?} gave {got:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn duplicate_encrypt_is_refused() {
    assert_eq!(
        parse_envelope(b"<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>"),
        Err(XmlError::DuplicateField("Encrypt".into()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_any_parser(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = parse_envelope(&body);
        let text = String::from_utf8_lossy(&body);
        let _ = parse_component_push(&text);
        let _ = parse_authorizer_message(&text);
    }

    #[test]
    fn random_strings_never_panic_any_parser(text in any::<String>()) {
        let _ = parse_envelope(text.as_bytes());
        let _ = parse_component_push(&text);
        let _ = parse_authorizer_message(&text);
    }

    #[test]
    fn markup_noise_never_panics_any_parser(pieces in proptest::collection::vec(proptest::sample::select(&[
        "<xml>", "</xml>", "<MsgType>", "</MsgType>", "text", "event", "<InfoType>", "</InfoType>",
        "<Content>", "</Content>", "<![CDATA[", "]]>", "&amp;", "&#x10FFFF;", "&#xD800;", "&;",
        "<!DOCTYPE", "<!--", "-->", "<?pi?>", "<a/>", "<a>", "</a>", "<", ">", "&", "\"", "'", "=",
    ][..]), 0..48)) {
        let text = pieces.concat();
        let _ = parse_envelope(text.as_bytes());
        let _ = parse_component_push(&text);
        let _ = parse_authorizer_message(&text);
    }
}
