//! Subscription notifications over the client API against the simulator,
//! on SQLite and DynamoDB (issue #17).

#[macro_use]
mod api_common;

use api_common::*;
use serde_json::json;
use wxopen::wechat::paths;
use wxopen_sim::sandbox_openid;
use wxopen_tests::Backend;

on_both_stores!(
    a_notification_is_sent_once_per_idempotency_key,
    a_follower_who_did_not_subscribe_is_the_recipients_400,
    a_malformed_notification_never_reaches_wechat,
);

fn path() -> String {
    format!("/v1/authorizers/{APPID}/subscribe-messages")
}

fn body(touser: &str) -> serde_json::Value {
    json!({
        "touser": touser,
        "template_id": TEMPLATE,
        "page": "https://shop.example.com/orders/1042",
        "data": {"thing1": {"value": "Flat white"}, "time2": {"value": "2026-12-03 15:30"}},
    })
}

async fn a_notification_is_sent_once_per_idempotency_key(backend: Backend) {
    let api = Api::start(backend).await;
    let to = sandbox_openid(1, 2);
    let first = api.post(&path(), &api.key, &body(&to), Some("sub-1")).await;
    let again = api.post(&path(), &api.key, &body(&to), Some("sub-1")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body, json!({"status": "sent", "touser": to}));
    assert_eq!(again.body, first.body);
    let calls = api.env.sim.calls_to(paths::SUBSCRIBE_BIZSEND);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].errcode, 0);
    assert_eq!(calls[0].params["data"]["thing1"]["value"], "Flat white");
    assert_eq!(
        calls[0].params["page"],
        "https://shop.example.com/orders/1042"
    );
}

async fn a_follower_who_did_not_subscribe_is_the_recipients_400(backend: Backend) {
    let api = Api::start(backend).await;
    let r = api
        .post(
            &path(),
            &api.key,
            &body("oSbx01Blocked000000000000001"),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "wechat_rejected_recipient"),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["wechat_errcode"], 43101);
}

async fn a_malformed_notification_never_reaches_wechat(backend: Backend) {
    let api = Api::start(backend).await;
    let to = sandbox_openid(1, 2);
    let mut colour = body(&to);
    colour["data"]["thing1"]["color"] = json!("#FF0000");
    let mut no_data = body(&to);
    no_data["data"] = json!({});
    let mut bad_key = body(&to);
    bad_key["data"] = json!({"thing 1": {"value": "x"}});
    for (bad, field) in [
        (colour, "data.thing1"),
        (no_data, "`data`"),
        (bad_key, "data.thing 1"),
    ] {
        let r = api.post(&path(), &api.key, &bad, None).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.message().contains(field), "{field}: {}", r.body);
    }
    assert!(api.env.sim.calls_to(paths::SUBSCRIBE_BIZSEND).is_empty());
}
