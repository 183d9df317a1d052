//! Web OAuth on behalf of an authorizer (issue 16) over real HTTP: wxopen's
//! link, the simulator's consent page driven the way a browser drives it
//! (following each 302 by hand, posting the page's form), wxopen's callback,
//! and the one-time result, on SQLite and DynamoDB. Every refusal is a page
//! or a 4xx, and gives out no result.

use crate::api_common;

use api_common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use wxopen::store::TenantScope;
use wxopen::wechat::paths;
use wxopen_sim::sandbox_openid;
use wxopen_tests::Backend;

on_both_stores!(
    a_customer_is_identified_through_the_consent_page_and_the_result_read_once,
    a_refusal_goes_back_with_access_denied_and_no_result,
    a_replayed_state_is_refused_without_calling_wechat,
    a_reused_code_is_refused_and_gives_no_result,
    another_tenants_key_cannot_read_a_result,
    an_expired_link_is_a_page_and_never_reaches_wechat,
    link_requests_are_checked_before_anything_is_stored,
);

const RETURN_URL: &str = "https://erp.example.com/identified";

fn links(appid: &str) -> String {
    format!("/v1/authorizers/{appid}/oauth-links")
}

/// A client that shows each redirect instead of following it.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47")
        .build()
        .unwrap()
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

async fn get(url: &str) -> Answer {
    let resp = browser().get(url).send().await.unwrap();
    answer(resp).await
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.text().await.unwrap_or_default();
    Answer {
        status,
        location,
        body,
    }
}

fn query_of(url: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse(url).unwrap();
    url.query_pairs().into_owned().collect()
}

async fn create_link(api: &Api, body: &Value) -> String {
    let r = api.post(&links(APPID), &api.key, body, None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.body["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&api.env.at("/oauth/")), "{url}");
    url
}

/// Opens the link: wxopen's 302 to the consent page, checked, as a URL without the fragment.
async fn open(api: &Api, link: &str, scope: &str) -> String {
    let opened = get(link).await;
    assert_eq!(opened.status, 302, "{}", opened.body);
    let location = opened.location.unwrap();
    let (page, fragment) = location.split_once('#').unwrap();
    assert_eq!(fragment, "wechat_redirect");
    assert!(
        page.starts_with(&format!(
            "{}{}?",
            api.env.sim.base_url(),
            paths::OAUTH2_AUTHORIZE
        )),
        "{page}"
    );
    let q = query_of(page);
    assert_eq!(q["appid"], APPID);
    assert_eq!(q["redirect_uri"], api.env.at("/oauth/callback"));
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], scope);
    assert_eq!(q["component_appid"], api.env.app.config.component_appid);
    assert_eq!(q["state"].len(), 32);
    page.to_owned()
}

/// On the consent page: the follower allows (`Some`) or refuses (`None`);
/// the simulator's 302 back to wxopen's callback.
async fn decide(page: &str, follower: Option<&str>) -> String {
    let shown = get(page).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let mut form: Vec<(String, String)> = query_of(page).into_iter().collect();
    match follower {
        Some(openid) => {
            assert!(
                shown.body.contains(&format!("allow-{openid}")),
                "{}",
                shown.body
            );
            form.push(("openid".into(), openid.into()));
        }
        None => {
            assert!(shown.body.contains("id=\"refuse\""), "{}", shown.body);
            form.push(("refuse".into(), "1".into()));
        }
    }
    let action = page.split_once('?').unwrap().0;
    let resp = browser().post(action).form(&form).send().await.unwrap();
    let decided = answer(resp).await;
    assert_eq!(decided.status, 302, "{}", decided.body);
    decided.location.unwrap()
}

/// wxopen's callback; its 302 to the return URL.
async fn back(callback: &str) -> HashMap<String, String> {
    let finished = get(callback).await;
    assert_eq!(finished.status, 302, "{}", finished.body);
    let location = finished.location.unwrap();
    assert!(location.starts_with(RETURN_URL), "{location}");
    query_of(&location)
}

fn results(id: &str) -> String {
    format!("/v1/oauth-results/{id}")
}

fn exchanges(api: &Api) -> usize {
    api.env
        .sim
        .calls_to(paths::SNS_COMPONENT_ACCESS_TOKEN)
        .len()
}

/// A page of the flow in both languages, with no way forward to the return URL.
fn assert_refused_page(a: &Answer, status: u16, zh: &str, en: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert!(a.location.is_none());
    assert!(a.body.contains(zh) && a.body.contains(en), "{}", a.body);
    assert!(!a.body.contains("wxopen_result"));
}

async fn a_customer_is_identified_through_the_consent_page_and_the_result_read_once(
    backend: Backend,
) {
    // Given a userinfo link with the client's state
    let api = Api::start(backend).await;
    let link = create_link(
        &api,
        &json!({"scope": "snsapi_userinfo", "return_url": RETURN_URL, "state": "order-1042"}),
    )
    .await;

    // When a follower opens it, allows, and WeChat sends the browser back
    let follower = sandbox_openid(1, 1);
    let page = open(&api, &link, "snsapi_userinfo").await;
    let callback = decide(&page, Some(&follower)).await;
    assert!(
        callback.starts_with(&api.env.at("/oauth/callback?")),
        "{callback}"
    );
    let back = back(&callback).await;

    // Then the return URL gets a result id and the client's state
    assert_eq!(back["state"], "order-1042");
    assert!(!back.contains_key("error"));
    let id = &back["wxopen_result"];
    assert_eq!(exchanges(&api), 1);
    assert_eq!(api.env.sim.calls_to(paths::SNS_USERINFO).len(), 1);

    // And the tenant reads who the customer is, once, with no sns token in it
    let r = api.get(&results(id), Some(&api.key)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["appid"], APPID);
    assert_eq!(r.body["openid"], follower.as_str());
    assert_eq!(r.body["scope"], "snsapi_userinfo");
    assert!(r.body["nickname"].is_string(), "{}", r.body);
    assert!(r.body.get("access_token").is_none() && r.body.get("refresh_token").is_none());
    let again = api.get(&results(id), Some(&api.key)).await;
    assert_eq!(again.status, 404, "{}", again.body);
}

async fn a_refusal_goes_back_with_access_denied_and_no_result(backend: Backend) {
    let api = Api::start(backend).await;
    let link = create_link(
        &api,
        &json!({"scope": "snsapi_base", "return_url": RETURN_URL, "state": "s-1"}),
    )
    .await;
    let page = open(&api, &link, "snsapi_base").await;
    let callback = decide(&page, None).await;
    assert!(!callback.contains("code="), "{callback}");
    let back = back(&callback).await;
    assert_eq!(back["error"], "access_denied");
    assert_eq!(back["state"], "s-1");
    assert!(!back.contains_key("wxopen_result"));
    assert_eq!(exchanges(&api), 0);
}

async fn a_replayed_state_is_refused_without_calling_wechat(backend: Backend) {
    let api = Api::start(backend).await;
    let link = create_link(
        &api,
        &json!({"scope": "snsapi_base", "return_url": RETURN_URL}),
    )
    .await;
    let page = open(&api, &link, "snsapi_base").await;
    let callback = decide(&page, Some(&sandbox_openid(1, 1))).await;
    let first = back(&callback).await;
    assert!(first.contains_key("wxopen_result"));
    assert!(!first.contains_key("state"), "no client state was given");

    // The same redirect again (a reload, or someone replaying it)
    let replayed = get(&callback).await;
    assert_refused_page(&replayed, 400, "请求已失效", "no longer valid");
    // A state wxopen never issued
    let mut tampered = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, "A".repeat(32))
            } else {
                (k, v)
            }
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let forged = get(tampered.as_str()).await;
    assert_refused_page(&forged, 400, "请求已失效", "no longer valid");
    assert_eq!(exchanges(&api), 1, "neither reached WeChat");
}

async fn a_reused_code_is_refused_and_gives_no_result(backend: Backend) {
    let api = Api::start(backend).await;
    let link = create_link(
        &api,
        &json!({"scope": "snsapi_base", "return_url": RETURN_URL}),
    )
    .await;
    let page = open(&api, &link, "snsapi_base").await;
    let callback = decide(&page, Some(&sandbox_openid(1, 1))).await;
    assert!(back(&callback).await.contains_key("wxopen_result"));
    let code = query_of(&callback)["code"].clone();

    // A second opening has its own state; the first opening's code goes with it
    let second = open(&api, &link, "snsapi_base").await;
    let state = query_of(&second)["state"].clone();
    let mut reused = reqwest::Url::parse(&api.env.at("/oauth/callback")).unwrap();
    reused
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state)
        .append_pair("appid", APPID);
    let refused = get(reused.as_str()).await;
    assert_refused_page(&refused, 400, "授权已失效", "already used or is not valid");
    assert_eq!(exchanges(&api), 2, "WeChat was asked, and refused");
}

async fn another_tenants_key_cannot_read_a_result(backend: Backend) {
    let api = Api::start(backend).await;
    let link = create_link(
        &api,
        &json!({"scope": "snsapi_base", "return_url": RETURN_URL}),
    )
    .await;
    let page = open(&api, &link, "snsapi_base").await;
    let callback = decide(&page, Some(&sandbox_openid(1, 2))).await;
    let id = back(&callback).await["wxopen_result"].clone();

    let other = api
        .new_key(TenantScope::Only(vec!["globex".into()]), &["send"])
        .await;
    let r = api.get(&results(&id), Some(&other)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let elsewhere = api
        .new_key(
            TenantScope::Only(vec!["globex".into(), "initech".into()]),
            &["send"],
        )
        .await;
    let r = api.get(&results(&id), Some(&elsewhere)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    // Untouched by those attempts: its own tenant still reads it
    let r = api.get(&results(&id), Some(&api.key)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["openid"], sandbox_openid(1, 2).as_str());
    // And another tenant's key cannot create links on the account at all: to
    // it the account does not exist (404, as for every authorizer route)
    let r = api
        .post(
            &links(APPID),
            &other,
            &json!({"scope": "snsapi_base", "return_url": RETURN_URL}),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.body);
}

async fn an_expired_link_is_a_page_and_never_reaches_wechat(backend: Backend) {
    let api = Api::start(backend).await;
    let link = create_link(
        &api,
        &json!({"scope": "snsapi_base", "return_url": RETURN_URL}),
    )
    .await;
    // An opening just before the hour is up, consented after it
    api.env.sim.advance(Duration::from_secs(3590));
    let page = open(&api, &link, "snsapi_base").await;
    api.env.sim.advance(Duration::from_secs(11));
    let gone = get(&link).await;
    assert_refused_page(&gone, 404, "链接无效或已过期", "has expired");
    let callback = decide(&page, Some(&sandbox_openid(1, 1))).await;
    let late = get(&callback).await;
    assert_refused_page(&late, 404, "链接无效或已过期", "has expired");
    assert_eq!(exchanges(&api), 0);
}

async fn link_requests_are_checked_before_anything_is_stored(backend: Backend) {
    let api = Api::start(backend).await;
    for (body, field) in [
        (
            json!({"scope": "snsapi_base", "return_url": "https://evil.example/x"}),
            "return_url",
        ),
        (
            json!({"scope": "snsapi_base", "return_url": "/relative"}),
            "return_url",
        ),
        (
            json!({"scope": "snsapi_login", "return_url": RETURN_URL}),
            "scope",
        ),
        (
            json!({"scope": "snsapi_base", "return_url": RETURN_URL, "state": "x".repeat(257)}),
            "state",
        ),
        (
            json!({"scope": "snsapi_base", "return_url": RETURN_URL, "expires_in": 10}),
            "expires_in",
        ),
        (
            json!({"scope": "snsapi_base", "return_url": RETURN_URL, "extra": 1}),
            "extra",
        ),
    ] {
        let r = api.post(&links(APPID), &api.key, &body, None).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.message().contains(field), "{body}: {}", r.body);
    }
    let unknown = get(&api.env.at(&format!("/oauth/{}", "B".repeat(32)))).await;
    assert_refused_page(&unknown, 404, "链接无效或已过期", "not valid");
}
