//! Encrypted, signed pushes; timer and on-demand tickets; retries.

use std::time::Duration;

use serde_json::json;
use wxopen::crypto::signature;
use wxopen_sim::sandbox;

use crate::common::*;

#[tokio::test]
async fn ticket_push_is_encrypted_and_signed_like_wechat() {
    let env = env().await;
    let out = env.sim.push_ticket().await;
    assert!(out.delivered && out.attempts == 1, "{out:?}");
    assert_eq!(out.response_body.as_deref(), Some("success"));
    let push = env.rx.received().pop().unwrap();
    assert_eq!(push.query["encrypt_type"], "aes");
    let plain = signature(&[
        sandbox::MESSAGE_TOKEN,
        &push.query["timestamp"],
        &push.query["nonce"],
    ]);
    assert_eq!(push.query["signature"], plain);
    assert_eq!(
        field(&push.body, "AppId").as_deref(),
        Some(sandbox::COMPONENT_APPID)
    );
    assert_eq!(
        field(&push.plaintext, "InfoType").as_deref(),
        Some("component_verify_ticket")
    );
    assert!(field(&push.plaintext, "ComponentVerifyTicket")
        .unwrap()
        .starts_with("ticket@@@"));
}

#[tokio::test]
async fn a_failed_push_is_retried_and_recorded() {
    let env = env().await;
    env.rx.fail_next(1);
    let out = env.sim.push_ticket().await;
    assert!(out.delivered);
    assert_eq!(out.attempts, 2);
    let record = env
        .sim
        .pushes()
        .into_iter()
        .find(|p| p.seq == out.seq)
        .unwrap();
    assert!(record.delivered && !record.pending && record.attempts == 2);
}

#[tokio::test]
async fn a_push_gives_up_after_three_attempts() {
    let env = env().await;
    env.rx.fail_next(3);
    let out = env.sim.push_ticket().await;
    assert!(!out.delivered);
    assert_eq!(out.attempts, 3);
    assert_eq!(
        out.last_error.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
}

#[tokio::test]
async fn advancing_the_clock_past_the_interval_pushes_a_ticket() {
    let env = env().await;
    env.sim.advance(Duration::from_secs(600));
    env.rx
        .wait_for(|r| field(&r.plaintext, "InfoType").as_deref() == Some("component_verify_ticket"))
        .await;
}

#[tokio::test]
async fn api_start_push_ticket_pushes_a_ticket() {
    let env = env().await;
    let reply = env
        .post(
            "/cgi-bin/component/api_start_push_ticket",
            "",
            json!({"component_appid": sandbox::COMPONENT_APPID, "component_secret": sandbox::COMPONENT_SECRET}),
        )
        .await;
    assert_eq!(errcode(&reply), 0);
    env.rx
        .wait_for(|r| field(&r.plaintext, "InfoType").as_deref() == Some("component_verify_ticket"))
        .await;
}

#[tokio::test]
async fn authorized_push_carries_the_code_and_update_follows() {
    let env = env().await;
    let code = env.sim.authorize(A1, &[1, 2]).await.unwrap();
    assert!(code.push.delivered);
    let push = env
        .rx
        .wait_for(|r| field(&r.plaintext, "InfoType").as_deref() == Some("authorized"))
        .await;
    assert_eq!(
        field(&push.plaintext, "AuthorizerAppid").as_deref(),
        Some(A1)
    );
    assert_eq!(
        field(&push.plaintext, "AuthorizationCode").as_deref(),
        Some(code.code.as_str())
    );
    assert!(field(&push.plaintext, "AuthorizationCodeExpiredTime").is_some());
    let update = env.sim.update_authorization(A1, &[1]).await.unwrap();
    let push = env
        .rx
        .wait_for(|r| field(&r.plaintext, "InfoType").as_deref() == Some("updateauthorized"))
        .await;
    assert_eq!(
        field(&push.plaintext, "AuthorizationCode").as_deref(),
        Some(update.code.as_str())
    );
}

#[tokio::test]
async fn authorizer_pushes_carry_openid_and_the_account_in_the_url() {
    let env = env().await;
    let openid = wxopen_sim::sandbox_openid(1, 3);
    env.sim.user_message(A1, &openid, "hello").await.unwrap();
    let push = env
        .rx
        .wait_for(|r| field(&r.plaintext, "Content").as_deref() == Some("hello"))
        .await;
    assert_eq!(push.path, format!("/authorizers/{A1}/events"));
    assert_eq!(push.query.get("openid"), Some(&openid));
    assert_eq!(
        field(&push.body, "ToUserName").as_deref(),
        Some("gh_5add0a000001")
    );
}

#[tokio::test]
async fn no_push_url_means_nothing_is_pushed() {
    let sim = wxopen_sim::Simulator::start(config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let out = sim.push_ticket().await;
    assert!(!out.delivered);
    assert!(sim.pushes().is_empty());
}
