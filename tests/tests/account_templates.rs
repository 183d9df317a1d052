//! An account's templates and industries over the client API against the
//! simulator, on SQLite and DynamoDB (issue #17).

use crate::api_common;

use api_common::*;
use serde_json::json;
use wxopen_sim::sandbox_openid;
use wxopen_tests::Backend;

on_both_stores!(
    a_template_is_added_from_the_library_used_and_deleted,
    the_industries_are_read_and_set,
);

async fn a_template_is_added_from_the_library_used_and_deleted(backend: Backend) {
    let api = Api::start(backend).await;
    let path = format!("/v1/authorizers/{APPID}/templates");

    // When a library template is added
    let added = api
        .post(
            &path,
            &api.key,
            &json!({"template_id_short": "TM00015"}),
            None,
        )
        .await;

    // Then the account has three, and the new id sends
    assert_eq!(added.status, 201, "{}", added.body);
    let id = added.body["template_id"].as_str().unwrap().to_owned();
    let list = api.get(&path, Some(&api.key)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let ids: Vec<&str> = list.body["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["template_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.contains(&id.as_str()));
    let sent = api
        .post(
            &template_path(APPID),
            &api.key,
            &json!({"touser": [sandbox_openid(1, 1)], "template_id": id, "data": {"first": "hi"}}),
            None,
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);

    // And when it is deleted it is gone; deleting it again is WeChat's 40037
    let del = |id: String| {
        let url = api.env.at(&format!("{path}/{id}"));
        let key = api.key.clone();
        let http = api.env.http.clone();
        async move {
            let resp = http.delete(url).bearer_auth(key).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = del(id.clone()).await;
    assert_eq!(status, 200, "{body}");
    let list = api.get(&path, Some(&api.key)).await;
    assert_eq!(list.body["templates"].as_array().unwrap().len(), 2);
    let (status, body) = del(id).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["wechat_errcode"], 40037);

    // and a short id that cannot be one never reaches WeChat
    let before = api.env.sim.calls().len();
    let r = api
        .post(&path, &api.key, &json!({"template_id_short": "TM 1"}), None)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("`template_id_short`"), "{}", r.body);
    assert_eq!(api.env.sim.calls().len(), before);
}

async fn the_industries_are_read_and_set(backend: Backend) {
    let api = Api::start(backend).await;
    let path = format!("/v1/authorizers/{APPID}/industry");
    let r = api.get(&path, Some(&api.key)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["primary_industry"]["first_class"], "IT科技");

    let set = api
        .post(
            &path,
            &api.key,
            &json!({"industry_id1": 16, "industry_id2": 31}),
            None,
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["primary_industry"]["first_class"], "餐饮");
    assert_eq!(set.body["secondary_industry"]["second_class"], "快递");

    let before = api.env.sim.calls().len();
    for bad in [
        json!({"industry_id1": 16, "industry_id2": 16}),
        json!({"industry_id1": 0, "industry_id2": 2}),
        json!({"industry_id1": 1}),
    ] {
        let r = api.post(&path, &api.key, &bad, None).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.message().contains("industry_id"), "{}", r.body);
    }
    assert_eq!(api.env.sim.calls().len(), before);
}
