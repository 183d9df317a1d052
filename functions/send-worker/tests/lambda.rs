//! The `send-worker` binary run as a Lambda on DynamoDB stream events
//! (tests/src/lambda_runtime.rs), against the simulator and a SQLite store.

use serde_json::json;
use std::path::Path;
use std::time::Duration;
use wxopen_tests::lambda_runtime::{stream_record, FunctionUnderTest};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_send-worker"))
}

#[tokio::test]
async fn records_that_are_not_chunks_of_this_component_are_acknowledged() {
    // Given a batch with a job record and another component's chunk
    let fut = FunctionUnderTest::start(binary()).await;
    let appid = fut.sim.config().component.appid.clone();
    let event = json!({"Records": [
        stream_record("100", &format!("{appid}#job#j1"), "job", json!({"kind": {"S": "job"}})),
        stream_record("101", "wxsomeoneelse#job#j1", "chunk#00000", json!({"kind": {"S": "chunk"}})),
    ]});
    // When the stream delivers it
    let answer = fut
        .api
        .invoke(event, Duration::from_secs(20))
        .await
        .response();
    // Then nothing is reported as failed (nothing to retry)
    assert_eq!(answer, json!({"batchItemFailures": []}));
    fut.report_figures();
}

#[tokio::test]
async fn a_chunk_that_no_longer_exists_is_acknowledged_not_retried_forever() {
    let fut = FunctionUnderTest::start(binary()).await;
    let appid = fut.sim.config().component.appid.clone();
    let event = json!({"Records": [
        stream_record("200", &format!("{appid}#job#gone"), "chunk#00000", json!({"kind": {"S": "chunk"}})),
    ]});
    let answer = fut
        .api
        .invoke(event, Duration::from_secs(20))
        .await
        .response();
    assert_eq!(answer, json!({"batchItemFailures": []}));
}

#[tokio::test]
async fn an_event_that_is_not_a_stream_batch_is_refused_not_acknowledged() {
    // Given a record without the stream's required fields
    let fut = FunctionUnderTest::start(binary()).await;
    let event = json!({"Records": [{"eventName": "INSERT", "dynamodb": {"Keys": {}}}]});
    // When it is delivered
    let outcome = fut.api.invoke(event, Duration::from_secs(20)).await;
    // Then the invocation fails (the stream retries it), rather than answering that nothing failed
    assert!(
        matches!(outcome, wxopen_tests::lambda_runtime::Outcome::Error(_)),
        "a malformed batch was answered as processed"
    );
}

#[tokio::test]
async fn a_chunk_key_that_is_not_a_string_is_acknowledged_untouched() {
    let fut = FunctionUnderTest::start(binary()).await;
    let appid = fut.sim.config().component.appid.clone();
    let mut record = stream_record(
        "300",
        &format!("{appid}#job#j1"),
        "chunk#00000",
        json!({"kind": {"S": "chunk"}}),
    );
    record["dynamodb"]["Keys"]["sk"] = json!({"N": "1"});
    let answer = fut
        .api
        .invoke(json!({"Records": [record]}), Duration::from_secs(20))
        .await
        .response();
    assert_eq!(answer, json!({"batchItemFailures": []}));
}

/// A webhook whose name resolves to loopback (stored directly: the API would
/// refuse it) and an event with a pending delivery to it, leased to
/// `leased_to` as a push recorded on AWS leases it to the stream; the
/// function's clock (the system's) a few seconds after the event.
async fn event_with_a_delivery(fut: &FunctionUnderTest, leased_to: Option<&str>) -> u64 {
    use wxopen::secret::Secret;
    use wxopen::store::{EventRecord, Webhook};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 5;
    let webhook = Webhook {
        id: "wh_lambda".into(),
        tenant: Some("acme".into()),
        url: "https://localhost/hook".into(),
        events: vec!["*".into()],
        reply: false,
        secret: Secret::new("whsec_lambda"),
        previous_secret: None,
        previous_until: 0,
        created_at: now,
        failing_since: None,
        disabled: false,
    };
    fut.store.create_webhook(&webhook).await.unwrap();
    let event = EventRecord {
        id: "evt_lambda".into(),
        event_type: "message.text".into(),
        appid: "wx5add0a0000000001".into(),
        tenant: Some("acme".into()),
        created_at: now,
        data: serde_json::Map::new(),
        expires_at: now + 86400,
    };
    assert!(fut
        .store
        .record_event_leased(&event, &["wh_lambda".into()], leased_to)
        .await
        .unwrap());
    now
}

/// The stream's record of the new delivery.
fn delivery_record(fut: &FunctionUnderTest, sequence: &str) -> serde_json::Value {
    let appid = fut.sim.config().component.appid.clone();
    stream_record(
        sequence,
        &format!("{appid}#evt#evt_lambda"),
        "dlv#wh_lambda",
        json!({"kind": {"S": "delivery"}}),
    )
}

#[tokio::test]
async fn an_announced_delivery_gets_its_first_attempt_under_the_url_policy() {
    use wxopen::store::DeliveryState;
    // Given an event with a pending delivery, due at once (as a lifecycle event's is)
    let fut = FunctionUnderTest::start(binary()).await;
    let now = event_with_a_delivery(&fut, None).await;

    // When the stream announces the delivery
    let answer = fut
        .api
        .invoke(
            json!({"Records": [delivery_record(&fut, "400")]}),
            Duration::from_secs(20),
        )
        .await
        .response();

    // Then it was attempted once, refused by the URL policy before any
    // connection, and is due again later (not a failed stream record)
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let deliveries = fut.store.list_deliveries("evt_lambda").await.unwrap();
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    assert_eq!((d.state, d.attempt_count), (DeliveryState::Pending, 1));
    assert!(d.due_at > now, "a retry later");
    let error = d.attempts[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("loopback"), "{error}");
}

#[tokio::test]
async fn a_delivery_leased_to_the_stream_is_attempted_once_even_when_offered_twice() {
    use wxopen::service::events::announce::STREAM_OWNER;
    use wxopen::store::DeliveryState;
    // Given a delivery written leased to the stream (as a push's is on AWS)
    let fut = FunctionUnderTest::start(binary()).await;
    let now = event_with_a_delivery(&fut, Some(STREAM_OWNER)).await;

    // When the stream announces it, and offers the same record again
    for _ in 0..2 {
        let answer = fut
            .api
            .invoke(
                json!({"Records": [delivery_record(&fut, "500")]}),
                Duration::from_secs(20),
            )
            .await
            .response();
        assert_eq!(answer, json!({"batchItemFailures": []}));
    }

    // Then its lease was the stream's: one attempt, recorded without a claim,
    // the lease given up and a retry due later; the second offer did nothing
    let deliveries = fut.store.list_deliveries("evt_lambda").await.unwrap();
    let d = &deliveries[0];
    assert_eq!((d.state, d.attempt_count), (DeliveryState::Pending, 1));
    assert_eq!(d.lease_owner, None);
    assert!(d.due_at > now, "a retry later");
    let error = d.attempts[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("loopback"), "{error}");
}
