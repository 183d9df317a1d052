//! Lambda `refresh`, run by EventBridge Scheduler every 5 minutes: renews due
//! tokens, checks ticket health and runs the daily reconcile when due
//! (`service::refresh::scheduled`), then works send chunks that no stream
//! record will announce again (deferred, or abandoned by a crashed worker)
//! until the invocation's time runs short, then the webhook deliveries due
//! (retries, redeliveries, attempts abandoned by a crashed worker).
//! `{"task": "reconcile"}` (a manual invoke) forces a reconcile.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;
use wxopen::service::events::{deliver, workers};
use wxopen::service::refresh;
use wxopen::service::worker::{Feed, Worker};
use wxopen::startup::time_until;

/// Kept back before the invocation's deadline for running chunks to finish
/// or be released, and for the answer.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let app = wxopen::startup::lambda_app().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if event.payload.get("task").and_then(Value::as_str) == Some("reconcile") {
            let report = refresh::reconcile(app).await?;
            return Ok::<_, Error>(json!({ "reconcile": report }));
        }
        let scheduled = refresh::scheduled(app).await?;
        let worker = Worker::new(app.clone(), format!("lambda-{}", event.context.request_id));
        let stop = tokio::time::sleep(time_until(event.context.deadline, DEADLINE_MARGIN));
        let resumed = worker.run_until(Feed::backlog(), stop).await;
        let owner = format!("lambda-{}", event.context.request_id);
        let client = deliver::client(app)?;
        let deliveries = workers::drain(app, &client, &owner).await?;
        Ok(json!({
            "refresh": scheduled,
            "resumed_chunks": resumed.worked(),
            "deliveries": deliveries
        }))
    }))
    .await
}
