//! The two seed workflows of issue #17 end to end through the client API
//! against the simulator, on SQLite and DynamoDB: seed 002's (authorize →
//! refresh → custom send → batchget unionids → media download) and seed
//! 000's (uploadimg → uploadnews → preview → sendall by a tag created and
//! filled here → finish event → delete).

use crate::api_common;

use api_common::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::time::Duration;
use wxopen::wechat::paths;
use wxopen_sim::sandbox_openid;
use wxopen_tests::{eventually, Backend};

on_both_stores!(
    seed_002_authorize_refresh_custom_send_batchget_unionids_download_media,
    seed_000_upload_preview_sendall_to_a_new_tag_finish_and_delete,
);

async fn upload(api: &Api, kind: &str, filename: &str, bytes: Vec<u8>) -> Value {
    let form = Form::new()
        .text("type", kind.to_owned())
        .part("media", Part::bytes(bytes).file_name(filename.to_owned()));
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
    resp.json().await.unwrap()
}

async fn seed_002_authorize_refresh_custom_send_batchget_unionids_download_media(backend: Backend) {
    // Authorized (the real flow), and two hours later the refresh sweep renews the token
    let api = Api::start(backend).await;
    api.env.sim.advance(Duration::from_secs(6300));
    let report = wxopen::service::refresh::run(&api.env.app).await.unwrap();
    assert_eq!(report.renewed, vec![APPID.to_owned()], "{report:?}");

    // A follower writes; the account answers with a customer-service message
    let buyer = sandbox_openid(1, 1);
    api.env
        .sim
        .user_message(APPID, &buyer, "where is my order?")
        .await
        .unwrap();
    let sent = api
        .post(
            &format!("/v1/authorizers/{APPID}/custom-messages"),
            &api.key,
            &json!({"touser": buyer, "msgtype": "text", "text": {"content": "On its way"}}),
            None,
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);

    // The platform reads every follower's unionid in one request
    let openids: Vec<String> = (1..=5).map(|i| sandbox_openid(1, i)).collect();
    let got = api
        .post(
            &format!("/v1/authorizers/{APPID}/followers/batchget"),
            &api.key,
            &json!({ "openids": openids }),
            None,
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let unionids: Vec<&str> = got.body["followers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["unionid"].as_str().unwrap())
        .collect();
    assert_eq!(unionids.len(), 5);
    assert!(
        unionids.iter().all(|u| u.starts_with("oUnion")),
        "{unionids:?}"
    );

    // and downloads the voice note it holds, byte for byte
    let voice: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let up = upload(&api, "voice", "note.mp3", voice.clone()).await;
    let media_id = up["media_id"].as_str().unwrap();
    let resp = api
        .env
        .http
        .get(
            api.env
                .at(&format!("/v1/authorizers/{APPID}/media/{media_id}")),
        )
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/mpeg");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), voice.as_slice());
}

async fn seed_000_upload_preview_sendall_to_a_new_tag_finish_and_delete(backend: Backend) {
    let api = Api::start(backend).await;
    let a = format!("/v1/authorizers/{APPID}");

    // uploadimg for the article body, a cover, then uploadnews
    let body_image = upload(&api, "article_image", "inline.jpg", vec![0xD8; 4096]).await;
    let url = body_image["url"].as_str().unwrap().to_owned();
    let cover = upload(&api, "image", "cover.jpg", vec![0xFF; 2048]).await;
    let news = api
        .post(
            &format!("{a}/media"),
            &api.key,
            &json!({"type": "news", "articles": [{"title": "Autumn menu", "thumb_media_id": cover["media_id"], "content": format!("<img src=\"{url}\">")}]}),
            None,
        )
        .await;
    assert_eq!(news.status, 200, "{}", news.body);
    let news_id = news.body["media_id"].clone();

    // preview to the editor's own openid
    let preview = api
        .post(
            &format!("{a}/mass-messages/preview"),
            &api.key,
            &json!({"touser": sandbox_openid(1, 5), "msgtype": "mpnews", "mpnews": {"media_id": news_id}}),
            None,
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(api.env.sim.calls_to(paths::MASS_PREVIEW).len(), 1);

    // a tag created and filled here
    let tag = api
        .post(
            &format!("{a}/tags"),
            &api.key,
            &json!({"name": "Autumn"}),
            None,
        )
        .await;
    assert_eq!(tag.status, 201, "{}", tag.body);
    let tag_id = tag.body["id"].as_u64().unwrap();
    let members = [
        sandbox_openid(1, 3),
        sandbox_openid(1, 4),
        sandbox_openid(1, 5),
    ];
    let filled = api
        .post(
            &format!("{a}/tags/{tag_id}/members"),
            &api.key,
            &json!({ "openids": members }),
            None,
        )
        .await;
    assert_eq!(filled.status, 200, "{}", filled.body);

    // sendall by that tag, and WeChat's MASSSENDJOBFINISH counts its three
    let sent = api
        .post(
            &format!("{a}/mass-messages"),
            &api.key,
            &json!({"tag_id": tag_id, "msgtype": "mpnews", "mpnews": {"media_id": news_id}, "send_ignore_reprint": false}),
            None,
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let msg_id = sent.body["msg_id"].as_u64().unwrap();
    let status = eventually("mass finish event", Duration::from_secs(10), || async {
        let r = api
            .get(&format!("{a}/mass-messages/{msg_id}"), Some(&api.key))
            .await;
        (r.status == 200 && r.body["finish"].is_object()).then_some(r.body)
    })
    .await;
    assert_eq!(status["finish"]["counts"]["SentCount"], 3, "{status}");

    // delete it: WeChat reports it deleted
    let resp = api
        .env
        .http
        .delete(api.env.at(&format!("{a}/mass-messages/{msg_id}")))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = api
        .get(&format!("{a}/mass-messages/{msg_id}"), Some(&api.key))
        .await;
    assert_eq!(r.body["wechat_status"], "DELETE", "{}", r.body);
    // and an unknown msg_id is 404 with WeChat's errcode
    let resp = api
        .env
        .http
        .delete(api.env.at(&format!("{a}/mass-messages/999999999")))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
