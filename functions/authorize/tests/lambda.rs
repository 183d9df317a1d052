//! The `authorize` binary run as a Lambda (tests/src/lambda_runtime.rs): fed
//! API Gateway v2 events through the Runtime API, its secrets read through the
//! Parameters and Secrets extension endpoint, state in a real SQLite store.

use std::path::Path;
use wxopen::http::Function;
use wxopen_tests::lambda_runtime::{assert_serves_exactly, FunctionUnderTest};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_authorize"))
}

#[tokio::test]
async fn serves_exactly_the_authorize_routes_of_the_route_table() {
    let fut = FunctionUnderTest::start(binary()).await;
    assert_serves_exactly(&fut, Function::Authorize).await;
    fut.report_figures();
}

#[tokio::test]
async fn an_unknown_link_is_answered_with_a_page_not_a_crash() {
    let fut = FunctionUnderTest::start(binary()).await;
    let (status, _, body) = fut
        .request(
            "GET",
            "/authorize/no-such-link",
            &[("user-agent", "Mozilla/5.0")],
            "",
        )
        .await;
    assert!((400..500).contains(&status), "{status}: {body}");
    assert!(!body.is_empty());
}
