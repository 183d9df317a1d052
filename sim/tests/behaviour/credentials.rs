//! Tickets, tokens and codes on the virtual clock.

use std::time::Duration;

use serde_json::json;
use wxopen_sim::sandbox;

use crate::common::*;

#[tokio::test]
async fn component_token_needs_a_pushed_ticket() {
    let env = env().await;
    let reply = env.component_token_reply("ticket@@@never-pushed").await;
    assert_eq!(errcode(&reply), 61006);
    let ticket = env.ticket().await;
    let reply = env.component_token_reply(&ticket).await;
    assert!(reply["component_access_token"]
        .as_str()
        .unwrap()
        .starts_with("simtok_"));
    assert_eq!(reply["expires_in"], 7200);
}

#[tokio::test]
async fn ticket_expires_after_twelve_hours() {
    let env = env().await;
    let ticket = env.ticket().await;
    env.sim.advance(Duration::from_secs(12 * 3600));
    assert_eq!(errcode(&env.component_token_reply(&ticket).await), 61005);
}

#[tokio::test]
async fn component_token_checks_appid_and_secret() {
    let env = env().await;
    let ticket = env.ticket().await;
    let path = "/cgi-bin/component/api_component_token";
    let wrong_secret = json!({"component_appid": sandbox::COMPONENT_APPID, "component_appsecret": "nope", "component_verify_ticket": ticket});
    assert_eq!(errcode(&env.post(path, "", wrong_secret).await), 40125);
    let wrong_app = json!({"component_appid": "wx0000000000000000", "component_appsecret": sandbox::COMPONENT_SECRET, "component_verify_ticket": ticket});
    assert_eq!(errcode(&env.post(path, "", wrong_app).await), 61011);
    let missing = json!({"component_appsecret": sandbox::COMPONENT_SECRET});
    assert_eq!(errcode(&env.post(path, "", missing).await), 41002);
}

#[tokio::test]
async fn errors_carry_a_rid_in_errmsg() {
    let env = env().await;
    let reply = env.component_token_reply("x").await;
    assert!(
        reply["errmsg"].as_str().unwrap().contains(" rid: "),
        "{reply}"
    );
}

async fn preauthcode(env: &Env, query: &str) -> serde_json::Value {
    env.post(
        "/cgi-bin/component/api_create_preauthcode",
        query,
        json!({"component_appid": sandbox::COMPONENT_APPID}),
    )
    .await
}

#[tokio::test]
async fn component_token_expires_after_7200_seconds() {
    let env = env().await;
    let token = env.component_token().await;
    env.sim.advance(Duration::from_secs(7199));
    assert_eq!(
        errcode(&preauthcode(&env, &format!("component_access_token={token}")).await),
        0
    );
    env.sim.advance(Duration::from_secs(1));
    assert_eq!(
        errcode(&preauthcode(&env, &format!("component_access_token={token}")).await),
        42001
    );
}

#[tokio::test]
async fn both_token_parameter_names_work_on_component_endpoints() {
    let env = env().await;
    let token = env.component_token().await;
    let old = preauthcode(&env, &format!("component_access_token={token}")).await;
    let new = preauthcode(&env, &format!("access_token={token}")).await;
    assert!(old["pre_auth_code"].is_string() && new["pre_auth_code"].is_string());
    assert_eq!(new["expires_in"], 600);
    assert_eq!(errcode(&preauthcode(&env, "").await), 41001);
}

#[tokio::test]
async fn replaced_token_works_for_the_grace_period_then_40001() {
    let env = env().await;
    let ticket = env.ticket().await;
    let first = env.component_token_reply(&ticket).await["component_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = env.component_token_reply(&ticket).await["component_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    env.sim.advance(Duration::from_secs(299));
    assert_eq!(
        errcode(&preauthcode(&env, &format!("access_token={first}")).await),
        0
    );
    env.sim.advance(Duration::from_secs(1));
    assert_eq!(
        errcode(&preauthcode(&env, &format!("access_token={first}")).await),
        40001
    );
    assert_eq!(
        errcode(&preauthcode(&env, &format!("access_token={second}")).await),
        0
    );
}

#[tokio::test]
async fn wrong_token_type_is_40001_both_ways() {
    let env = env().await;
    let (ctoken, access, _) = env.authorizer(A1).await;
    assert_eq!(
        errcode(
            &env.template_send(&ctoken, &sandbox_openid(1, 1), None)
                .await
        ),
        40001
    );
    assert_eq!(
        errcode(&preauthcode(&env, &format!("access_token={access}")).await),
        40001
    );
    assert_eq!(
        errcode(
            &env.template_send(&access, &sandbox_openid(1, 1), None)
                .await
        ),
        0
    );
}

#[tokio::test]
async fn authorization_code_is_single_use() {
    let env = env().await;
    let ctoken = env.component_token().await;
    let code = env.sim.authorize(A1, &[1]).await.unwrap();
    let first = env.query_auth(&ctoken, &code.code).await;
    assert_eq!(first["authorization_info"]["authorizer_appid"], A1);
    assert_eq!(
        first["authorization_info"]["func_info"][0]["funcscope_category"]["id"],
        1
    );
    assert_eq!(errcode(&env.query_auth(&ctoken, &code.code).await), 61009);
    assert_eq!(
        errcode(&env.query_auth(&ctoken, "queryauthcode@@@unknown").await),
        61009
    );
}

#[tokio::test]
async fn authorization_code_expires_after_an_hour() {
    let env = env().await;
    let ctoken = env.component_token().await;
    let code = env.sim.authorize(A1, &[1]).await.unwrap();
    assert_eq!(code.expires_in, 3600);
    env.sim.advance(Duration::from_secs(3600));
    assert_eq!(errcode(&env.query_auth(&ctoken, &code.code).await), 61010);
}

async fn refresh(env: &Env, ctoken: &str, appid: &str, refresh: &str) -> serde_json::Value {
    env.post(
        "/cgi-bin/component/api_authorizer_token",
        &format!("component_access_token={ctoken}"),
        json!({"component_appid": sandbox::COMPONENT_APPID, "authorizer_appid": appid, "authorizer_refresh_token": refresh}),
    )
    .await
}

#[tokio::test]
async fn refresh_token_renews_the_authorizer_token() {
    let env = env().await;
    let (ctoken, access, refresh_token) = env.authorizer(A1).await;
    let reply = refresh(&env, &ctoken, A1, &refresh_token).await;
    let renewed = reply["authorizer_access_token"].as_str().unwrap();
    assert_ne!(renewed, access);
    assert_eq!(reply["authorizer_refresh_token"], refresh_token.as_str());
    assert_eq!(
        errcode(&refresh(&env, &ctoken, "wx0000000000000bad", &refresh_token).await),
        40013
    );
    assert_eq!(
        errcode(&refresh(&env, &ctoken, A2, "refreshtoken@@@x").await),
        61003
    );
}

#[tokio::test]
async fn revoked_account_refresh_token_is_61023_and_tokens_die() {
    let env = env().await;
    let (ctoken, access, refresh_token) = env.authorizer(A1).await;
    let out = env.sim.revoke(A1).await.unwrap();
    assert!(out.delivered);
    let push = env
        .rx
        .wait_for(|r| field(&r.plaintext, "InfoType").as_deref() == Some("unauthorized"))
        .await;
    assert_eq!(
        field(&push.plaintext, "AuthorizerAppid").as_deref(),
        Some(A1)
    );
    assert_eq!(
        errcode(&refresh(&env, &ctoken, A1, &refresh_token).await),
        61023
    );
    assert_eq!(
        errcode(
            &env.template_send(&access, &sandbox_openid(1, 1), None)
                .await
        ),
        40001
    );
}

#[tokio::test]
async fn reauthorization_replaces_the_refresh_token() {
    let env = env().await;
    let (ctoken, _, old_refresh) = env.authorizer(A1).await;
    let code = env.sim.authorize(A1, &[1]).await.unwrap();
    let reply = env.query_auth(&ctoken, &code.code).await;
    assert_ne!(
        reply["authorization_info"]["authorizer_refresh_token"],
        old_refresh.as_str()
    );
    assert_eq!(
        errcode(&refresh(&env, &ctoken, A1, &old_refresh).await),
        61023
    );
}

#[tokio::test]
async fn invalidated_token_is_rejected_at_once() {
    let env = env().await;
    let (_, access, _) = env.authorizer(A1).await;
    env.sim.invalidate_access_token(A1);
    assert_eq!(
        errcode(
            &env.template_send(&access, &sandbox_openid(1, 1), None)
                .await
        ),
        40001
    );
}

#[tokio::test]
async fn authorizer_info_and_list() {
    let env = env().await;
    let (ctoken, _, refresh_token) = env.authorizer(A1).await;
    let q = format!("component_access_token={ctoken}");
    let info = env
        .post(
            "/cgi-bin/component/api_get_authorizer_info",
            &q,
            json!({"component_appid": sandbox::COMPONENT_APPID, "authorizer_appid": A1}),
        )
        .await;
    assert_eq!(info["authorizer_info"]["user_name"], "gh_5add0a000001");
    assert_eq!(
        info["authorization_info"]["authorizer_refresh_token"],
        refresh_token.as_str()
    );
    let not_authorized = env
        .post(
            "/cgi-bin/component/api_get_authorizer_info",
            &q,
            json!({"component_appid": sandbox::COMPONENT_APPID, "authorizer_appid": A2}),
        )
        .await;
    assert_eq!(errcode(&not_authorized), 61003);
    let list = env
        .post(
            "/cgi-bin/component/api_get_authorizer_list",
            &q,
            json!({"component_appid": sandbox::COMPONENT_APPID, "offset": 0, "count": 500}),
        )
        .await;
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["list"][0]["refresh_token"], refresh_token.as_str());
    let too_many = env
        .post(
            "/cgi-bin/component/api_get_authorizer_list",
            &q,
            json!({"component_appid": sandbox::COMPONENT_APPID, "offset": 0, "count": 501}),
        )
        .await;
    assert_ne!(errcode(&too_many), 0);
}

use wxopen_sim::sandbox_openid;

#[tokio::test]
async fn component_token_calls_have_a_daily_quota() {
    let mut cfg = config();
    cfg.limits.component_token_per_day = 2;
    let env = env_with(cfg).await;
    let ticket = env.ticket().await;
    assert_eq!(errcode(&env.component_token_reply(&ticket).await), 0);
    assert_eq!(errcode(&env.component_token_reply(&ticket).await), 0);
    assert_eq!(errcode(&env.component_token_reply(&ticket).await), 45009);
    env.sim.reset_quota(sandbox::COMPONENT_APPID);
    assert_eq!(errcode(&env.component_token_reply(&ticket).await), 0);
}
