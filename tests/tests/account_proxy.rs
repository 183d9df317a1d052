//! The pass-through `/v1/authorizers/{appid}/wechat/{path}` against the
//! simulator, on SQLite and DynamoDB (issue #17).

use crate::api_common;

use api_common::*;
use reqwest::multipart::{Form, Part};
use serde_json::json;
use wxopen::store::TenantScope;
use wxopen::wechat::paths;
use wxopen::wechat::RetryPolicy;
use wxopen_sim::{Fault, FaultSpec};
use wxopen_tests::Backend;

on_both_stores!(
    token_paths_and_paths_outside_the_allow_list_are_403_without_a_call,
    a_token_wechat_rejects_is_renewed_once_and_the_call_retried_once,
    a_binary_answer_comes_back_byte_identical,
    a_json_error_comes_back_as_sent_with_its_errcode_header,
    a_post_body_is_passed_as_sent_and_the_clients_token_is_dropped,
    the_pass_through_needs_the_proxy_scope,
    a_busy_or_failing_wechat_is_retried_a_bounded_number_of_times,
);

const COMPONENT_AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";

async fn proxy_api(backend: Backend) -> (Api, String) {
    let api = Api::start(backend).await;
    let key = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["proxy", "send"])
        .await;
    (api, key)
}

fn wechat(path: &str) -> String {
    format!("/v1/authorizers/{APPID}/wechat/{path}")
}

async fn token_paths_and_paths_outside_the_allow_list_are_403_without_a_call(backend: Backend) {
    let (api, key) = proxy_api(backend).await;
    let before = api.env.sim.calls().len();
    for path in [
        "cgi-bin/token?grant_type=client_credential",
        "cgi-bin/stable_token",
        "cgi-bin/component/api_component_token",
        "cgi-bin/component/api_authorizer_token",
        "sns/oauth2/access_token",
    ] {
        let r = api.get(&wechat(path), Some(&key)).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "forbidden"),
            "{path}: {}",
            r.body
        );
    }
    let r = api
        .post(
            &wechat("cgi-bin/component/api_query_auth"),
            &key,
            &json!({}),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // a segment with an encoded `?` is no WeChat path at all
    let r = api.get(&wechat("cgi-bin/user%3Fget"), Some(&key)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(api.env.sim.calls().len(), before, "WeChat was called");
}

async fn a_token_wechat_rejects_is_renewed_once_and_the_call_retried_once(backend: Backend) {
    // Given a token WeChat no longer accepts (wxopen still holds it as valid)
    let (api, key) = proxy_api(backend).await;
    let renewals = api.env.sim.calls_to(COMPONENT_AUTHORIZER_TOKEN).len();
    api.env.sim.invalidate_access_token(APPID);

    // When the client calls user/get through the pass-through
    let r = api.get(&wechat("cgi-bin/user/get"), Some(&key)).await;

    // Then it gets WeChat's list, after exactly one renewal and one retry
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["total"].as_u64().is_some_and(|t| t > 0),
        "{}",
        r.body
    );
    assert!(r.headers.get("wxopen-wechat-errcode").is_none());
    let calls = api.env.sim.calls_to(paths::USER_GET);
    assert_eq!(
        calls.iter().map(|c| c.errcode).collect::<Vec<_>>(),
        [40001, 0]
    );
    assert_eq!(
        api.env.sim.calls_to(COMPONENT_AUTHORIZER_TOKEN).len(),
        renewals + 1
    );
}

async fn upload_png(api: &Api, bytes: Vec<u8>) -> String {
    let form = Form::new()
        .text("type", "image")
        .part("media", Part::bytes(bytes).file_name("chart.png"));
    let resp = api
        .env
        .http
        .post(api.env.at(&format!("/v1/authorizers/{APPID}/media")))
        .bearer_auth(&api.key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["media_id"].as_str().unwrap().to_owned()
}

async fn a_binary_answer_comes_back_byte_identical(backend: Backend) {
    // Given an uploaded image holding every byte value, a JSON-looking start included
    let (api, key) = proxy_api(backend).await;
    let mut bytes = b"{\"errcode\":40001}".to_vec();
    bytes.extend((0..=255u8).cycle().take(70_000));
    let media_id = upload_png(&api, bytes.clone()).await;

    // When media/get is called through the pass-through
    let resp = api
        .env
        .http
        .get(
            api.env
                .at(&wechat(&format!("cgi-bin/media/get?media_id={media_id}"))),
        )
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();

    // Then the bytes and content type are WeChat's
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(resp.headers().get("wxopen-wechat-errcode").is_none());
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

async fn a_json_error_comes_back_as_sent_with_its_errcode_header(backend: Backend) {
    let (api, key) = proxy_api(backend).await;
    let r = api
        .get(
            &wechat("cgi-bin/media/get?media_id=simmedia_unknown"),
            Some(&key),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["errcode"], 40007);
    assert!(r.body["errmsg"]
        .as_str()
        .unwrap()
        .contains("invalid media_id"));
    assert_eq!(r.headers["wxopen-wechat-errcode"], "40007");
}

async fn a_post_body_is_passed_as_sent_and_the_clients_token_is_dropped(backend: Backend) {
    // When batchget is posted with a token of the client's own in the query
    let (api, key) = proxy_api(backend).await;
    let body = json!({"user_list": [{"openid": wxopen_sim::sandbox_openid(1, 2), "lang": "en"}]});
    let r = api
        .post(
            &wechat("cgi-bin/user/info/batchget?access_token=not-ours"),
            &key,
            &body,
            None,
        )
        .await;

    // Then WeChat received the body as sent, with wxopen's token, once
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["user_info_list"][0]["openid"],
        wxopen_sim::sandbox_openid(1, 2)
    );
    let calls = api.env.sim.calls_to(paths::USER_INFO_BATCHGET);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].errcode, 0);
    assert_eq!(calls[0].params["user_list"], body["user_list"]);
}

async fn the_pass_through_needs_the_proxy_scope(backend: Backend) {
    // Given the tenant's send key (no `proxy`)
    let api = Api::start(backend).await;
    let r = api.get(&wechat("cgi-bin/user/get"), Some(&api.key)).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "insufficient_scope"),
        "{}",
        r.body
    );
    assert!(r.message().contains("proxy"));
    assert!(api.env.sim.calls_to(paths::USER_GET).is_empty());
}

async fn a_busy_or_failing_wechat_is_retried_a_bounded_number_of_times(backend: Backend) {
    let (api, key) = proxy_api(backend).await;
    let attempts = RetryPolicy::default().max_attempts as usize;
    for (fault, status) in [(Fault::Busy, 503), (Fault::Http5xx, 503)] {
        // Given WeChat answering -1 (or HTTP 500) to every user/get
        let before = api.env.sim.calls_to(paths::USER_GET).len();
        api.env.sim.set_fault(
            paths::USER_GET,
            FaultSpec {
                rate: 1.0,
                kind: fault,
            },
        );

        // When the client calls it through the pass-through
        let r = api.get(&wechat("cgi-bin/user/get"), Some(&key)).await;

        // Then wxopen tried exactly its policy's attempts and answered 503 with Retry-After
        assert_eq!(
            (r.status, r.code()),
            (status, "wechat_unavailable"),
            "{}",
            r.body
        );
        assert!(r.headers.get("retry-after").is_some());
        assert_eq!(
            api.env.sim.calls_to(paths::USER_GET).len() - before,
            attempts
        );
        api.env.sim.clear_faults();
    }
    // and a call that timed out after it left is never repeated
    let before = api.env.sim.calls_to(paths::USER_GET).len();
    api.env.sim.set_fault(
        paths::USER_GET,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Timeout,
        },
    );
    let r = api.get(&wechat("cgi-bin/user/get"), Some(&key)).await;
    assert_eq!(
        (r.status, r.code()),
        (502, "wechat_outcome_unknown"),
        "{}",
        r.body
    );
    assert_eq!(api.env.sim.calls_to(paths::USER_GET).len() - before, 1);
    api.env.sim.clear_faults();
    // and once WeChat recovers the same call goes through
    let r = api.get(&wechat("cgi-bin/user/get"), Some(&key)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
