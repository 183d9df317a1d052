//! Parsing each kind of push with realistic XML (wechat-api.md §4, §5, §6).

use wxopen::xml::{
    parse_authorizer_message, parse_component_push, parse_envelope, Authorization, ComponentPush,
    Envelope, MessageKind, XmlError,
};

/// The decrypted official push from crypto-vectors.json.
const OFFICIAL_PUSH_PLAINTEXT: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>";

#[test]
fn component_envelope_carries_appid_and_encrypt() {
    let body = b"<xml>\n    <AppId><![CDATA[wx134c8103faa5a59e]]></AppId>\n    <Encrypt><![CDATA[abc+/==]]></Encrypt>\n</xml>";

    assert_eq!(
        parse_envelope(body),
        Ok(Envelope {
            app_id: Some("wx134c8103faa5a59e".into()),
            to_user_name: None,
            encrypt: "abc+/==".into(),
        })
    );
}

#[test]
fn authorizer_envelope_carries_to_user_name_and_encrypt() {
    let body = b"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[xyz]]></Encrypt></xml>";

    let envelope = parse_envelope(body).expect("parses");

    assert_eq!(envelope.to_user_name.as_deref(), Some("gh_97417a04a28d"));
    assert_eq!(envelope.app_id, None);
    assert_eq!(envelope.encrypt, "xyz");
}

#[test]
fn envelope_without_encrypt_is_missing_field() {
    let got = parse_envelope(b"<xml><AppId>wx1</AppId></xml>");
    assert_eq!(got, Err(XmlError::MissingField("Encrypt")));
}

#[test]
fn ticket_push_parses_with_the_ticket_kept_secret() {
    let xml = "<xml><AppId><![CDATA[wx134c8103faa5a59e]]></AppId>\n<CreateTime>1413192605</CreateTime>\n<InfoType><![CDATA[component_verify_ticket]]></InfoType>\n<ComponentVerifyTicket><![CDATA[ticket@@@lEHjsBEi_TPDey0IZxw4Zbb7JRYLOtEf9ksvDpSwzkwog3R6xEpdaK0yIee7JOyOXM0V7cp0dpM58GKmb8FSKA]]></ComponentVerifyTicket>\n</xml>";

    let push = parse_component_push(xml).expect("parses");

    let ComponentPush::ComponentVerifyTicket {
        app_id,
        create_time,
        ticket,
    } = &push
    else {
        panic!("not a ticket: {push:?}");
    };
    assert_eq!(app_id, "wx134c8103faa5a59e");
    assert_eq!(*create_time, 1_413_192_605);
    assert!(ticket.expose().starts_with("ticket@@@lEHj"));
    assert!(!format!("{push:?}").contains("ticket@@@"));
}

const AUTHORIZED: &str = "<xml>\n<AppId>wx134c8103faa5a59e</AppId>\n<CreateTime>1413192760</CreateTime>\n<InfoType>authorized</InfoType>\n<AuthorizerAppid>wxba5fad812f8e6fb9</AuthorizerAppid>\n<AuthorizationCode>queryauthcode@@@cNt5Rj2-Lu4x0</AuthorizationCode>\n<AuthorizationCodeExpiredTime>1413196360</AuthorizationCodeExpiredTime>\n<PreAuthCode>preauthcode@@@O0pNMvCzH2N</PreAuthCode>\n</xml>";

fn expected_authorization(expired: i64) -> Authorization {
    Authorization {
        app_id: "wx134c8103faa5a59e".into(),
        create_time: 1_413_192_760,
        authorizer_appid: "wxba5fad812f8e6fb9".into(),
        authorization_code: "queryauthcode@@@cNt5Rj2-Lu4x0".into(),
        authorization_code_expired_time: expired,
        pre_auth_code: Some("preauthcode@@@O0pNMvCzH2N".into()),
    }
}

#[test]
fn authorized_push_parses_every_field() {
    assert_eq!(
        parse_component_push(AUTHORIZED),
        Ok(ComponentPush::Authorized(expected_authorization(
            1_413_196_360
        )))
    );
}

#[test]
fn updateauthorized_push_keeps_a_relative_expiry_as_sent() {
    let xml = AUTHORIZED
        .replace(">authorized<", ">updateauthorized<")
        .replace("1413196360", "3600");

    assert_eq!(
        parse_component_push(&xml),
        Ok(ComponentPush::UpdateAuthorized(expected_authorization(
            3600
        )))
    );
}

#[test]
fn authorized_push_hides_its_code_in_debug_output() {
    let push = parse_component_push(AUTHORIZED).expect("parses");
    assert!(!format!("{push:?}").contains("queryauthcode@@@"));
}

#[test]
fn authorized_push_without_code_is_missing_field() {
    let xml = AUTHORIZED.replace(
        "<AuthorizationCode>queryauthcode@@@cNt5Rj2-Lu4x0</AuthorizationCode>\n",
        "",
    );
    assert_eq!(
        parse_component_push(&xml),
        Err(XmlError::MissingField("AuthorizationCode"))
    );
}

#[test]
fn unauthorized_push_parses() {
    let xml = "<xml><AppId>wx134c8103faa5a59e</AppId><CreateTime>1413192760</CreateTime><InfoType>unauthorized</InfoType><AuthorizerAppid>wxba5fad812f8e6fb9</AuthorizerAppid></xml>";

    assert_eq!(
        parse_component_push(xml),
        Ok(ComponentPush::Unauthorized {
            app_id: "wx134c8103faa5a59e".into(),
            create_time: 1_413_192_760,
            authorizer_appid: "wxba5fad812f8e6fb9".into(),
        })
    );
}

#[test]
fn unknown_info_type_keeps_every_field() {
    let xml = "<xml><AppId>wx1</AppId><CreateTime>1</CreateTime><InfoType>notify_third_fasteregister</InfoType><status>0</status><info><name>x</name></info></xml>";

    let Ok(ComponentPush::Unknown { info_type, fields }) = parse_component_push(xml) else {
        panic!("not unknown");
    };
    assert_eq!(info_type, "notify_third_fasteregister");
    assert_eq!(fields.get("status").map(String::as_str), Some("0"));
    assert_eq!(
        fields.get("info").map(String::as_str),
        Some("<name>x</name>")
    );
}

#[test]
fn push_without_info_type_is_missing_field() {
    assert_eq!(
        parse_component_push("<xml><AppId>wx1</AppId></xml>"),
        Err(XmlError::MissingField("InfoType"))
    );
}

#[test]
fn non_numeric_create_time_is_invalid_field() {
    let xml = AUTHORIZED.replace("1413192760", "yesterday");
    assert_eq!(
        parse_component_push(&xml),
        Err(XmlError::InvalidField("CreateTime"))
    );
}

#[test]
fn text_message_parses_with_its_msg_id() {
    let xml = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT]]></Content><MsgId>1234567890123456</MsgId></xml>";

    let message = parse_authorizer_message(xml).expect("parses");

    assert_eq!(message.to_user_name, "gh_97417a04a28d");
    assert_eq!(message.from_user_name, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
    assert_eq!(message.create_time, 1_348_831_860);
    assert_eq!(message.msg_type, "text");
    assert_eq!(message.msg_id, Some(1_234_567_890_123_456));
    assert_eq!(
        message.kind,
        MessageKind::Text {
            content: "TESTCOMPONENT_MSG_TYPE_TEXT".into()
        }
    );
}

#[test]
fn image_message_parses() {
    let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl><MediaId><![CDATA[media_id_1]]></MediaId><MsgId>1234567890123456</MsgId></xml>";

    assert_eq!(
        parse_authorizer_message(xml).map(|m| m.kind),
        Ok(MessageKind::Image {
            pic_url: "http://mmbiz.qpic.cn/x".into(),
            media_id: "media_id_1".into()
        })
    );
}

#[test]
fn voice_message_parses_with_and_without_recognition() {
    let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1357290913</CreateTime><MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[media_id]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[腾讯微信团队]]></Recognition><MsgId>1234567890123456</MsgId></xml>";

    assert_eq!(
        parse_authorizer_message(xml).map(|m| m.kind),
        Ok(MessageKind::Voice {
            media_id: "media_id".into(),
            format: "amr".into(),
            recognition: Some("腾讯微信团队".into())
        })
    );
    let without = xml.replace("<Recognition><![CDATA[腾讯微信团队]]></Recognition>", "");
    assert!(matches!(
        parse_authorizer_message(&without).map(|m| m.kind),
        Ok(MessageKind::Voice {
            recognition: None,
            ..
        })
    ));
}

#[test]
fn click_event_parses_with_its_key() {
    let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[V1001_TODAY_MUSIC]]></EventKey></xml>";

    let message = parse_authorizer_message(xml).expect("parses");

    assert_eq!(message.msg_id, None);
    assert_eq!(
        message.kind,
        MessageKind::Event {
            event: "CLICK".into(),
            event_key: Some("V1001_TODAY_MUSIC".into())
        }
    );
}

#[test]
fn official_debug_push_is_an_event_with_its_extra_field_kept() {
    let message = parse_authorizer_message(OFFICIAL_PUSH_PLAINTEXT).expect("parses");

    assert_eq!(
        message.kind,
        MessageKind::Event {
            event: "debug_demo".into(),
            event_key: None
        }
    );
    assert_eq!(message.create_time, 1_715_943_329);
    assert_eq!(
        message.fields.get("debug_str").map(String::as_str),
        Some("hello world")
    );
}

#[test]
fn template_send_job_finish_parses_msg_id_and_status() {
    let xml = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName><CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status></xml>";

    assert_eq!(
        parse_authorizer_message(xml).map(|m| m.kind),
        Ok(MessageKind::TemplateSendJobFinish {
            msg_id: 200_163_836,
            status: "failed:user block".into()
        })
    );
}

#[test]
fn mass_send_job_finish_parses_counts_and_keeps_the_copyright_result_raw() {
    let xml = "<xml><ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName><FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]></FromUserName><CreateTime>1481013459</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>1000001625</MsgID><Status><![CDATA[err(30003)]]></Status><TotalCount>0</TotalCount><FilterCount>0</FilterCount><SentCount>0</SentCount><ErrorCount>0</ErrorCount><CopyrightCheckResult><Count>2</Count><ResultList><item><ArticleIdx>1</ArticleIdx><UserDeclareState>0</UserDeclareState><AuditState>2</AuditState><OriginalArticleUrl><![CDATA[Url_1]]></OriginalArticleUrl><OriginalArticleType>1</OriginalArticleType><CanReprint>1</CanReprint><NeedReplaceContent>1</NeedReplaceContent><NeedShowReprintSource>1</NeedShowReprintSource></item></ResultList><CheckState>2</CheckState></CopyrightCheckResult></xml>";

    let Ok(MessageKind::MassSendJobFinish {
        msg_id,
        status,
        total_count,
        filter_count,
        sent_count,
        error_count,
        copyright_check_result,
    }) = parse_authorizer_message(xml).map(|m| m.kind)
    else {
        panic!("not a mass send outcome");
    };
    assert_eq!((msg_id, status.as_str()), (1_000_001_625, "err(30003)"));
    assert_eq!(
        (total_count, filter_count, sent_count, error_count),
        (0, 0, 0, 0)
    );
    let raw = copyright_check_result.expect("present");
    assert!(
        raw.starts_with("<Count>2</Count><ResultList><item>"),
        "{raw}"
    );
    assert!(raw.ends_with("<CheckState>2</CheckState>"), "{raw}");
}

#[test]
fn unknown_message_type_keeps_every_field() {
    let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1351776360</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>1234567890123456</MsgId></xml>";

    let message = parse_authorizer_message(xml).expect("parses");

    assert_eq!(message.kind, MessageKind::Unknown);
    assert_eq!(message.msg_type, "location");
    assert_eq!(
        message.fields.get("Label").map(String::as_str),
        Some("位置信息")
    );
}

#[test]
fn message_without_from_user_name_is_missing_field() {
    let xml = "<xml><ToUserName>gh_1</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>";
    assert_eq!(
        parse_authorizer_message(xml),
        Err(XmlError::MissingField("FromUserName"))
    );
}

#[test]
fn text_message_without_content_is_missing_field() {
    let xml = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>";
    assert_eq!(
        parse_authorizer_message(xml),
        Err(XmlError::MissingField("Content"))
    );
}
