//! Every way a push or a key can be wrong gives its own typed error.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use wxopen::crypto::{CryptoError, KeyError, MsgCrypt};

const TOKEN: &str = "testtoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OTHER_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut";
const APPID: &str = "wx134c8103faa5a59e";

fn crypt() -> MsgCrypt {
    MsgCrypt::new(TOKEN, KEY, None, APPID).expect("valid key")
}

/// Encrypt with a fixed random, then flip bits of the raw ciphertext.
fn tampered(message: &str, at: usize, xor: u8) -> String {
    let encrypt = crypt().encrypt_with_random(message, &[7u8; 16]);
    let mut raw = STANDARD.decode(encrypt).expect("own output is base64");
    raw[at] ^= xor;
    STANDARD.encode(raw)
}

#[test]
fn key_of_the_wrong_length_is_refused_with_its_length() {
    let got = MsgCrypt::new(TOKEN, &KEY[..42], None, APPID).map(|_| ());
    assert_eq!(got, Err(KeyError::WrongLength(42)));
}

#[test]
fn key_with_base64_symbols_outside_alphanumerics_is_refused() {
    let key = format!("{}+", &KEY[..42]);
    let got = MsgCrypt::new(TOKEN, &key, None, APPID).map(|_| ());
    assert_eq!(got, Err(KeyError::BadCharacters));
}

#[test]
fn key_with_non_ascii_characters_is_refused() {
    let key = format!("{}é", &KEY[..42]);
    let got = MsgCrypt::new(TOKEN, &key, None, APPID).map(|_| ());
    assert_eq!(got, Err(KeyError::BadCharacters));
}

#[test]
fn bad_previous_key_is_refused_too() {
    let got = MsgCrypt::new(TOKEN, KEY, Some("short"), APPID).map(|_| ());
    assert_eq!(got, Err(KeyError::WrongLength(5)));
}

#[test]
fn empty_token_and_empty_appid_are_refused() {
    assert_eq!(
        MsgCrypt::new("", KEY, None, APPID).map(|_| ()),
        Err(KeyError::EmptyToken)
    );
    assert_eq!(
        MsgCrypt::new(TOKEN, KEY, None, "").map(|_| ()),
        Err(KeyError::EmptyAppId)
    );
}

#[test]
fn debug_output_shows_neither_token_nor_key() {
    let shown = format!("{:?}", crypt());
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains(APPID), "{shown}");
}

#[test]
fn wrong_msg_signature_is_bad_signature() {
    let crypt = crypt();
    let encrypt = crypt.encrypt("hello");
    let good = crypt.msg_signature("1", "2", &encrypt);
    let mut bad = good.clone().into_bytes();
    bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
    let bad = String::from_utf8(bad).expect("ascii");

    assert_eq!(
        crypt.open(&bad, "1", "2", &encrypt),
        Err(CryptoError::BadSignature)
    );
    assert_eq!(
        crypt.open("", "1", "2", &encrypt),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn upper_case_msg_signature_is_accepted() {
    let crypt = crypt();
    let encrypt = crypt.encrypt("hello");
    let upper = crypt.msg_signature("1", "2", &encrypt).to_ascii_uppercase();

    assert_eq!(
        crypt.verify_msg_signature(&upper, "1", "2", &encrypt),
        Ok(())
    );
}

#[test]
fn signature_over_another_timestamp_is_bad_signature() {
    let crypt = crypt();
    let encrypt = crypt.encrypt("hello");
    let signature = crypt.msg_signature("1", "2", &encrypt);

    assert_eq!(
        crypt.open(&signature, "9", "2", &encrypt),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn ciphertext_tampered_after_signing_is_bad_signature() {
    let crypt = crypt();
    let encrypt = crypt.encrypt_with_random("hello", &[7u8; 16]);
    let signature = crypt.msg_signature("1", "2", &encrypt);

    let got = crypt.open(&signature, "1", "2", &tampered("hello", 0, 1));

    assert_eq!(got, Err(CryptoError::BadSignature));
}

#[test]
fn empty_encrypt_is_empty_ciphertext() {
    assert_eq!(crypt().decrypt(""), Err(CryptoError::EmptyCiphertext));
}

#[test]
fn non_base64_encrypt_is_bad_base64() {
    assert_eq!(crypt().decrypt("not base64!"), Err(CryptoError::BadBase64));
    assert_eq!(
        crypt().decrypt("QUJD"),
        Err(CryptoError::BadCiphertextLength(3))
    );
}

#[test]
fn ciphertext_not_a_multiple_of_16_is_refused_with_its_length() {
    let encrypt = STANDARD.encode([0u8; 20]);
    assert_eq!(
        crypt().decrypt(&encrypt),
        Err(CryptoError::BadCiphertextLength(20))
    );
}

#[test]
fn pad_byte_out_of_range_is_bad_padding() {
    // "hello" + 18-byte appid + 20-byte header = 43 bytes → 64 with pad 21 (0x15).
    // The last plaintext byte is the last byte of the second-to-last ciphertext
    // block XOR the decrypted last block: flip it to 0x15 ^ 0x40 = 0x55.
    let got = crypt().decrypt(&tampered("hello", 47, 0x40));
    assert_eq!(got, Err(CryptoError::BadPadding));
}

#[test]
fn length_field_past_the_end_is_length_out_of_range() {
    // Byte 3 of ciphertext block 0 flips plaintext byte 19: the low byte of the length.
    let got = crypt().decrypt(&tampered("hello", 3, 0x80));
    assert_eq!(got, Err(CryptoError::LengthOutOfRange));
}

#[test]
fn message_that_is_not_utf8_is_invalid_utf8() {
    // Byte 4 of block 0 flips plaintext byte 20, the first byte of the message: 'h' ^ 0xA9 = 0xC1,
    // which never starts a UTF-8 sequence.
    let got = crypt().decrypt(&tampered("hello", 4, 0xA9));
    assert_eq!(got, Err(CryptoError::InvalidUtf8));
}

#[test]
fn message_for_another_appid_is_appid_mismatch() {
    let theirs = MsgCrypt::new(TOKEN, KEY, None, "wxffffffffffffffff").expect("valid key");
    let encrypt = theirs.encrypt("hello");

    assert_eq!(crypt().decrypt(&encrypt), Err(CryptoError::AppIdMismatch));
}

#[test]
fn message_under_an_unknown_key_is_refused() {
    let theirs = MsgCrypt::new(TOKEN, OTHER_KEY, None, APPID).expect("valid key");
    let encrypt = theirs.encrypt("hello");

    let got = crypt().decrypt(&encrypt);

    assert!(
        matches!(
            got,
            Err(CryptoError::BadPadding
                | CryptoError::LengthOutOfRange
                | CryptoError::InvalidUtf8
                | CryptoError::AppIdMismatch)
        ),
        "{got:?}"
    );
}

#[test]
fn message_under_the_previous_key_opens_with_key_index_1() {
    let old = MsgCrypt::new(TOKEN, OTHER_KEY, None, APPID).expect("valid key");
    let rotated = MsgCrypt::new(TOKEN, KEY, Some(OTHER_KEY), APPID).expect("valid keys");

    let opened = rotated
        .decrypt(&old.encrypt("hello"))
        .expect("previous key opens it");

    assert_eq!((opened.message.as_str(), opened.key_index), ("hello", 1));
}

#[test]
fn message_under_the_current_key_opens_with_key_index_0_after_rotation() {
    let rotated = MsgCrypt::new(TOKEN, KEY, Some(OTHER_KEY), APPID).expect("valid keys");

    let opened = rotated
        .decrypt(&crypt().encrypt("hello"))
        .expect("current key opens it");

    assert_eq!(opened.key_index, 0);
}

#[test]
fn reply_sealed_with_the_previous_key_opens_for_a_sender_still_on_it() {
    let old = MsgCrypt::new(TOKEN, OTHER_KEY, None, APPID).expect("valid key");
    let rotated = MsgCrypt::new(TOKEN, KEY, Some(OTHER_KEY), APPID).expect("valid keys");

    let reply = rotated
        .seal_reply_with_key("<xml/>", "1713424427", "415670741", 1)
        .expect("key 1 exists");
    let envelope = wxopen::xml::parse_envelope(reply.as_bytes()).expect("reply parses");
    let signature = old.msg_signature("1713424427", "415670741", &envelope.encrypt);

    assert!(reply.contains(&format!(
        "<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
    )));
    assert_eq!(
        old.open(&signature, "1713424427", "415670741", &envelope.encrypt)
            .map(|o| o.message),
        Ok("<xml/>".to_owned())
    );
}

#[test]
fn sealing_with_a_key_that_does_not_exist_is_no_such_key() {
    assert_eq!(
        crypt().seal_reply_with_key("x", "1", "2", 1),
        Err(CryptoError::NoSuchKey(1))
    );
    assert_eq!(
        crypt().encrypt_with_key("x", 2),
        Err(CryptoError::NoSuchKey(2))
    );
}
