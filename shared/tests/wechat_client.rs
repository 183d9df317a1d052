//! The exact requests the WeChat client sends and how it reads the replies,
//! checked against a real local HTTP server (wiremock).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};
use wxopen::secret::Secret;
use wxopen::wechat::{
    MassSend, MediaType, MessageContent, MiniProgramLink, RetryPolicy, TemplateMessage,
    TemplateValue, WechatClient, WechatConfig,
};

fn client_for(server: &MockServer) -> WechatClient {
    WechatClient::new(WechatConfig {
        base_url: server.uri(),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy::none(),
    })
    .expect("client builds")
}

/// Given: a WeChat stand-in that answers every request with `reply`.
async fn wechat_replying(reply: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(reply))
        .mount(&server)
        .await;
    server
}

async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 1, "exactly one request expected");
    requests.remove(0)
}

fn query_of(request: &Request) -> BTreeMap<String, String> {
    request.url.query_pairs().into_owned().collect()
}

fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn json_body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

#[tokio::test]
async fn component_token_posts_appid_secret_and_ticket_with_no_token_in_the_query() {
    let server =
        wechat_replying(json!({"component_access_token": "ctok", "expires_in": 7200})).await;

    let token = client_for(&server)
        .component_token(
            "wxcomp",
            &Secret::new("the-secret"),
            &Secret::new("ticket@@@1"),
        )
        .await
        .expect("token");

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/cgi-bin/component/api_component_token");
    assert_eq!(query_of(&request), query(&[]));
    assert_eq!(
        json_body(&request),
        json!({"component_appid": "wxcomp", "component_appsecret": "the-secret",
               "component_verify_ticket": "ticket@@@1"})
    );
    assert_eq!(token.access_token.expose(), "ctok");
    assert_eq!(token.expires_in, 7200);
}

#[tokio::test]
async fn create_preauthcode_sends_the_component_token_as_component_access_token() {
    let server = wechat_replying(json!({"pre_auth_code": "pac", "expires_in": 600})).await;

    let code = client_for(&server)
        .create_preauthcode(&Secret::new("ctok"), "wxcomp")
        .await
        .expect("code");

    let request = only_request(&server).await;
    assert_eq!(
        request.url.path(),
        "/cgi-bin/component/api_create_preauthcode"
    );
    assert_eq!(
        query_of(&request),
        query(&[("component_access_token", "ctok")])
    );
    assert_eq!(json_body(&request), json!({"component_appid": "wxcomp"}));
    assert_eq!(code.pre_auth_code.expose(), "pac");
    assert_eq!(code.expires_in, 600);
}

#[tokio::test]
async fn query_auth_exchanges_the_code_and_returns_tokens_and_granted_scopes() {
    let server = wechat_replying(json!({"authorization_info": {
        "authorizer_appid": "wxauth",
        "authorizer_access_token": "atok",
        "expires_in": 7200,
        "authorizer_refresh_token": "rtok",
        "func_info": [{"funcscope_category": {"id": 1}}, {"funcscope_category": {"id": 15}}]
    }}))
    .await;

    let info = client_for(&server)
        .query_auth(&Secret::new("ctok"), "wxcomp", &Secret::new("authcode"))
        .await
        .expect("info");

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/cgi-bin/component/api_query_auth");
    assert_eq!(
        query_of(&request),
        query(&[("component_access_token", "ctok")])
    );
    assert_eq!(
        json_body(&request),
        json!({"component_appid": "wxcomp", "authorization_code": "authcode"})
    );
    assert_eq!(info.authorizer_appid, "wxauth");
    assert_eq!(info.authorizer_access_token.expose(), "atok");
    assert_eq!(info.authorizer_refresh_token.expose(), "rtok");
    assert_eq!(info.expires_in, 7200);
    assert_eq!(info.func_info, vec![1, 15]);
}

#[tokio::test]
async fn authorizer_token_sends_the_refresh_token_and_returns_the_new_pair() {
    let server = wechat_replying(
        json!({"authorizer_access_token": "atok2", "expires_in": 7200,
                                        "authorizer_refresh_token": "rtok2"}),
    )
    .await;

    let token = client_for(&server)
        .authorizer_token(
            &Secret::new("ctok"),
            "wxcomp",
            "wxauth",
            &Secret::new("rtok1"),
        )
        .await
        .expect("token");

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(
        request.url.path(),
        "/cgi-bin/component/api_authorizer_token"
    );
    assert_eq!(
        query_of(&request),
        query(&[("component_access_token", "ctok")])
    );
    assert_eq!(
        json_body(&request),
        json!({"component_appid": "wxcomp", "authorizer_appid": "wxauth",
               "authorizer_refresh_token": "rtok1"})
    );
    assert_eq!(token.authorizer_access_token.expose(), "atok2");
    assert_eq!(token.expires_in, 7200);
    assert_eq!(
        token.authorizer_refresh_token.as_ref().map(Secret::expose),
        Some("rtok2")
    );
}

#[tokio::test]
async fn authorizer_info_reads_the_profile_leniently() {
    let server = wechat_replying(json!({
        "authorizer_info": {"nick_name": "Shop", "head_img": "http://img", "service_type_info": {"id": 2},
                            "verify_type_info": {"id": -1}, "user_name": "gh_1", "principal_name": "Co",
                            "business_info": {"open_pay": 0}},
        "authorization_info": {"authorizer_appid": "wxauth", "authorizer_refresh_token": "rtok",
                               "func_info": [{"funcscope_category": {"id": 1}}]}
    }))
    .await;

    let info = client_for(&server)
        .authorizer_info(&Secret::new("ctok"), "wxcomp", "wxauth")
        .await
        .expect("info");

    let request = only_request(&server).await;
    assert_eq!(
        request.url.path(),
        "/cgi-bin/component/api_get_authorizer_info"
    );
    assert_eq!(
        json_body(&request),
        json!({"component_appid": "wxcomp", "authorizer_appid": "wxauth"})
    );
    assert_eq!(info.authorizer_info.nick_name.as_deref(), Some("Shop"));
    assert_eq!(info.authorizer_info.user_name.as_deref(), Some("gh_1"));
    assert_eq!(info.authorizer_info.verify_type, Some(-1));
    assert_eq!(info.authorizer_info.qrcode_url, None);
    assert_eq!(info.authorization_info.func_info, vec![1]);
}

#[tokio::test]
async fn authorizer_list_pages_with_offset_and_count_and_returns_refresh_tokens() {
    let server = wechat_replying(json!({"total_count": 2, "list": [
        {"authorizer_appid": "wx1", "refresh_token": "r1", "auth_time": 1700000000},
        {"authorizer_appid": "wx2", "refresh_token": "r2", "auth_time": 1700000001}
    ]}))
    .await;

    let page = client_for(&server)
        .authorizer_list(&Secret::new("ctok"), "wxcomp", 0, 500)
        .await
        .expect("page");

    let request = only_request(&server).await;
    assert_eq!(
        request.url.path(),
        "/cgi-bin/component/api_get_authorizer_list"
    );
    assert_eq!(
        json_body(&request),
        json!({"component_appid": "wxcomp", "offset": 0, "count": 500})
    );
    assert_eq!(page.total_count, 2);
    assert_eq!(page.list[1].authorizer_appid, "wx2");
    assert_eq!(page.list[1].refresh_token.expose(), "r2");
}

#[tokio::test]
async fn send_template_sends_access_token_and_the_message_and_returns_msgid() {
    let server = wechat_replying(json!({"errcode": 0, "errmsg": "ok", "msgid": 200228332})).await;
    let message = TemplateMessage {
        touser: "openid1".into(),
        template_id: "tpl".into(),
        url: Some("https://example.com/o/1".into()),
        miniprogram: Some(MiniProgramLink {
            appid: "wxmini".into(),
            pagepath: Some("pages/index".into()),
        }),
        data: [
            ("first".to_string(), TemplateValue::new("你好")),
            (
                "keyword1".to_string(),
                TemplateValue {
                    value: "42".into(),
                    color: Some("#173177".into()),
                },
            ),
        ]
        .into_iter()
        .collect(),
        client_msg_id: Some("job1-openid1".into()),
    };

    let msgid = client_for(&server)
        .send_template(&Secret::new("atok"), &message)
        .await
        .expect("msgid");

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/cgi-bin/message/template/send");
    assert_eq!(query_of(&request), query(&[("access_token", "atok")]));
    assert_eq!(
        json_body(&request),
        json!({"touser": "openid1", "template_id": "tpl", "url": "https://example.com/o/1",
               "miniprogram": {"appid": "wxmini", "pagepath": "pages/index"},
               "data": {"first": {"value": "你好"}, "keyword1": {"value": "42", "color": "#173177"}},
               "client_msg_id": "job1-openid1"})
    );
    assert_eq!(msgid, 200228332);
}

#[tokio::test]
async fn mass_send_to_openids_puts_msgtype_beside_its_payload() {
    let server = wechat_replying(
        json!({"errcode": 0, "errmsg": "send job submission success",
                                        "msg_id": 34182, "msg_data_id": 206227730}),
    )
    .await;
    let message = MassSend {
        touser: vec!["o1".into(), "o2".into()],
        message: MessageContent::MpNews {
            media_id: "news1".into(),
        },
        send_ignore_reprint: true,
        clientmsgid: Some("job7".into()),
    };

    let result = client_for(&server)
        .mass_send(&Secret::new("atok"), &message)
        .await
        .expect("result");

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/cgi-bin/message/mass/send");
    assert_eq!(query_of(&request), query(&[("access_token", "atok")]));
    assert_eq!(
        json_body(&request),
        json!({"touser": ["o1", "o2"], "msgtype": "mpnews", "mpnews": {"media_id": "news1"},
               "send_ignore_reprint": 1, "clientmsgid": "job7"})
    );
    assert_eq!(result.msg_id, 34182);
    assert_eq!(result.msg_data_id, Some(206227730));
}

#[tokio::test]
async fn mass_get_asks_by_msg_id_and_reads_the_status() {
    let server = wechat_replying(json!({"msg_id": 201053012, "msg_status": "SEND_SUCCESS"})).await;

    let status = client_for(&server)
        .mass_get(&Secret::new("atok"), 201053012)
        .await
        .expect("status");

    let request = only_request(&server).await;
    assert_eq!(request.url.path(), "/cgi-bin/message/mass/get");
    assert_eq!(json_body(&request), json!({"msg_id": 201053012}));
    assert_eq!(
        status.msg_status,
        wxopen::wechat::MassMsgStatus::SendSuccess
    );
}

/// Splits a multipart body into (headers, content) per part.
fn multipart_parts(request: &Request) -> Vec<(String, Vec<u8>)> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("multipart/form-data"),
        "{content_type}"
    );
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let body = &request.body;
    let mut positions = Vec::new();
    let mut i = 0;
    while let Some(offset) = find(&body[i..], delimiter.as_bytes()) {
        positions.push(i + offset);
        i += offset + delimiter.len();
    }
    positions
        .windows(2)
        .map(|w| {
            let part = &body[w[0] + delimiter.len()..w[1]];
            let part = part.strip_prefix(b"\r\n").unwrap_or(part);
            let part = part.strip_suffix(b"\r\n").unwrap_or(part);
            let split = find(part, b"\r\n\r\n").expect("part header end");
            (
                String::from_utf8_lossy(&part[..split]).into_owned(),
                part[split + 4..].to_vec(),
            )
        })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn upload_media_sends_one_multipart_field_media_with_filename_and_bytes() {
    let server =
        wechat_replying(json!({"type": "image", "media_id": "MEDIA1", "created_at": 1700000000}))
            .await;
    let bytes: Vec<u8> = vec![0xff, 0xd8, 0xff, 0x00, 0x0d, 0x0a, 0x2d, 0x2d, 0xd9];

    let media = client_for(&server)
        .upload_media(
            &Secret::new("atok"),
            MediaType::Image,
            "photo.jpg",
            bytes.clone(),
        )
        .await
        .expect("media");

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/cgi-bin/media/upload");
    assert_eq!(
        query_of(&request),
        query(&[("access_token", "atok"), ("type", "image")])
    );
    let parts = multipart_parts(&request);
    assert_eq!(parts.len(), 1);
    let (headers, content) = &parts[0];
    assert!(
        headers.contains(r#"name="media"; filename="photo.jpg""#),
        "{headers}"
    );
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: image/jpeg"),
        "{headers}"
    );
    assert_eq!(content, &bytes);
    assert_eq!(media.media_type, MediaType::Image);
    assert_eq!(media.media_id, "MEDIA1");
    assert_eq!(media.created_at, 1700000000);
}

#[tokio::test]
async fn upload_img_returns_the_image_url() {
    let server = wechat_replying(json!({"url": "http://mmbiz.qpic.cn/x"})).await;

    let url = client_for(&server)
        .upload_img(&Secret::new("atok"), "a.png", vec![1u8, 2, 3])
        .await
        .expect("url");

    let request = only_request(&server).await;
    assert_eq!(request.url.path(), "/cgi-bin/media/uploadimg");
    assert_eq!(query_of(&request), query(&[("access_token", "atok")]));
    let parts = multipart_parts(&request);
    assert_eq!(parts.len(), 1);
    assert!(parts[0].0.contains(r#"name="media"; filename="a.png""#));
    assert_eq!(parts[0].1, vec![1u8, 2, 3]);
    assert_eq!(url, "http://mmbiz.qpic.cn/x");
}

#[tokio::test]
async fn user_get_from_the_start_sends_only_the_access_token() {
    let server = wechat_replying(json!({"total": 2, "count": 2,
                                        "data": {"openid": ["o1", "o2"]}, "next_openid": "o2"}))
    .await;

    let page = client_for(&server)
        .user_get(&Secret::new("atok"), None)
        .await
        .expect("page");

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/cgi-bin/user/get");
    assert_eq!(query_of(&request), query(&[("access_token", "atok")]));
    assert_eq!(page.total, 2);
    assert_eq!(page.data.openid, vec!["o1", "o2"]);
    assert_eq!(page.next_openid, "o2");
}

#[tokio::test]
async fn user_get_continues_from_next_openid_and_reads_a_last_page_without_data() {
    let server = wechat_replying(json!({"total": 2, "count": 0, "next_openid": ""})).await;

    let page = client_for(&server)
        .user_get(&Secret::new("atok"), Some("o2"))
        .await
        .expect("page");

    let request = only_request(&server).await;
    assert_eq!(
        query_of(&request),
        query(&[("access_token", "atok"), ("next_openid", "o2")])
    );
    assert_eq!(page.count, 0);
    assert!(page.data.openid.is_empty());
}

#[tokio::test]
async fn user_info_sends_openid_and_lang_in_the_query() {
    let server = wechat_replying(json!({"subscribe": 1, "openid": "o1", "language": "zh_CN",
                                        "subscribe_time": 1382694957, "tagid_list": [128, 2]}))
    .await;

    let user = client_for(&server)
        .user_info(&Secret::new("atok"), "o1", Some("zh_CN"))
        .await
        .expect("user");

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/cgi-bin/user/info");
    assert_eq!(
        query_of(&request),
        query(&[
            ("access_token", "atok"),
            ("openid", "o1"),
            ("lang", "zh_CN")
        ])
    );
    assert_eq!(user.subscribe, 1);
    assert_eq!(user.tagid_list, vec![128, 2]);
}

#[tokio::test]
async fn custom_send_posts_a_text_message() {
    let server = wechat_replying(json!({"errcode": 0, "errmsg": "ok"})).await;
    let message = wxopen::wechat::CustomMessage {
        touser: "o1".into(),
        message: MessageContent::text("CODE_from_api"),
        kf_account: None,
    };

    client_for(&server)
        .custom_send(&Secret::new("atok"), &message)
        .await
        .expect("sent");

    let request = only_request(&server).await;
    assert_eq!(request.url.path(), "/cgi-bin/message/custom/send");
    assert_eq!(query_of(&request), query(&[("access_token", "atok")]));
    assert_eq!(
        json_body(&request),
        json!({"touser": "o1", "msgtype": "text", "text": {"content": "CODE_from_api"}})
    );
}

#[tokio::test]
async fn a_trailing_slash_on_the_base_url_does_not_double_the_path_separator() {
    let server = wechat_replying(json!({"errcode": 0})).await;
    let client = WechatClient::new(WechatConfig {
        base_url: format!("{}/", server.uri()),
        retry: RetryPolicy::none(),
        ..WechatConfig::default()
    })
    .expect("client");

    client
        .clear_quota(&Secret::new("atok"), "wxauth")
        .await
        .expect("cleared");

    let request = only_request(&server).await;
    assert_eq!(request.url.path(), "/cgi-bin/clear_quota");
    assert_eq!(json_body(&request), json!({"appid": "wxauth"}));
}
