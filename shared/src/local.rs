//! Serving the framework-free handlers over a local listener (axum), for
//! `wxopen serve` and the end-to-end tests: the same `http::handle` the
//! Lambda binaries call.

use crate::app::App;
use crate::http::{self, ApiError, Function, MAX_BODY_BYTES};
use axum::body::Body;
use axum::extract::State;
use bytes::Bytes;
use http_body_util::BodyExt;

/// An axum router sending every request to `http::handle` (all functions, or `only` one).
pub fn router(app: App, only: Option<Function>) -> axum::Router {
    axum::Router::new()
        .fallback(dispatch)
        .with_state((app, only))
}

async fn dispatch(
    State((app, only)): State<(App, Option<Function>)>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    let bytes: Bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return into_axum(ApiError::payload_too_large(MAX_BODY_BYTES).into_response()),
    };
    let req = http::Request::from_parts(parts, bytes);
    into_axum(http::handle(&app, only, req).await)
}

fn into_axum(resp: http::Response) -> axum::response::Response {
    let (parts, body) = resp.into_parts();
    axum::response::Response::from_parts(parts, Body::from(body))
}
