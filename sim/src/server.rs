//! The HTTP/1.1 accept loop. Hand-rolled (not `axum::serve`) so a fault can close a
//! connection without any response, the way a dropped connection looks to a client, and
//! so WeChat API calls go straight to the dispatcher without a trip through the router.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};
use tower::Service;

use crate::shared::Shared;

/// Handed to every API call (and put in every other request's extensions): `kill()`
/// closes its connection at once, by aborting the connection's task.
#[derive(Clone)]
pub(crate) struct ConnKiller(Arc<OnceLock<AbortHandle>>);

impl ConnKiller {
    pub(crate) fn kill(&self) {
        if let Some(task) = self.0.get() {
            task.abort();
        }
    }
}

pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    sim: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    // Dropping the set (on shutdown, or when this task is aborted) closes every connection.
    let mut connections = JoinSet::new();
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
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let (router, sim) = (router.clone(), sim.clone());
        let task = Arc::new(OnceLock::new());
        let killer = ConnKiller(task.clone());
        let (ready, is_ready) = oneshot::channel::<()>();
        let abort = connections.spawn(async move {
            // Serve only once the abort handle is in place, so `kill` always has one.
            if is_ready.await.is_err() {
                return;
            }
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                let killer = killer.clone();
                let api = crate::api::endpoint_for(req.uri().path());
                let (sim, mut router) = (sim.clone(), router.clone());
                async move {
                    match api {
                        Some(ep) => Ok::<_, Infallible>(
                            crate::api::call(&sim, ep, Some(killer), req.map(Body::new)).await,
                        ),
                        None => {
                            req.extensions_mut().insert(killer);
                            router.call(req).await
                        }
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                // One write per response: the answers are small.
                .writev(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        let _ = task.set(abort);
        let _ = ready.send(());
    }
}
