//! Lambda `send-worker`, fed by the table's DynamoDB stream (filtered to new
//! chunk and webhook-delivery items): works through the announced chunks under
//! a lease named by the invocation, makes each announced delivery's first
//! attempt, and reports the records whose chunk or delivery failed as batch
//! item failures so only those are retried. A delivery's later retries are
//! found by the refresh sweep through the due-time index.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashSet;
use wxopen::lambda_support::stream_records;
use wxopen::service::events::deliver;
use wxopen::service::worker;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let app = wxopen::lambda_support::lambda_app().await?;
    let app = &app;
    let client = deliver::client(app)?;
    let client = &client;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let owner = format!("lambda-{}", event.context.request_id);
        let records = stream_records(&event.payload, &app.config.component_appid);
        let chunks = records.iter().filter_map(|r| r.chunk.clone()).collect();
        let report = worker::run_chunks(app, chunks, &owner).await;
        let answered: HashSet<_> = report.outcomes.iter().map(|(chunk, _)| chunk).collect();
        let mut failures: Vec<Value> = records
            .iter()
            .filter(|r| r.chunk.as_ref().is_some_and(|c| !answered.contains(c)))
            .map(|r| json!({"itemIdentifier": r.sequence_number}))
            .collect();
        let deliveries = wxopen::store::dynamo::deliveries_in_stream(
            &event.payload,
            &app.config.component_appid,
        );
        for sequence in deliver::work_announced(app, client, deliveries, &owner).await {
            failures.push(json!({"itemIdentifier": sequence}));
        }
        Ok::<_, Error>(json!({"batchItemFailures": failures}))
    }))
    .await
}
