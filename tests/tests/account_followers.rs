//! Followers and temporary-media downloads over the client API against the
//! simulator, on SQLite and DynamoDB (issue #17).

use crate::api_common;

use api_common::*;
use reqwest::multipart::{Form, Part};
use serde_json::json;
use wxopen::wechat::paths;
use wxopen_sim::sandbox_openid;
use wxopen_tests::Backend;

on_both_stores!(
    followers_are_listed_page_by_page_with_a_cursor,
    a_followers_profile_remark_and_tags_are_read_and_set,
    batchget_splits_into_calls_of_100_and_answers_in_request_order,
    batchget_refuses_10001_openids_without_calling_wechat,
    an_uploaded_file_downloads_byte_identical_with_its_content_type,
    an_unknown_media_id_is_404_with_wechat_errcode_40007,
);

fn followers_path(rest: &str) -> String {
    format!("/v1/authorizers/{APPID}/followers{rest}")
}

async fn followers_are_listed_page_by_page_with_a_cursor(backend: Backend) {
    // Given an account whose WeChat pages hold 4 openids
    let mut opts = options(backend, 3, &[]);
    opts.sim.limits.user_page_size = 4;
    let api = Api::start_with(opts).await;
    let all = api.env.sim.followers(APPID);
    assert_eq!(all.len(), 9);

    // When the list is read following next_cursor until it is null
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => followers_path(&format!("?cursor={c}")),
            None => followers_path(""),
        };
        let r = api.get(&path, Some(&api.key)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["total"], 9);
        seen.extend(
            r.body["openids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap().to_owned()),
        );
        cursor = r.body["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }

    // Then every follower came once, in WeChat's order
    assert_eq!(seen, all);
    // and a cursor that is no openid is refused before WeChat is called
    let calls = api.env.sim.calls_to(paths::USER_GET).len();
    let r = api
        .get(&followers_path("?cursor=not%20an%20openid"), Some(&api.key))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`cursor`"), "{}", r.body);
    assert_eq!(api.env.sim.calls_to(paths::USER_GET).len(), calls);
}

async fn a_followers_profile_remark_and_tags_are_read_and_set(backend: Backend) {
    let api = Api::start(backend).await;
    let vip = sandbox_openid(1, 1);

    // When a remark is set on a follower of tag 100
    let r = api
        .post(
            &followers_path(&format!("/{vip}/remark")),
            &api.key,
            &json!({"remark": "Prefers oat milk"}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Then the profile shows it with the follower's tags
    let r = api
        .get(&followers_path(&format!("/{vip}?lang=en")), Some(&api.key))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["subscribed"], true);
    assert_eq!(r.body["remark"], "Prefers oat milk");
    assert_eq!(r.body["language"], "en");
    assert_eq!(r.body["tag_ids"], json!([100]));
    let r = api
        .get(&followers_path(&format!("/{vip}/tags")), Some(&api.key))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["tag_ids"], json!([100]));

    // and someone who left is answered as not subscribed
    let r = api
        .get(
            &followers_path("/oSbx01Unfollow00000000000001"),
            Some(&api.key),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["subscribed"], false);

    // and a remark of 30 characters or a wrong lang is refused, naming the field, with no WeChat call
    let calls = api.env.sim.calls().len();
    let long = "x".repeat(30);
    let r = api
        .post(
            &followers_path(&format!("/{vip}/remark")),
            &api.key,
            &json!({"remark": long}),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`remark`"), "{}", r.body);
    let r = api
        .get(&followers_path(&format!("/{vip}?lang=fr")), Some(&api.key))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`lang`"), "{}", r.body);
    assert_eq!(api.env.sim.calls().len(), calls);
}

async fn batchget_splits_into_calls_of_100_and_answers_in_request_order(backend: Backend) {
    // Given 250 followers
    let api = Api::start_with(options(backend, 250, &[])).await;
    let mut openids = extra_followers(250);
    openids.reverse();

    // When their profiles are asked for in one request
    let r = api
        .post(
            &followers_path("/batchget"),
            &api.key,
            &json!({ "openids": openids }),
            None,
        )
        .await;

    // Then WeChat saw three calls (100, 100, 50) and the answer keeps request order
    assert_eq!(r.status, 200, "{}", r.body);
    let got: Vec<&str> = r.body["followers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["openid"].as_str().unwrap())
        .collect();
    assert_eq!(got, openids);
    let mut sizes: Vec<usize> = api
        .env
        .sim
        .calls_to(paths::USER_INFO_BATCHGET)
        .iter()
        .map(|c| c.params["user_list"].as_array().unwrap().len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [50, 100, 100]);
}

async fn batchget_refuses_10001_openids_without_calling_wechat(backend: Backend) {
    let api = Api::start(backend).await;
    let openids = extra_followers(10_001);
    let r = api
        .post(
            &followers_path("/batchget"),
            &api.key,
            &json!({ "openids": openids }),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`openids`"), "{}", r.body);
    assert!(r.message().contains("10001"), "{}", r.body);
    assert!(api.env.sim.calls_to(paths::USER_INFO_BATCHGET).is_empty());
}

async fn upload_image(api: &Api, bytes: Vec<u8>) -> String {
    let form = Form::new()
        .text("type", "image")
        .part("media", Part::bytes(bytes).file_name("photo.png"));
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
    let body: serde_json::Value = resp.json().await.unwrap();
    body["media_id"].as_str().unwrap().to_owned()
}

async fn an_uploaded_file_downloads_byte_identical_with_its_content_type(backend: Backend) {
    // Given an image of every byte value, uploaded
    let api = Api::start(backend).await;
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let media_id = upload_image(&api, bytes.clone()).await;

    // When it is downloaded
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

    // Then the bytes and content type are WeChat's, as an attachment never sniffed
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-disposition"], "attachment");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

async fn an_unknown_media_id_is_404_with_wechat_errcode_40007(backend: Backend) {
    let api = Api::start(backend).await;
    let r = api
        .get(
            &format!("/v1/authorizers/{APPID}/media/simmedia_nosuchthing"),
            Some(&api.key),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.body);
    assert_eq!(r.body["error"]["wechat_errcode"], 40007);
    // and a media_id that cannot be one is refused before WeChat is called
    let calls = api.env.sim.calls_to(paths::MEDIA_GET).len();
    let r = api
        .get(
            &format!("/v1/authorizers/{APPID}/media/bad%20id"),
            Some(&api.key),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`media_id`"), "{}", r.body);
    assert_eq!(api.env.sim.calls_to(paths::MEDIA_GET).len(), calls);
}
