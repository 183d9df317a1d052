//! Request checks of the official-account endpoints.

use serde_json::{json, Value};
use wxopen_sim::{sandbox_openid, SimConfig};

use crate::common::*;

#[tokio::test]
async fn template_send_checks_openid_follower_template_and_format() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    assert_eq!(
        errcode(
            &env.template_send(&token, "not-an-openid-of-this-account", None)
                .await
        ),
        40003
    );
    assert_eq!(
        errcode(
            &env.template_send(&token, "oSbx01Unfollow00000000000001", None)
                .await
        ),
        43004
    );
    let q = format!("access_token={token}");
    let bad_template = json!({"touser": sandbox_openid(1, 1), "template_id": "nope", "data": {}});
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/message/template/send", &q, bad_template)
                .await
        ),
        40037
    );
    let other_accounts_template =
        json!({"touser": sandbox_openid(1, 1), "template_id": "SimTpl02OrderShipped"});
    assert_eq!(
        errcode(
            &env.post(
                "/cgi-bin/message/template/send",
                &q,
                other_accounts_template
            )
            .await
        ),
        40037
    );
    let bad_data = json!({"touser": sandbox_openid(1, 1), "template_id": TPL1, "data": {"first": "not an object"}});
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/message/template/send", &q, bad_data)
                .await
        ),
        47001
    );
    let resp = env
        .http
        .post(env.url("/cgi-bin/message/template/send") + "?" + &q)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(errcode(&resp.json::<Value>().await.unwrap()), 47001);
    let ok = env.template_send(&token, &sandbox_openid(1, 1), None).await;
    assert_eq!(errcode(&ok), 0);
    assert!(ok["msgid"].as_u64().is_some());
}

#[tokio::test]
async fn mass_send_needs_two_to_ten_thousand_openids() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let q = format!("access_token={token}");
    let send = |touser: Vec<String>| json!({"touser": touser, "msgtype": "text", "text": {"content": "hi"}});
    let one = send(vec![sandbox_openid(1, 1)]);
    assert_eq!(
        errcode(&env.post("/cgi-bin/message/mass/send", &q, one).await),
        40130
    );
    let too_many = send((0..10_001).map(|i| format!("o{i:027}")).collect());
    assert_eq!(
        errcode(&env.post("/cgi-bin/message/mass/send", &q, too_many).await),
        40130
    );
    let two = send(vec![sandbox_openid(1, 1), sandbox_openid(1, 2)]);
    let reply = env.post("/cgi-bin/message/mass/send", &q, two).await;
    assert_eq!(errcode(&reply), 0, "{reply}");
    let status = env
        .post(
            "/cgi-bin/message/mass/get",
            &q,
            json!({"msg_id": reply["msg_id"]}),
        )
        .await;
    assert_eq!(status["msg_status"], "SEND_SUCCESS");
    env.post(
        "/cgi-bin/message/mass/delete",
        &q,
        json!({"msg_id": reply["msg_id"], "article_idx": 0}),
    )
    .await;
    let status = env
        .post(
            "/cgi-bin/message/mass/get",
            &q,
            json!({"msg_id": reply["msg_id"]}),
        )
        .await;
    assert_eq!(status["msg_status"], "DELETE");
}

#[tokio::test]
async fn mass_sendall_checks_message_type_and_tag() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let q = format!("access_token={token}");
    let bad_type = json!({"filter": {"is_to_all": true}, "msgtype": "telegram"});
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/message/mass/sendall", &q, bad_type)
                .await
        ),
        40008
    );
    let bad_media =
        json!({"filter": {"is_to_all": true}, "msgtype": "mpnews", "mpnews": {"media_id": "nope"}});
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/message/mass/sendall", &q, bad_media)
                .await
        ),
        40007
    );
    let bad_tag = json!({"filter": {"is_to_all": false, "tag_id": 999}, "msgtype": "text", "text": {"content": "x"}});
    assert_eq!(
        errcode(&env.post("/cgi-bin/message/mass/sendall", &q, bad_tag).await),
        40050
    );
}

#[tokio::test]
async fn batchget_takes_at_most_one_hundred_users() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let q = format!("access_token={token}");
    let list = |n: usize| json!({"user_list": (0..n).map(|_| json!({"openid": sandbox_openid(1, 1)})).collect::<Vec<_>>()});
    assert_ne!(
        errcode(&env.post("/cgi-bin/user/info/batchget", &q, list(101)).await),
        0
    );
    let ok = env.post("/cgi-bin/user/info/batchget", &q, list(100)).await;
    assert_eq!(ok["user_info_list"].as_array().unwrap().len(), 100);
    assert_eq!(ok["user_info_list"][0]["subscribe"], 1);
}

#[tokio::test]
async fn user_list_pages_and_the_last_page_has_no_data() {
    let mut cfg = config();
    cfg.limits.user_page_size = 4;
    let env = env_with(cfg).await;
    let (_, token, _) = env.authorizer(A1).await;
    let first = env
        .get("/cgi-bin/user/get", &format!("access_token={token}"))
        .await;
    assert_eq!(first["total"], 6);
    assert_eq!(first["count"], 4);
    let next = first["next_openid"].as_str().unwrap();
    let second = env
        .get(
            "/cgi-bin/user/get",
            &format!("access_token={token}&next_openid={next}"),
        )
        .await;
    assert_eq!(second["count"], 2);
    let next = second["next_openid"].as_str().unwrap();
    let last = env
        .get(
            "/cgi-bin/user/get",
            &format!("access_token={token}&next_openid={next}"),
        )
        .await;
    assert_eq!(last["count"], 0);
    assert!(last.get("data").is_none());
}

#[tokio::test]
async fn user_info_tells_followers_from_former_followers() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let info = env
        .get(
            "/cgi-bin/user/info",
            &format!(
                "access_token={token}&openid={}&lang=en",
                sandbox_openid(1, 1)
            ),
        )
        .await;
    assert_eq!(info["subscribe"], 1);
    assert_eq!(info["tagid_list"][0], 100);
    let former = env
        .get(
            "/cgi-bin/user/info",
            &format!("access_token={token}&openid=oSbx01Unfollow00000000000001"),
        )
        .await;
    assert_eq!(former["subscribe"], 0);
    let stranger = env
        .get(
            "/cgi-bin/user/info",
            &format!("access_token={token}&openid=oStranger"),
        )
        .await;
    assert_eq!(errcode(&stranger), 40003);
}

async fn upload(env: &Env, token: &str, path_and_type: &str, name: &str, size: usize) -> Value {
    let part = reqwest::multipart::Part::bytes(vec![7u8; size]).file_name(name.to_owned());
    let form = reqwest::multipart::Form::new().part("media", part);
    let sep = if path_and_type.contains('?') {
        '&'
    } else {
        '?'
    };
    env.http
        .post(format!(
            "{}{sep}access_token={token}",
            env.url(path_and_type)
        ))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn media_upload_checks_type_and_size() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    assert_eq!(
        errcode(
            &upload(
                &env,
                &token,
                "/cgi-bin/media/upload?type=sticker",
                "a.jpg",
                10
            )
            .await
        ),
        40004
    );
    assert_eq!(
        errcode(
            &upload(
                &env,
                &token,
                "/cgi-bin/media/upload?type=thumb",
                "a.jpg",
                64 * 1024 + 1
            )
            .await
        ),
        40009
    );
    assert_eq!(
        errcode(
            &upload(
                &env,
                &token,
                "/cgi-bin/media/upload?type=voice",
                "a.jpg",
                10
            )
            .await
        ),
        40005
    );
    assert_eq!(
        errcode(
            &upload(
                &env,
                &token,
                "/cgi-bin/media/uploadimg",
                "a.png",
                1024 * 1024
            )
            .await
        ),
        40009
    );
    let img = upload(&env, &token, "/cgi-bin/media/uploadimg", "a.png", 1000).await;
    assert!(img["url"].as_str().unwrap().starts_with("http"));
    let thumb = upload(
        &env,
        &token,
        "/cgi-bin/media/upload?type=thumb",
        "t.jpg",
        1000,
    )
    .await;
    assert_eq!(thumb["type"], "thumb");
    let q = format!("access_token={token}");
    let article = |thumb: &Value| json!({"articles": [{"title": "t", "content": "c", "thumb_media_id": thumb}]});
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/media/uploadnews", &q, article(&json!("nope")))
                .await
        ),
        40007
    );
    let news = env
        .post("/cgi-bin/media/uploadnews", &q, article(&thumb["media_id"]))
        .await;
    let mass = json!({"filter": {"is_to_all": true}, "msgtype": "mpnews", "mpnews": {"media_id": news["media_id"]}});
    let sent = env.post("/cgi-bin/message/mass/sendall", &q, mass).await;
    assert_eq!(errcode(&sent), 0, "{sent}");
    assert!(sent["msg_data_id"].is_u64());
}

#[tokio::test]
async fn templates_can_be_listed_added_and_deleted() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    let q = format!("access_token={token}");
    let all = env
        .get("/cgi-bin/template/get_all_private_template", &q)
        .await;
    assert_eq!(all["template_list"].as_array().unwrap().len(), 2);
    let added = env
        .post(
            "/cgi-bin/template/api_add_template",
            &q,
            json!({"template_id_short": "TM00015"}),
        )
        .await;
    let id = added["template_id"].as_str().unwrap().to_owned();
    assert_eq!(
        errcode(
            &env.post(
                "/cgi-bin/template/del_private_template",
                &q,
                json!({"template_id": id})
            )
            .await
        ),
        0
    );
    assert_eq!(
        errcode(
            &env.post(
                "/cgi-bin/template/del_private_template",
                &q,
                json!({"template_id": id})
            )
            .await
        ),
        40037
    );
}

#[tokio::test]
async fn custom_message_needs_the_users_reply_window() {
    let mut cfg = config();
    cfg.limits.custom_window = 60;
    let env = env_with(cfg).await;
    let (_, token, _) = env.authorizer(A1).await;
    let q = format!("access_token={token}");
    let openid = sandbox_openid(1, 2);
    let msg = json!({"touser": openid, "msgtype": "text", "text": {"content": "hello"}});
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/message/custom/send", &q, msg.clone())
                .await
        ),
        45015
    );
    env.sim.user_message(A1, &openid, "hi there").await.unwrap();
    assert_eq!(
        errcode(
            &env.post("/cgi-bin/message/custom/send", &q, msg.clone())
                .await
        ),
        0
    );
    env.sim.advance(std::time::Duration::from_secs(60));
    assert_eq!(
        errcode(&env.post("/cgi-bin/message/custom/send", &q, msg).await),
        45015
    );
}

#[tokio::test]
async fn unknown_path_is_404() {
    let env = env_with(SimConfig::sandbox()).await;
    let resp = env
        .http
        .post(env.url("/cgi-bin/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
