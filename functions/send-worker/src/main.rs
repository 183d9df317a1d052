//! Lambda `send-worker`, fed by the table's DynamoDB stream (filtered to new
//! chunk items). The stream adapter is here: each record's keys name a chunk
//! (parsed by `store::dynamo`, the one reader of key formats); the worker works
//! the announced chunks and then the rest of their jobs, until the invocation's
//! time runs short; a record whose chunk was left for later (a store failure,
//! or cancelled at the deadline with its lease released) is a batch item
//! failure, so the stream offers it again and nothing else.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_dynamo::AttributeValue;
use std::time::Duration;
use wxopen::service::worker::{Feed, QueueItem, Worker};
use wxopen::startup::time_until;
use wxopen::store::dynamo::{chunk_of_stream_keys, TABLE_KEY_PK, TABLE_KEY_SK};

/// Kept back before the invocation's deadline: running chunks get the
/// worker's shutdown grace, the rest are released, and the answer goes out.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let app = wxopen::startup::lambda_app().await?;
    let app = &app;
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
        for (sequence_number, item) in &announced {
            if item.as_ref().is_some_and(|item| report.left(item)) {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence_number.clone();
                response.batch_item_failures.push(failure);
            }
        }
        Ok::<_, Error>(response)
    }))
    .await
}

/// The chunk a record announces, if it is a chunk of this component; anything
/// else is acknowledged untouched.
fn queue_item(component_appid: &str, record: &EventRecord) -> Option<QueueItem> {
    let key = |name: &str| match record.change.keys.get(name)? {
        AttributeValue::S(value) => Some(value.as_str()),
        _ => None,
    };
    chunk_of_stream_keys(component_appid, key(TABLE_KEY_PK)?, key(TABLE_KEY_SK)?)
        .map(QueueItem::Chunk)
}
