//! Quotas, quota resets, deduplication and finish events.

use std::time::Duration;

use serde_json::json;
use wxopen_sim::{sandbox, sandbox_openid};

use crate::common::*;

#[tokio::test]
async fn template_quota_runs_out_and_clear_quota_restores_it() {
    let mut cfg = config();
    cfg.limits.template_sends_per_day = 2;
    let env = env_with(cfg).await;
    let (_, token, _) = env.authorizer(A1).await;
    let to = sandbox_openid(1, 1);
    assert_eq!(errcode(&env.template_send(&token, &to, None).await), 0);
    assert_eq!(errcode(&env.template_send(&token, &to, None).await), 0);
    assert_eq!(errcode(&env.template_send(&token, &to, None).await), 45009);
    let reset = env
        .post(
            "/cgi-bin/clear_quota",
            &format!("access_token={token}"),
            json!({"appid": A1}),
        )
        .await;
    assert_eq!(errcode(&reset), 0);
    assert_eq!(errcode(&env.template_send(&token, &to, None).await), 0);
    assert_eq!(env.sim.template_sends(A1).len(), 3);
}

#[tokio::test]
async fn quota_comes_back_the_next_day() {
    let mut cfg = config();
    cfg.limits.template_sends_per_day = 1;
    let env = env_with(cfg).await;
    let (_, token, refresh) = env.authorizer(A1).await;
    let to = sandbox_openid(1, 1);
    assert_eq!(errcode(&env.template_send(&token, &to, None).await), 0);
    assert_eq!(errcode(&env.template_send(&token, &to, None).await), 45009);
    env.sim.advance(Duration::from_secs(86400));
    let ctoken = env.component_token().await;
    let renewed = env
        .post(
            "/cgi-bin/component/api_authorizer_token",
            &format!("component_access_token={ctoken}"),
            json!({"component_appid": sandbox::COMPONENT_APPID, "authorizer_appid": A1, "authorizer_refresh_token": refresh}),
        )
        .await;
    let token = renewed["authorizer_access_token"].as_str().unwrap();
    assert_eq!(errcode(&env.template_send(token, &to, None).await), 0);
}

#[tokio::test]
async fn clear_quota_is_limited_to_ten_a_month() {
    let env = env().await;
    let (ctoken, _, _) = env.authorizer(A1).await;
    let q = format!("access_token={ctoken}");
    for _ in 0..10 {
        let r = env
            .post(
                "/cgi-bin/clear_quota",
                &q,
                json!({"appid": sandbox::COMPONENT_APPID}),
            )
            .await;
        assert_eq!(errcode(&r), 0);
    }
    let spent = env
        .post(
            "/cgi-bin/clear_quota",
            &q,
            json!({"appid": sandbox::COMPONENT_APPID}),
        )
        .await;
    assert_eq!(errcode(&spent), 48006);
    let other = env
        .post("/cgi-bin/clear_quota", &q, json!({"appid": A2}))
        .await;
    assert_eq!(errcode(&other), 40013);
}

#[tokio::test]
async fn clear_quota_v2_uses_the_secret() {
    let mut cfg = config();
    cfg.limits.template_sends_per_day = 1;
    let env = env_with(cfg).await;
    let (_, token, _) = env.authorizer(A1).await;
    let to = sandbox_openid(1, 1);
    env.template_send(&token, &to, None).await;
    assert_eq!(errcode(&env.template_send(&token, &to, None).await), 45009);
    let path = "/cgi-bin/component/clear_quota/v2";
    let wrong =
        json!({"component_appid": sandbox::COMPONENT_APPID, "appsecret": "wrong", "appid": A1});
    assert_eq!(errcode(&env.post(path, "", wrong).await), 40125);
    let right = json!({"component_appid": sandbox::COMPONENT_APPID, "appsecret": sandbox::COMPONENT_SECRET, "appid": A1});
    assert_eq!(errcode(&env.post(path, "", right).await), 0);
    assert_eq!(errcode(&env.template_send(&token, &to, None).await), 0);
}

#[tokio::test]
async fn mass_sends_are_limited_per_minute() {
    let mut cfg = config();
    cfg.limits.mass_sends_per_minute = 2;
    let env = env_with(cfg).await;
    let (_, token, _) = env.authorizer(A1).await;
    let q = format!("access_token={token}");
    let mass = json!({"filter": {"is_to_all": true}, "msgtype": "text", "text": {"content": "x"}});
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/message/mass/sendall", &q, mass.clone())
                .await
        ),
        0
    );
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/message/mass/sendall", &q, mass.clone())
                .await
        ),
        0
    );
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/message/mass/sendall", &q, mass.clone())
                .await
        ),
        45009
    );
    env.sim.advance(Duration::from_secs(60));
    assert_eq!(
        errcode(&env.post("/cgi-bin/message/mass/sendall", &q, mass).await),
        0
    );
}

#[tokio::test]
async fn repeated_client_msg_id_is_45065_with_the_earlier_msgid() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let first = env
        .template_send(&token, &sandbox_openid(1, 1), Some("job-1-user-1"))
        .await;
    let again = env
        .template_send(&token, &sandbox_openid(1, 1), Some("job-1-user-1"))
        .await;
    assert_eq!(errcode(&again), 45065);
    assert_eq!(again["msgid"], first["msgid"]);
    assert_eq!(env.sim.template_sends(A1).len(), 1);
    let sends = env.sim.template_sends(A1);
    assert_eq!(sends[0].1.as_deref(), Some("job-1-user-1"));
}

#[tokio::test]
async fn repeated_mass_clientmsgid_is_45066_then_45065() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let q = format!("access_token={token}");
    let mass = json!({"filter": {"is_to_all": true}, "msgtype": "text", "text": {"content": "x"}, "clientmsgid": "mass-1"});
    let first = env
        .post("/cgi-bin/message/mass/sendall", &q, mass.clone())
        .await;
    let too_fast = env
        .post("/cgi-bin/message/mass/sendall", &q, mass.clone())
        .await;
    assert_eq!(errcode(&too_fast), 45066);
    env.sim.advance(Duration::from_secs(60));
    let again = env.post("/cgi-bin/message/mass/sendall", &q, mass).await;
    assert_eq!(errcode(&again), 45065);
    assert_eq!(again["msg_id"], first["msg_id"]);
}

#[tokio::test]
async fn template_send_is_followed_by_its_finish_event() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let ok = env.template_send(&token, &sandbox_openid(1, 1), None).await;
    let blocked = "oSbx01Blocked000000000000001";
    let failed = env.template_send(&token, blocked, None).await;
    for (reply, openid, status) in [
        (&ok, sandbox_openid(1, 1), "success"),
        (&failed, blocked.to_owned(), "failed:user block"),
    ] {
        let msgid = reply["msgid"].as_u64().unwrap().to_string();
        let push = env
            .rx
            .wait_for(|r| field(&r.plaintext, "MsgID").as_deref() == Some(msgid.as_str()))
            .await;
        assert_eq!(push.path, format!("/authorizers/{A1}/events"));
        assert_eq!(
            field(&push.plaintext, "Event").as_deref(),
            Some("TEMPLATESENDJOBFINISH")
        );
        assert_eq!(
            field(&push.plaintext, "FromUserName").as_deref(),
            Some(openid.as_str())
        );
        assert_eq!(field(&push.plaintext, "Status").as_deref(), Some(status));
        assert_eq!(push.query.get("openid"), Some(&openid));
    }
}

#[tokio::test]
async fn mass_finish_counts_add_up() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let q = format!("access_token={token}");
    let touser = vec![
        sandbox_openid(1, 1),
        "oSbx01Blocked000000000000001".into(),
        "oSbx01Unfollow00000000000001".into(),
    ];
    let reply = env
        .post(
            "/cgi-bin/message/mass/send",
            &q,
            json!({"touser": touser, "msgtype": "text", "text": {"content": "x"}}),
        )
        .await;
    let msgid = reply["msg_id"].as_u64().unwrap().to_string();
    let push = env
        .rx
        .wait_for(|r| field(&r.plaintext, "MsgID").as_deref() == Some(msgid.as_str()))
        .await;
    let n = |tag: &str| field(&push.plaintext, tag).unwrap().parse::<u64>().unwrap();
    assert_eq!(
        field(&push.plaintext, "Event").as_deref(),
        Some("MASSSENDJOBFINISH")
    );
    assert_eq!(n("TotalCount"), 3);
    assert_eq!(n("FilterCount"), 3);
    assert_eq!(n("SentCount"), 1);
    assert_eq!(n("ErrorCount"), 2);
}

#[tokio::test]
async fn finish_pushes_can_be_turned_off() {
    let mut cfg = config();
    cfg.finish_pushes = false;
    let env = env_with(cfg).await;
    let (_, token, _) = env.authorizer(A1).await;
    env.template_send(&token, &sandbox_openid(1, 1), None).await;
    assert!(env
        .sim
        .pushes()
        .iter()
        .all(|p| p.kind != "TEMPLATESENDJOBFINISH"));
}
