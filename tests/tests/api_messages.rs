//! Mass messages, their status, customer-service messages and media uploads
//! over the client API against the simulator, on SQLite and DynamoDB.

use crate::api_common;

use api_common::*;
use reqwest::multipart::{Form, Part};
use serde_json::json;
use std::time::Duration;
use wxopen::wechat::paths;
use wxopen_sim::sandbox_openid;
use wxopen_tests::{eventually, Backend};

on_both_stores!(
    articles_uploaded_then_mass_sent_by_tag_report_status_and_finish_counts,
    a_mass_send_to_an_openid_list_is_accepted_once_per_idempotency_key,
    a_custom_message_is_sent_inside_the_reply_window_and_refused_outside,
    media_type_and_size_are_checked_before_calling_wechat,
    a_mass_send_wechat_refuses_for_its_content_is_the_clients_400,
);

async fn upload(api: &Api, kind: &str, filename: &str, bytes: Vec<u8>) -> Reply {
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
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

async fn articles_uploaded_then_mass_sent_by_tag_report_status_and_finish_counts(backend: Backend) {
    // Given a cover image and an article uploaded through the API
    let api = Api::start(backend).await;
    let thumb = upload(&api, "image", "cover.jpg", vec![0xFF; 2048]).await;
    assert_eq!(thumb.status, 200, "{}", thumb.body);
    let news = api
        .post(
            &format!("/v1/authorizers/{APPID}/media"),
            &api.key,
            &json!({"type": "news", "articles": [{"title": "Spring sale", "thumb_media_id": thumb.body["media_id"], "content": "<p>20% off</p>"}]}),
            None,
        )
        .await;
    assert_eq!(news.status, 200, "{}", news.body);

    // When the article is mass sent to tag 100 (two followers)
    let sent = api
        .post(
            &format!("/v1/authorizers/{APPID}/mass-messages"),
            &api.key,
            &json!({"tag_id": 100, "msgtype": "mpnews", "mpnews": {"media_id": news.body["media_id"]}, "send_ignore_reprint": true}),
            None,
        )
        .await;

    // Then WeChat accepted it with a clientmsgid
    assert_eq!(sent.status, 200, "{}", sent.body);
    let msg_id = sent.body["msg_id"].as_u64().unwrap();
    let call = api.env.sim.calls_to(paths::MASS_SENDALL).pop().unwrap();
    assert!(call.params["clientmsgid"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    // and its status merges mass/get with the MASSSENDJOBFINISH counts
    let status = eventually("mass finish event", Duration::from_secs(10), || async {
        let r = api
            .get(
                &format!("/v1/authorizers/{APPID}/mass-messages/{msg_id}"),
                Some(&api.key),
            )
            .await;
        (r.status == 200 && r.body["finish"].is_object()).then_some(r.body)
    })
    .await;
    assert_eq!(status["wechat_status"], "SEND_SUCCESS");
    assert_eq!(status["finish"]["status"], "send success");
    assert_eq!(status["finish"]["counts"]["SentCount"], 2, "{status}");
    // and an unknown msg_id is 404
    let r = api
        .get(
            &format!("/v1/authorizers/{APPID}/mass-messages/999999999"),
            Some(&api.key),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

async fn a_mass_send_to_an_openid_list_is_accepted_once_per_idempotency_key(backend: Backend) {
    // Given a text mass send to two followers with an Idempotency-Key
    let api = Api::start(backend).await;
    let body = json!({"touser": [sandbox_openid(1, 1), sandbox_openid(1, 2)], "msgtype": "text", "text": {"content": "Hello"}});
    let path = format!("/v1/authorizers/{APPID}/mass-messages");

    // When it is posted twice
    let first = api.post(&path, &api.key, &body, Some("mass-42")).await;
    let second = api.post(&path, &api.key, &body, Some("mass-42")).await;

    // Then WeChat saw one send and both answers carry its msg_id
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(second.body["msg_id"], first.body["msg_id"]);
    assert_eq!(api.env.sim.calls_to(paths::MASS_SEND).len(), 1);
}

async fn a_custom_message_is_sent_inside_the_reply_window_and_refused_outside(backend: Backend) {
    // Given a follower who just wrote to the account and one who never did
    let api = Api::start(backend).await;
    api.env
        .sim
        .user_message(APPID, &sandbox_openid(1, 1), "hello?")
        .await
        .unwrap();
    let path = format!("/v1/authorizers/{APPID}/custom-messages");
    let text = |openid: String| json!({"touser": openid, "msgtype": "text", "text": {"content": "How can we help?"}});

    // When both get a customer-service message
    let inside = api
        .post(&path, &api.key, &text(sandbox_openid(1, 1)), None)
        .await;
    let outside = api
        .post(&path, &api.key, &text(sandbox_openid(1, 2)), None)
        .await;

    // Then the first is sent and the second refused with WeChat's 45015
    assert_eq!(inside.status, 200, "{}", inside.body);
    assert_eq!(inside.body["status"], "sent");
    assert_eq!(outside.status, 400, "{}", outside.body);
    assert_eq!(outside.body["error"]["wechat_errcode"], 45015);
}

async fn media_type_and_size_are_checked_before_calling_wechat(backend: Backend) {
    let api = Api::start(backend).await;
    // When a thumbnail over 64 KB, a thumbnail that is a PNG, and an unknown type are uploaded
    let big = upload(&api, "thumb", "t.jpg", vec![0xFF; 64 * 1024 + 1]).await;
    let png = upload(&api, "thumb", "t.png", vec![0xFF; 100]).await;
    let odd = upload(&api, "document", "t.pdf", vec![0xFF; 100]).await;
    // Then each is 400 naming the problem, and WeChat was never called
    assert_eq!(big.status, 400, "{}", big.body);
    assert!(big.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 65536 bytes"));
    assert_eq!(png.status, 400, "{}", png.body);
    assert!(png.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("jpg"));
    assert_eq!(odd.status, 400, "{}", odd.body);
    assert!(odd.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`type`"));
    assert!(api.env.sim.calls_to(paths::MEDIA_UPLOAD).is_empty());
    // and a good image goes through as temporary media
    let ok = upload(&api, "image", "photo.png", vec![0x89; 4096]).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["type"], "image");
    assert!(ok.body["media_id"].as_str().is_some_and(|m| !m.is_empty()));
}

/// Found by schemathesis: WeChat refusing what a request asked for (a tag it
/// does not know, 40050) was answered 502 as if WeChat had failed.
async fn a_mass_send_wechat_refuses_for_its_content_is_the_clients_400(backend: Backend) {
    // Given a tag the account does not have
    let api = Api::start(backend).await;

    // When a mass message goes to it
    let r = api
        .post(
            &format!("/v1/authorizers/{APPID}/mass-messages"),
            &api.key,
            &json!({"tag_id": 987654, "msgtype": "text", "text": {"content": "Hello"}}),
            None,
        )
        .await;

    // Then it is the client's 400 with WeChat's errcode and words
    assert_eq!(
        (r.status, r.code()),
        (400, "wechat_rejected_request"),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["wechat_errcode"], 40050);
    assert!(r.message().contains("WeChat said"), "{}", r.message());
}
