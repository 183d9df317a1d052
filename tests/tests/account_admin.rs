//! A client's report of a rejected token, and WeChat's quotas, over the
//! client API against the simulator, on SQLite and DynamoDB (issue #17).

use crate::api_common;

use api_common::*;
use serde_json::json;
use wxopen::store::TenantScope;
use wxopen::wechat::paths;
use wxopen_sim::sandbox_openid;
use wxopen_tests::Backend;

on_both_stores!(
    a_reported_token_is_invalidated_only_while_it_is_the_stored_one,
    quota_use_is_read_and_cleared_for_an_authorizer_and_the_component,
);

async fn a_reported_token_is_invalidated_only_while_it_is_the_stored_one(backend: Backend) {
    // Given a token the client took for its own calls
    let api = Api::start(backend).await;
    let reader = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["token:read"])
        .await;
    let took = api
        .get(
            &format!("/v1/authorizers/{APPID}/access-token"),
            Some(&reader),
        )
        .await;
    let old = took.body["access_token"].as_str().unwrap().to_owned();
    let path = format!("/v1/authorizers/{APPID}/access-token/invalidate");
    let renewals = api.env.sim.calls_to(paths::AUTHORIZER_TOKEN).len();

    // When the client reports it rejected
    let first = api
        .post(&path, &reader, &json!({"access_token": old}), None)
        .await;

    // Then it is replaced by one renewal, and the new token is answered
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["invalidated"], true);
    let new = first.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(first.headers["cache-control"], "no-store");
    assert_eq!(
        api.env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(),
        renewals + 1
    );

    // And a second (stale) report of the old token, or a token never issued,
    // changes nothing: the current token is answered and WeChat is not called
    for stale in [old.as_str(), "not-a-token-we-issued"] {
        let again = api
            .post(&path, &reader, &json!({"access_token": stale}), None)
            .await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.body["invalidated"], false);
        assert_eq!(again.body["access_token"], new.as_str());
    }
    assert_eq!(
        api.env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(),
        renewals + 1
    );

    // and the send key may not report (token:read only), nor may an empty token be
    let r = api
        .post(&path, &api.key, &json!({"access_token": new}), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "insufficient_scope"),
        "{}",
        r.body
    );
    let r = api
        .post(&path, &reader, &json!({"access_token": ""}), None)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`access_token`"), "{}", r.body);
}

async fn quota_use_is_read_and_cleared_for_an_authorizer_and_the_component(backend: Backend) {
    // Given three template messages sent today
    let api = Api::start(backend).await;
    let admin = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["admin"])
        .await;
    let r = api
        .send_template(
            &[
                sandbox_openid(1, 1),
                sandbox_openid(1, 2),
                sandbox_openid(1, 3),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let quota_path =
        format!("/v1/authorizers/{APPID}/quota?cgi_path=/cgi-bin/message/template/send");

    // When the quota is read, cleared, and read again
    let before = api.get(&quota_path, Some(&admin)).await;
    let cleared = api
        .post_raw(
            &format!("/v1/authorizers/{APPID}/quota/clear"),
            &admin,
            "application/json",
            Vec::new(),
        )
        .await;
    let after = api.get(&quota_path, Some(&admin)).await;

    // Then WeChat counted three, and none after the reset (through clear_quota/v2)
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.body["used"], 3, "{}", before.body);
    assert_eq!(
        before.body["remain"].as_u64().unwrap() + 3,
        before.body["daily_limit"].as_u64().unwrap()
    );
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(after.body["used"], 0, "{}", after.body);
    let resets = api.env.sim.calls_to(paths::COMPONENT_CLEAR_QUOTA_V2);
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].params["appid"], APPID);

    // and the component's quota takes an admin key of every tenant
    let component = "/v1/component/quota/clear";
    let r = api
        .post_raw(component, &admin, "application/json", Vec::new())
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.body);
    let root = api.new_key(TenantScope::All, &["admin"]).await;
    let r = api
        .post_raw(component, &root, "application/json", Vec::new())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api.env.sim.calls_to(paths::COMPONENT_CLEAR_QUOTA_V2).len(),
        2
    );

    // and a send key may not, nor may a cgi_path that is no path be asked for
    let r = api.get(&quota_path, Some(&api.key)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = api
        .get(
            &format!("/v1/authorizers/{APPID}/quota?cgi_path=template"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`cgi_path`"), "{}", r.body);
}
