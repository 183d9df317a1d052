//! Reply builders round-trip through our own parsers.

use proptest::prelude::*;
use wxopen::crypto::MsgCrypt;
use wxopen::xml::{
    encrypted_reply, flat_xml, parse_authorizer_message, parse_envelope, passive_reply, text_reply,
    MessageKind, NewsArticle, PassiveReply,
};

const OPENID: &str = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY";
const GH_ID: &str = "gh_97417a04a28d";

fn content_of(xml: &str) -> Option<String> {
    match parse_authorizer_message(xml).ok()?.kind {
        MessageKind::Text { content } => Some(content),
        _ => None,
    }
}

#[test]
fn text_reply_has_the_documented_shape() {
    let xml = text_reply(OPENID, GH_ID, 1_713_424_427, "hi");

    assert_eq!(
        xml,
        "<xml><ToUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></ToUserName><FromUserName><![CDATA[gh_97417a04a28d]]></FromUserName><CreateTime>1713424427</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"
    );
}

#[test]
fn image_and_news_replies_have_the_documented_shape() {
    let image = passive_reply(
        OPENID,
        GH_ID,
        7,
        &PassiveReply::Image {
            media_id: "M1".into(),
        },
    );
    assert_eq!(
        image,
        "<xml><ToUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></ToUserName><FromUserName><![CDATA[gh_97417a04a28d]]></FromUserName><CreateTime>7</CreateTime><MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[M1]]></MediaId></Image></xml>"
    );
    let news = passive_reply(
        OPENID,
        GH_ID,
        7,
        &PassiveReply::News {
            articles: vec![NewsArticle {
                title: "T]]>".into(),
                description: None,
                pic_url: None,
                url: Some("https://e.com/a?b=1&c=2".into()),
            }],
        },
    );
    assert!(news.ends_with(
        "<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[T]]]]><![CDATA[>]]></Title><Url><![CDATA[https://e.com/a?b=1&c=2]]></Url></item></Articles></xml>"
    ), "{news}");
    // Our own parser reads its header back, as WeChat reads any reply
    let message = parse_authorizer_message(&news).expect("parses");
    assert_eq!(message.msg_type, "news");
}

#[test]
fn a_text_passive_reply_is_the_text_reply() {
    let reply = PassiveReply::Text {
        content: "hi".into(),
    };
    assert_eq!(
        passive_reply(OPENID, GH_ID, 3, &reply),
        text_reply(OPENID, GH_ID, 3, "hi")
    );
}

#[test]
fn text_reply_parses_back_with_its_header() {
    let message = parse_authorizer_message(&text_reply(OPENID, GH_ID, 42, "hi")).expect("parses");

    assert_eq!(message.to_user_name, OPENID);
    assert_eq!(message.from_user_name, GH_ID);
    assert_eq!(message.create_time, 42);
    assert_eq!(message.msg_type, "text");
}

#[test]
fn content_with_a_cdata_terminator_round_trips() {
    let content = "a]]>b ]]]]> <![CDATA[x]]> ]]";
    assert_eq!(
        content_of(&text_reply(OPENID, GH_ID, 1, content)).as_deref(),
        Some(content)
    );
}

#[test]
fn content_with_markup_and_line_breaks_round_trips() {
    let content = "<b>&amp;</b>\r\n line\rtwo\n中文 😀";
    assert_eq!(
        content_of(&text_reply(OPENID, GH_ID, 1, content)).as_deref(),
        Some(content)
    );
}

#[test]
fn flat_xml_round_trips_its_fields() {
    let xml = flat_xml(&[("AppId", "wx1"), ("Encrypt", "a]]>b")]);
    let envelope = parse_envelope(xml.as_bytes()).expect("parses");
    assert_eq!(envelope.app_id.as_deref(), Some("wx1"));
    assert_eq!(envelope.encrypt, "a]]>b");
}

#[test]
fn encrypted_reply_has_the_documented_shape() {
    assert_eq!(
        encrypted_reply("ENC", "SIG", "1713424427", "415670741"),
        "<xml><Encrypt><![CDATA[ENC]]></Encrypt><MsgSignature><![CDATA[SIG]]></MsgSignature><TimeStamp>1713424427</TimeStamp><Nonce><![CDATA[415670741]]></Nonce></xml>"
    );
}

#[test]
fn sealed_text_reply_opens_to_the_same_text() {
    let crypt = MsgCrypt::new(
        "AAAAA",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        None,
        "wx134c8103faa5a59e",
    )
    .expect("valid key");
    let reply = text_reply(
        OPENID,
        GH_ID,
        1_713_424_427,
        "TESTCOMPONENT_MSG_TYPE_TEXT_callback",
    );

    let sealed = crypt.seal_reply(&reply, "1713424427", "415670741");
    let envelope = parse_envelope(sealed.as_bytes()).expect("envelope parses");
    let signature = crypt.msg_signature("1713424427", "415670741", &envelope.encrypt);
    let opened = crypt
        .open_envelope(sealed.as_bytes(), &signature, "1713424427", "415670741")
        .expect("opens");

    assert!(sealed.contains(&format!(
        "<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
    )));
    assert_eq!(opened.opened.message, reply);
    assert_eq!(
        content_of(&opened.opened.message).as_deref(),
        Some("TESTCOMPONENT_MSG_TYPE_TEXT_callback")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_content_without_nul_round_trips(content in any::<String>().prop_map(|s| s.replace('\0', ""))) {
        prop_assert_eq!(content_of(&text_reply(OPENID, GH_ID, 1, &content)), Some(content));
    }
}
