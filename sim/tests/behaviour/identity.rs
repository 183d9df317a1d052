//! Identity (wechat-api.md §8): parametric QR codes, their image and scans.

use std::collections::HashMap;

use serde_json::{json, Value};
use wxopen_sim::sandbox_openid;

use crate::common::*;

async fn create(env: &Env, token: &str, body: Value) -> Value {
    env.post(
        "/cgi-bin/qrcode/create",
        &format!("access_token={token}"),
        body,
    )
    .await
}

async fn scan(env: &Env, appid: &str, openid: &str, ticket: &str) -> reqwest::Response {
    env.http
        .post(env.url(&format!("/_sim/accounts/{appid}/scan")))
        .json(&json!({"openid": openid, "ticket": ticket}))
        .send()
        .await
        .expect("scan")
}

#[tokio::test]
async fn qrcodes_follow_wechats_scene_limits_and_lifetimes() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let temporary = create(
        &env,
        &token,
        json!({"expire_seconds": 600, "action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "order-42"}}}),
    )
    .await;
    assert_eq!(errcode(&temporary), 0, "{temporary}");
    assert_eq!(temporary["expire_seconds"], 600);
    assert!(temporary["url"]
        .as_str()
        .unwrap()
        .starts_with("http://weixin.qq.com/q/"));
    let permanent = create(
        &env,
        &token,
        json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100000}}}),
    )
    .await;
    assert_eq!(errcode(&permanent), 0, "{permanent}");
    assert!(permanent.get("expire_seconds").is_none(), "{permanent}");
    assert_ne!(temporary["ticket"], permanent["ticket"]);

    for (body, code) in [
        (
            json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}}),
            40053,
        ),
        (
            json!({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "x".repeat(65)}}}),
            40053,
        ),
        (
            json!({"action_name": "QR_SOMETHING", "action_info": {"scene": {"scene_id": 1}}}),
            40054,
        ),
    ] {
        assert_eq!(
            errcode(&create(&env, &token, body.clone()).await),
            code,
            "{body}"
        );
    }
}

#[tokio::test]
async fn showqrcode_serves_a_png_until_the_code_expires() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let code = create(
        &env,
        &token,
        json!({"expire_seconds": 60, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 7}}}),
    )
    .await;
    let ticket = code["ticket"].as_str().unwrap().to_owned();
    let image = |ticket: String| {
        let req = env
            .http
            .get(env.url("/cgi-bin/showqrcode"))
            .query(&[("ticket", ticket)]);
        async move { req.send().await.expect("showqrcode") }
    };
    let resp = image(ticket.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    assert_eq!(image("gQunknown".into()).await.status(), 404);
    env.sim.advance(std::time::Duration::from_secs(61));
    assert_eq!(image(ticket).await.status(), 404, "expired");
}

#[tokio::test]
async fn a_scan_pushes_scan_for_a_follower_and_subscribe_for_a_newcomer() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let code = create(
        &env,
        &token,
        json!({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "erp-customer-9"}}}),
    )
    .await;
    let ticket = code["ticket"].as_str().unwrap().to_owned();

    // A follower scans: SCAN with the bare scene.
    let follower = sandbox_openid(1, 1);
    let resp = scan(&env, A1, &follower, &ticket).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["delivered"], true, "{out}");
    let push = env
        .rx
        .wait_for(|r| field(&r.plaintext, "FromUserName").as_deref() == Some(follower.as_str()))
        .await;
    assert_eq!(push.path, format!("/authorizers/{A1}/events"));
    assert_eq!(field(&push.plaintext, "MsgType").as_deref(), Some("event"));
    assert_eq!(field(&push.plaintext, "Event").as_deref(), Some("SCAN"));
    assert_eq!(
        field(&push.plaintext, "EventKey").as_deref(),
        Some("erp-customer-9")
    );
    assert_eq!(
        field(&push.plaintext, "Ticket").as_deref(),
        Some(ticket.as_str())
    );

    // Someone new scans: subscribe with `qrscene_`, and they follow from then on.
    let newcomer = "oNewcomerScansTheCode0000001";
    assert!(!env.sim.followers(A1).iter().any(|f| f == newcomer));
    assert_eq!(scan(&env, A1, newcomer, &ticket).await.status(), 200);
    let push = env
        .rx
        .wait_for(|r| field(&r.plaintext, "FromUserName").as_deref() == Some(newcomer))
        .await;
    assert_eq!(
        field(&push.plaintext, "Event").as_deref(),
        Some("subscribe")
    );
    assert_eq!(
        field(&push.plaintext, "EventKey").as_deref(),
        Some("qrscene_erp-customer-9")
    );
    assert!(env.sim.followers(A1).iter().any(|f| f == newcomer));

    // A second scan by the newcomer is a follower's SCAN.
    let before = env.rx.received().len();
    scan(&env, A1, newcomer, &ticket).await;
    let last: Vec<_> = env.rx.received()[before..]
        .iter()
        .filter(|r| field(&r.plaintext, "FromUserName").as_deref() == Some(newcomer))
        .cloned()
        .collect();
    assert_eq!(last.len(), 1);
    assert_eq!(field(&last[0].plaintext, "Event").as_deref(), Some("SCAN"));
}

#[tokio::test]
async fn a_scan_of_an_unknown_or_another_accounts_ticket_is_refused_and_pushes_nothing() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let code = create(
        &env,
        &token,
        json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 3}}}),
    )
    .await;
    let ticket = code["ticket"].as_str().unwrap();
    let before = env.rx.received().len();
    assert_eq!(
        scan(&env, A2, &sandbox_openid(2, 1), ticket).await.status(),
        404
    );
    assert_eq!(
        scan(&env, A1, &sandbox_openid(1, 1), "gQnotaticket")
            .await
            .status(),
        404
    );
    assert_eq!(env.rx.received().len(), before);
}

// ------------------------------------------------------------ web OAuth, jsapi

const REDIRECT: &str = "https://wx.example.com/oauth/callback";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn consent_form(appid: &str, scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("appid", appid.to_owned()),
        (
            "component_appid",
            wxopen_sim::sandbox::COMPONENT_APPID.to_owned(),
        ),
        ("response_type", "code".to_owned()),
        ("scope", scope.to_owned()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("state", "st-1".to_owned()),
    ]
}

/// The follower allows on the consent page: the query WeChat's redirect carries.
async fn consent(env: &Env, appid: &str, scope: &str, openid: &str) -> HashMap<String, String> {
    let mut form = consent_form(appid, scope);
    form.push(("openid", openid.to_owned()));
    let resp = no_redirects()
        .post(env.url("/connect/oauth2/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn exchange(env: &Env, ctoken: &str, appid: &str, code: &str) -> Value {
    env.get(
        "/sns/oauth2/component/access_token",
        &format!(
            "appid={appid}&code={code}&grant_type=authorization_code&component_appid={}&component_access_token={ctoken}",
            wxopen_sim::sandbox::COMPONENT_APPID
        ),
    )
    .await
}

#[tokio::test]
async fn the_consent_page_lists_followers_and_refusing_returns_the_state_alone() {
    let env = env().await;
    env.authorizer(A1).await;
    let query: Vec<(&str, String)> = consent_form(A1, "snsapi_userinfo");
    let page = env
        .http
        .get(env.url("/connect/oauth2/authorize"))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&sandbox_openid(1, 1)), "{html}");

    let mut refuse = consent_form(A1, "snsapi_base");
    refuse.push(("refuse", "1".to_owned()));
    let resp = no_redirects()
        .post(env.url("/connect/oauth2/authorize"))
        .form(&refuse)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        format!("{REDIRECT}?state=st-1")
    );

    // WeChat's checks: an account that has not authorized the platform, a bad scope.
    for (appid, scope) in [(A2, "snsapi_base"), (A1, "snsapi_login")] {
        let resp = env
            .http
            .get(env.url("/connect/oauth2/authorize"))
            .query(&consent_form(appid, scope))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{appid} {scope}");
    }
}

#[tokio::test]
async fn an_oauth_code_is_exchanged_once_for_its_own_account_within_five_minutes() {
    let env = env().await;
    let (ctoken, _, _) = env.authorizer(A1).await;
    let follower = sandbox_openid(1, 1);
    let back = consent(&env, A1, "snsapi_userinfo", &follower).await;
    assert_eq!(
        (back["state"].as_str(), back["appid"].as_str()),
        ("st-1", A1)
    );
    let code = back["code"].clone();

    // Another account cannot use it.
    assert_eq!(errcode(&exchange(&env, &ctoken, A2, &code).await), 61003);
    let grant = exchange(&env, &ctoken, A1, &code).await;
    assert_eq!(errcode(&grant), 0, "{grant}");
    assert_eq!(grant["openid"], follower.as_str());
    assert_eq!(grant["scope"], "snsapi_userinfo");
    assert_eq!(errcode(&exchange(&env, &ctoken, A1, &code).await), 40163);

    // The profile, with the user's own token.
    let token = grant["access_token"].as_str().unwrap();
    let info = env
        .get(
            "/sns/userinfo",
            &format!("access_token={token}&openid={follower}&lang=zh_CN"),
        )
        .await;
    assert_eq!(info["openid"], follower.as_str());
    assert!(info["nickname"].as_str().is_some_and(|n| !n.is_empty()));

    // A code not exchanged within 5 minutes is invalid.
    let late = consent(&env, A1, "snsapi_base", &follower).await["code"].clone();
    env.sim.advance(std::time::Duration::from_secs(301));
    let ctoken = env.component_token().await;
    assert_eq!(errcode(&exchange(&env, &ctoken, A1, &late).await), 40029);
}

#[tokio::test]
async fn userinfo_needs_the_userinfo_scope() {
    let env = env().await;
    let (ctoken, _, _) = env.authorizer(A1).await;
    let follower = sandbox_openid(1, 1);
    let code = consent(&env, A1, "snsapi_base", &follower).await["code"].clone();
    let grant = exchange(&env, &ctoken, A1, &code).await;
    let token = grant["access_token"].as_str().unwrap();
    let info = env
        .get(
            "/sns/userinfo",
            &format!("access_token={token}&openid={follower}"),
        )
        .await;
    assert_eq!(errcode(&info), 48001, "{info}");
}

#[tokio::test]
async fn getticket_issues_a_jsapi_ticket_for_the_tokens_account() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let reply = env
        .get(
            "/cgi-bin/ticket/getticket",
            &format!("access_token={token}&type=jsapi"),
        )
        .await;
    assert_eq!(errcode(&reply), 0, "{reply}");
    assert_eq!(reply["expires_in"], 7200);
    assert!(reply["ticket"].as_str().is_some_and(|t| t.len() > 20));
    let other = env
        .get(
            "/cgi-bin/ticket/getticket",
            &format!("access_token={token}&type=jsapi"),
        )
        .await;
    assert_ne!(reply["ticket"], other["ticket"]);
    let bad = env
        .get(
            "/cgi-bin/ticket/getticket",
            &format!("access_token={token}&type=card"),
        )
        .await;
    assert_eq!(errcode(&bad), 40097);
    let unauthenticated = env
        .get("/cgi-bin/ticket/getticket", "access_token=nope&type=jsapi")
        .await;
    assert_ne!(errcode(&unauthenticated), 0);
}
