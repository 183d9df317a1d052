//! Decrypted push plaintext straight to the parsers (no AES on the way, so every
//! execution is spent in the XML code), and the envelope parser.

use wxopen::xml;

pub fn exercise(data: &[u8]) {
    let _ = xml::parse_envelope(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = xml::parse_component_push(text);
        let _ = xml::parse_authorizer_message(text);
    }
}
