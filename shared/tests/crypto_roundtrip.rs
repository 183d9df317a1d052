//! Encrypt → decrypt round trips, and the decoder never panics on any input.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use wxopen::crypto::MsgCrypt;

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx134c8103faa5a59e";

fn crypt() -> MsgCrypt {
    MsgCrypt::new("testtoken", KEY, None, APPID).expect("valid key")
}

#[test]
fn every_message_length_from_0_to_2000_round_trips_with_32_byte_padding() {
    let crypt = crypt();
    // A two-byte character keeps the UTF-8 path honest; ASCII fills odd lengths.
    let long: String = "é".repeat(1000);
    for len in 0..=2000usize {
        let message = if len % 2 == 0 {
            long[..len].to_owned()
        } else {
            format!("{}a", &long[..len - 1])
        };
        let encrypt = crypt.encrypt(&message);

        let raw_len = STANDARD.decode(&encrypt).expect("base64").len();
        let unpadded = 20 + len + APPID.len();
        assert_eq!(raw_len, (unpadded / 32 + 1) * 32, "length {len}");
        assert_eq!(
            crypt.decrypt(&encrypt).map(|o| o.message),
            Ok(message),
            "length {len}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_message_round_trips(message in any::<String>()) {
        let crypt = crypt();
        let opened = crypt.decrypt(&crypt.encrypt(&message));
        prop_assert_eq!(opened.map(|o| o.message), Ok(message));
    }

    #[test]
    fn any_message_round_trips_through_open_with_its_signature(
        message in any::<String>(),
        timestamp in any::<u32>().prop_map(|t| t.to_string()),
        nonce in any::<u64>().prop_map(|n| n.to_string()),
    ) {
        let crypt = crypt();
        let encrypt = crypt.encrypt(&message);
        let signature = crypt.msg_signature(&timestamp, &nonce, &encrypt);
        let opened = crypt.open(&signature, &timestamp, &nonce, &encrypt);
        prop_assert_eq!(opened.map(|o| o.message), Ok(message));
    }

    #[test]
    fn random_bytes_as_base64_never_panic_the_decoder(raw in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = crypt().decrypt(&STANDARD.encode(&raw));
    }

    #[test]
    fn random_strings_never_panic_the_decoder(text in any::<String>()) {
        let _ = crypt().decrypt(&text);
        let _ = crypt().open(&text, &text, &text, &text);
    }

    #[test]
    fn random_base64_alphabet_strings_never_panic_the_decoder(text in "[A-Za-z0-9+/=]{0,400}") {
        let _ = crypt().decrypt(&text);
    }

    #[test]
    fn random_keys_never_panic_key_parsing(key in any::<String>(), alnum in "[A-Za-z0-9]{43}") {
        let _ = MsgCrypt::new("t", &key, None, APPID);
        prop_assert!(MsgCrypt::new("t", &alnum, None, APPID).is_ok());
    }
}
