//! The `refresh` binary run as a Lambda on EventBridge Scheduler events
//! (tests/src/lambda_runtime.rs), against the simulator and a SQLite store.

use std::path::Path;
use std::time::Duration;
use wxopen_tests::lambda_runtime::{scheduler_event, FunctionUnderTest};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_refresh"))
}

#[tokio::test]
async fn a_scheduled_run_without_a_ticket_asks_wechat_to_start_pushing_one() {
    // Given no ticket stored
    let fut = FunctionUnderTest::start(binary()).await;
    // When the 5-minute schedule fires
    let answer = fut
        .api
        .invoke(scheduler_event("refresh"), Duration::from_secs(20))
        .await
        .response();
    // Then the run succeeds and WeChat was asked to push a ticket
    assert!(answer.get("refresh").is_some(), "{answer}");
    assert!(
        !fut.sim
            .calls_to("/cgi-bin/component/api_start_push_ticket")
            .is_empty(),
        "api_start_push_ticket not called; calls: {:?}",
        fut.sim
            .calls()
            .iter()
            .map(|c| c.endpoint.clone())
            .collect::<Vec<_>>()
    );
    fut.report_figures();
}

#[tokio::test]
async fn one_warm_instance_serves_invocation_after_invocation() {
    let fut = FunctionUnderTest::start(binary()).await;
    for _ in 0..2 {
        fut.api
            .invoke(scheduler_event("refresh"), Duration::from_secs(20))
            .await
            .response();
    }
    // One process served both: it asked for a third invocation.
    wxopen_tests::eventually("a third `next`", Duration::from_secs(5), || async {
        (fut.api.next_calls() >= 3).then_some(())
    })
    .await;
}
