//! An authorizer's profile kept fresh (issue #17, Profile): the authorizer
//! view shows WeChat's whole profile, and `POST …/profile/refresh` and the
//! daily reconcile pick up what changed at WeChat (the simulator), on SQLite
//! and DynamoDB.

use crate::api_common;

use api_common::*;
use serde_json::{json, Value};
use wxopen::service::refresh;
use wxopen::store::AuthorizerProfile;
use wxopen::wechat::paths;
use wxopen_sim::{BusinessInfoConfig, Fault, FaultSpec, ProfileChange};
use wxopen_tests::Backend;

on_both_stores!(
    the_authorizer_shows_the_whole_profile_from_the_authorization,
    a_refresh_picks_up_a_change_made_at_wechat,
    a_wechat_failure_on_refresh_is_503_and_keeps_the_stored_profile,
    a_malformed_answer_loses_only_the_malformed_fields,
    an_answer_naming_no_account_is_an_error_and_keeps_the_stored_profile,
    a_revoked_authorizer_is_422_and_wechat_is_not_asked,
    the_reconcile_refreshes_every_active_authorizers_profile,
    a_profile_failure_is_counted_and_does_not_fail_the_reconcile,
);

fn refresh_path(appid: &str) -> String {
    format!("/v1/authorizers/{appid}/profile/refresh")
}

async fn refresh_profile(api: &Api, appid: &str) -> Reply {
    api.post_raw(
        &refresh_path(appid),
        &api.key,
        "application/json",
        Vec::new(),
    )
    .await
}

async fn stored_profile(api: &Api, appid: &str) -> AuthorizerProfile {
    api.env
        .store()
        .get_authorizer(appid)
        .await
        .unwrap()
        .unwrap()
        .profile
}

/// The profile as stored, after the account was rebranded at WeChat and
/// WeChat turned busy on api_get_authorizer_info (so wxopen cannot know yet).
async fn rebranded_while_wechat_is_busy(api: &Api) -> AuthorizerProfile {
    let kept = stored_profile(api, APPID).await;
    api.env
        .sim
        .change_profile(APPID, &rebrand("Sandbox Roasters"))
        .unwrap();
    api.env.sim.set_fault(
        paths::AUTHORIZER_INFO,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Busy,
        },
    );
    kept
}

/// A rename, a new alias, a lost verification and a newly opened card feature.
fn rebrand(nick_name: &str) -> ProfileChange {
    ProfileChange {
        nick_name: Some(nick_name.into()),
        alias: Some("coffee_roasters".into()),
        principal_name: Some("Roasters Holding Ltd.".into()),
        qrcode_url: Some("http://mmbiz.qpic.cn/roasters.jpg".into()),
        verify_type: Some(-1),
        service_type: Some(0),
        business_info: Some(BusinessInfoConfig {
            open_card: true,
            open_pay: true,
            ..BusinessInfoConfig::default()
        }),
        ..ProfileChange::default()
    }
}

fn assert_rebranded(body: &Value, nick_name: &str) {
    assert_eq!(body["name"], nick_name, "{body}");
    assert_eq!(body["alias"], "coffee_roasters", "{body}");
    assert_eq!(body["principal_name"], "Roasters Holding Ltd.", "{body}");
    assert_eq!(
        body["qrcode_url"], "http://mmbiz.qpic.cn/roasters.jpg",
        "{body}"
    );
    assert_eq!(body["verify_type"], -1, "{body}");
    assert_eq!(body["service_type"], 0, "{body}");
    assert_eq!(
        body["business_info"],
        json!({"open_store": false, "open_scan": false, "open_pay": true, "open_card": true, "open_shake": false}),
        "{body}"
    );
}

async fn the_authorizer_shows_the_whole_profile_from_the_authorization(backend: Backend) {
    // Given the sandbox account authorized (its profile fetched then)
    let api = Api::start(backend).await;

    // When the client reads it, alone and in the list
    let one = api
        .get(&format!("/v1/authorizers/{APPID}"), Some(&api.key))
        .await;
    let list = api.get("/v1/authorizers", Some(&api.key)).await;

    // Then every profile field WeChat gave is shown, typed
    assert_eq!(one.status, 200, "{}", one.body);
    let body = &one.body;
    assert_eq!(body["name"], "Sandbox Coffee", "{body}");
    assert_eq!(body["principal_name"], "Sandbox Coffee Co., Ltd.", "{body}");
    assert_eq!(body["service_type"], 2, "{body}");
    assert_eq!(body["verify_type"], 0, "{body}");
    assert_eq!(body["alias"], "sandbox_coffee", "{body}");
    assert_eq!(
        body["qrcode_url"],
        format!("https://sim.invalid/qrcode/{APPID}.jpg"),
        "{body}"
    );
    assert_eq!(
        body["business_info"],
        json!({"open_store": false, "open_scan": false, "open_pay": true, "open_card": false, "open_shake": false}),
        "{body}"
    );
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["authorizers"][0], one.body);
}

async fn a_refresh_picks_up_a_change_made_at_wechat(backend: Backend) {
    // Given the merchant renamed and re-branded the account at WeChat
    let api = Api::start(backend).await;
    api.env
        .sim
        .change_profile(APPID, &rebrand("Sandbox Roasters"))
        .unwrap();
    let before = api
        .get(&format!("/v1/authorizers/{APPID}"), Some(&api.key))
        .await;
    assert_eq!(before.body["name"], "Sandbox Coffee", "{}", before.body);
    let asked = api.env.sim.calls_to(paths::AUTHORIZER_INFO).len();

    // When the client asks for a refresh
    let r = refresh_profile(&api, APPID).await;

    // Then WeChat is asked once and the answer is the authorizer with the new profile
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api.env.sim.calls_to(paths::AUTHORIZER_INFO).len(),
        asked + 1
    );
    assert_rebranded(&r.body, "Sandbox Roasters");
    assert_eq!(r.body["appid"], APPID);
    assert_eq!(r.body["status"], "active");
    // and it is stored: the next read shows it without asking WeChat
    let after = api
        .get(&format!("/v1/authorizers/{APPID}"), Some(&api.key))
        .await;
    assert_eq!(after.body, r.body);
    assert_eq!(
        api.env.sim.calls_to(paths::AUTHORIZER_INFO).len(),
        asked + 1
    );
}

async fn a_wechat_failure_on_refresh_is_503_and_keeps_the_stored_profile(backend: Backend) {
    // Given a change at WeChat, and WeChat busy on api_get_authorizer_info
    let api = Api::start(backend).await;
    let kept = rebranded_while_wechat_is_busy(&api).await;

    // When the client asks for a refresh
    let r = refresh_profile(&api, APPID).await;

    // Then it is the usual answer for WeChat being busy, and nothing is stored
    assert_eq!(
        (r.status, r.code()),
        (503, "wechat_unavailable"),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["wechat_errcode"], -1, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    assert_eq!(stored_profile(&api, APPID).await, kept);

    // and once WeChat answers again, the same request picks the change up
    api.env.sim.clear_faults();
    let r = refresh_profile(&api, APPID).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_rebranded(&r.body, "Sandbox Roasters");
}

async fn a_malformed_answer_loses_only_the_malformed_fields(backend: Backend) {
    // Given WeChat answering some profile fields with the wrong types
    let api = Api::start(backend).await;
    let raw = json!({
        "nick_name": 42,
        "verify_type_info": "verified",
        "business_info": ["open_pay"],
        "qrcode_url": {"url": "x"},
    });
    api.env
        .sim
        .change_profile(
            APPID,
            &ProfileChange {
                alias: Some("new_alias".into()),
                raw: raw.as_object().unwrap().clone(),
                ..ProfileChange::default()
            },
        )
        .unwrap();

    // When the client asks for a refresh
    let r = refresh_profile(&api, APPID).await;

    // Then the refresh succeeds: the malformed fields are null, the rest is WeChat's
    assert_eq!(r.status, 200, "{}", r.body);
    for field in ["name", "verify_type", "business_info", "qrcode_url"] {
        assert_eq!(r.body[field], Value::Null, "{field}: {}", r.body);
    }
    assert_eq!(r.body["alias"], "new_alias", "{}", r.body);
    assert_eq!(r.body["service_type"], 2, "{}", r.body);
    assert_eq!(r.body["user_name"], "gh_5add0a000001", "{}", r.body);
    let stored = stored_profile(&api, APPID).await;
    assert_eq!(
        (stored.nick_name, stored.alias.as_deref()),
        (None, Some("new_alias"))
    );
}

async fn an_answer_naming_no_account_is_an_error_and_keeps_the_stored_profile(backend: Backend) {
    // Given WeChat answering a profile without the account's gh_ id
    let api = Api::start(backend).await;
    let kept = stored_profile(&api, APPID).await;
    let raw = json!({"user_name": null, "nick_name": "Not This One"});
    api.env
        .sim
        .change_profile(
            APPID,
            &ProfileChange {
                raw: raw.as_object().unwrap().clone(),
                ..ProfileChange::default()
            },
        )
        .unwrap();

    // When the client asks for a refresh
    let r = refresh_profile(&api, APPID).await;

    // Then it is WeChat's failure, and the good profile stays
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(stored_profile(&api, APPID).await, kept);
}

async fn a_revoked_authorizer_is_422_and_wechat_is_not_asked(backend: Backend) {
    // Given an account whose merchant revoked the authorization
    let api = Api::start(backend).await;
    let push = api.env.sim.revoke(APPID).await.unwrap();
    assert!(push.delivered, "{:?}", push.last_error);
    let asked = api.env.sim.calls_to(paths::AUTHORIZER_INFO).len();

    // When the client asks for a refresh
    let r = refresh_profile(&api, APPID).await;

    // Then the answer is the one every acting route gives, and WeChat hears nothing
    assert_eq!(
        (r.status, r.code()),
        (422, "authorizer_revoked"),
        "{}",
        r.body
    );
    assert_eq!(api.env.sim.calls_to(paths::AUTHORIZER_INFO).len(), asked);
}

async fn the_reconcile_refreshes_every_active_authorizers_profile(backend: Backend) {
    // Given two authorized accounts, both changed at WeChat since
    let api = Api::start(backend).await;
    api.env.authorized(OTHER_APPID).await;
    for (appid, name) in [(APPID, "Coffee Renamed"), (OTHER_APPID, "Books Renamed")] {
        api.env.sim.change_profile(appid, &rebrand(name)).unwrap();
    }

    // When the daily reconcile runs
    let report = refresh::reconcile(&api.env.app).await.unwrap();

    // Then both profiles are fetched and stored
    assert_eq!(report.profiles_refreshed, 2, "{report:?}");
    assert!(report.profiles_failed.is_empty(), "{report:?}");
    for (appid, name) in [(APPID, "Coffee Renamed"), (OTHER_APPID, "Books Renamed")] {
        let p = stored_profile(&api, appid).await;
        assert_eq!(p.nick_name.as_deref(), Some(name));
        assert_eq!(p.alias.as_deref(), Some("coffee_roasters"));
        assert_eq!(p.verify_type, Some(-1));
    }
    let shown = api
        .get(&format!("/v1/authorizers/{APPID}"), Some(&api.key))
        .await;
    assert_rebranded(&shown.body, "Coffee Renamed");
}

async fn a_profile_failure_is_counted_and_does_not_fail_the_reconcile(backend: Backend) {
    // Given a change at WeChat, and WeChat busy on api_get_authorizer_info only
    let api = Api::start(backend).await;
    let kept = rebranded_while_wechat_is_busy(&api).await;

    // When the scheduled run does the daily reconcile
    let run = refresh::scheduled(&api.env.app).await.unwrap();

    // Then the reconcile is done (not retried by every sweep today), the
    // failure is reported against the account, and the profile is kept
    let report = run.reconcile.expect("the daily reconcile ran");
    assert_eq!(report.listed, 1, "{report:?}");
    assert_eq!(report.profiles_refreshed, 0, "{report:?}");
    let failed: Vec<&str> = report
        .profiles_failed
        .iter()
        .map(|(appid, _)| appid.as_str())
        .collect();
    assert_eq!(failed, [APPID], "{report:?}");
    assert_eq!(stored_profile(&api, APPID).await, kept);
    assert!(refresh::scheduled(&api.env.app)
        .await
        .unwrap()
        .reconcile
        .is_none());
}
