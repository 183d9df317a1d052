//! Lambda `authorize`: the merchant authorization page and its callback.
//! The app is built once per cold start; each request goes through the same
//! `wxopen::http::handle` that `wxopen serve` uses, limited to this function's routes.

use bytes::Bytes;
use lambda_http::{service_fn, Body, Error, Request};
use wxopen::http::Function;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let app = wxopen::startup::lambda_app().await?;
    let app = &app;
    lambda_http::run(service_fn(move |request: Request| async move {
        let request = request.map(|body| Bytes::copy_from_slice(body.as_ref()));
        let response = wxopen::http::handle(app, Some(Function::Authorize), request).await;
        Ok::<_, Error>(response.map(|body| Body::from(body.to_vec())))
    }))
    .await
}
