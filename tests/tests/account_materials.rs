//! Permanent materials over the client API against the simulator, on SQLite
//! and DynamoDB (issue #17).

use crate::api_common;

use api_common::*;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use wxopen::wechat::paths;
use wxopen_tests::Backend;

on_both_stores!(
    materials_are_added_listed_counted_read_back_and_deleted,
    a_video_needs_a_title_and_a_wrong_file_never_reaches_wechat,
);

async fn add(api: &Api, form: Form) -> Reply {
    let resp = api
        .env
        .http
        .post(api.env.at(&format!("/v1/authorizers/{APPID}/materials")))
        .bearer_auth(&api.key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

fn file(kind: &str, name: &str, bytes: Vec<u8>) -> Form {
    Form::new()
        .text("type", kind.to_owned())
        .part("media", Part::bytes(bytes).file_name(name.to_owned()))
}

async fn materials_are_added_listed_counted_read_back_and_deleted(backend: Backend) {
    let api = Api::start(backend).await;
    let a = format!("/v1/authorizers/{APPID}/materials");

    // Given two images and a video with its description
    let png: Vec<u8> = (0..5000u32).map(|i| (i % 256) as u8).collect();
    let first = add(&api, file("image", "logo.png", png.clone())).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(first.body["url"].as_str().is_some());
    let second = add(&api, file("image", "menu.jpg", vec![0xFF; 100])).await;
    assert_eq!(second.status, 201, "{}", second.body);
    let video = add(
        &api,
        file("video", "intro.mp4", vec![0; 2048])
            .text("title", "Our roastery")
            .text("introduction", "Two minutes inside"),
    )
    .await;
    assert_eq!(video.status, 201, "{}", video.body);
    let upload = api.env.sim.calls_to(paths::MATERIAL_ADD).pop().unwrap();
    assert_eq!(upload.errcode, 0);

    // Then they are counted and listed newest first
    let count = api.get(&format!("{a}/count"), Some(&api.key)).await;
    assert_eq!(count.status, 200, "{}", count.body);
    assert_eq!(
        (
            count.body["image_count"].as_u64(),
            count.body["video_count"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let page = api
        .get(&format!("{a}?type=image&count=1"), Some(&api.key))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["total_count"], 2);
    assert_eq!(page.body["items"][0]["media_id"], second.body["media_id"]);

    // and an image reads back byte for byte, a video as its description
    let id = first.body["media_id"].as_str().unwrap();
    let resp = api
        .env
        .http
        .get(api.env.at(&format!("{a}/{id}")))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), png.as_slice());
    let v = api
        .get(
            &format!("{a}/{}", video.body["media_id"].as_str().unwrap()),
            Some(&api.key),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body["title"], "Our roastery");
    assert_eq!(v.body["description"], "Two minutes inside");

    // and once deleted it is 404 with WeChat's 40007
    let resp = api
        .env
        .http
        .delete(api.env.at(&format!("{a}/{id}")))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let gone = api.get(&format!("{a}/{id}"), Some(&api.key)).await;
    assert_eq!(
        (gone.status, gone.code()),
        (404, "not_found"),
        "{}",
        gone.body
    );
    assert_eq!(gone.body["error"]["wechat_errcode"], 40007);
}

async fn a_video_needs_a_title_and_a_wrong_file_never_reaches_wechat(backend: Backend) {
    let api = Api::start(backend).await;
    let before = api.env.sim.calls().len();
    let no_title = add(&api, file("video", "intro.mp4", vec![0; 10])).await;
    assert_eq!(no_title.status, 400, "{}", no_title.body);
    assert!(no_title.message().contains("`title`"), "{}", no_title.body);
    let thumb_too_big = add(&api, file("thumb", "t.jpg", vec![0; 65 * 1024])).await;
    assert_eq!(thumb_too_big.status, 400, "{}", thumb_too_big.body);
    assert!(
        thumb_too_big.message().contains("`media`"),
        "{}",
        thumb_too_big.body
    );
    let wrong_type = add(&api, file("news", "a.jpg", vec![0; 10])).await;
    assert_eq!(wrong_type.status, 400, "{}", wrong_type.body);
    assert!(
        wrong_type.message().contains("`type`"),
        "{}",
        wrong_type.body
    );
    let bad_list = api
        .get(
            &format!("/v1/authorizers/{APPID}/materials?type=image&count=21"),
            Some(&api.key),
        )
        .await;
    assert_eq!(bad_list.status, 400, "{}", bad_list.body);
    assert_eq!(api.env.sim.calls().len(), before);
}
