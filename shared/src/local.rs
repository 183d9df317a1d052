//! Serving the framework-free handlers over a local listener, for
//! `wxopen serve` and the end-to-end tests: the same `http::handle` the
//! Lambda binaries call, behind a listener that holds out against slow,
//! greedy and vanishing clients.
//!
//! - A body is read only up to its route's limit ([`http::limits`]); a declared
//!   length over it is refused before a byte is read, and a route that needs an
//!   API key reads no more than 64 KiB before the key checks out. Bodies over
//!   64 KiB share a memory budget (`large_body_memory`); one that does not fit
//!   is answered 503 with Retry-After.
//! - A request head must arrive within `header_timeout` (which also closes idle
//!   keep-alive connections); a body within `body_grace` plus one second per
//!   `body_min_rate` bytes; at most `max_connections` are open at once (the rest
//!   wait in the kernel's accept queue).
//! - Every answer given before the body was read through carries
//!   `Connection: close`, so a keep-alive client does not reuse a connection
//!   the server is about to close, and the rest of the body is read and
//!   dropped for a few seconds, so a client still writing it hears the answer.
//! - The handler runs as a task of its own: a client that disconnects drops its
//!   connection, never the handler, so a send it started completes and its
//!   Idempotency-Key records the answer. Shutdown waits for those tasks.

use crate::app::App;
use crate::http::error::ErrorCode;
use crate::http::{self, limits, ApiError, Function};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

/// How long the rest of a refused body is read and dropped, at most, and the
/// longest pause in its arrival that is waited out.
const LINGER: Duration = Duration::from_secs(5);
const LINGER_GAP: Duration = Duration::from_secs(1);

/// Read buffer per connection, which also bounds a request head (hyper
/// answers 431 to a longer one; its default is ~400 KiB).
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// What one listener allows its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections open at once; further clients wait to be accepted.
    pub max_connections: usize,
    /// Time for a request head to arrive, counted from the connection's
    /// opening or from the previous answer (so it is the keep-alive idle limit too).
    pub header_timeout: Duration,
    /// Time for a body to arrive, beyond what its length earns at `body_min_rate`.
    pub body_grace: Duration,
    /// The slowest upload, in bytes per second, that a body is given time for.
    pub body_min_rate: u64,
    /// Bytes of bodies over 64 KiB (uploads, large JSON) held at once, each
    /// counted at its declared length (its route's limit when chunked) until
    /// its handler is done; a body that does not fit is answered 503.
    pub large_body_memory: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_grace: Duration::from_secs(10),
            body_min_rate: 64 * 1024,
            large_body_memory: 48 * 1024 * 1024,
        }
    }
}

impl ServeLimits {
    /// How long a body of `len` bytes may take to arrive.
    pub fn body_timeout(&self, len: u64) -> Duration {
        self.body_grace + Duration::from_secs_f64(len as f64 / self.body_min_rate.max(1) as f64)
    }
}

/// Serves every route (or `only` one function's) on `listener` until
/// `shutdown` resolves; then stops accepting, lets in-flight requests finish,
/// and waits for handlers whose clients have gone.
pub async fn serve(
    listener: TcpListener,
    app: App,
    only: Option<Function>,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let dispatcher = Dispatcher::new(app, only, limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(READ_BUFFER_BYTES);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors or similar: back off instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let dispatcher = dispatcher.clone();
        let service = hyper::service::service_fn(move |req| {
            let dispatcher = dispatcher.clone();
            async move { Ok::<_, Infallible>(dispatcher.dispatch(req).await.map(Full::new)) }
        });
        let connection = connections.watch(http1.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Timeouts and clients that hang up: theirs to notice.
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    connections.shutdown().await;
    dispatcher.handlers.close();
    dispatcher.handlers.wait().await;
}

/// An axum router over the same dispatch (default limits but for the
/// connection-level ones, which belong to [`serve`]), for embedding.
pub fn router(app: App, only: Option<Function>) -> axum::Router {
    let dispatcher = Dispatcher::new(app, only, ServeLimits::default());
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let dispatcher = dispatcher.clone();
        async move {
            let (parts, body) = dispatcher.dispatch(req).await.into_parts();
            axum::response::Response::from_parts(parts, axum::body::Body::from(body))
        }
    })
}

/// Routes, reads the body within its limits, and runs the handler.
#[derive(Clone)]
struct Dispatcher {
    app: App,
    only: Option<Function>,
    limits: ServeLimits,
    handlers: TaskTracker,
    /// One permit per byte of [`ServeLimits::large_body_memory`].
    large_bodies: Arc<Semaphore>,
}

impl Dispatcher {
    fn new(app: App, only: Option<Function>, limits: ServeLimits) -> Self {
        Dispatcher {
            app,
            only,
            limits,
            handlers: TaskTracker::new(),
            large_bodies: Arc::new(Semaphore::new(
                limits.large_body_memory.min(Semaphore::MAX_PERMITS),
            )),
        }
    }

    async fn dispatch<B>(&self, req: hyper::Request<B>) -> http::Response
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, mut body) = req.into_parts();
        let route = match http::find_route(&parts.method, parts.uri.path(), self.only) {
            Ok((route, _)) => route,
            // `handle` answers 404 or 405 itself, without the body.
            Err(_) => {
                let resp = self
                    .run(http::Request::from_parts(parts, Bytes::new()), None)
                    .await;
                return unread(resp, body);
            }
        };
        let limit = limits::body_limit(route.handler);
        // Exact when the client sent Content-Length; unknown when chunked.
        let declared = body
            .size_hint()
            .upper()
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if let Some(len) = declared {
            if let Err(too_large) = limits::check_body(route.handler, len) {
                return unread(too_large.into_response(), body);
            }
        }
        let expected = declared.unwrap_or(limit);
        if limits::needs_api_key(route) && expected > limits::UNAUTHENTICATED_BODY_BYTES {
            let head = http::Request::from_parts(parts.clone(), Bytes::new());
            if let Err(refused) = http::auth::authenticate_any(&self.app, &head).await {
                return unread(refused.into_response(), body);
            }
        }
        let held = match self.reserve(expected) {
            Ok(held) => held,
            Err(busy) => return unread(busy.into_response(), body),
        };
        let deadline = self.limits.body_timeout(expected as u64);
        let read = tokio::time::timeout(deadline, Limited::new(&mut body, limit).collect()).await;
        let bytes = match read {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) if error.is::<LengthLimitError>() => {
                let too_large = limits::check_body(route.handler, usize::MAX).err();
                let too_large = too_large.unwrap_or_else(|| ApiError::payload_too_large(limit));
                return unread(too_large.into_response(), body);
            }
            // The client's stream broke off: nobody is left to read an answer.
            Ok(Err(_)) => return closing(ApiError::new(ErrorCode::UnreadableBody).into_response()),
            Err(_) => return closing(ApiError::new(ErrorCode::RequestTimeout).into_response()),
        };
        self.run(http::Request::from_parts(parts, bytes), held)
            .await
    }

    /// Room for a body of `len` bytes when it is over 64 KiB: the permit is
    /// held until its handler is done.
    fn reserve(&self, len: usize) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        if len <= limits::UNAUTHENTICATED_BODY_BYTES {
            return Ok(None);
        }
        let bytes = len.min(self.limits.large_body_memory);
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        match self.large_bodies.clone().try_acquire_many_owned(bytes) {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => Err(ApiError::new(ErrorCode::ServerBusy)),
        }
    }

    /// Runs `handle` as a task of its own, so that dropping this future (the
    /// client went away) leaves the handler running to its end.
    async fn run(&self, req: http::Request, held: Option<OwnedSemaphorePermit>) -> http::Response {
        let (app, only) = (self.app.clone(), self.only);
        let task = self.handlers.spawn(async move {
            let resp = http::handle(&app, only, req).await;
            drop(held);
            resp
        });
        task.await.unwrap_or_else(|error| {
            tracing::error!(%error, "a request handler panicked");
            ApiError::internal().into_response()
        })
    }
}

/// `resp`, given before the request body was read: it closes the connection,
/// and the rest of the body is read and dropped for up to [`LINGER`] (while it
/// keeps coming) so that a client that writes its whole body before reading
/// (Python's http.client, Java's HttpURLConnection) hears the answer instead
/// of a reset.
fn unread<B>(resp: http::Response, body: B) -> http::Response
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
{
    if body.is_end_stream() {
        return resp;
    }
    tokio::spawn(async move {
        let mut body = body;
        let _ = tokio::time::timeout(LINGER, async {
            while let Ok(Some(Ok(_))) = tokio::time::timeout(LINGER_GAP, body.frame()).await {}
        })
        .await;
    });
    closing(resp)
}

/// `resp` with `Connection: close`: the server closes this connection after it.
fn closing(mut resp: http::Response) -> http::Response {
    resp.headers_mut().insert(
        ::http::header::CONNECTION,
        ::http::HeaderValue::from_static("close"),
    );
    resp
}
