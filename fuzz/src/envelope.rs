//! The push input path: envelope parse → msg_signature verify → decrypt → parse
//! the plaintext. Shared by the `envelope` fuzz target and a proptest in
//! `shared/tests/crypto_envelope_path.rs` (included there by path).

use wxopen::crypto::{CryptoError, MsgCrypt, OpenError};
use wxopen::xml;

pub const TOKEN: &str = "fuzztoken";
pub const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const PREVIOUS_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
pub const COMPONENT_APPID: &str = "wx134c8103faa5a59e";
pub const TIMESTAMP: &str = "1713424427";
pub const NONCE: &str = "415670741";

/// Feed `data` as a push body through every stage. Panics only when an
/// invariant breaks (that is the finding), never on bad input.
pub fn exercise(data: &[u8]) {
    let Ok(crypt) = MsgCrypt::new(TOKEN, ENCODING_AES_KEY, Some(PREVIOUS_KEY), COMPONENT_APPID)
    else {
        panic!("harness keys are valid");
    };

    // As an attacker would send it: a signature they cannot compute.
    let _ = crypt.open_envelope(
        data,
        "0000000000000000000000000000000000000000",
        TIMESTAMP,
        NONCE,
    );

    // As WeChat would sign it, so the input reaches decryption and the plaintext parsers.
    if let Ok(envelope) = xml::parse_envelope(data) {
        let signature = crypt.msg_signature(TIMESTAMP, NONCE, &envelope.encrypt);
        match crypt.open_envelope(data, &signature, TIMESTAMP, NONCE) {
            Ok(opened) => {
                let _ = xml::parse_component_push(&opened.opened.message);
                let _ = xml::parse_authorizer_message(&opened.opened.message);
                assert!(opened.opened.key_index <= 1, "key index out of range");
            }
            Err(OpenError::Xml(err)) => panic!("parsed once, refused the second time: {err}"),
            Err(OpenError::Crypto(CryptoError::BadSignature)) => {
                panic!("our own signature over the same Encrypt did not verify")
            }
            Err(OpenError::Crypto(_)) => {}
        }
    }

    // The raw bytes as an `Encrypt` value and as decrypted plaintext.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crypt.decrypt(text);
        let _ = xml::parse_component_push(text);
        let _ = xml::parse_authorizer_message(text);
    }
}
