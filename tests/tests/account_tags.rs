//! Follower tags over the client API against the simulator, on SQLite and
//! DynamoDB (issue #17).

use crate::api_common;

use api_common::*;
use serde_json::json;
use wxopen::wechat::paths;
use wxopen_tests::Backend;

on_both_stores!(
    a_tag_is_created_filled_in_calls_of_50_emptied_renamed_and_deleted,
    wechats_tag_refusals_are_the_clients_400_with_the_errcode,
);

fn tags_path(rest: &str) -> String {
    format!("/v1/authorizers/{APPID}/tags{rest}")
}

async fn send(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Reply {
    let mut req = api
        .env
        .http
        .request(method, api.env.at(path))
        .bearer_auth(&api.key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

async fn a_tag_is_created_filled_in_calls_of_50_emptied_renamed_and_deleted(backend: Backend) {
    // Given 501 extra followers
    let api = Api::start_with(options(backend, 501, &[])).await;
    let openids = extra_followers(501);

    // When a tag is created and all 501 are tagged in one request
    let created = api
        .post(
            &tags_path(""),
            &api.key,
            &json!({"name": "Spring buyers"}),
            None,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_u64().unwrap();
    let tagged = api
        .post(
            &tags_path(&format!("/{id}/members")),
            &api.key,
            &json!({ "openids": openids }),
            None,
        )
        .await;

    // Then WeChat saw 11 calls of at most 50 and every one carries the tag
    assert_eq!(tagged.status, 200, "{}", tagged.body);
    assert_eq!(tagged.body["count"], 501);
    assert_eq!(tagged.body["calls"], 11);
    let calls = api.env.sim.calls_to(paths::TAGS_BATCHTAGGING);
    assert_eq!(calls.len(), 11);
    assert!(calls
        .iter()
        .all(|c| c.errcode == 0 && c.params["openid_list"].as_array().unwrap().len() <= 50));
    let list = api.get(&tags_path(""), Some(&api.key)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let tag = list.body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(tag["name"], "Spring buyers");
    assert_eq!(tag["count"], 501);
    let theirs = api
        .get(
            &format!("/v1/authorizers/{APPID}/followers/{}/tags", openids[500]),
            Some(&api.key),
        )
        .await;
    assert_eq!(theirs.body["tag_ids"], json!([id]));

    // And when 100 are untagged, it is renamed, then deleted
    let removed = api
        .post(
            &tags_path(&format!("/{id}/members/remove")),
            &api.key,
            &json!({ "openids": &openids[..100] }),
            None,
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["calls"], 2);
    let renamed = send(
        &api,
        reqwest::Method::PATCH,
        &tags_path(&format!("/{id}")),
        Some(json!({"name": "Summer buyers"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let list = api.get(&tags_path(""), Some(&api.key)).await;
    let tag = list.body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(
        (tag["name"].as_str(), tag["count"].as_u64()),
        (Some("Summer buyers"), Some(401))
    );
    let deleted = send(
        &api,
        reqwest::Method::DELETE,
        &tags_path(&format!("/{id}")),
        None,
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let list = api.get(&tags_path(""), Some(&api.key)).await;
    assert!(!list.body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id));
}

async fn wechats_tag_refusals_are_the_clients_400_with_the_errcode(backend: Backend) {
    let api = Api::start(backend).await;
    // A name the account already has (the sandbox's tag 100 is "VIP")
    let r = api
        .post(&tags_path(""), &api.key, &json!({"name": "VIP"}), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "wechat_rejected_request"),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["wechat_errcode"], 45157);
    // A tag WeChat does not know
    let r = api
        .post(
            &tags_path("/999/members"),
            &api.key,
            &json!({"openids": [wxopen_sim::sandbox_openid(1, 1)]}),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["wechat_errcode"], 45159);

    // What wxopen can refuse itself never reaches WeChat
    let before = api.env.sim.calls().len();
    let long = "x".repeat(31);
    let r = api
        .post(&tags_path(""), &api.key, &json!({ "name": long }), None)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`name`"), "{}", r.body);
    let r = send(&api, reqwest::Method::DELETE, &tags_path("/2"), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`tag_id`"), "{}", r.body);
    let r = api
        .post(
            &tags_path("/100/members"),
            &api.key,
            &json!({ "openids": extra_followers(10_001) }),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`openids`"), "{}", r.body);
    assert_eq!(api.env.sim.calls().len(), before);
}
