//! How the WeChat client fails: errcodes to classes, what is retried and what
//! is not, transport and decoding failures, and that no secret ever shows in an
//! error. Against a real local HTTP server (wiremock) or a closed port.

use std::error::Error as _;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};
use wxopen::secret::Secret;
use wxopen::wechat::{
    ErrorClass, RetryPolicy, Sent, TemplateMessage, TemplateValue, WechatClient, WechatConfig,
    WechatError,
};

const ATTEMPTS: u32 = 3;

fn config(base_url: String) -> WechatConfig {
    WechatConfig {
        base_url,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: ATTEMPTS,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
    }
}

fn client_for(server: &MockServer) -> WechatClient {
    WechatClient::new(config(server.uri())).expect("client builds")
}

async fn wechat_answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

async fn wechat_replying(reply: Value) -> MockServer {
    wechat_answering(ResponseTemplate::new(200).set_body_json(reply)).await
}

async fn request_count(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .expect("recording on")
        .len()
}

fn template_to(openid: &str) -> TemplateMessage {
    TemplateMessage {
        touser: openid.into(),
        template_id: "tpl".into(),
        url: None,
        miniprogram: None,
        data: [("first".to_string(), TemplateValue::new("hi"))]
            .into_iter()
            .collect(),
        client_msg_id: None,
    }
}

/// A port on which nothing listens: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn each_errcode_maps_to_its_class_after_exactly_one_request() {
    let cases = [
        (40001, ErrorClass::TokenInvalid),
        (40014, ErrorClass::TokenInvalid),
        (42001, ErrorClass::TokenInvalid),
        (41001, ErrorClass::TokenInvalid),
        (45009, ErrorClass::Quota),
        (61023, ErrorClass::RefreshTokenInvalid),
        (40003, ErrorClass::Recipient),
        (43004, ErrorClass::Recipient),
        (43101, ErrorClass::Recipient),
        (45065, ErrorClass::AlreadySent),
        (40037, ErrorClass::Other),
    ];
    let server = MockServer::start().await;
    let client = client_for(&server);
    for (errcode, class) in cases {
        server.reset().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"errcode": errcode, "errmsg": "some text rid: 1"})),
            )
            .mount(&server)
            .await;

        let err = client
            .send_template(&Secret::new("atok"), &template_to("o1"))
            .await
            .expect_err("errcode must fail the call");

        assert_eq!(err.class(), class, "errcode {errcode}");
        assert_eq!(err.errcode(), Some(errcode));
        assert_eq!(
            request_count(&server).await,
            1,
            "errcode {errcode} must not be retried"
        );
    }
}

#[tokio::test]
async fn quota_spent_is_not_retried() {
    let server =
        wechat_replying(json!({"errcode": 45009, "errmsg": "reach max api daily quota limit"}))
            .await;

    let err = client_for(&server)
        .send_template(&Secret::new("atok"), &template_to("o1"))
        .await
        .expect_err("quota");

    assert_eq!(err.class(), ErrorClass::Quota);
    assert!(
        matches!(err, WechatError::Api { errcode: 45009, ref errmsg, .. } if errmsg.contains("daily quota"))
    );
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn duplicate_mass_send_reports_the_earlier_msg_id() {
    let server = wechat_replying(
        json!({"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": 1000000001}),
    )
    .await;
    let message = wxopen::wechat::MassSendAll {
        filter: wxopen::wechat::MassFilter::all(),
        message: wxopen::wechat::MessageContent::text("hi"),
        send_ignore_reprint: false,
        clientmsgid: Some("job1".into()),
    };

    let err = client_for(&server)
        .mass_sendall(&Secret::new("atok"), &message)
        .await
        .expect_err("duplicate");

    assert_eq!(err.class(), ErrorClass::AlreadySent);
    assert!(matches!(
        err,
        WechatError::Api {
            msg_id: Some(1000000001),
            ..
        }
    ));
}

#[tokio::test]
async fn busy_is_retried_and_a_later_success_is_returned() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"errcode": -1, "errmsg": "system error"})),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": 0, "msgid": 7})))
        .mount(&server)
        .await;

    let msgid = client_for(&server)
        .send_template(&Secret::new("atok"), &template_to("o1"))
        .await
        .expect("third attempt succeeds");

    assert_eq!(msgid, 7);
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn busy_through_every_attempt_is_reported_busy() {
    let server = wechat_replying(json!({"errcode": -1, "errmsg": "system error"})).await;

    let err = client_for(&server)
        .send_template(&Secret::new("atok"), &template_to("o1"))
        .await
        .expect_err("busy");

    assert_eq!(err.class(), ErrorClass::Busy);
    assert_eq!(request_count(&server).await, ATTEMPTS as usize);
}

#[tokio::test]
async fn http_5xx_is_retried_then_reported_unavailable() {
    let server = wechat_answering(ResponseTemplate::new(502)).await;

    let err = client_for(&server)
        .user_get(&Secret::new("atok"), None)
        .await
        .expect_err("5xx");

    assert_eq!(err.class(), ErrorClass::Unavailable);
    assert!(matches!(
        err,
        WechatError::Http {
            status: 502,
            attempts: ATTEMPTS,
            ..
        }
    ));
    assert_eq!(request_count(&server).await, ATTEMPTS as usize);
}

#[tokio::test]
async fn http_4xx_is_not_retried() {
    let server = wechat_answering(ResponseTemplate::new(404)).await;

    let err = client_for(&server)
        .user_get(&Secret::new("atok"), None)
        .await
        .expect_err("404");

    assert_eq!(err.class(), ErrorClass::Other);
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn timeout_after_sending_is_unknown_and_not_retried() {
    let server = wechat_answering(
        ResponseTemplate::new(200)
            .set_body_json(json!({"errcode": 0, "msgid": 1}))
            .set_delay(Duration::from_secs(10)),
    )
    .await;
    let client = WechatClient::new(WechatConfig {
        timeout: Duration::from_millis(200),
        ..config(server.uri())
    })
    .expect("client");

    let err = client
        .send_template(&Secret::new("atok"), &template_to("o1"))
        .await
        .expect_err("timeout");

    assert_eq!(err.class(), ErrorClass::Unknown);
    assert!(matches!(
        err,
        WechatError::Transport {
            sent: Sent::Unknown,
            attempts: 1,
            ..
        }
    ));
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn connection_refused_is_retried_and_reported_not_sent() {
    let client =
        WechatClient::new(config(format!("http://127.0.0.1:{}", closed_port()))).expect("client");

    let err = client
        .send_template(&Secret::new("atok"), &template_to("o1"))
        .await
        .expect_err("refused");

    assert_eq!(err.class(), ErrorClass::Unavailable);
    assert!(
        matches!(
            err,
            WechatError::Transport {
                sent: Sent::NotSent,
                attempts: ATTEMPTS,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wrongly_typed_field_is_a_decode_error_naming_its_path() {
    let server = wechat_replying(json!({"authorization_info": {
        "authorizer_appid": "wxauth", "authorizer_access_token": "atok",
        "expires_in": [7200], "authorizer_refresh_token": "rtok"}}))
    .await;

    let err = client_for(&server)
        .query_auth(&Secret::new("ctok"), "wxcomp", &Secret::new("code"))
        .await
        .expect_err("decode");

    assert!(
        matches!(err, WechatError::Decode { ref path, .. } if path == "authorization_info.expires_in"),
        "{err:?}"
    );
    assert!(err.to_string().contains("authorization_info.expires_in"));
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_missing_field_is_a_decode_error_naming_its_parent() {
    let server =
        wechat_replying(json!({"authorizer_access_token": "atok", "expires_in": 7200})).await;

    let err = client_for(&server)
        .component_token("wxcomp", &Secret::new("s"), &Secret::new("t"))
        .await
        .expect_err("decode");

    assert!(matches!(err, WechatError::Decode { .. }), "{err:?}");
    assert!(
        err.source()
            .map(|s| s.to_string())
            .unwrap_or_default()
            .contains("component_access_token"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_decode_error() {
    let server =
        wechat_answering(ResponseTemplate::new(200).set_body_string("<html>busy</html>")).await;

    let err = client_for(&server)
        .user_get(&Secret::new("atok"), None)
        .await
        .expect_err("decode");

    assert!(matches!(err, WechatError::Decode { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Unknown);
}

// ---- secrets never show in errors or logs ----

const APPSECRET: &str = "APPSECRET-zq7Xk2";
const TICKET: &str = "TICKET-Wp4Lm9";
const COMPONENT_TOKEN: &str = "CTOKEN-Hy3Ns8";
const ACCESS_TOKEN: &str = "ATOKEN-Rb6Vc1";
const REFRESH_TOKEN: &str = "RTOKEN-Jd5Qe0";
const SECRETS: [&str; 5] = [
    APPSECRET,
    TICKET,
    COMPONENT_TOKEN,
    ACCESS_TOKEN,
    REFRESH_TOKEN,
];

fn assert_no_secret_in(err: &WechatError) {
    let mut texts = vec![format!("{err}"), format!("{err:?}")];
    let mut source = err.source();
    while let Some(cause) = source {
        texts.push(format!("{cause}"));
        texts.push(format!("{cause:?}"));
        source = cause.source();
    }
    for text in &texts {
        for secret in SECRETS {
            assert!(!text.contains(secret), "secret {secret} leaked in: {text}");
        }
        assert!(!text.contains("access_token="), "query leaked in: {text}");
    }
}

/// Every kind of failure, each made with all the secrets in play.
async fn failing_calls() -> Vec<WechatError> {
    let mut errors = Vec::new();
    let ctok = Secret::new(COMPONENT_TOKEN);
    let atok = Secret::new(ACCESS_TOKEN);

    // WeChat refuses (errcode).
    let server =
        wechat_replying(json!({"errcode": 40125, "errmsg": "invalid appsecret rid: 9"})).await;
    errors.push(
        client_for(&server)
            .component_token("wxcomp", &Secret::new(APPSECRET), &Secret::new(TICKET))
            .await
            .expect_err("api"),
    );

    // Nothing listens (connect error, retried).
    let closed =
        WechatClient::new(config(format!("http://127.0.0.1:{}", closed_port()))).expect("client");
    errors.push(
        closed
            .authorizer_token(&ctok, "wxcomp", "wxauth", &Secret::new(REFRESH_TOKEN))
            .await
            .expect_err("refused"),
    );
    errors.push(closed.user_get(&atok, None).await.expect_err("refused"));

    // WeChat is too slow (timeout after sending, token in the query).
    let slow =
        wechat_answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(10))).await;
    let impatient = WechatClient::new(WechatConfig {
        timeout: Duration::from_millis(200),
        ..config(slow.uri())
    })
    .expect("client");
    errors.push(
        impatient
            .send_template(&atok, &template_to("o1"))
            .await
            .expect_err("timeout"),
    );

    // HTTP 5xx and undecodable replies.
    let failing = wechat_answering(ResponseTemplate::new(503)).await;
    errors.push(
        client_for(&failing)
            .query_auth(&ctok, "wxcomp", &Secret::new(REFRESH_TOKEN))
            .await
            .expect_err("5xx"),
    );
    let garbled = wechat_replying(json!({"authorizer_access_token": 5})).await;
    errors.push(
        client_for(&garbled)
            .authorizer_token(&ctok, "wxcomp", "wxauth", &Secret::new(REFRESH_TOKEN))
            .await
            .expect_err("decode"),
    );
    errors
}

#[tokio::test]
async fn no_secret_appears_in_any_error_or_its_source_chain() {
    let errors = failing_calls().await;

    let kinds: Vec<&str> = errors
        .iter()
        .map(|e| match e {
            WechatError::Api { .. } => "api",
            WechatError::Transport {
                sent: Sent::NotSent,
                ..
            } => "not-sent",
            WechatError::Transport {
                sent: Sent::Unknown,
                ..
            } => "unknown",
            WechatError::Http { .. } => "http",
            WechatError::Decode { .. } => "decode",
            WechatError::TooLarge { .. } => "too-large",
        })
        .collect();
    assert_eq!(
        kinds,
        ["api", "not-sent", "not-sent", "unknown", "http", "decode"]
    );
    for err in &errors {
        assert_no_secret_in(err);
    }
}
