//! The whole system on DynamoDB while one request in five to DynamoDB fails
//! (tests/src/dynamo_faults.rs: throttling, 500s, latency and reset
//! connections, before forwarding and after — the write done, its answer
//! lost): token renewal stays single-flight, a job still reaches everyone
//! exactly once, no refresh token is lost, and every answer a client gets is
//! either the right one or a clear 503 with Retry-After.

#[allow(unused_imports)] // the shared module also exports a macro for other suites
use crate::api_common;

use api_common::*;
use serde_json::Value;
use std::time::Duration;
use wxopen::store::TenantScope;
use wxopen::wechat::paths;
use wxopen_tests::dynamo_faults::{DynamoFault, FaultPlan, FaultProxy};
use wxopen_tests::{eventually, Backend};

const FAULTS: FaultPlan = FaultPlan {
    rate: 0.2,
    seed: 18,
    latency: Duration::from_millis(150),
};

/// Seconds after which a fresh 7200 s token is due for on-demand renewal.
const NEARLY_EXPIRED: Duration = Duration::from_secs(7200 - 60);

/// The API environment on DynamoDB behind a fault proxy (faultless until told).
async fn api_behind_proxy(followers: usize) -> (Api, FaultProxy) {
    let moto = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!("these tests need moto_server: run scripts/test, or set AWS_ENDPOINT_URL_DYNAMODB")
    });
    let proxy = FaultProxy::start(&moto).await;
    let mut opts = options(Backend::Dynamo, followers, &[]);
    opts.dynamo_endpoint = Some(proxy.url());
    (Api::start_with(opts).await, proxy)
}

/// Asserts that an answer is a 503 with Retry-After, when it is not `fine`.
fn right_or_503(what: &str, r: &Reply, fine: bool) {
    if fine {
        return;
    }
    assert_eq!(r.status, 503, "{what}: neither right nor a 503: {}", r.body);
    assert!(
        r.headers.contains_key("retry-after"),
        "{what}: a 503 without Retry-After: {}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racers_under_faults_cause_one_renewal_and_each_gets_the_token_or_a_503() {
    // Given an authorizer whose token is due, and a key that may read tokens
    let (api, proxy) = api_behind_proxy(0).await;
    let reader = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["token:read"])
        .await;
    let old = api.env.app.tokens.authorizer_token(APPID).await.unwrap();
    api.env.sim.advance(NEARLY_EXPIRED);
    api.env.deliver_ticket().await;
    let before = api.env.sim.calls_to(paths::AUTHORIZER_TOKEN).len();

    // When 50 clients ask for it at once while DynamoDB fails one request in five
    proxy.set_plan(FAULTS);
    let path = format!("/v1/authorizers/{APPID}/access-token");
    let api = std::sync::Arc::new(api);
    let racers: Vec<_> = (0..50)
        .map(|_| {
            let (api, path, reader) = (api.clone(), path.clone(), reader.clone());
            tokio::spawn(async move { api.get(&path, Some(&reader)).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for racer in racers {
        let r = racer.await.unwrap();
        right_or_503("access token", &r, r.status == 200);
        if let Some(token) = r.body["access_token"].as_str() {
            tokens.push(token.to_owned());
        }
    }
    proxy.set_plan(FaultPlan::none());
    let seen = proxy.counts();
    println!("DynamoDB requests and injected faults: {seen:?}");
    assert!(seen.total_faults() > 0, "no fault was injected: {seen:?}");

    // Then WeChat saw exactly one renewal, and every token handed out is the new one
    let renewals = api.env.sim.calls_to(paths::AUTHORIZER_TOKEN).len() - before;
    assert_eq!(renewals, 1, "{seen:?}");
    assert!(!tokens.is_empty(), "every racer got a 503");
    assert!(tokens.iter().all(|t| t == &tokens[0] && t != old.expose()));
    // and the stored refresh token still renews
    api.env.sim.advance(NEARLY_EXPIRED);
    let renewed = api.env.app.tokens.authorizer_token(APPID).await.unwrap();
    assert_ne!(renewed.expose(), tokens[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_recipient_job_under_faults_sends_everyone_exactly_once() {
    // Given an account with 1,000 more followers and serve's worker running
    let (api, proxy) = api_behind_proxy(1000).await;
    let worker = api.start_serve_worker();
    let openids = extra_followers(1000);
    let body = template_body(&openids);

    // When a client sends to all of them while DynamoDB fails one request in
    // five, retrying with its Idempotency-Key on a 503
    proxy.set_plan(FAULTS);
    let mut accepted = None;
    for _ in 0..20 {
        let r = api
            .post(
                &template_path(APPID),
                &api.key,
                &body,
                Some("job-under-faults"),
            )
            .await;
        let replayed = r.status == 200 && r.headers.contains_key("idempotent-replayed");
        right_or_503("the send", &r, r.status == 202 || replayed);
        if r.status != 503 {
            accepted = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let accepted = accepted.expect("20 answers in a row were 503");
    let job_id = accepted.body["job_id"].as_str().unwrap().to_owned();

    // Then the job finishes, its status answered right or 503 meanwhile
    let job: Value = eventually("the job to finish", Duration::from_secs(180), || async {
        let r = api
            .get(&format!("/v1/jobs/{job_id}?limit=10000"), Some(&api.key))
            .await;
        right_or_503("the job's status", &r, r.status == 200);
        (r.body["state"] == "done").then_some(r.body)
    })
    .await;
    proxy.set_plan(FaultPlan::none());
    worker.stop().await;
    let seen = proxy.counts();
    println!("DynamoDB requests and injected faults: {seen:?}");
    assert!(seen.total_faults() > 0, "no fault was injected: {seen:?}");
    assert_eq!(job["counts"]["sent"], 1000, "{}", job["counts"]);
    // and WeChat delivered exactly one message to each follower
    let sends = api.sends_per_openid();
    assert_eq!(sends.len(), 1000);
    let twice: Vec<_> = sends.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizations_under_faults_keep_every_refresh_token() {
    // Given the environment with one account authorized
    let (api, proxy) = api_behind_proxy(0).await;
    let others = [OTHER_APPID, "wx5add0a0000000003"];

    // When two more merchants authorize, eight times each (every authorization
    // replacing the refresh token), while DynamoDB fails one request in five
    // and WeChat retries its pushes as it does
    proxy.set_plan(FAULTS);
    for round in 0..8 {
        for appid in others {
            let code = api.env.sim.authorize(appid, &[1, 2, 3]).await.unwrap();
            assert!(
                code.push.delivered,
                "{appid}, round {round}: {:?}",
                code.push
            );
        }
    }
    proxy.set_plan(FaultPlan::none());
    let seen = proxy.counts();
    println!("DynamoDB requests and injected faults: {seen:?}");
    assert!(seen.total_faults() > 0, "no fault was injected: {seen:?}");

    // Then each account's latest refresh token is stored: it renews the access token
    api.env.sim.advance(NEARLY_EXPIRED);
    api.env.deliver_ticket().await;
    for appid in others {
        let stored = api.env.store().get_authorizer(appid).await.unwrap();
        assert!(
            stored.is_some_and(|a| a.refresh_token.is_some()),
            "{appid}: no refresh token stored"
        );
        let before = api.env.sim.calls_to(paths::AUTHORIZER_TOKEN).len();
        api.env.app.tokens.authorizer_token(appid).await.unwrap();
        assert_eq!(
            api.env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(),
            before + 1,
            "{appid}: not renewed with its refresh token"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_write_that_fails_every_sdk_attempt_is_retried_and_the_refresh_token_kept() {
    // Given an authorized account
    let (api, proxy) = api_behind_proxy(0).await;
    // When the merchant authorizes again (a new refresh token, its one-time code
    // exchanged) and the write keeping it fails all of the SDK's attempts
    for _ in 0..wxopen::store::dynamo::MAX_ATTEMPTS {
        proxy.fail_next("UpdateItem", DynamoFault::ServerError);
    }
    let code = api.env.sim.authorize(APPID, &[1, 2, 3]).await.unwrap();
    assert!(code.push.delivered, "{:?}", code.push);
    assert_eq!(
        proxy.counts().faults.get("ServerError"),
        Some(&u64::from(wxopen::store::dynamo::MAX_ATTEMPTS))
    );
    // Then the new refresh token is stored: it renews the access token
    api.env.sim.advance(NEARLY_EXPIRED);
    api.env.deliver_ticket().await;
    let before = api.env.sim.calls_to(paths::AUTHORIZER_TOKEN).len();
    api.env.app.tokens.authorizer_token(APPID).await.unwrap();
    assert_eq!(
        api.env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(),
        before + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_done_mark_failed_every_attempt_is_still_announced_finished() {
    // Given a job (60 recipients: one chunk, not sent inline), and a tenant reading its events
    let (api, proxy) = api_behind_proxy(60).await;
    let events_key = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["events"])
        .await;
    let r = api.send_template(&extra_followers(60), None).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    // When its chunk finishes done (finished and counted in one transaction)
    // but the write marking the job done fails all of the SDK's attempts
    for _ in 0..wxopen::store::dynamo::MAX_ATTEMPTS {
        proxy.fail_next_containing("UpdateItem", "SET #state = :done", DynamoFault::ServerError);
    }
    api.drain("w1").await;
    assert_eq!(
        proxy.counts().faults.get("ServerError"),
        Some(&u64::from(wxopen::store::dynamo::MAX_ATTEMPTS))
    );
    // Then the job reads done (from its chunks) though not marked so,
    let job = api.job(&job_id).await;
    assert_eq!(job["state"], "done", "{job}");
    // and job.finished is raised all the same: its counts say it has ended
    api.env.sim.advance(Duration::from_secs(5));
    let r = api.get("/v1/events?limit=500", Some(&events_key)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let finished: Vec<&Value> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "job.finished")
        .collect();
    assert_eq!(finished.len(), 1, "{}", r.body);
    assert_eq!(finished[0]["data"]["job_id"], job_id.as_str());
    assert_eq!(finished[0]["data"]["state"], "done");
    assert_eq!(finished[0]["data"]["sent"], 60);
}
