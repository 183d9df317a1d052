//! Known-answer tests from /work/shared/ref/crypto-vectors.json.

use wxopen::crypto::{signature, MsgCrypt, Opened};

mod official {
    pub const TOKEN: &str = "AAAAA";
    pub const ENCODING_AES_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    pub const COMPONENT_APPID: &str = "wx134c8103faa5a59e";

    pub const PUSH_TIMESTAMP: &str = "1715943329";
    pub const PUSH_NONCE: &str = "1590219412";
    pub const PUSH_MSG_SIGNATURE: &str = "6c12a4205838198b8fa631b3220723bb07f1015c";
    pub const PUSH_SIGNATURE: &str = "cc0c594499c1634947d5b502f158ee518947db27";
    pub const PUSH_TO_USER_NAME: &str = "gh_97417a04a28d";
    pub const PUSH_ENCRYPT: &str = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";
    pub const PUSH_RANDOM: &[u8; 16] = b"1205899eaf019bbd";
    pub const PUSH_PLAINTEXT: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>";

    pub const REPLY_RANDOM: &[u8; 16] = b"999951349e8ee746";
    pub const REPLY_PLAINTEXT: &str = "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>";
    pub const REPLY_TIMESTAMP: &str = "1713424427";
    pub const REPLY_NONCE: &str = "415670741";
    pub const REPLY_ENCRYPT: &str = "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7";
    pub const REPLY_MSG_SIGNATURE: &str = "03e0812039325c2712ef5f0f980fd14c70d6e307";

    pub const URL_TIMESTAMP: &str = "1714036504";
    pub const URL_NONCE: &str = "1514711492";
    pub const URL_SIGNATURE: &str = "f464b24fc39322e44b38aa78f5edd27bd1441696";
}

mod wxjava {
    pub const TOKEN: &str = "pamtest";
    pub const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    pub const APPID: &str = "wxb11529c136998cb6";
    pub const TIMESTAMP: &str = "1409304348";
    pub const NONCE: &str = "xxxxxx";
    pub const RANDOM: &[u8; 16] = b"aaaabbbbccccdddd";
    pub const PLAINTEXT: &str = "我是中文abcd123";
    pub const ENCRYPT: &str =
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
    pub const MSG_SIGNATURE: &str = "82c962d39941aa48552f90ef55aa323dc620cc10";
}

fn official_crypt() -> MsgCrypt {
    MsgCrypt::new(
        official::TOKEN,
        official::ENCODING_AES_KEY,
        None,
        official::COMPONENT_APPID,
    )
    .expect("official key is valid")
}

fn wxjava_crypt() -> MsgCrypt {
    MsgCrypt::new(wxjava::TOKEN, wxjava::ENCODING_AES_KEY, None, wxjava::APPID)
        .expect("WxJava key is valid")
}

#[test]
fn official_push_verifies_and_decrypts_to_the_published_plaintext() {
    let crypt = official_crypt();

    let opened = crypt.open(
        official::PUSH_MSG_SIGNATURE,
        official::PUSH_TIMESTAMP,
        official::PUSH_NONCE,
        official::PUSH_ENCRYPT,
    );

    assert_eq!(
        opened,
        Ok(Opened {
            message: official::PUSH_PLAINTEXT.to_owned(),
            key_index: 0
        })
    );
}

#[test]
fn official_push_reencrypts_byte_for_byte_with_its_random() {
    let crypt = official_crypt();

    let encrypt = crypt.encrypt_with_random(official::PUSH_PLAINTEXT, official::PUSH_RANDOM);

    assert_eq!(encrypt, official::PUSH_ENCRYPT);
}

#[test]
fn official_push_envelope_opens_through_the_xml_path() {
    let crypt = official_crypt();
    let body = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        official::PUSH_TO_USER_NAME,
        official::PUSH_ENCRYPT
    );

    let opened = crypt
        .open_envelope(
            body.as_bytes(),
            official::PUSH_MSG_SIGNATURE,
            official::PUSH_TIMESTAMP,
            official::PUSH_NONCE,
        )
        .expect("official push opens");

    assert_eq!(
        opened.envelope.to_user_name.as_deref(),
        Some(official::PUSH_TO_USER_NAME)
    );
    assert_eq!(opened.opened.message, official::PUSH_PLAINTEXT);
}

#[test]
fn official_push_plain_signature_matches_the_url_check_formula() {
    let crypt = official_crypt();

    let verdict = crypt.verify_url_signature(
        official::PUSH_SIGNATURE,
        official::PUSH_TIMESTAMP,
        official::PUSH_NONCE,
    );

    assert_eq!(verdict, Ok(()));
}

#[test]
fn official_reply_is_reproduced_byte_for_byte() {
    let crypt = official_crypt();

    let encrypt = crypt.encrypt_with_random(official::REPLY_PLAINTEXT, official::REPLY_RANDOM);
    let msg_signature =
        crypt.msg_signature(official::REPLY_TIMESTAMP, official::REPLY_NONCE, &encrypt);

    assert_eq!(encrypt, official::REPLY_ENCRYPT);
    assert_eq!(msg_signature, official::REPLY_MSG_SIGNATURE);
}

#[test]
fn official_reply_decrypts_to_its_plaintext() {
    let crypt = official_crypt();

    let opened = crypt.open(
        official::REPLY_MSG_SIGNATURE,
        official::REPLY_TIMESTAMP,
        official::REPLY_NONCE,
        official::REPLY_ENCRYPT,
    );

    assert_eq!(
        opened.map(|o| o.message),
        Ok(official::REPLY_PLAINTEXT.to_owned())
    );
}

#[test]
fn official_url_check_signature_verifies() {
    let crypt = official_crypt();

    let verdict = crypt.verify_url_signature(
        official::URL_SIGNATURE,
        official::URL_TIMESTAMP,
        official::URL_NONCE,
    );

    assert_eq!(verdict, Ok(()));
    assert_eq!(
        signature(&[
            official::TOKEN,
            official::URL_TIMESTAMP,
            official::URL_NONCE
        ]),
        official::URL_SIGNATURE
    );
}

#[test]
fn wxjava_sample_encrypts_chinese_text_to_the_published_ciphertext() {
    let crypt = wxjava_crypt();

    let encrypt = crypt.encrypt_with_random(wxjava::PLAINTEXT, wxjava::RANDOM);

    assert_eq!(encrypt, wxjava::ENCRYPT);
    assert_eq!(
        crypt.msg_signature(wxjava::TIMESTAMP, wxjava::NONCE, &encrypt),
        wxjava::MSG_SIGNATURE
    );
}

#[test]
fn wxjava_sample_decrypts_to_the_chinese_text() {
    let crypt = wxjava_crypt();

    let opened = crypt.open(
        wxjava::MSG_SIGNATURE,
        wxjava::TIMESTAMP,
        wxjava::NONCE,
        wxjava::ENCRYPT,
    );

    assert_eq!(opened.map(|o| o.message), Ok(wxjava::PLAINTEXT.to_owned()));
}
