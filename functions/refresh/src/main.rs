//! Lambda `refresh`, run by EventBridge Scheduler every 5 minutes: renews due
//! tokens, checks ticket health and runs the daily reconcile when due
//! (`service::refresh::scheduled`), then resumes send chunks that no stream
//! record will announce again (deferred, or abandoned by a crashed worker), and
//! works the webhook deliveries due (retries, redeliveries, abandoned attempts).
//! `{"task": "reconcile"}` (a manual invoke) forces a reconcile.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use wxopen::service::events::deliver;
use wxopen::service::{refresh, worker};

/// Chunks one run resumes at most, so a run stays well inside its timeout.
const MAX_RESUMED_CHUNKS: usize = 50;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let app = wxopen::lambda_support::lambda_app().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if event.payload.get("task").and_then(Value::as_str) == Some("reconcile") {
            let report = refresh::reconcile(app).await?;
            return Ok::<_, Error>(json!({ "reconcile": report }));
        }
        let scheduled = refresh::scheduled(app).await?;
        let owner = format!("lambda-{}", event.context.request_id);
        let resumed = worker::drain(app, &owner, MAX_RESUMED_CHUNKS).await?;
        let client = deliver::client(app)?;
        let deliveries = deliver::drain(app, &client, &owner).await?;
        Ok(json!({
            "refresh": scheduled,
            "resumed_chunks": resumed.worked(),
            "deliveries": deliveries
        }))
    }))
    .await
}
