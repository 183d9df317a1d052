//! Inbound events end to end (issue #15): a follower writes through the
//! simulator (or a test posing as WeChat with the real algorithm), wxopen
//! records one event before answering, and delivers it, signed, to a real
//! local HTTP receiver; the feed and `GET /v1/events/{id}` read the same
//! records. Every scenario runs on SQLite and DynamoDB.

use crate::api_common;

use api_common::{on_both_stores, options, Api, APPID, TENANT};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wxopen::service::events::signing::{verify, SIGNATURE_HEADER};
use wxopen::service::events::{deliver, workers};
use wxopen::service::worker::{run_chunk, ChunkRunOutcome};
use wxopen::store::{ChunkRef, TenantScope};
use wxopen_tests::{Backend, SignedPush};

on_both_stores!(
    a_follower_message_becomes_one_event_delivered_once_with_a_valid_signature,
    wechat_retrying_a_push_is_still_one_event,
    a_receiver_answering_500_500_200_gets_three_attempts_of_one_event,
    a_delivery_pending_when_the_process_stops_is_delivered_after_a_restart,
    a_new_delivery_is_announced_leased_and_attempted_without_a_claim,
    the_serve_loop_attempts_a_new_delivery_as_soon_as_its_event_is_recorded,
    a_new_delivery_whose_announcement_was_lost_is_polled_once_its_lease_runs_out,
    a_forged_push_records_no_event,
    a_tenant_sees_none_of_another_tenants_webhooks_or_events,
    a_passive_reply_reaches_the_follower_encrypted,
    every_follower_action_of_the_simulator_becomes_its_event,
    a_receiver_slower_than_the_budget_gets_success_in_time_and_the_event_still_delivered,
    an_image_reply_and_a_news_reply_reach_the_follower_as_wechat_reads_them,
    a_reply_wechat_could_not_show_is_answered_success,
    a_finished_job_raises_one_job_finished_event_with_its_counts,
    a_job_stopped_by_the_quota_raises_job_finished_once_its_chunks_ended,
    a_stopped_job_is_seen_to_end_from_its_row_and_its_chunks_are_read_once,
);

// ------------------------------------------------------------- the receiver

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct ReceiverState {
    got: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer, in order; 200 once empty.
    plan: Arc<Mutex<VecDeque<u16>>>,
    /// Answered to a request asking for a passive reply ("ok" otherwise).
    reply: Arc<Mutex<Option<String>>>,
    /// How long a reply request is held before answering.
    reply_delay: Arc<Mutex<Duration>>,
}

/// A real HTTP server on a loopback port recording what it receives.
struct Receiver {
    url: String,
    state: ReceiverState,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let wants_reply = headers.contains_key("wxopen-reply-requested");
    state.got.lock().unwrap().push(Received { headers, body });
    if wants_reply {
        let delay = *state.reply_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let reply = state.reply.lock().unwrap().clone();
        return (StatusCode::OK, reply.unwrap_or_else(|| "{}".into()));
    }
    let status = state.plan.lock().unwrap().pop_front().unwrap_or(200);
    (StatusCode::from_u16(status).unwrap(), "ok".into())
}

impl Receiver {
    async fn start(plan: &[u16]) -> Receiver {
        let state = ReceiverState::default();
        state.plan.lock().unwrap().extend(plan.iter().copied());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, state, task }
    }

    fn got(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }
}

// ------------------------------------------------------------- helpers

const ALLOW_PRIVATE: (&str, &str) = ("WXOPEN_WEBHOOK_ALLOW_PRIVATE", "true");

async fn start(backend: Backend) -> (Api, String) {
    let api = Api::start_with(options(backend, 0, &[ALLOW_PRIVATE])).await;
    let key = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["events"])
        .await;
    (api, key)
}

/// Creates a webhook for `patterns`; returns (id, secret).
async fn subscribe(api: &Api, key: &str, url: &str, patterns: &[&str]) -> (String, String) {
    let r = api
        .post(
            "/v1/webhooks",
            key,
            &json!({"url": url, "events": patterns}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.body["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    (r.body["id"].as_str().unwrap().to_owned(), secret)
}

/// Works every due delivery once, as `serve`'s loop or a worker Lambda would.
async fn deliver_due(api: &Api) -> usize {
    let client = deliver::client(&api.env.app).unwrap();
    workers::drain(&api.env.app, &client, "test-worker")
        .await
        .unwrap()
}

/// The tenant's feed, past its settle time.
async fn feed(api: &Api, key: &str) -> Vec<Value> {
    api.env.sim.advance(Duration::from_secs(5));
    let r = api.get("/v1/events?limit=500", Some(key)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["events"].as_array().unwrap().clone()
}

fn follower(api: &Api) -> String {
    api.env.sim.followers(APPID)[0].clone()
}

/// The sandbox follower writes `content` to the account: the simulator
/// pushes it as WeChat does, and answers what wxopen answered.
async fn follower_writes(api: &Api, content: &str) -> wxopen_sim::PushOutcome {
    api.env
        .sim
        .user_message(APPID, &follower(api), content)
        .await
        .unwrap()
}

/// A text push as WeChat sends it, with a given MsgId.
fn text_push(api: &Api, openid: &str, msg_id: u64, content: &str) -> SignedPush {
    let now = api.env.sim.now();
    let inner = format!(
        "<xml><ToUserName><![CDATA[gh_5add0a000001]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    );
    let crypt = wxopen_tests::wechat_crypt(&api.env);
    SignedPush::new(
        &crypt,
        api.env.sim.config().component.token.expose(),
        "<ToUserName><![CDATA[gh_5add0a000001]]></ToUserName>",
        &inner,
        now,
    )
}

fn push_path() -> String {
    format!("/wechat/authorizers/{APPID}/events")
}

// ------------------------------------------------------------- scenarios

async fn a_follower_message_becomes_one_event_delivered_once_with_a_valid_signature(
    backend: Backend,
) {
    // Given a receiver subscribed to messages
    let (api, key) = start(backend).await;
    let receiver = Receiver::start(&[]).await;
    let (webhook_id, secret) = subscribe(&api, &key, &receiver.url, &["message.*"]).await;
    assert!(secret.starts_with("whsec_"));

    // When a follower writes to the account
    let openid = follower(&api);
    let out = follower_writes(&api, "Where is my order?").await;
    assert_eq!(out.response_body.as_deref(), Some("success"));

    // Then exactly one event is recorded, with every field WeChat sent
    let events = feed(&api, &key).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["type"], "message.text");
    assert_eq!(event["appid"], APPID);
    assert_eq!(event["tenant"], TENANT);
    assert_eq!(event["data"]["content"], "Where is my order?");
    assert_eq!(event["data"]["from_user_name"], openid.as_str());
    assert!(event["data"]["msg_id"].is_string());
    let event_id = event["id"].as_str().unwrap();

    // and it is delivered once, signed with the secret shown at creation
    assert_eq!(deliver_due(&api).await, 1);
    assert_eq!(deliver_due(&api).await, 0, "nothing left to deliver");
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let header = got[0].headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(
        verify(header, &secret, &got[0].body, api.env.sim.now(), 300),
        Ok(())
    );
    assert!(verify(header, "whsec_wrong", &got[0].body, api.env.sim.now(), 300).is_err());
    assert_eq!(got[0].headers["wxopen-event-id"], event_id);
    assert_eq!(got[0].headers["wxopen-event-type"], "message.text");
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["id"], event_id);
    assert_eq!(body["data"]["content"], "Where is my order?");

    // and the event shows its delivery
    let r = api.get(&format!("/v1/events/{event_id}"), Some(&key)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let deliveries = r.body["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["webhook_id"], webhook_id.as_str());
    assert_eq!(deliveries[0]["state"], "succeeded");
    assert_eq!(deliveries[0]["attempts"][0]["status"], 200);

    // After a rotation both secrets sign for a day; the new one is shown once
    let r = api
        .post_raw(
            &format!("/v1/webhooks/{webhook_id}/rotate-secret"),
            &key,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new_secret = r.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let r = api
        .post_raw(
            &format!("/v1/webhooks/{webhook_id}/ping"),
            &key,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(deliver_due(&api).await, 1);
    let ping = receiver.got().pop().unwrap();
    assert_eq!(ping.headers["wxopen-event-type"], "webhook.ping");
    let header = ping.headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(header.matches("v1=").count(), 2);
    let now = api.env.sim.now();
    assert_eq!(verify(header, &new_secret, &ping.body, now, 300), Ok(()));
    assert_eq!(verify(header, &secret, &ping.body, now, 300), Ok(()));
}

async fn wechat_retrying_a_push_is_still_one_event(backend: Backend) {
    let (api, key) = start(backend).await;
    let receiver = Receiver::start(&[]).await;
    subscribe(&api, &key, &receiver.url, &["*"]).await;
    let openid = follower(&api);

    // WeChat sends the same push three times (its retries)
    let push = text_push(&api, &openid, 4_242_001, "hello");
    for _ in 0..3 {
        let (status, body) = api
            .env
            .post_push(&push_path(), &push.query, push.body.clone())
            .await;
        assert_eq!((status, body.as_str()), (200, "success"));
    }

    let events = feed(&api, &key).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(deliver_due(&api).await, 1);
    assert_eq!(receiver.got().len(), 1);

    // another message is another event
    let other = text_push(&api, &openid, 4_242_002, "again");
    api.env
        .post_push(&push_path(), &other.query, other.body)
        .await;
    assert_eq!(feed(&api, &key).await.len(), 2);
}

async fn a_receiver_answering_500_500_200_gets_three_attempts_of_one_event(backend: Backend) {
    let (api, key) = start(backend).await;
    let receiver = Receiver::start(&[500, 500]).await;
    subscribe(&api, &key, &receiver.url, &["message.text"]).await;
    follower_writes(&api, "hi").await;

    assert_eq!(deliver_due(&api).await, 1);
    // The retry waits for its time: nothing is due a moment later
    assert_eq!(deliver_due(&api).await, 0);
    api.env.sim.advance(Duration::from_secs(15));
    assert_eq!(deliver_due(&api).await, 1);
    api.env.sim.advance(Duration::from_secs(40));
    assert_eq!(deliver_due(&api).await, 1);
    api.env.sim.advance(Duration::from_secs(3600));
    assert_eq!(deliver_due(&api).await, 0, "delivered: nothing more");

    let got = receiver.got();
    assert_eq!(got.len(), 3);
    let ids: Vec<_> = got
        .iter()
        .map(|r| r.headers["wxopen-event-id"].clone())
        .collect();
    assert!(ids.iter().all(|id| id == ids[0]), "one event id: {ids:?}");

    let event_id = ids[0].to_str().unwrap();
    let r = api.get(&format!("/v1/events/{event_id}"), Some(&key)).await;
    let delivery = &r.body["deliveries"][0];
    assert_eq!(delivery["state"], "succeeded");
    assert_eq!(delivery["attempt_count"], 3);
    let statuses: Vec<_> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(delivery["attempts"][0]["error"], "HTTP 500");
    assert_eq!(delivery["attempts"][0]["response"], "ok");

    // A redelivery sends it once more, same id, its earlier attempts kept
    let r = api
        .post_raw(
            &format!("/v1/events/{event_id}/redeliver"),
            &key,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(deliver_due(&api).await, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].headers["wxopen-event-id"], event_id);
    let r = api.get(&format!("/v1/events/{event_id}"), Some(&key)).await;
    assert_eq!(r.body["deliveries"][0]["attempt_count"], 4);
}

async fn a_delivery_pending_when_the_process_stops_is_delivered_after_a_restart(backend: Backend) {
    let (api, key) = start(backend).await;
    // The receiver is down: nothing listens on its port
    let down = Receiver::start(&[]).await;
    let url = down.url.clone();
    drop(down);
    subscribe(&api, &key, &url, &["message.*"]).await;
    follower_writes(&api, "hello?").await;
    assert_eq!(deliver_due(&api).await, 1);

    // A worker claims the retry and dies mid-attempt (its lease is all that is left)
    api.env.sim.advance(Duration::from_secs(15));
    let due = api
        .env
        .store()
        .due_deliveries(api.env.sim.now(), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    let now = api.env.sim.now();
    let claim = api
        .env
        .store()
        .claim_delivery(&due[0], "dies-mid-attempt", now, now + 60)
        .await
        .unwrap();
    assert!(matches!(claim, wxopen::store::DeliveryClaim::Claimed(_)));
    assert_eq!(deliver_due(&api).await, 0, "leased by the dead worker");

    // The receiver comes back on the same port, the process restarts (a new
    // App on the same store) and the lease has run out
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hook")
        .to_owned();
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let state = ReceiverState::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let restarted = wxopen::app::App::build(
        (*api.env.app.config).clone(),
        api.env.store().clone(),
        api.env.app.clock.clone(),
        None,
    )
    .unwrap();
    api.env.sim.advance(Duration::from_secs(120));
    let client = deliver::client(&restarted).unwrap();
    assert_eq!(
        workers::drain(&restarted, &client, "restarted")
            .await
            .unwrap(),
        1
    );
    let got = state.got.lock().unwrap().clone();
    server.abort();
    assert_eq!(got.len(), 1);

    let events = feed(&api, &key).await;
    assert_eq!(
        got[0].headers["wxopen-event-id"],
        events[0]["id"].as_str().unwrap()
    );
    let r = api
        .get(
            &format!("/v1/events/{}", events[0]["id"].as_str().unwrap()),
            Some(&key),
        )
        .await;
    assert_eq!(r.body["deliveries"][0]["state"], "succeeded");
    assert_eq!(r.body["deliveries"][0]["attempt_count"], 2);
    assert!(r.body["deliveries"][0]["attempts"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("could not connect"));
}

async fn a_new_delivery_is_announced_leased_and_attempted_without_a_claim(backend: Backend) {
    // Given a process listening for new deliveries
    let (api, key) = start(backend).await;
    let receiver = Receiver::start(&[]).await;
    let (webhook_id, _) = subscribe(&api, &key, &receiver.url, &["message.*"]).await;
    let mut announced = api.env.app.announcer.listen("deliver-test");

    // When a follower writes
    follower_writes(&api, "announced").await;

    // Then the event's own write leased its delivery to the listener, which
    // is told of it with the event and the subscription
    let wxopen::service::events::announce::Announced { event, deliveries } =
        announced.try_recv().expect("announced once recorded");
    let stored = api.env.store().list_deliveries(&event.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].lease_owner.as_deref(), Some("deliver-test"));
    assert_eq!(
        stored[0].due_at,
        event.created_at + wxopen::store::DELIVERY_LEASE_SECS
    );
    let [(delivery, webhook)] = &deliveries[..] else {
        panic!("one delivery: {deliveries:?}");
    };
    assert_eq!(delivery, &stored[0]);
    assert_eq!(webhook.id, webhook_id);
    assert_eq!(deliver_due(&api).await, 0, "no poller takes it meanwhile");

    // and its first attempt needs no claim: one write records its result
    let client = deliver::client(&api.env.app).unwrap();
    let worked = deliver::work_leased(&api.env.app, &client, delivery, &event, webhook)
        .await
        .unwrap();
    assert_eq!(worked, deliver::Worked::Succeeded);
    assert_eq!(receiver.got().len(), 1);
    assert_eq!(
        receiver.got()[0].headers["wxopen-event-id"],
        event.id.as_str()
    );
    let after = api.env.store().list_deliveries(&event.id).await.unwrap();
    assert_eq!(after[0].state, wxopen::store::DeliveryState::Succeeded);
    assert_eq!(after[0].attempt_count, 1);
    assert!(announced.try_recv().is_err(), "announced once");
}

async fn the_serve_loop_attempts_a_new_delivery_as_soon_as_its_event_is_recorded(backend: Backend) {
    // Given `serve`'s delivery loop running (its poller would find nothing
    // due within the test's deadline: the new delivery is leased to the loop
    // for 60 s, so only the announcement can bring it)
    let (api, key) = start(backend).await;
    let receiver = Receiver::start(&[]).await;
    subscribe(&api, &key, &receiver.url, &["message.*"]).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let delivering = tokio::spawn(workers::run_loop(api.env.app.clone(), stopped));

    // When a follower writes
    follower_writes(&api, "announced").await;

    // Then the receiver gets it, and its one attempt was recorded under the
    // lease the event's own write took
    let got = wxopen_tests::eventually("the announced delivery", Duration::from_secs(10), || {
        let got = receiver.got();
        async move { (!got.is_empty()).then_some(got) }
    })
    .await;
    let event_id = got[0].headers["wxopen-event-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let delivery =
        wxopen_tests::eventually("the attempt recorded", Duration::from_secs(10), || {
            let (store, event_id) = (api.env.store().clone(), event_id.clone());
            async move {
                let d = store.list_deliveries(&event_id).await.unwrap().pop()?;
                (d.state != wxopen::store::DeliveryState::Pending).then_some(d)
            }
        })
        .await;
    let _ = stop.send(true);
    delivering.await.unwrap();
    assert_eq!(delivery.state, wxopen::store::DeliveryState::Succeeded);
    assert_eq!(delivery.attempt_count, 1);
    assert_eq!(delivery.lease_owner, None);
    assert_eq!(receiver.got().len(), 1);
}

async fn a_new_delivery_whose_announcement_was_lost_is_polled_once_its_lease_runs_out(
    backend: Backend,
) {
    // Given a process whose delivery loop is told of new deliveries ...
    let (api, key) = start(backend).await;
    let receiver = Receiver::start(&[]).await;
    subscribe(&api, &key, &receiver.url, &["message.*"]).await;
    let announced = api.env.app.announcer.listen("dies-after-recording");
    follower_writes(&api, "lost").await;
    // ... and dies before working the one it was told of
    drop(announced);

    // Then no poller takes it while the lease holds, and one does after
    assert_eq!(deliver_due(&api).await, 0, "leased to the dead loop");
    api.env.sim.advance(Duration::from_secs(30));
    assert_eq!(deliver_due(&api).await, 0, "still leased");
    api.env.sim.advance(Duration::from_secs(31));
    assert_eq!(deliver_due(&api).await, 1);
    assert_eq!(receiver.got().len(), 1);
    let events = feed(&api, &key).await;
    assert_eq!(
        receiver.got()[0].headers["wxopen-event-id"],
        events[0]["id"].as_str().unwrap()
    );
}

async fn a_forged_push_records_no_event(backend: Backend) {
    let (api, key) = start(backend).await;
    let openid = follower(&api);
    let push = text_push(&api, &openid, 777, "forged");
    // Signed with another token
    let forged_query = push.query.replace("signature=", "signature=0");
    let (status, _) = api
        .env
        .post_push(&push_path(), &forged_query, push.body.clone())
        .await;
    assert_ne!(status, 200);
    assert!(feed(&api, &key).await.is_empty());
    // The genuine push is recorded
    let genuine = text_push(&api, &openid, 778, "genuine");
    let (status, _) = api
        .env
        .post_push(&push_path(), &genuine.query, genuine.body)
        .await;
    assert_eq!(status, 200);
    assert_eq!(feed(&api, &key).await.len(), 1);
}

async fn a_tenant_sees_none_of_another_tenants_webhooks_or_events(backend: Backend) {
    let (api, key_a) = start(backend).await;
    let key_b = api
        .new_key(TenantScope::Only(vec!["globex".into()]), &["events"])
        .await;
    let send_only = api.key.clone();
    let receiver = Receiver::start(&[]).await;
    let (webhook_a, _) = subscribe(&api, &key_a, &receiver.url, &["*"]).await;
    follower_writes(&api, "for acme").await;
    let events = feed(&api, &key_a).await;
    assert_eq!(events.len(), 1);
    let event_id = events[0]["id"].as_str().unwrap();

    // B lists nothing, reads nothing, changes nothing
    let r = api.get("/v1/webhooks", Some(&key_b)).await;
    assert_eq!(
        (r.status, r.body["webhooks"].as_array().unwrap().len()),
        (200, 0)
    );
    let r = api.get("/v1/events", Some(&key_b)).await;
    assert_eq!(
        (r.status, r.body["events"].as_array().unwrap().len()),
        (200, 0)
    );
    assert_eq!(
        api.get(&format!("/v1/webhooks/{webhook_a}"), Some(&key_b))
            .await
            .status,
        403
    );
    assert_eq!(
        api.get(&format!("/v1/events/{event_id}"), Some(&key_b))
            .await
            .status,
        403
    );
    assert_eq!(
        api.get("/v1/events?tenant=acme", Some(&key_b)).await.status,
        403
    );
    let r = api
        .post_raw(
            &format!("/v1/events/{event_id}/redeliver"),
            &key_b,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = api
        .env
        .http
        .delete(api.env.at(&format!("/v1/webhooks/{webhook_a}")))
        .bearer_auth(&key_b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // A key without the events scope is refused
    let r = api.get("/v1/webhooks", Some(&send_only)).await;
    assert_eq!((r.status, r.code()), (403, "insufficient_scope"));
    // A still sees and owns its webhook
    let r = api
        .get(&format!("/v1/webhooks/{webhook_a}"), Some(&key_a))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.get("secret").is_none(),
        "the secret is shown once only"
    );
    assert_eq!(
        api.get("/v1/webhooks/wh_unknown", Some(&key_a))
            .await
            .status,
        404
    );
}

async fn every_follower_action_of_the_simulator_becomes_its_event(backend: Backend) {
    use wxopen_sim::FollowerAction as A;
    let (api, key) = start(backend).await;
    let openid = follower(&api);
    let actions = [
        (
            A::Subscribe {
                scene: Some("42".into()),
            },
            "event.subscribe",
        ),
        (
            A::Scan {
                scene: "store_7".into(),
            },
            "event.scan",
        ),
        (
            A::Click {
                key: "MENU_ORDERS".into(),
            },
            "event.click",
        ),
        (
            A::View {
                url: "https://shop.example.com/".into(),
            },
            "event.view",
        ),
        (
            A::Image {
                pic_url: "https://mmbiz.qpic.cn/x.jpg".into(),
            },
            "message.image",
        ),
        (
            A::Voice {
                format: "amr".into(),
            },
            "message.voice",
        ),
        (A::Video, "message.video"),
        (A::Shortvideo, "message.shortvideo"),
        (
            A::Location {
                latitude: 23.13,
                longitude: 113.26,
                label: "Guangzhou".into(),
            },
            "message.location",
        ),
        (
            A::Link {
                title: "Order".into(),
                url: "https://shop.example.com/o/1".into(),
                description: String::new(),
            },
            "message.link",
        ),
        (
            A::Text {
                content: "hi".into(),
            },
            "message.text",
        ),
        (A::Unsubscribe, "event.unsubscribe"),
    ];
    for (action, _) in &actions {
        // One second apart: WeChat tells a follower's events apart by CreateTime.
        api.env.sim.advance(Duration::from_secs(1));
        let out = api
            .env
            .sim
            .follower_action(APPID, &openid, action)
            .await
            .unwrap();
        assert_eq!(out.response_body.as_deref(), Some("success"), "{action:?}");
    }
    let events = feed(&api, &key).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let want: Vec<&str> = actions.iter().map(|(_, t)| *t).collect();
    assert_eq!(types, want);
    assert_eq!(events[0]["data"]["scene"], "42");
    assert_eq!(events[0]["data"]["event_key"], "qrscene_42");
    assert_eq!(events[1]["data"]["scene"], "store_7");
    assert_eq!(events[2]["data"]["event_key"], "MENU_ORDERS");
    assert_eq!(events[8]["data"]["location_x"], "23.13");
    // The feed filters by type
    let r = api.get("/v1/events?type=event.*", Some(&key)).await;
    assert_eq!(r.body["events"].as_array().unwrap().len(), 5);
}

/// The text of an encrypted passive reply, as WeChat decrypts it.
fn decrypted_reply(api: &Api, body: &str) -> String {
    let fields = reply_fields(api, body);
    assert_eq!(fields["xml/MsgType"], "text", "{fields:?}");
    fields["xml/Content"].clone()
}

/// Every text node of an encrypted passive reply, by element path
/// (`xml/Image/MediaId`, `xml/Articles/item/Title`), read by quick-xml as
/// WeChat's own parser would read it.
fn reply_fields(api: &Api, body: &str) -> std::collections::BTreeMap<String, String> {
    use quick_xml::events::Event;
    let start = body
        .find("<Encrypt><![CDATA[")
        .unwrap_or_else(|| panic!("an encrypted reply, got {body}"))
        + 18;
    let end = body[start..].find("]]>").unwrap() + start;
    let crypt = wxopen_tests::wechat_crypt(&api.env);
    let xml = crypt.decrypt(&body[start..end]).unwrap().message;
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut path: Vec<String> = Vec::new();
    let mut fields = std::collections::BTreeMap::new();
    loop {
        match reader.read_event().expect("well-formed reply XML") {
            Event::Start(e) => path.push(e.name().into_inner().to_owned()),
            Event::End(_) => {
                path.pop();
            }
            Event::CData(t) => {
                let text = t.xml10_content().into_owned();
                fields.entry(path.join("/")).or_insert(text);
            }
            Event::Text(t) => {
                let text = t.xml10_content().into_owned();
                if !text.trim().is_empty() {
                    fields.entry(path.join("/")).or_insert(text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    fields
}

async fn subscribe_for_replies(api: &Api, key: &str, url: &str) {
    let r = api
        .post(
            "/v1/webhooks",
            key,
            &json!({"url": url, "events": ["message.*"], "reply": true}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["reply"], true);
}

async fn a_passive_reply_reaches_the_follower_encrypted(backend: Backend) {
    let (api, key) = start(backend).await;
    let receiver = Receiver::start(&[]).await;
    *receiver.state.reply.lock().unwrap() = Some(
        json!({"reply": {"msgtype": "text", "content": "Your parcel is on its way"}}).to_string(),
    );
    subscribe_for_replies(&api, &key, &receiver.url).await;

    let out = follower_writes(&api, "Where is it?").await;
    let body = out.response_body.expect("an answer");
    assert_eq!(decrypted_reply(&api, &body), "Your parcel is on its way");

    // The event is delivered asynchronously as well
    assert_eq!(deliver_due(&api).await, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 2, "the reply request and the delivery");
    assert!(got[0].headers.contains_key("wxopen-reply-requested"));
    assert!(!got[1].headers.contains_key("wxopen-reply-requested"));
    assert_eq!(
        got[0].headers["wxopen-event-id"],
        got[1].headers["wxopen-event-id"]
    );
}

async fn an_image_reply_and_a_news_reply_reach_the_follower_as_wechat_reads_them(backend: Backend) {
    use wxopen_sim::FollowerAction as A;
    let (api, key) = start(backend).await;
    let receiver = Receiver::start(&[]).await;
    let r = api
        .post(
            "/v1/webhooks",
            &key,
            &json!({"url": receiver.url, "events": ["*"], "reply": true}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let openid = follower(&api);

    // An image answers a follower's message
    *receiver.state.reply.lock().unwrap() =
        Some(json!({"reply": {"msgtype": "image", "media_id": "MEDIA_menu_1"}}).to_string());
    let out = follower_writes(&api, "menu?").await;
    let fields = reply_fields(&api, &out.response_body.expect("an answer"));
    assert_eq!(fields["xml/MsgType"], "image", "{fields:?}");
    assert_eq!(fields["xml/Image/MediaId"], "MEDIA_menu_1");
    assert_eq!(fields["xml/ToUserName"], openid);
    assert_eq!(fields["xml/FromUserName"], "gh_5add0a000001");

    // Two articles answer a subscription (an event may take up to eight)
    let article = |title: &str| {
        json!({"title": title, "description": "Fresh today",
               "pic_url": "https://cdn.example.com/a.jpg", "url": "https://shop.example.com/menu"})
    };
    *receiver.state.reply.lock().unwrap() = Some(
        json!({"reply": {"msgtype": "news", "articles": [article("Welcome"), article("Menu")]}})
            .to_string(),
    );
    api.env.sim.advance(Duration::from_secs(1));
    let out = api
        .env
        .sim
        .follower_action(APPID, &openid, &A::Subscribe { scene: None })
        .await
        .unwrap();
    let fields = reply_fields(&api, &out.response_body.expect("an answer"));
    assert_eq!(fields["xml/MsgType"], "news", "{fields:?}");
    assert_eq!(fields["xml/ArticleCount"], "2");
    assert_eq!(fields["xml/Articles/item/Title"], "Welcome");
    assert_eq!(
        fields["xml/Articles/item/Url"],
        "https://shop.example.com/menu"
    );
    assert_eq!(
        fields["xml/Articles/item/PicUrl"],
        "https://cdn.example.com/a.jpg"
    );
}

async fn a_reply_wechat_could_not_show_is_answered_success(backend: Backend) {
    let (api, key) = start(backend).await;
    let receiver = Receiver::start(&[]).await;
    subscribe_for_replies(&api, &key, &receiver.url).await;
    // Two articles answer a follower's message: WeChat shows only one, and
    // an answer it cannot read shows the follower an error, so wxopen
    // answers `success` rather than pass it on.
    let article = json!({"title": "Menu", "url": "https://shop.example.com/menu"});
    *receiver.state.reply.lock().unwrap() =
        Some(json!({"reply": {"msgtype": "news", "articles": [article, article]}}).to_string());
    let out = follower_writes(&api, "menu?").await;
    assert_eq!(out.response_body.as_deref(), Some("success"));
    // and the event is still recorded and delivered
    assert_eq!(deliver_due(&api).await, 1);
    assert_eq!(feed(&api, &key).await.len(), 1);
}

/// A 60-recipient template job (in chunks of `WXOPEN_CHUNK_SIZE`), sent with
/// the harness's `send` key; answers the job id.
async fn start_job(api: &Api) -> String {
    let r = api
        .send_template(&api_common::extra_followers(60), None)
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    r.body["job_id"].as_str().unwrap().to_owned()
}

fn job_events(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] == "job.finished")
        .cloned()
        .collect()
}

async fn a_finished_job_raises_one_job_finished_event_with_its_counts(backend: Backend) {
    let api = Api::start_with(options(
        backend,
        60,
        &[ALLOW_PRIVATE, ("WXOPEN_CHUNK_SIZE", "20")],
    ))
    .await;
    let key = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["events"])
        .await;
    let receiver = Receiver::start(&[]).await;
    let (_, secret) = subscribe(&api, &key, &receiver.url, &["job.*"]).await;

    let job_id = start_job(&api).await;
    // Nothing is announced while the job runs
    assert!(job_events(&feed(&api, &key).await).is_empty());
    api.drain("w1").await;
    api.drain("w2").await;

    let events = job_events(&feed(&api, &key).await);
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["appid"], APPID);
    assert_eq!(event["tenant"], TENANT);
    let data = &event["data"];
    assert_eq!(data["job_id"], job_id.as_str());
    assert_eq!(data["kind"], "template");
    assert_eq!(data["state"], "done");
    assert_eq!(
        (data["total"].clone(), data["sent"].clone()),
        (json!(60), json!(60))
    );
    assert_eq!(data["failed"], 0);
    assert!(data.get("stop_reason").is_none(), "{data}");
    // The counts are the job's own
    let job = api.job(&job_id).await;
    assert_eq!(job["counts"]["sent"], data["sent"]);

    // delivered, signed, to the job.* subscription (and only the job event)
    assert_eq!(deliver_due(&api).await, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["wxopen-event-type"], "job.finished");
    let header = got[0].headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(
        verify(header, &secret, &got[0].body, api.env.sim.now(), 300),
        Ok(())
    );
}

async fn a_job_stopped_by_the_quota_raises_job_finished_once_its_chunks_ended(backend: Backend) {
    let mut opts = options(backend, 60, &[ALLOW_PRIVATE, ("WXOPEN_CHUNK_SIZE", "20")]);
    opts.sim.limits.template_sends_per_day = 25;
    let api = Api::start_with(opts).await;
    let key = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["events"])
        .await;
    let job_id = start_job(&api).await;
    api.drain("w1").await;

    let job = api.job_settled(&job_id).await;
    assert_eq!(job["state"], "stopped", "{job}");
    assert_one_job_stopped_by_the_quota(&api, &key, &job_id).await;
}

/// The feed holds one `job.finished`: the 60-recipient job stopped by a daily
/// quota of 25, with WeChat's 45009, 25 sent and 35 unsent.
async fn assert_one_job_stopped_by_the_quota(api: &Api, key: &str, job_id: &str) {
    let events = job_events(&feed(api, key).await);
    assert_eq!(events.len(), 1, "{events:?}");
    let data = &events[0]["data"];
    assert_eq!(data["job_id"], job_id);
    assert_eq!(data["state"], "stopped");
    assert_eq!(data["stop_reason"], "quota_exhausted");
    assert_eq!(data["wechat_errcode"], 45009);
    assert_eq!(data["sent"], 25);
    assert_eq!(data["unsent"], 35);
}

/// A stopped job's chunks each finish on their own (perhaps on different
/// instances); each used to read all of the job's chunks to see whether the
/// job had ended, O(chunks²) chunk reads (250,000 for a 100,000-recipient
/// job). The job row says whether it has ended, and its chunks are read once,
/// for the event.
async fn a_stopped_job_is_seen_to_end_from_its_row_and_its_chunks_are_read_once(backend: Backend) {
    // 12 chunks of 5: the quota stops the job after 25 sends (5 chunks), and
    // its 7 other chunks finish stopped.
    let mut opts = options(backend, 60, &[ALLOW_PRIVATE, ("WXOPEN_CHUNK_SIZE", "5")]);
    opts.sim.limits.template_sends_per_day = 25;
    // Delivery reports are pushed while chunks are worked, and recording them
    // queries DynamoDB: without them, the queries counted are the chunks' own.
    opts.sim.finish_pushes = false;
    let api = Api::start_with(opts).await;
    let key = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["events"])
        .await;
    let job_id = start_job(&api).await;

    let mut outcomes = Vec::new();
    let mut listings = Vec::new();
    for index in 0..12 {
        let chunk = ChunkRef {
            job_id: job_id.clone(),
            index,
        };
        let before = api.env.chunk_listings();
        outcomes.push(run_chunk(&api.env.app, &chunk, "w1").await.unwrap());
        listings.push(api.env.chunk_listings() - before);
    }
    assert!(
        outcomes[..5]
            .iter()
            .all(|o| matches!(o, ChunkRunOutcome::Done { .. }))
            && outcomes[5..]
                .iter()
                .all(|o| matches!(o, ChunkRunOutcome::Stopped { .. })),
        "{outcomes:?}"
    );
    // No chunk before the last read the job's chunks
    assert_eq!(listings[..11], [0; 11], "{listings:?}");
    // the last read them for the event's counts (once: DynamoDB counts every
    // query, and recording the event queries too)
    match backend {
        Backend::Sqlite => assert_eq!(listings[11], 1, "{listings:?}"),
        Backend::Dynamo => assert!(listings[11] >= 1, "{listings:?}"),
    }
    let job = api
        .env
        .store()
        .get_job(&job_id, api.env.sim.now())
        .await
        .unwrap()
        .expect("job");
    assert_eq!((job.chunks_done, job.chunks_stopped), (5, 7));

    assert_one_job_stopped_by_the_quota(&api, &key, &job_id).await;
}

async fn a_receiver_slower_than_the_budget_gets_success_in_time_and_the_event_still_delivered(
    backend: Backend,
) {
    let api = Api::start_with(options(
        backend,
        0,
        &[ALLOW_PRIVATE, ("WXOPEN_REPLY_BUDGET_MS", "300")],
    ))
    .await;
    let key = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["events"])
        .await;
    let receiver = Receiver::start(&[]).await;
    *receiver.state.reply.lock().unwrap() =
        Some(json!({"reply": {"msgtype": "text", "content": "too late"}}).to_string());
    *receiver.state.reply_delay.lock().unwrap() = Duration::from_secs(3);
    subscribe_for_replies(&api, &key, &receiver.url).await;

    let openid = follower(&api);
    let push = text_push(&api, &openid, 9_000_001, "anyone?");
    let started = std::time::Instant::now();
    let (status, body) = api
        .env
        .post_push(&push_path(), &push.query, push.body)
        .await;
    let took = started.elapsed();
    assert_eq!((status, body.as_str()), (200, "success"));
    assert!(took < Duration::from_secs(2), "answered after {took:?}");

    assert_eq!(deliver_due(&api).await, 1);
    let events = feed(&api, &key).await;
    assert_eq!(events.len(), 1);
    let r = api
        .get(
            &format!("/v1/events/{}", events[0]["id"].as_str().unwrap()),
            Some(&key),
        )
        .await;
    assert_eq!(r.body["deliveries"][0]["state"], "succeeded");
}

// ------------------------------------------------------------- URL policy

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_webhook_urls_are_400_naming_why_and_store_nothing() {
    let api = Api::start_with(options(Backend::Sqlite, 0, &[])).await;
    let key = api
        .new_key(TenantScope::Only(vec![TENANT.into()]), &["events"])
        .await;
    let cases = [
        ("http://erp.example.com/hook", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest", "metadata"),
        ("https://localhost/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("not a url", "absolute URL"),
    ];
    for (url, why) in cases {
        let r = api
            .post(
                "/v1/webhooks",
                &key,
                &json!({"url": url, "events": ["*"]}),
                None,
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{url}: {}",
            r.body
        );
        assert!(r.message().contains("`url`"), "{url}: {}", r.message());
        assert!(r.message().contains(why), "{url}: {}", r.message());
    }
    // A malformed subscription names its field
    for (body, field) in [
        (
            json!({"url": "https://erp.example.com/h", "events": ["message.sticker"]}),
            "`events`",
        ),
        (
            json!({"url": "https://erp.example.com/h", "events": []}),
            "`events`",
        ),
        (json!({"events": ["*"]}), "`url`"),
        (
            json!({"url": "https://erp.example.com/h", "events": ["*"], "colour": 1}),
            "colour",
        ),
        (
            json!({"url": "https://erp.example.com/h", "events": ["*"], "tenant": "globex"}),
            "",
        ),
    ] {
        let r = api.post("/v1/webhooks", &key, &body, None).await;
        assert!(matches!(r.status, 400 | 403), "{body}: {}", r.body);
        assert!(r.message().contains(field), "{body}: {}", r.message());
    }
    let r = api.get("/v1/webhooks", Some(&key)).await;
    assert_eq!(
        r.body["webhooks"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );
}
