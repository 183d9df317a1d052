//! The `/_sim` admin surface and the call record.

use serde_json::{json, Value};
use wxopen_sim::{sandbox, sandbox_openid, token_hash};

use crate::common::*;

#[tokio::test]
async fn call_log_records_parameters_with_tokens_redacted() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    env.template_send(&token, &sandbox_openid(1, 1), None).await;
    let calls = env.sim.calls_to("/cgi-bin/message/template/send");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].params["access_token"], token_hash(&token).as_str());
    assert_eq!(calls[0].params["touser"], sandbox_openid(1, 1).as_str());
    assert_eq!(calls[0].errcode, 0);
    let all: Vec<Value> = env
        .http
        .get(env.url("/_sim/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!serde_json::to_string(&all).unwrap().contains(&token));
    let component_call = all
        .iter()
        .find(|c| c["endpoint"] == "/cgi-bin/component/api_component_token")
        .unwrap();
    assert_ne!(
        component_call["params"]["component_appsecret"],
        sandbox::COMPONENT_SECRET
    );
}

#[tokio::test]
async fn state_lists_accounts_without_the_component_secret() {
    let env = env().await;
    let text = env
        .http
        .get(env.url("/_sim/state"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(A1) && text.contains("SimTpl01OrderShipped"));
    assert!(!text.contains(sandbox::COMPONENT_SECRET));
}

#[tokio::test]
async fn admin_can_advance_the_clock_and_set_faults() {
    let env = env().await;
    let before = env.sim.now();
    let r: Value = env
        .http
        .post(env.url("/_sim/clock/advance"))
        .json(&json!({"seconds": 3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["now"].as_u64().unwrap() >= before + 3600);
    let set = env
        .http
        .post(env.url("/_sim/faults"))
        .json(&json!({"endpoint": "/cgi-bin/component/api_component_token", "rate": 1.0, "kind": "busy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(errcode(&env.component_token_reply("x").await), -1);
    env.http
        .delete(env.url("/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(errcode(&env.component_token_reply("x").await), 61006);
}

#[tokio::test]
async fn admin_can_revoke_and_push_tickets() {
    let env = env().await;
    let pushed: Value = env
        .http
        .post(env.url("/_sim/push/ticket"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pushed["delivered"], true);
    env.sim.authorize(A1, &[1]).await.unwrap();
    let revoked = env
        .http
        .post(env.url(&format!("/_sim/accounts/{A1}/revoke")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    env.rx
        .wait_for(|r| field(&r.plaintext, "InfoType").as_deref() == Some("unauthorized"))
        .await;
}

#[tokio::test]
async fn admin_changes_an_accounts_profile_as_api_get_authorizer_info_answers_it() {
    let env = env().await;
    let (ctoken, _, _) = env.authorizer(A1).await;
    let info = || async {
        env.post(
            "/cgi-bin/component/api_get_authorizer_info",
            &format!("component_access_token={ctoken}"),
            json!({"component_appid": sandbox::COMPONENT_APPID, "authorizer_appid": A1}),
        )
        .await["authorizer_info"]
            .clone()
    };
    let before = info().await;
    assert_eq!(before["alias"], "sandbox_coffee");
    assert_eq!(before["business_info"]["open_pay"], 1);

    let changed = env
        .http
        .post(env.url(&format!("/_sim/accounts/{A1}/profile")))
        .json(&json!({
            "nick_name": "Roasters", "alias": "roasters", "verify_type": -1,
            "business_info": {"open_card": true},
            "raw": {"principal_name": 42},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    let after = info().await;
    assert_eq!(after["nick_name"], "Roasters");
    assert_eq!(after["alias"], "roasters");
    assert_eq!(after["verify_type_info"], json!({"id": -1}));
    assert_eq!(after["service_type_info"], json!({"id": 2}));
    assert_eq!(
        after["business_info"],
        json!({"open_store": 0, "open_scan": 0, "open_pay": 0, "open_card": 1, "open_shake": 0})
    );
    assert_eq!(after["principal_name"], 42);
    assert_eq!(after["user_name"], before["user_name"]);

    // An unknown account, or an unknown field, changes nothing
    let unknown = env
        .http
        .post(env.url("/_sim/accounts/wxnosuchaccount/profile"))
        .json(&json!({"alias": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let typo = env
        .http
        .post(env.url(&format!("/_sim/accounts/{A1}/profile")))
        .json(&json!({"aliass": "x"}))
        .send()
        .await
        .unwrap();
    assert!(typo.status().is_client_error(), "{}", typo.status());
    assert_eq!(info().await["alias"], "roasters");
}

#[test]
fn cli_options_parse() {
    let o = wxopen_sim::CliOptions::parse(["--listen".into(), "127.0.0.1:9999".into()]).unwrap();
    assert_eq!(o.listen.port(), 9999);
    assert!(wxopen_sim::CliOptions::parse(["--bogus".to_owned()]).is_err());
}

#[test]
fn config_reads_toml_with_defaults() {
    let cfg = wxopen_sim::SimConfig::from_toml(
        "seed = 7\ntoken_grace = 1.5\n[component]\nappid = \"wx1\"\n[[accounts]]\nappid = \"wx2\"\nfollowers = [\"o1\"]\n",
    )
    .unwrap();
    assert_eq!(cfg.seed, 7);
    assert_eq!(cfg.token_grace.as_millis(), 1500);
    assert_eq!(cfg.accounts[0].followers, vec!["o1".to_owned()]);
    assert_eq!(cfg.limits.token_ttl, 7200);
}
