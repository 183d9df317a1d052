//! The authorization page over plain HTTP: GET page → POST approve → 302 with auth_code.

use std::collections::HashMap;

use serde_json::json;
use wxopen_sim::sandbox;

use crate::common::*;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn pre_auth_code(env: &Env) -> (String, String) {
    let ctoken = env.component_token().await;
    let reply = env
        .post(
            "/cgi-bin/component/api_create_preauthcode",
            &format!("component_access_token={ctoken}"),
            json!({"component_appid": sandbox::COMPONENT_APPID}),
        )
        .await;
    (ctoken, reply["pre_auth_code"].as_str().unwrap().to_owned())
}

fn page_url(env: &Env, path: &str, code: &str, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("component_appid", sandbox::COMPONENT_APPID);
    q.append_pair("pre_auth_code", code);
    q.append_pair(
        "redirect_uri",
        "http://app.example/authorize/link-1/callback?x=1",
    );
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("{}?{}", env.url(path), q.finish())
}

fn approve_form(code: &str, appid: &str) -> HashMap<&'static str, String> {
    HashMap::from([
        ("component_appid", sandbox::COMPONENT_APPID.to_owned()),
        ("pre_auth_code", code.to_owned()),
        (
            "redirect_uri",
            "http://app.example/authorize/link-1/callback?x=1".to_owned(),
        ),
        ("auth_type", "1".to_owned()),
        ("appid", appid.to_owned()),
    ])
}

#[tokio::test]
async fn approving_on_the_page_redirects_with_a_code_that_works_once() {
    let env = env().await;
    let (ctoken, code) = pre_auth_code(&env).await;
    let page = env
        .http
        .get(page_url(
            &env,
            "/cgi-bin/componentloginpage",
            &code,
            &[("auth_type", "1")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("id=\"approve-{A1}\"")));
    assert!(html.contains(&format!("id=\"approve-{A2}\"")));
    assert!(
        !html.contains("wx570bc396a51b8ff8"),
        "release-test accounts are not offered"
    );

    let resp = no_redirects()
        .post(env.url("/cgi-bin/componentloginpage"))
        .form(&approve_form(&code, A1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://app.example/authorize/link-1/callback?x=1&auth_code="),
        "{location}"
    );
    let url = url::Url::parse(&location).unwrap();
    let params: HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(params["expires_in"], "3600");
    let auth_code = &params["auth_code"];

    let push = env
        .rx
        .wait_for(|r| field(&r.plaintext, "InfoType").as_deref() == Some("authorized"))
        .await;
    assert_eq!(
        field(&push.plaintext, "AuthorizationCode").as_deref(),
        Some(auth_code.as_str())
    );
    assert_eq!(
        field(&push.plaintext, "PreAuthCode").as_deref(),
        Some(code.as_str())
    );

    let first = env.query_auth(&ctoken, auth_code).await;
    assert_eq!(first["authorization_info"]["authorizer_appid"], A1);
    assert_eq!(errcode(&env.query_auth(&ctoken, auth_code).await), 61009);
}

#[tokio::test]
async fn a_used_pre_auth_code_gets_an_error_page() {
    let env = env().await;
    let (_, code) = pre_auth_code(&env).await;
    let approve = || {
        no_redirects()
            .post(env.url("/cgi-bin/componentloginpage"))
            .form(&approve_form(&code, A1))
            .send()
    };
    assert_eq!(approve().await.unwrap().status(), 302);
    let again = approve().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("already been used"));
    let page = env
        .http
        .get(page_url(&env, "/cgi-bin/componentloginpage", &code, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
}

#[tokio::test]
async fn an_expired_pre_auth_code_gets_an_error_page() {
    let env = env().await;
    let (_, code) = pre_auth_code(&env).await;
    env.sim.advance(std::time::Duration::from_secs(600));
    let page = env
        .http
        .get(page_url(&env, "/cgi-bin/componentloginpage", &code, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn bad_parameters_get_error_pages() {
    let env = env().await;
    let (_, code) = pre_auth_code(&env).await;
    for extra in [[("auth_type", "7")], [("biz_appid", "wx0000000000000bad")]] {
        let page = env
            .http
            .get(page_url(&env, "/cgi-bin/componentloginpage", &code, &extra))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 400, "{extra:?}");
    }
    let wrong_component = env.url(
        "/cgi-bin/componentloginpage?component_appid=wx1&pre_auth_code=x&redirect_uri=http://a/",
    );
    assert_eq!(
        env.http.get(wrong_component).send().await.unwrap().status(),
        400
    );
}

#[tokio::test]
async fn mobile_page_with_biz_appid_offers_only_that_account() {
    let env = env().await;
    let (_, code) = pre_auth_code(&env).await;
    let url = page_url(
        &env,
        "/wxaopen/safe/bindcomponent",
        &code,
        &[
            ("action", "bindcomponent"),
            ("no_scan", "1"),
            ("auth_type", "3"),
            ("biz_appid", A2),
        ],
    );
    let html = env
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("id=\"approve-{A2}\"")));
    assert!(!html.contains(&format!("id=\"approve-{A1}\"")));
}

#[tokio::test]
async fn mini_program_auth_type_offers_no_official_account() {
    let env = env().await;
    let (_, code) = pre_auth_code(&env).await;
    let html = env
        .http
        .get(page_url(
            &env,
            "/cgi-bin/componentloginpage",
            &code,
            &[("auth_type", "2")],
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("approve-"));
}
