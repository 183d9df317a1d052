//! Who a customer is (issue 16) over the client API against the simulator:
//! parametric QR codes and their scans, JS-SDK configs over the shared
//! jsapi_ticket, and the WeChat client for web OAuth on behalf, on SQLite and
//! DynamoDB.

use crate::api_common;

use api_common::*;
use serde_json::{json, Value};
use wxopen::secret::Secret;
use wxopen::service::jssdk;
use wxopen::store::TenantScope;
use wxopen::wechat::paths;
use wxopen_sim::sandbox_openid;
use wxopen_tests::Backend;

on_both_stores!(
    a_qrcode_is_created_its_image_served_and_its_scans_pushed_to_wxopen,
    qrcode_scenes_are_checked_before_wechat_is_called,
    qrcodes_follow_the_keys_tenant_scope_and_the_authorizers_status,
    a_jssdk_config_is_signed_over_the_stored_ticket_fetched_once,
    fifty_concurrent_configs_with_no_ticket_stored_make_one_getticket,
    a_refused_config_invalidates_its_ticket_once_and_renews_once,
    jssdk_page_urls_are_checked_before_anything_is_fetched,
    a_revoke_drops_the_ticket,
    the_sns_client_exchanges_a_code_once_and_reads_the_profile,
);

fn qrcodes(appid: &str) -> String {
    format!("/v1/authorizers/{appid}/qrcodes")
}

async fn a_qrcode_is_created_its_image_served_and_its_scans_pushed_to_wxopen(backend: Backend) {
    // Given an authorized account bound to the tenant
    let api = Api::start(backend).await;

    // When a temporary code with a string scene is created
    let now = api.env.sim.now();
    let r = api
        .post(
            &qrcodes(APPID),
            &api.key,
            &json!({"scene_str": "order-1042", "expire_seconds": 86400}),
            None,
        )
        .await;

    // Then WeChat's answer comes back with the image on the (simulated) web host
    assert_eq!(r.status, 201, "{}", r.body);
    let ticket = r.body["ticket"].as_str().unwrap().to_owned();
    assert!(r.body["url"]
        .as_str()
        .unwrap()
        .starts_with("http://weixin.qq.com/q/"));
    let expires_at = r.body["expires_at"].as_u64().unwrap();
    assert!(
        (now + 86400..=now + 86400 + 5).contains(&expires_at),
        "{}",
        r.body
    );
    let image_url = r.body["image_url"].as_str().unwrap();
    assert!(
        image_url.starts_with(&format!(
            "{}{}?ticket=",
            api.env.sim.base_url(),
            paths::SHOWQRCODE
        )),
        "{image_url}"
    );
    let image = api.env.http.get(image_url).send().await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    let calls = api.env.sim.calls_to(paths::QRCODE_CREATE);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].params["action_name"], "QR_STR_SCENE");
    assert_eq!(calls[0].params["expire_seconds"], 86400);

    // And a follower's scan reaches wxopen's message URL, which acknowledges it
    let scanned = api
        .env
        .sim
        .scan_qrcode(APPID, &sandbox_openid(1, 1), &ticket)
        .await
        .unwrap();
    assert!(scanned.delivered, "{scanned:?}");
    assert_eq!(scanned.response_body.as_deref(), Some("success"));
    assert!(scanned
        .target_url
        .ends_with(&format!("/wechat/authorizers/{APPID}/events")));

    // And a permanent code (no expiry) is QR_LIMIT_SCENE without `expires_at`
    let r = api
        .post(
            &qrcodes(APPID),
            &api.key,
            &json!({"scene_id": 100000}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.get("expires_at").is_none(), "{}", r.body);
    let calls = api.env.sim.calls_to(paths::QRCODE_CREATE);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].params["action_name"], "QR_LIMIT_SCENE");
}

async fn qrcode_scenes_are_checked_before_wechat_is_called(backend: Backend) {
    let api = Api::start(backend).await;
    for (body, field) in [
        (json!({}), "scene_str"),
        (json!({"scene_id": 1, "scene_str": "a"}), "scene_str"),
        (json!({"scene_id": 100001}), "scene_id"),
        (json!({"scene_id": 0, "expire_seconds": 60}), "scene_id"),
        (json!({"scene_id": -1}), "scene_id"),
        (json!({"scene_str": ""}), "scene_str"),
        (json!({"scene_str": "x".repeat(65)}), "scene_str"),
        (
            json!({"scene_id": 1, "expire_seconds": 59}),
            "expire_seconds",
        ),
        (
            json!({"scene_id": 1, "expire_seconds": 2592001}),
            "expire_seconds",
        ),
        (
            json!({"scene_id": 1, "action_name": "QR_SCENE"}),
            "action_name",
        ),
    ] {
        let r = api.post(&qrcodes(APPID), &api.key, &body, None).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{body}: {}",
            r.body
        );
        assert!(r.message().contains(field), "{body}: {}", r.message());
    }
    // 64 Chinese characters (192 bytes) are within the limit: it counts characters, not bytes.
    let r = api
        .post(
            &qrcodes(APPID),
            &api.key,
            &json!({"scene_str": "码".repeat(64)}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(api.env.sim.calls_to(paths::QRCODE_CREATE).len(), 1);
}

async fn qrcodes_follow_the_keys_tenant_scope_and_the_authorizers_status(backend: Backend) {
    let api = Api::start(backend).await;
    let body = json!({"scene_id": 7});
    let other = api
        .new_key(TenantScope::Only(vec!["globex".into()]), &["send"])
        .await;
    let r = api.post(&qrcodes(APPID), &other, &body, None).await;
    // another tenant's account is 404, as if it did not exist
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.body);
    let token_only = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["token:read"])
        .await;
    let r = api.post(&qrcodes(APPID), &token_only, &body, None).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "insufficient_scope"),
        "{}",
        r.body
    );

    let push = api.env.sim.revoke(APPID).await.unwrap();
    assert!(push.delivered, "{push:?}");
    let r = api.post(&qrcodes(APPID), &api.key, &body, None).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "authorizer_revoked"),
        "{}",
        r.body
    );
    assert!(api.env.sim.calls_to(paths::QRCODE_CREATE).is_empty());
}

fn jssdk_path(appid: &str) -> String {
    format!("/v1/authorizers/{appid}/jssdk-config")
}

/// The ticket the store holds for `APPID` now (version, value).
async fn stored_ticket(api: &Api) -> (u64, Option<String>) {
    let t = api.env.store().get_jsapi_ticket(APPID).await.unwrap();
    (t.version, t.access_token.map(|s| s.expose().to_owned()))
}

/// The config answers a signature wx.config would accept for `url` over `ticket`.
fn assert_signed(body: &Value, ticket: &str, url: &str) {
    let nonce = body["nonceStr"].as_str().unwrap();
    let timestamp = body["timestamp"].as_u64().unwrap();
    assert_eq!(body["appId"], APPID);
    assert_eq!(
        body["signature"].as_str().unwrap(),
        jssdk::signature(ticket, nonce, timestamp, url),
        "{body}"
    );
    assert!(
        !body.to_string().contains(ticket),
        "the ticket never leaves wxopen"
    );
}

async fn a_jssdk_config_is_signed_over_the_stored_ticket_fetched_once(backend: Backend) {
    let api = Api::start(backend).await;
    let url = "https://shop.example.com/orders/1042?from=menu&x=%20";
    let first = api
        .post(&jssdk_path(APPID), &api.key, &json!({"url": url}), None)
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let (version, ticket) = stored_ticket(&api).await;
    let ticket = ticket.expect("a ticket is stored");
    assert_eq!(version, 1);
    assert_signed(&first.body, &ticket, url);

    // A second page uses the same ticket: no second getticket.
    let second = api
        .post(
            &jssdk_path(APPID),
            &api.key,
            &json!({"url": "http://shop.example.com/"}),
            None,
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_signed(&second.body, &ticket, "http://shop.example.com/");
    assert_ne!(first.body["nonceStr"], second.body["nonceStr"]);
    assert_eq!(api.env.sim.calls_to(paths::TICKET_GETTICKET).len(), 1);

    // Near its expiry the ticket is renewed (once).
    api.env
        .sim
        .advance(std::time::Duration::from_secs(7200 - 200));
    let third = api
        .post(&jssdk_path(APPID), &api.key, &json!({"url": url}), None)
        .await;
    assert_eq!(third.status, 200, "{}", third.body);
    let (version, renewed) = stored_ticket(&api).await;
    assert_eq!(version, 2);
    assert_ne!(renewed.as_deref(), Some(ticket.as_str()));
    assert_signed(&third.body, &renewed.unwrap(), url);
    assert_eq!(api.env.sim.calls_to(paths::TICKET_GETTICKET).len(), 2);
}

async fn fifty_concurrent_configs_with_no_ticket_stored_make_one_getticket(backend: Backend) {
    let api = Api::start(backend).await;
    assert_eq!(stored_ticket(&api).await, (0, None));
    let url = "https://shop.example.com/pay";
    let (path, body) = (jssdk_path(APPID), json!({"url": url}));
    let replies =
        futures::future::join_all((0..50).map(|_| api.post(&path, &api.key, &body, None))).await;
    let (_, ticket) = stored_ticket(&api).await;
    let ticket = ticket.expect("a ticket is stored");
    for r in &replies {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_signed(&r.body, &ticket, url);
    }
    assert_eq!(api.env.sim.calls_to(paths::TICKET_GETTICKET).len(), 1);
}

async fn a_refused_config_invalidates_its_ticket_once_and_renews_once(backend: Backend) {
    let api = Api::start(backend).await;
    let url = "https://shop.example.com/pay";
    let path = jssdk_path(APPID);
    let first = api.post(&path, &api.key, &json!({"url": url}), None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let (_, old) = stored_ticket(&api).await;

    // A forged refusal (a signature not over the stored ticket) changes nothing.
    let mut forged = first.body.clone();
    forged["signature"] = json!("0".repeat(40));
    let r = api
        .post(
            &path,
            &api.key,
            &json!({"url": url, "refused": forged}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(stored_ticket(&api).await, (1, old.clone()));

    // Ten pages report the same refused config at the same time.
    let body = json!({"url": url, "refused": first.body});
    let replies =
        futures::future::join_all((0..10).map(|_| api.post(&path, &api.key, &body, None))).await;
    let (version, fresh) = stored_ticket(&api).await;
    let fresh = fresh.unwrap();
    assert_ne!(Some(fresh.as_str()), old.as_deref());
    for r in &replies {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_signed(&r.body, &fresh, url);
    }
    // Compare-and-invalidate: only the ticket that config was signed over was
    // dropped, so exactly one more getticket.
    assert_eq!(version, 2);
    assert_eq!(api.env.sim.calls_to(paths::TICKET_GETTICKET).len(), 2);

    // Reported again later, the old config no longer matches: nothing changes.
    let r = api.post(&path, &api.key, &body, None).await;
    assert_signed(&r.body, &fresh, url);
    assert_eq!(stored_ticket(&api).await.0, 2);
}

async fn jssdk_page_urls_are_checked_before_anything_is_fetched(backend: Backend) {
    let api = Api::start(backend).await;
    for body in [
        json!({"url": "/orders/1"}),
        json!({"url": "ftp://shop.example.com/"}),
        json!({"url": "https://shop.example.com/o#top"}),
        json!({"url": format!("https://shop.example.com/{}", "a".repeat(2048))}),
        json!({"url": ""}),
    ] {
        let r = api.post(&jssdk_path(APPID), &api.key, &body, None).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{}", r.body);
        assert!(r.message().contains("`url`"), "{}", r.message());
    }
    let r = api
        .post(
            &jssdk_path(APPID),
            &api.key,
            &json!({"url": "https://a.example.com/", "debug": true}),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{}", r.body);
    assert!(r.message().contains("debug"), "{}", r.message());
    assert!(api.env.sim.calls_to(paths::TICKET_GETTICKET).is_empty());
    assert_eq!(stored_ticket(&api).await, (0, None));
}

async fn a_revoke_drops_the_ticket(backend: Backend) {
    let api = Api::start(backend).await;
    let r = api
        .post(
            &jssdk_path(APPID),
            &api.key,
            &json!({"url": "https://shop.example.com/"}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(stored_ticket(&api).await.1.is_some());

    let push = api.env.sim.revoke(APPID).await.unwrap();
    assert!(push.delivered, "{push:?}");
    assert_eq!(stored_ticket(&api).await, (0, None));
    let r = api
        .post(
            &jssdk_path(APPID),
            &api.key,
            &json!({"url": "https://shop.example.com/"}),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "authorizer_revoked"),
        "{}",
        r.body
    );
    assert_eq!(api.env.sim.calls_to(paths::TICKET_GETTICKET).len(), 1);
}

/// The follower allows on the simulator's consent page: the code WeChat's redirect carries.
async fn consented_code(api: &Api, scope: &str, openid: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .post(format!(
            "{}/connect/oauth2/authorize",
            api.env.sim.base_url()
        ))
        .form(&[
            ("appid", APPID),
            (
                "component_appid",
                api.env.sim.config().component.appid.as_str(),
            ),
            ("response_type", "code"),
            ("scope", scope),
            ("redirect_uri", "https://erp.example.com/back"),
            ("state", "s"),
            ("openid", openid),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap();
    let query = location.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("code="))
        .unwrap()
        .to_owned()
}

/// wxopen's WeChat client for web OAuth on behalf (the exchange and the
/// profile) against the simulator's checks; the routes on top are not built yet.
async fn the_sns_client_exchanges_a_code_once_and_reads_the_profile(backend: Backend) {
    let api = Api::start(backend).await;
    let follower = sandbox_openid(1, 1);
    let code = Secret::new(consented_code(&api, "snsapi_userinfo", &follower).await);
    let component_token = api.env.app.tokens.component_token().await.unwrap();
    let cappid = api.env.app.config.component_appid.clone();
    let wechat = &api.env.app.wechat;
    let grant = wechat
        .sns_component_access_token(&component_token, &cappid, APPID, &code)
        .await
        .unwrap();
    assert_eq!(grant.openid, follower);
    assert_eq!(grant.scope, "snsapi_userinfo");
    let again = wechat
        .sns_component_access_token(&component_token, &cappid, APPID, &code)
        .await
        .unwrap_err();
    assert_eq!(again.errcode(), Some(40163));
    let info = wechat
        .sns_userinfo(&grant.access_token, &grant.openid)
        .await
        .unwrap();
    assert_eq!(info.openid, follower);
    assert!(info.nickname.is_some_and(|n| !n.is_empty()));
    assert!(info.headimgurl.is_some());
}
