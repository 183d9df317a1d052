//! Subscription notifications over the client API against the simulator,
//! on SQLite and DynamoDB (issue #17): the rules of template messages (one
//! openid or many, inline below the limit, a job above it, idempotency, the
//! job's stop reasons), with WeChat's bizsend counted per follower.

use crate::api_common;

use api_common::*;
use serde_json::json;
use std::collections::BTreeMap;
use wxopen::wechat::paths;
use wxopen_sim::{sandbox_openid, Fault, FaultSpec};
use wxopen_tests::{Backend, EnvOptions};

on_both_stores!(
    a_notification_is_sent_once_per_idempotency_key,
    a_follower_who_did_not_subscribe_is_that_recipients_failure,
    a_small_request_is_answered_inline_per_recipient,
    a_large_request_becomes_a_job_that_reaches_every_follower_once,
    followers_who_did_not_subscribe_fail_alone_and_the_job_is_done,
    a_spent_quota_stops_the_job_with_its_reason,
    the_same_idempotency_key_makes_one_job,
    an_unknown_outcome_is_never_sent_again,
    a_malformed_notification_never_reaches_wechat,
);

fn path() -> String {
    format!("/v1/authorizers/{APPID}/subscribe-messages")
}

fn body(touser: impl serde::Serialize) -> serde_json::Value {
    json!({
        "touser": touser,
        "template_id": TEMPLATE,
        "page": "https://shop.example.com/orders/1042",
        "data": {"thing1": {"value": "Flat white"}, "time2": {"value": "2026-12-03 15:30"}},
    })
}

/// `followers` extra followers, the first `refusing` of them never subscribed
/// (the simulator answers bizsend to them with 43101), chunks of `chunk`.
fn with_followers(backend: Backend, followers: usize, refusing: usize, chunk: &str) -> EnvOptions {
    let mut opts = options(backend, followers, &[("WXOPEN_CHUNK_SIZE", chunk)]);
    if let Some(account) = opts.sim.accounts.first_mut() {
        account.blocked.extend(extra_followers(refusing));
    }
    opts
}

/// Notifications the simulator accepted, per openid.
fn received(api: &Api) -> BTreeMap<String, u64> {
    api.env.sim.subscribe_sends(APPID)
}

fn statuses(job: &serde_json::Value) -> BTreeMap<String, (String, Option<i64>)> {
    job["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["openid"].as_str().unwrap().to_owned(),
                (
                    r["status"].as_str().unwrap().to_owned(),
                    r["errcode"].as_i64(),
                ),
            )
        })
        .collect()
}

async fn a_notification_is_sent_once_per_idempotency_key(backend: Backend) {
    let api = Api::start(backend).await;
    let to = sandbox_openid(1, 2);
    let first = api.post(&path(), &api.key, &body(&to), Some("sub-1")).await;
    let again = api.post(&path(), &api.key, &body(&to), Some("sub-1")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["mode"], "inline");
    assert_eq!(
        first.body["results"],
        json!([{"openid": to, "status": "sent"}])
    );
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(received(&api), BTreeMap::from([(to.clone(), 1)]));
    let calls = api.env.sim.calls_to(paths::SUBSCRIBE_BIZSEND);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].errcode, 0);
    assert_eq!(calls[0].params["data"]["thing1"]["value"], "Flat white");
    assert_eq!(
        calls[0].params["page"],
        "https://shop.example.com/orders/1042"
    );
}

async fn a_follower_who_did_not_subscribe_is_that_recipients_failure(backend: Backend) {
    // As a template message to one refused recipient: a 200 naming the failure.
    let api = Api::start(backend).await;
    let r = api
        .post(
            &path(),
            &api.key,
            &body("oSbx01Blocked000000000000001"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["results"],
        json!([{"openid": "oSbx01Blocked000000000000001", "status": "failed", "errcode": 43101}])
    );
    assert!(received(&api).is_empty());
}

async fn a_small_request_is_answered_inline_per_recipient(backend: Backend) {
    // Given two followers, one who never subscribed, a former follower and a stranger
    let api = Api::start(backend).await;
    let (a, b) = (sandbox_openid(1, 1), sandbox_openid(1, 2));
    let refused = "oSbx01Blocked000000000000001";
    let former = "oSbx01Unfollow00000000000001";
    let stranger = "oSomeoneElse0000000000000001";

    // When one notification goes to all five
    let r = api
        .post(
            &path(),
            &api.key,
            &body([a.as_str(), refused, b.as_str(), former, stranger]),
            None,
        )
        .await;

    // Then it is answered now, in request order, with WeChat's errcodes
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["mode"], "inline");
    assert_eq!(
        r.body["results"],
        json!([
            {"openid": a, "status": "sent"},
            {"openid": refused, "status": "failed", "errcode": 43101},
            {"openid": b, "status": "sent"},
            {"openid": former, "status": "failed", "errcode": 43004},
            {"openid": stranger, "status": "failed", "errcode": 40003},
        ])
    );
    assert_eq!(
        r.body["counts"],
        json!({"sent": 2, "failed": 3, "unknown": 0, "unsent": 0})
    );
    // and the two followers got one notification each, with the request's content
    assert_eq!(received(&api), BTreeMap::from([(a, 1), (b, 1)]));
    let call = &api.env.sim.calls_to(paths::SUBSCRIBE_BIZSEND)[0];
    assert_eq!(call.params["data"]["thing1"]["value"], "Flat white");
    assert!(call.params.get("client_msg_id").is_none());
}

async fn a_large_request_becomes_a_job_that_reaches_every_follower_once(backend: Backend) {
    // Given 45 followers, an inline limit of 20, chunks of 15 and the in-process worker of `serve`
    let api = Api::start_with(with_followers(backend, 45, 0, "15")).await;
    let worker = api.start_serve_worker();
    let openids = extra_followers(45);

    // When one notification goes to all 45
    let r = api.post(&path(), &api.key, &body(&openids), None).await;

    // Then it is a job of three chunks
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        (r.body["mode"].as_str(), r.body["chunks"].as_u64()),
        (Some("job"), Some(3))
    );
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(r.headers["location"], format!("/v1/jobs/{job_id}").as_str());
    // which the worker completes, as a subscribe job
    let job = api.job_settled(&job_id).await;
    assert_eq!(
        (job["state"].as_str(), job["kind"].as_str()),
        (Some("done"), Some("subscribe")),
        "{job}"
    );
    assert_eq!(
        job["counts"],
        json!({"sent": 45, "failed": 0, "unknown": 0, "unsent": 0, "pending": 0})
    );
    // and every follower got exactly one notification
    let got = received(&api);
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), {
        let mut sorted = openids.clone();
        sorted.sort();
        sorted
    });
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    // and no template message was sent instead
    assert!(api.env.sim.template_sends(APPID).is_empty());
    worker.stop().await;
}

async fn followers_who_did_not_subscribe_fail_alone_and_the_job_is_done(backend: Backend) {
    // Given 40 followers of whom 7 never subscribed
    let api = Api::start_with(with_followers(backend, 40, 7, "15")).await;
    let openids = extra_followers(40);

    // When a notification job to all 40 is worked
    let r = api.post(&path(), &api.key, &body(&openids), None).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    api.drain("w1").await;

    // Then the 7 failed with 43101, the 33 others were sent, and the job is done
    let job = api.job_settled(&job_id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["stop_reason"], serde_json::Value::Null);
    assert_eq!(
        job["counts"],
        json!({"sent": 33, "failed": 7, "unknown": 0, "unsent": 0, "pending": 0})
    );
    let statuses = statuses(&job);
    for (i, openid) in openids.iter().enumerate() {
        let want = if i < 7 {
            ("failed".to_owned(), Some(43101))
        } else {
            ("sent".to_owned(), None)
        };
        assert_eq!(statuses[openid], want, "{openid}");
    }
    let got = received(&api);
    assert_eq!(got.len(), 33);
    assert!(got.values().all(|n| *n == 1));
}

async fn a_spent_quota_stops_the_job_with_its_reason(backend: Backend) {
    // Given an account that may send 25 notifications today
    let mut opts = with_followers(backend, 60, 0, "20");
    opts.sim.limits.subscribe_sends_per_day = 25;
    let api = Api::start_with(opts).await;

    // When a 60-recipient notification job is worked
    let r = api
        .post(&path(), &api.key, &body(extra_followers(60)), None)
        .await;
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    api.drain("w1").await;

    // Then the job stopped for the quota with the rest unsent
    let job = api.job_settled(&job_id).await;
    assert_stopped_by_quota(&job, 25, 35);
    assert_eq!(received(&api).values().sum::<u64>(), 25);
    // and an inline notification now answers 429
    let r = api
        .post(&path(), &api.key, &body(sandbox_openid(1, 1)), None)
        .await;
    assert_eq!((r.status, r.code()), (429, "quota_exhausted"), "{}", r.body);
    assert_eq!(r.body["error"]["wechat_errcode"], 45009);
}

async fn the_same_idempotency_key_makes_one_job(backend: Backend) {
    // Given a notification job made with an Idempotency-Key
    let api = Api::start_with(with_followers(backend, 30, 0, "10")).await;
    let openids = extra_followers(30);
    let first = api
        .post(&path(), &api.key, &body(&openids), Some("campaign-9"))
        .await;
    assert_eq!(first.status, 202, "{}", first.body);

    // When the request is repeated, and the worker runs
    let again = api
        .post(&path(), &api.key, &body(&openids), Some("campaign-9"))
        .await;
    api.drain("w1").await;

    // Then the answer is the first one, one job exists, and everyone got one notification
    assert_eq!((again.status, &again.body), (202, &first.body));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let got = received(&api);
    assert_eq!(got.len(), 30);
    assert!(got.values().all(|n| *n == 1));
    // and another body under the same key is a conflict that sends nothing
    let other = api
        .post(&path(), &api.key, &body(&openids[..25]), Some("campaign-9"))
        .await;
    assert_eq!((other.status, other.code()), (409, "idempotency_conflict"));
    assert_eq!(received(&api).values().sum::<u64>(), 30);
}

async fn an_unknown_outcome_is_never_sent_again(backend: Backend) {
    // Given WeChat drops every bizsend connection without an answer (bizsend
    // has no dedupe id, so wxopen cannot tell whether it was carried out)
    let api = Api::start_with(with_followers(backend, 30, 0, "10")).await;
    api.env.sim.set_fault(
        paths::SUBSCRIBE_BIZSEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Drop,
        },
    );

    // When 3 followers are notified inline and 30 by a job
    let few: Vec<String> = (1..=3).map(|i| sandbox_openid(1, i)).collect();
    let inline = api.post(&path(), &api.key, &body(&few), None).await;
    let r = api
        .post(&path(), &api.key, &body(extra_followers(30)), None)
        .await;
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    api.drain("w1").await;

    // Then every outcome is unknown and each recipient was attempted exactly once
    assert_eq!(inline.status, 200, "{}", inline.body);
    assert_eq!(
        inline.body["counts"],
        json!({"sent": 0, "failed": 0, "unknown": 3, "unsent": 0})
    );
    let job = api.job_settled(&job_id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["counts"]["unknown"], 30, "{job}");
    let mut attempts: BTreeMap<String, usize> = BTreeMap::new();
    for call in api.env.sim.calls_to(paths::SUBSCRIBE_BIZSEND) {
        let to = call.params["touser"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *attempts.entry(to).or_insert(0) += 1;
    }
    assert_eq!(attempts.len(), 33);
    assert!(attempts.values().all(|n| *n == 1), "{attempts:?}");
}

async fn a_malformed_notification_never_reaches_wechat(backend: Backend) {
    let api = Api::start(backend).await;
    let to = sandbox_openid(1, 2);
    let mut colour = body(&to);
    colour["data"]["thing1"]["color"] = json!("#FF0000");
    let mut no_data = body(&to);
    no_data["data"] = json!({});
    let mut bad_key = body(&to);
    bad_key["data"] = json!({"thing 1": {"value": "x"}});
    let repeated = body([to.as_str(), "oA", to.as_str()]);
    let bad_openid = body(["oA", "o B"]);
    let none = body(Vec::<String>::new());
    let too_many = body(
        (0..=wxopen::service::send::MAX_RECIPIENTS)
            .map(|i| format!("o{i}"))
            .collect::<Vec<_>>(),
    );
    let mut unknown = body(&to);
    unknown["url"] = json!("https://shop.example.com");
    for (bad, field) in [
        (colour, "data.thing1"),
        (no_data, "`data`"),
        (bad_key, "data.thing 1"),
        (repeated, "`touser[2]`: repeats openid"),
        (bad_openid, "`touser[1]`"),
        (none, "`touser`: must hold 1..=100000 openids, got 0"),
        (
            too_many,
            "`touser`: must hold 1..=100000 openids, got 100001",
        ),
        (unknown, "`url`: unknown field"),
    ] {
        let r = api.post(&path(), &api.key, &bad, None).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.message().contains(field), "{field}: {}", r.body);
    }
    assert!(api.env.sim.calls_to(paths::SUBSCRIBE_BIZSEND).is_empty());
}
