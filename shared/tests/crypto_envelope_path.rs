//! The fuzz target's input path (fuzz/src/envelope.rs), run by proptest on every test pass.

#[path = "../../fuzz/src/envelope.rs"]
mod envelope_path;

use envelope_path::{exercise, COMPONENT_APPID, ENCODING_AES_KEY, PREVIOUS_KEY, TOKEN};
use proptest::prelude::*;
use wxopen::crypto::MsgCrypt;
use wxopen::xml::Envelope;

fn harness_crypt(key: &str) -> MsgCrypt {
    MsgCrypt::new(TOKEN, key, None, COMPONENT_APPID).expect("valid key")
}

/// Well-formed envelopes around real ciphertexts of arbitrary messages, under
/// either harness key, so the path reaches decryption and the plaintext parsers.
fn sealed_envelope() -> impl Strategy<Value = Vec<u8>> {
    (any::<String>(), any::<bool>(), any::<bool>()).prop_map(|(message, previous, app_id)| {
        let key = if previous {
            PREVIOUS_KEY
        } else {
            ENCODING_AES_KEY
        };
        let encrypt = harness_crypt(key).encrypt(&message);
        let envelope = Envelope {
            app_id: app_id.then(|| COMPONENT_APPID.to_owned()),
            to_user_name: (!app_id).then(|| "gh_97417a04a28d".to_owned()),
            encrypt,
        };
        envelope.to_xml().into_bytes()
    })
}

/// Fragments of push XML in any order, to reach the parser's corners quickly.
fn xml_shaped_noise() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "<xml>",
        "</xml>",
        "<Encrypt>",
        "</Encrypt>",
        "<AppId>",
        "</AppId>",
        "<![CDATA[",
        "]]>",
        "&amp;",
        "&#x41;",
        "&#0;",
        "&bogus;",
        "<!DOCTYPE x>",
        "<a/>",
        "<?xml version=\"1.0\"?>",
        "<!-- c -->",
        "QUJD",
        "=",
        "\r\n",
        " ",
        "<",
        ">",
        "&",
    ];
    proptest::collection::vec(proptest::sample::select(PIECES), 0..40)
        .prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_the_push_path(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&data);
    }

    #[test]
    fn xml_shaped_noise_never_panics_the_push_path(data in xml_shaped_noise()) {
        exercise(data.as_bytes());
    }

    #[test]
    fn sealed_envelopes_pass_the_push_path(data in sealed_envelope()) {
        exercise(&data);
    }

    #[test]
    fn sealed_envelopes_with_a_flipped_byte_never_panic_the_push_path(
        data in sealed_envelope(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut data = data;
        let i = at.index(data.len());
        data[i] ^= xor;
        exercise(&data);
    }
}

#[test]
fn sealed_envelope_under_the_previous_key_opens_with_key_index_1() {
    let crypt = MsgCrypt::new(TOKEN, ENCODING_AES_KEY, Some(PREVIOUS_KEY), COMPONENT_APPID)
        .expect("valid keys");
    let encrypt = harness_crypt(PREVIOUS_KEY).encrypt("<xml/>");
    let body = Envelope {
        app_id: Some(COMPONENT_APPID.to_owned()),
        to_user_name: None,
        encrypt: encrypt.clone(),
    }
    .to_xml();
    let signature = crypt.msg_signature("1", "2", &encrypt);

    let opened = crypt
        .open_envelope(body.as_bytes(), &signature, "1", "2")
        .expect("opens");

    assert_eq!(opened.opened.key_index, 1);
    assert_eq!(opened.envelope.app_id.as_deref(), Some(COMPONENT_APPID));
}
