//! The HTTP/1.1 accept loop. Hand-rolled (not `axum::serve`) so a fault can close a
//! connection without any response, the way a dropped connection looks to a client.

use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::Service;

/// Put in every request's extensions: `kill()` closes its connection at once.
#[derive(Clone)]
pub(crate) struct ConnKiller(Arc<Notify>);

impl ConnKiller {
    pub(crate) fn kill(&self) {
        self.0.notify_one();
    }
}

pub(crate) async fn serve(listener: TcpListener, router: Router, shutdown: watch::Receiver<bool>) {
    let mut stop = shutdown.clone();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of descriptors or similar: back off briefly instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stop_conn = shutdown.clone();
        tokio::spawn(async move {
            let killer = ConnKiller(Arc::new(Notify::new()));
            let for_requests = killer.clone();
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(for_requests.clone());
                let mut router = router.clone();
                async move { router.call(req).await }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = killer.0.notified() => {}
                _ = stop_conn.changed() => {}
            }
        });
    }
}
