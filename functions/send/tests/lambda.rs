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

#[tokio::test]
async fn a_body_over_its_routes_limit_is_413_before_the_key_is_looked_at() {
    // Given the function behind API Gateway, which hands it bodies already read
    let fut = FunctionUnderTest::start(binary()).await;
    // When a JSON body one byte over 2 MiB comes without a key
    let json_route = "/v1/authorizers/wx1/custom-messages";
    let oversized = " ".repeat(wxopen::http::limits::JSON_BODY_BYTES + 1);
    let (status, _, body) = fut
        .request(
            "POST",
            json_route,
            &[("content-type", "application/json")],
            &oversized,
        )
        .await;
    // Then it is refused for its size
    assert_eq!(status, 413, "{body}");
    // and so is any body on a route that reads none
    let (status, _, body) = fut.request("GET", "/healthz", &[], "{}").await;
    assert_eq!(status, 413, "{body}");
}
