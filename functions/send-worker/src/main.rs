//! Lambda `send-worker`, fed by the table's DynamoDB stream (filtered to new
//! chunk and webhook-delivery items). The stream adapter is here: each
//! record's keys name a chunk or a delivery (parsed by `store::dynamo`, the one
//! reader of key formats); the worker works the announced chunks and then the
//! rest of their jobs, until the invocation's time runs short; each announced
//! delivery gets its first attempt (its retries are found by the refresh run
//! through the due-time index). A record whose chunk was left for later (a
//! store failure, or cancelled at the deadline with its lease released), or
//! whose delivery could not be worked (a store failure), is a batch item
//! failure, so the stream offers it again and nothing else.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_dynamo::AttributeValue;
use std::time::Duration;
use wxopen::service::events::{deliver, workers};
use wxopen::service::worker::{Feed, QueueItem, Worker};
use wxopen::startup::time_until;
use wxopen::store::dynamo::{chunk_of_stream_keys, delivery_of_keys, TABLE_KEY_PK, TABLE_KEY_SK};
use wxopen::store::DeliveryRef;

/// Kept back before the invocation's deadline: running chunks get the
/// worker's shutdown grace, the rest are released, and the answer goes out.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let app = wxopen::startup::lambda_app().await?;
    let app = &app;
    let client = deliver::client(app)?;
    let client = &client;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let cappid = app.config.component_appid.as_str();
        let announced: Vec<(Option<String>, Option<QueueItem>)> = event
            .payload
            .records
            .iter()
            .map(|record| {
                (
                    record.change.sequence_number.clone(),
                    queue_item(cappid, record),
                )
            })
            .collect();
        let worker = Worker::new(app.clone(), format!("lambda-{}", event.context.request_id));
        let feed = Feed::announced(announced.iter().filter_map(|(_, item)| item.clone()));
        let report = worker
            .run_until(
                feed,
                tokio::time::sleep(time_until(event.context.deadline, DEADLINE_MARGIN)),
            )
            .await;
        let mut response = DynamoDbEventResponse::default();
        let mut fail = |sequence_number: Option<String>| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequence_number;
            response.batch_item_failures.push(failure);
        };
        for (sequence_number, item) in &announced {
            if item.as_ref().is_some_and(|item| report.left(item)) {
                fail(sequence_number.clone());
            }
        }
        let deliveries: Vec<(Option<String>, DeliveryRef)> = event
            .payload
            .records
            .iter()
            .filter_map(|record| {
                let delivery = delivery(cappid, record)?;
                Some((record.change.sequence_number.clone(), delivery))
            })
            .collect();
        let owner = format!("lambda-{}", event.context.request_id);
        for sequence_number in workers::work_announced(app, client, deliveries, &owner).await {
            fail(sequence_number);
        }
        Ok::<_, Error>(response)
    }))
    .await
}

/// The record's (pk, sk).
fn keys(record: &EventRecord) -> Option<(&str, &str)> {
    let key = |name: &str| match record.change.keys.get(name)? {
        AttributeValue::S(value) => Some(value.as_str()),
        _ => None,
    };
    Some((key(TABLE_KEY_PK)?, key(TABLE_KEY_SK)?))
}

/// The chunk a record announces, if it is a chunk of this component; anything
/// else is acknowledged untouched.
fn queue_item(component_appid: &str, record: &EventRecord) -> Option<QueueItem> {
    let (pk, sk) = keys(record)?;
    chunk_of_stream_keys(component_appid, pk, sk).map(QueueItem::Chunk)
}

/// The webhook delivery a record announces, if it is one of this component.
fn delivery(component_appid: &str, record: &EventRecord) -> Option<DeliveryRef> {
    let (pk, sk) = keys(record)?;
    delivery_of_keys(component_appid, pk, sk)
}
