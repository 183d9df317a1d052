//! The `callback` binary run as a Lambda (tests/src/lambda_runtime.rs): fed
//! API Gateway v2 events through the Runtime API, its secrets read through the
//! Parameters and Secrets extension endpoint, state in a real SQLite store.

use std::path::Path;
use std::time::Duration;
use wxopen::http::Function;
use wxopen_tests::lambda_runtime::{
    assert_serves_exactly, FunctionUnderTest, LambdaProcess, RuntimeApi,
};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_callback"))
}

#[tokio::test]
async fn serves_exactly_the_callback_routes_of_the_route_table() {
    let fut = FunctionUnderTest::start(binary()).await;
    assert_serves_exactly(&fut, Function::Callback).await;
    fut.report_figures();
}

#[tokio::test]
async fn a_ticket_push_from_wechat_is_verified_and_stored() {
    // Given the function behind API Gateway and the simulator pushing to it
    let fut = FunctionUnderTest::start(binary()).await;
    // When WeChat pushes a component_verify_ticket
    let outcome = fut.sim.push_ticket().await;
    // Then the push is accepted and the ticket is in the store
    assert!(outcome.delivered, "push not accepted: {outcome:?}");
    let now = fut.sim.now();
    let ticket = fut.store.get_ticket(now).await.unwrap();
    assert!(ticket.is_some(), "no ticket stored");
}

#[tokio::test]
async fn without_configuration_it_fails_at_init_naming_what_is_missing() {
    let api = RuntimeApi::start().await;
    let mut process = LambdaProcess::spawn(binary(), &api, &[]);
    let status = process.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success());
    assert_eq!(
        api.next_calls(),
        0,
        "must not take invocations without configuration"
    );
    let output = process.output();
    assert!(
        output.contains("WXOPEN_COMPONENT_APPID"),
        "output: {output}"
    );
    assert!(output.contains("WXOPEN_TABLE"), "output: {output}");
}
