//! The full-network release test against small receivers that answer right or wrong.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::{json, Value};
use wxopen_sim::{sandbox, Simulator};

use crate::common::*;

/// What a correct platform does, in miniature: remembers tickets, answers the test texts,
/// and for `QUERY_AUTH_CODE:` calls api_query_auth and custom/send in the background.
fn platform(
    base: Arc<Mutex<String>>,
    wrong_text: bool,
) -> impl Fn(&Received) -> (StatusCode, String) + Send + Sync {
    let ticket = Arc::new(Mutex::new(String::new()));
    move |r: &Received| {
        let p = &r.plaintext;
        if let Some(t) = field(p, "ComponentVerifyTicket") {
            *ticket.lock().unwrap() = t;
            return (StatusCode::OK, "success".into());
        }
        let from = field(p, "FromUserName").unwrap_or_default();
        let to = field(p, "ToUserName").unwrap_or_default();
        let reply_text = |content: &str| {
            let xml = format!(
                "<xml><ToUserName><![CDATA[{from}]]></ToUserName><FromUserName><![CDATA[{to}]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content></xml>"
            );
            (
                StatusCode::OK,
                crypt().seal_reply(&xml, "1700000000", "12345"),
            )
        };
        let content = field(p, "Content").unwrap_or_default();
        if content == "TESTCOMPONENT_MSG_TYPE_TEXT" {
            return reply_text(if wrong_text {
                "something else"
            } else {
                "TESTCOMPONENT_MSG_TYPE_TEXT_callback"
            });
        }
        if let Some(code) = content.strip_prefix("QUERY_AUTH_CODE:") {
            let (code, base, ticket, from) = (
                code.to_owned(),
                base.lock().unwrap().clone(),
                ticket.lock().unwrap().clone(),
                from.clone(),
            );
            tokio::spawn(async move { answer_query_auth_code(&base, &ticket, &code, &from).await });
            return (StatusCode::OK, String::new());
        }
        if let Some(event) = field(p, "Event") {
            return reply_text(&format!("{event}from_callback"));
        }
        (StatusCode::OK, "success".into())
    }
}

async fn post(base: &str, path: &str, body: Value) -> Value {
    client()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn answer_query_auth_code(base: &str, ticket: &str, code: &str, openid: &str) {
    let c = post(
        base,
        "/cgi-bin/component/api_component_token",
        json!({"component_appid": sandbox::COMPONENT_APPID, "component_appsecret": sandbox::COMPONENT_SECRET, "component_verify_ticket": ticket}),
    )
    .await;
    let ctoken = c["component_access_token"].as_str().unwrap_or_default();
    let auth = post(
        base,
        &format!("/cgi-bin/component/api_query_auth?component_access_token={ctoken}"),
        json!({"component_appid": sandbox::COMPONENT_APPID, "authorization_code": code}),
    )
    .await;
    let token = auth["authorization_info"]["authorizer_access_token"]
        .as_str()
        .unwrap_or_default();
    post(
        base,
        &format!("/cgi-bin/message/custom/send?access_token={token}"),
        json!({"touser": openid, "msgtype": "text", "text": {"content": format!("{code}_from_api")}}),
    )
    .await;
}

async fn run(wrong_text: bool) -> wxopen_sim::ReleaseTestReport {
    let base = Arc::new(Mutex::new(String::new()));
    let rx = Receiver::with_reply(Arc::new(platform(base.clone(), wrong_text))).await;
    let sim = Simulator::start(config(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    *base.lock().unwrap() = sim.base_url();
    rx.attach(&sim);
    sim.run_release_test(0).await
}

#[tokio::test]
async fn a_platform_that_answers_right_passes() {
    let report = run(false).await;
    assert!(report.passed, "{report:#?}");
    assert_eq!(report.appid, "wx570bc396a51b8ff8");
    assert_eq!(report.steps.len(), 5);
}

#[tokio::test]
async fn a_platform_that_answers_wrongly_fails_that_step() {
    let report = run(true).await;
    assert!(!report.passed);
    let failed: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| !s.passed)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(failed, vec!["text_reply"]);
}

#[tokio::test]
async fn a_platform_that_never_calls_back_fails_the_api_step() {
    let rx = Receiver::start().await;
    let mut cfg = config();
    cfg.release_test_wait = std::time::Duration::from_millis(300);
    let sim = Simulator::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    rx.attach(&sim);
    let report = sim.run_release_test(0).await;
    let api = report
        .steps
        .iter()
        .find(|s| s.name == "query_auth_code_api")
        .unwrap();
    assert!(!api.passed);
    assert!(
        api.detail.contains("no successful api_query_auth"),
        "{}",
        api.detail
    );
}
