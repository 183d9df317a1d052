//! The WeChat client's log events name the endpoint and errcode but never a
//! token or secret. Alone in its binary: it installs a process-wide subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};
use wxopen::secret::Secret;
use wxopen::wechat::{RetryPolicy, WechatClient, WechatConfig};

const APPSECRET: &str = "APPSECRET-zq7Xk2";
const TICKET: &str = "TICKET-Wp4Lm9";
const COMPONENT_TOKEN: &str = "CTOKEN-Hy3Ns8";
const ACCESS_TOKEN: &str = "ATOKEN-Rb6Vc1";
const REFRESH_TOKEN: &str = "RTOKEN-Jd5Qe0";

#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut captured) = self.0.lock() {
            captured.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn client(base_url: String, timeout: Duration) -> WechatClient {
    WechatClient::new(WechatConfig {
        base_url,
        timeout,
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    })
    .expect("client")
}

async fn wechat_answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn debug_logs_name_the_endpoint_and_errcode_but_never_a_secret() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    )
    .expect("the only subscriber in this binary");
    let ctok = Secret::new(COMPONENT_TOKEN);
    let atok = Secret::new(ACCESS_TOKEN);

    // Given WeChat refusing, being busy, slow and garbled, when each is called:
    let refusing = wechat_answering(
        ResponseTemplate::new(200)
            .set_body_json(json!({"errcode": 40125, "errmsg": "invalid appsecret"})),
    )
    .await;
    let _ = client(refusing.uri(), Duration::from_secs(5))
        .component_token("wxcomp", &Secret::new(APPSECRET), &Secret::new(TICKET))
        .await;
    let busy = wechat_answering(
        ResponseTemplate::new(200).set_body_json(json!({"errcode": -1, "errmsg": "system error"})),
    )
    .await;
    let _ = client(busy.uri(), Duration::from_secs(5))
        .authorizer_token(&ctok, "wxcomp", "wxauth", &Secret::new(REFRESH_TOKEN))
        .await;
    let slow =
        wechat_answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(10))).await;
    let _ = client(slow.uri(), Duration::from_millis(200))
        .user_get(&atok, None)
        .await;
    let garbled = wechat_answering(ResponseTemplate::new(200).set_body_string("{")).await;
    let _ = client(garbled.uri(), Duration::from_secs(5))
        .user_info(&atok, "o1", None)
        .await;

    // Then the log names endpoints and errcodes, and holds no secret.
    let text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(
        text.contains("/cgi-bin/component/api_component_token"),
        "{text}"
    );
    assert!(text.contains("errcode=40125"), "{text}");
    assert!(
        text.contains("/cgi-bin/component/api_authorizer_token"),
        "{text}"
    );
    assert!(text.contains("errcode=-1"), "{text}");
    for secret in [
        APPSECRET,
        TICKET,
        COMPONENT_TOKEN,
        ACCESS_TOKEN,
        REFRESH_TOKEN,
    ] {
        assert!(
            !text.contains(secret),
            "secret {secret} leaked in logs: {text}"
        );
    }
}
