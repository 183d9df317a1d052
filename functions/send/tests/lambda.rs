//! The `send` binary run as a Lambda (tests/src/lambda_runtime.rs): fed
//! API Gateway v2 events through the Runtime API, its secrets read through the
//! Parameters and Secrets extension endpoint, state in a real SQLite store.

use std::path::Path;
use wxopen::http::Function;
use wxopen_tests::lambda_runtime::{assert_serves_exactly, FunctionUnderTest};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_send"))
}

#[tokio::test]
async fn serves_exactly_the_send_routes_of_the_route_table() {
    let fut = FunctionUnderTest::start(binary()).await;
    assert_serves_exactly(&fut, Function::Send).await;
    fut.report_figures();
}

#[tokio::test]
async fn health_answers_ok_and_the_client_api_wants_a_key() {
    let fut = FunctionUnderTest::start(binary()).await;
    let (status, headers, body) = fut.request("GET", "/healthz", &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert!(headers
        .get("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let (status, _, body) = fut.request("GET", "/v1/authorizers", &[], "").await;
    assert_eq!(status, 401, "{body}");
}
