//! Template messages over the client API against the simulator: inline sends,
//! jobs worked by the worker (in-process loop, crash and resume, injected
//! faults, quota), idempotency, and the answers for a revoked account and a
//! WeChat outage. Each behaviour runs on SQLite and DynamoDB.

use crate::api_common;

use api_common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use wxopen::store::ChunkRef;
use wxopen_sim::{sandbox_openid, Fault, FaultSpec};
use wxopen_tests::{eventually, Backend};

on_both_stores!(
    an_inline_send_answers_each_recipients_result,
    a_large_send_becomes_a_job_the_serve_worker_completes_with_finish_events,
    a_worker_killed_mid_chunk_is_resumed_without_sending_anyone_twice,
    injected_busy_answers_still_send_everyone_exactly_once,
    injected_http_5xx_answers_still_send_everyone_exactly_once,
    a_spent_quota_stops_the_job_and_counts_the_unsent,
    the_same_idempotency_key_and_body_replay_the_first_answer,
    the_same_idempotency_key_with_another_body_is_a_conflict,
    a_revoked_authorizer_is_422,
    a_wechat_outage_is_503_with_retry_after,
);

fn small_jobs(backend: Backend, followers: usize, chunk: &str) -> wxopen_tests::EnvOptions {
    options(backend, followers, &[("WXOPEN_CHUNK_SIZE", chunk)])
}

async fn an_inline_send_answers_each_recipients_result(backend: Backend) {
    // Given a follower, a former follower and an openid the account never saw
    let api = Api::start(backend).await;
    let follower = sandbox_openid(1, 1);
    let former = "oSbx01Unfollow00000000000001".to_owned();
    let stranger = "oSomeoneElse0000000000000001".to_owned();

    // When one template message goes to all three
    let r = api
        .send_template(&[follower.clone(), former.clone(), stranger.clone()], None)
        .await;

    // Then the answer is inline, in request order, with WeChat's errcodes
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["mode"], "inline");
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results[0]["openid"], json!(follower));
    assert_eq!(results[0]["status"], "sent");
    assert!(results[0]["msgid"].as_u64().is_some());
    assert_eq!(
        (
            results[1]["status"].as_str(),
            results[1]["errcode"].as_i64()
        ),
        (Some("failed"), Some(43004))
    );
    assert_eq!(
        (
            results[2]["status"].as_str(),
            results[2]["errcode"].as_i64()
        ),
        (Some("failed"), Some(40003))
    );
    assert_eq!(
        r.body["counts"],
        json!({"sent": 1, "failed": 2, "unknown": 0, "unsent": 0})
    );
    // and WeChat got it once, with a dedupe id
    let sends = api.env.sim.template_sends(APPID);
    assert_eq!(sends.len(), 1);
    assert!(sends[0].1.is_some(), "inline sends carry a client_msg_id");
}

async fn a_large_send_becomes_a_job_the_serve_worker_completes_with_finish_events(
    backend: Backend,
) {
    // Given 45 followers, an inline limit of 20, chunks of 15 and the in-process worker of `serve` running
    let api = Api::start_with(small_jobs(backend, 45, "15")).await;
    let worker = api.start_serve_worker();
    let mut openids = extra_followers(43);
    openids.push("oSbx01Unfollow00000000000001".into());
    openids.push("oSbx01Blocked000000000000001".into());

    // When a template message goes to all 45
    let r = api.send_template(&openids, None).await;

    // Then it is accepted as a job with three chunks
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["chunks"], 3);
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(r.headers["location"], format!("/v1/jobs/{job_id}").as_str());
    // and the worker completes it with the per-recipient failure recorded
    let job = api.job_settled(&job_id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(
        job["counts"],
        json!({"sent": 44, "failed": 1, "unknown": 0, "unsent": 0, "pending": 0})
    );
    let failed: Vec<_> = job["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failed")
        .collect();
    assert_eq!(failed[0]["openid"], "oSbx01Unfollow00000000000001");
    assert_eq!(failed[0]["errcode"], 43004);
    // and every follower got exactly one message
    let sends = api.sends_per_openid();
    assert_eq!(sends.len(), 44);
    assert!(sends.values().all(|n| *n == 1));
    // and WeChat's finish events are joined in (for each result with a msgid), the blocked user's included
    let job = eventually("finish events joined", Duration::from_secs(30), || async {
        let job = api.job(&job_id).await;
        let recipients = job["recipients"].as_array().unwrap();
        let with_msgid = recipients.iter().filter(|r| r["msgid"].is_u64()).count();
        let delivered = recipients
            .iter()
            .filter(|r| r["delivery"].is_string())
            .count();
        (with_msgid > 0 && delivered == with_msgid).then_some(job)
    })
    .await;
    let blocked = job["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["openid"] == "oSbx01Blocked000000000000001")
        .unwrap();
    if blocked["msgid"].is_u64() {
        assert_eq!(blocked["delivery"], "user_block");
    }
    // and the results page through
    let page = api
        .get(
            &format!("/v1/jobs/{job_id}?limit=20&cursor=40"),
            Some(&api.key),
        )
        .await;
    assert_eq!(page.body["recipients"].as_array().unwrap().len(), 5);
    assert_eq!(page.body["next_cursor"], serde_json::Value::Null);
    let page = api
        .get(&format!("/v1/jobs/{job_id}?limit=20"), Some(&api.key))
        .await;
    assert_eq!(page.body["next_cursor"], 20);
    worker.stop().await;
}

async fn a_worker_killed_mid_chunk_is_resumed_without_sending_anyone_twice(backend: Backend) {
    // Given a one-chunk job of 200 and a slow WeChat, so the worker is caught mid-chunk
    let api = Api::start_with(options(backend, 200, &[("WXOPEN_SEND_CONCURRENCY", "4")])).await;
    let openids = extra_followers(200);
    let r = api.send_template(&openids, None).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    api.env.sim.set_fault(
        TEMPLATE_SEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Latency(Duration::from_millis(15)),
        },
    );
    let chunk = ChunkRef {
        job_id: job_id.clone(),
        index: 0,
    };

    // When a worker is killed after its first checkpoint
    let app = api.env.app.clone();
    let doomed = tokio::spawn({
        let chunk = chunk.clone();
        async move { wxopen::service::worker::run_chunk(&app, &chunk, "doomed").await }
    });
    let store = api.env.store().clone();
    eventually("first checkpoint", Duration::from_secs(20), || {
        let store = store.clone();
        let job_id = job_id.clone();
        async move {
            let chunks = store.list_chunks(&job_id).await.ok()?;
            (chunks.first()?.results.len() >= 50).then_some(())
        }
    })
    .await;
    doomed.abort();
    let _ = doomed.await;
    api.env.sim.clear_faults();
    // (an `unknown` result — a timeout after sending — is re-sent by design, with the same dedupe id)
    let checkpointed: BTreeSet<String> = api.env.store().list_chunks(&job_id).await.unwrap()[0]
        .results
        .iter()
        .filter(|r| r.status != wxopen::domain::RecipientStatus::Unknown)
        .map(|r| r.openid.clone())
        .collect();
    // and another worker comes along after the lease expired
    api.env
        .sim
        .advance(Duration::from_secs(wxopen::service::worker::LEASE_SECS + 1));
    let calls_before = api.env.sim.calls_to(TEMPLATE_SEND).len();
    api.drain("rescuer").await;

    // Then the job is complete and everyone got exactly one message
    let job = api.job_settled(&job_id).await;
    assert_eq!(job["counts"]["sent"], 200, "{job}");
    let sends = api.sends_per_openid();
    assert_eq!(sends.len(), 200);
    assert!(sends.values().all(|n| *n == 1), "someone got two messages");
    // and no checkpointed recipient was sent to again
    let resent: Vec<String> = api.env.sim.calls_to(TEMPLATE_SEND)[calls_before..]
        .iter()
        .filter_map(|c| c.params["touser"].as_str().map(str::to_owned))
        .filter(|o| checkpointed.contains(o))
        .collect();
    assert!(
        resent.is_empty(),
        "checkpointed recipients re-sent: {resent:?}"
    );
}

async fn everyone_exactly_once_despite(backend: Backend, fault: Fault) {
    // Given WeChat failing 20% of template sends with `fault`
    let api = Api::start_with(small_jobs(backend, 60, "20")).await;
    api.env.sim.set_fault(
        TEMPLATE_SEND,
        FaultSpec {
            rate: 0.2,
            kind: fault,
        },
    );
    let openids = extra_followers(60);

    // When a 60-recipient job is worked until nothing is left to claim
    let r = api.send_template(&openids, None).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    api.drain("w1").await;

    // Then everyone was sent exactly once
    let job = api.job_settled(&job_id).await;
    assert_eq!(job["counts"]["sent"], 60, "{job}");
    let sends = api.sends_per_openid();
    assert_eq!(sends.len(), 60);
    assert!(sends.values().all(|n| *n == 1));
    // and the faults really happened
    assert!(api
        .env
        .sim
        .calls_to(TEMPLATE_SEND)
        .iter()
        .any(|c| c.fault.is_some()));
}

async fn injected_busy_answers_still_send_everyone_exactly_once(backend: Backend) {
    everyone_exactly_once_despite(backend, Fault::Busy).await
}

async fn injected_http_5xx_answers_still_send_everyone_exactly_once(backend: Backend) {
    everyone_exactly_once_despite(backend, Fault::Http5xx).await
}

async fn a_spent_quota_stops_the_job_and_counts_the_unsent(backend: Backend) {
    // Given an account that may send 25 template messages today
    let mut opts = small_jobs(backend, 60, "20");
    opts.sim.limits.template_sends_per_day = 25;
    let api = Api::start_with(opts).await;

    // When a 60-recipient job is worked
    let r = api.send_template(&extra_followers(60), None).await;
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    api.drain("w1").await;

    // Then the job stopped for the quota with the rest unsent
    let job = api.job_settled(&job_id).await;
    assert_stopped_by_quota(&job, 25, 35);
    assert_eq!(api.env.sim.template_sends(APPID).len(), 25);
    // and an inline send now answers 429
    let r = api.send_template(&[sandbox_openid(1, 1)], None).await;
    assert_eq!((r.status, r.code()), (429, "quota_exhausted"), "{}", r.body);
    assert_eq!(r.body["error"]["wechat_errcode"], 45009);
}

async fn the_same_idempotency_key_and_body_replay_the_first_answer(backend: Backend) {
    // Given an inline send and a job made with Idempotency-Keys
    let api = Api::start_with(small_jobs(backend, 30, "10")).await;
    let first = api
        .send_template(&[sandbox_openid(1, 1)], Some("order-1001"))
        .await;
    let job = api
        .send_template(&extra_followers(30), Some("campaign-7"))
        .await;

    // When both requests are repeated
    let again = api
        .send_template(&[sandbox_openid(1, 1)], Some("order-1001"))
        .await;
    let job_again = api
        .send_template(&extra_followers(30), Some("campaign-7"))
        .await;

    // Then each answer is the first one, marked as replayed, and nothing was sent twice
    assert_eq!(first.status, 200);
    assert_eq!((again.status, &again.body), (200, &first.body));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(
        (job_again.status, &job_again.body["job_id"]),
        (202, &job.body["job_id"])
    );
    assert_eq!(api.env.sim.template_sends(APPID).len(), 1);
}

async fn the_same_idempotency_key_with_another_body_is_a_conflict(backend: Backend) {
    // Given a send made with an Idempotency-Key
    let api = Api::start(backend).await;
    let first = api
        .send_template(&[sandbox_openid(1, 1)], Some("order-1002"))
        .await;
    assert_eq!(first.status, 200);

    // When the key is used again for another request
    let r = api
        .send_template(&[sandbox_openid(1, 2)], Some("order-1002"))
        .await;

    // Then it is refused with 409 and nothing is sent
    assert_eq!(
        (r.status, r.code()),
        (409, "idempotency_conflict"),
        "{}",
        r.body
    );
    assert_eq!(api.env.sim.template_sends(APPID).len(), 1);
}

async fn a_revoked_authorizer_is_422(backend: Backend) {
    // Given an account whose merchant revoked the authorization
    let api = Api::start(backend).await;
    let push = api.env.sim.revoke(APPID).await.unwrap();
    assert!(push.delivered, "{:?}", push.last_error);

    // When a message is sent for it
    let r = api.send_template(&[sandbox_openid(1, 1)], None).await;

    // Then the answer says so with 422
    assert_eq!(
        (r.status, r.code()),
        (422, "authorizer_revoked"),
        "{}",
        r.body
    );
}

async fn a_wechat_outage_is_503_with_retry_after(backend: Backend) {
    // Given WeChat answering every template send with HTTP 500
    let api = Api::start(backend).await;
    api.env.sim.set_fault(
        TEMPLATE_SEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Http5xx,
        },
    );

    // When a message is sent
    let r = api
        .send_template(&[sandbox_openid(1, 1), sandbox_openid(1, 2)], None)
        .await;

    // Then the answer is 503 with Retry-After
    assert_eq!(
        (r.status, r.code()),
        (503, "wechat_unavailable"),
        "{}",
        r.body
    );
    assert!(r.headers.get("retry-after").is_some());
    assert!(api.env.sim.template_sends(APPID).is_empty());
}
