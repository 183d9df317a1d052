//! A fault-injecting HTTP proxy in front of moto's DynamoDB, for testing the
//! store and everything above it against a bad day of DynamoDB's: throttling
//! errors, 500s, added latency and reset connections at a set rate, each
//! either before the request is forwarded (nothing happened) or after it (the
//! write happened, its answer is lost) — the case that makes conditional
//! writes hard, since the SDK's retry then meets its own write's result.
//!
//! Which requests fail is decided by a seeded generator over the request
//! count, so a failing run can be replayed with the same seed.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

/// One way a request goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DynamoFault {
    /// 400 `ThrottlingException`, not forwarded.
    Throttled,
    /// 500 `InternalServerError`, not forwarded.
    ServerError,
    /// The connection reset, not forwarded.
    Reset,
    /// Forwarded after `FaultPlan::latency`; the answer is the real one.
    Slow,
    /// Forwarded; the real answer replaced by a 500.
    ServerErrorAfter,
    /// Forwarded; the connection reset instead of answering.
    ResetAfter,
}

impl DynamoFault {
    /// Every fault, in the order the generator picks them from.
    pub const ALL: [DynamoFault; 6] = [
        DynamoFault::Throttled,
        DynamoFault::ServerError,
        DynamoFault::Reset,
        DynamoFault::Slow,
        DynamoFault::ServerErrorAfter,
        DynamoFault::ResetAfter,
    ];

    /// Whether DynamoDB carried the request out before it went wrong.
    pub fn after_forwarding(self) -> bool {
        matches!(
            self,
            DynamoFault::Slow | DynamoFault::ServerErrorAfter | DynamoFault::ResetAfter
        )
    }
}

/// How often and how requests fail.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    /// Share of requests that meet a fault (0.0..=1.0), spread evenly over the kinds.
    pub rate: f64,
    pub seed: u64,
    /// Added delay of a `Slow` request.
    pub latency: Duration,
}

impl FaultPlan {
    pub fn none() -> Self {
        FaultPlan {
            rate: 0.0,
            seed: 0,
            latency: Duration::ZERO,
        }
    }
}

/// What the proxy saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub requests: u64,
    pub faults: BTreeMap<String, u64>,
}

impl FaultCounts {
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    plan: Mutex<FaultPlan>,
    /// One-shot faults for a coming request of an operation, in order.
    next: Mutex<Vec<Queued>>,
    requests: AtomicU64,
    faults: Mutex<BTreeMap<DynamoFault, u64>>,
}

/// A one-shot fault: the request of `operation` (whose body holds
/// `containing`, when given) after `pass` more of them meets `fault`.
struct Queued {
    operation: String,
    containing: Option<String>,
    pass: u32,
    fault: DynamoFault,
}

/// The name `fail_after` takes for any write: `PutItem`, `UpdateItem`,
/// `DeleteItem`, `BatchWriteItem` or `TransactWriteItems`, so that a test can
/// lose the answer of an operation's n-th write whichever request it makes.
pub const ANY_WRITE: &str = "AnyWrite";

impl Queued {
    fn matches(&self, operation: &str, body: &[u8]) -> bool {
        let holds = |needle: &String| {
            body.windows(needle.len().max(1))
                .any(|w| w == needle.as_bytes())
        };
        if !self.containing.as_ref().is_none_or(holds) {
            return false;
        }
        self.operation == operation
            || (self.operation == ANY_WRITE
                && matches!(
                    operation,
                    "PutItem"
                        | "UpdateItem"
                        | "DeleteItem"
                        | "BatchWriteItem"
                        | "TransactWriteItems"
                ))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The fault for request number `n` of `operation`, if any: a one-shot
    /// fault queued for the operation and due, else the plan's (the same plan
    /// and `n` always give the same answer).
    fn fault_for(&self, n: u64, operation: &str, body: &[u8]) -> Option<(DynamoFault, Duration)> {
        let plan = *lock(&self.plan);
        let queued = {
            let mut next = lock(&self.next);
            match next.iter().position(|q| q.matches(operation, body)) {
                Some(i) if next[i].pass > 0 => {
                    next[i].pass -= 1;
                    None
                }
                Some(i) => Some(next.remove(i).fault),
                None => None,
            }
        };
        if let Some(kind) = queued {
            *lock(&self.faults).entry(kind).or_insert(0) += 1;
            return Some((kind, plan.latency));
        }
        let draw = splitmix64(plan.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let unit = (draw >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= plan.rate {
            return None;
        }
        let kind = DynamoFault::ALL[(splitmix64(draw) % DynamoFault::ALL.len() as u64) as usize];
        *lock(&self.faults).entry(kind).or_insert(0) += 1;
        Some((kind, plan.latency))
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The running proxy; dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FaultProxy {
    /// A proxy on a free loopback port forwarding to `upstream` (moto's URL), faultless until told.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap_or_else(|e| panic!("fault proxy bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fault proxy address: {e}"));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            plan: Mutex::new(FaultPlan::none()),
            next: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            faults: Mutex::new(BTreeMap::new()),
        });
        let server = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy {
            addr,
            shared,
            server,
        }
    }

    /// The endpoint URL to give the SDK.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Faults from now on follow `plan`.
    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.shared.plan) = plan;
    }

    /// The next request of `operation` (`PutItem`, `UpdateItem`,
    /// `TransactWriteItems`…, or [`ANY_WRITE`]) meets `fault`, whatever the plan.
    pub fn fail_next(&self, operation: &str, fault: DynamoFault) {
        self.fail_after(operation, 0, fault);
    }

    /// The request of `operation` after the next `pass` ones meets `fault`
    /// (those go by as the plan has them): for the second write of an
    /// operation of the store's that makes two.
    pub fn fail_after(&self, operation: &str, pass: u32, fault: DynamoFault) {
        lock(&self.shared.next).push(Queued {
            operation: operation.to_owned(),
            containing: None,
            pass,
            fault,
        });
    }

    /// The next request of `operation` whose body holds `needle` (an
    /// update expression, say) meets `fault`: for one write of the store's
    /// among others of the same operation whose number is not known.
    pub fn fail_next_containing(&self, operation: &str, needle: &str, fault: DynamoFault) {
        lock(&self.shared.next).push(Queued {
            operation: operation.to_owned(),
            containing: Some(needle.to_owned()),
            pass: 0,
            fault,
        });
    }

    pub fn counts(&self) -> FaultCounts {
        FaultCounts {
            requests: self.shared.requests.load(Ordering::SeqCst),
            faults: lock(&self.shared.faults)
                .iter()
                .map(|(k, v)| (format!("{k:?}"), *v))
                .collect(),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Closing with SO_LINGER 0 sends a reset, not an orderly FIN.
        let _ = stream.set_zero_linger();
        let shared = shared.clone();
        let task = Arc::new(OnceLock::<AbortHandle>::new());
        let handle = task.clone();
        let (ready, is_ready) = tokio::sync::oneshot::channel::<()>();
        let connection = tokio::spawn(async move {
            if is_ready.await.is_err() {
                return;
            }
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let (shared, handle) = (shared.clone(), handle.clone());
                async move { Ok::<_, Infallible>(proxy(&shared, &handle, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        let _ = task.set(connection.abort_handle());
        let _ = ready.send(());
    }
}

/// Kills the connection this request came on: its task is aborted and, once
/// this future yields, dropped with its socket, never answering.
async fn reset(connection: &OnceLock<AbortHandle>) -> hyper::Response<Full<Bytes>> {
    if let Some(task) = connection.get() {
        task.abort();
    }
    std::future::pending().await
}

async fn proxy(
    shared: &Shared,
    connection: &OnceLock<AbortHandle>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let n = shared.requests.fetch_add(1, Ordering::SeqCst);
    // `X-Amz-Target: DynamoDB_20120810.PutItem` names the operation.
    let operation = req
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_owned();
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return error(400, "SerializationException", "unreadable request body");
    };
    let fault = shared.fault_for(n, &operation, &body);
    match fault {
        Some((DynamoFault::Throttled, _)) => {
            return error(
                400,
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            )
        }
        Some((DynamoFault::ServerError, _)) => {
            return error(500, "InternalServerError", "Internal server error")
        }
        Some((DynamoFault::Reset, _)) => return reset(connection).await,
        Some((DynamoFault::Slow, latency)) => tokio::time::sleep(latency).await,
        _ => {}
    }
    let answer = forward(shared, parts, body).await;
    match fault {
        Some((DynamoFault::ServerErrorAfter, _)) => {
            error(500, "InternalServerError", "Internal server error")
        }
        Some((DynamoFault::ResetAfter, _)) => reset(connection).await,
        _ => answer,
    }
}

async fn forward(
    shared: &Shared,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> hyper::Response<Full<Bytes>> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = shared
        .client
        .request(parts.method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(answer) = upstream.send().await else {
        return error(500, "InternalServerError", "moto is not answering");
    };
    let mut resp = hyper::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding"
        ) {
            resp = resp.header(name, value);
        }
    }
    let body = answer.bytes().await.unwrap_or_default();
    resp.body(Full::new(body))
        .unwrap_or_else(|_| error(500, "InternalServerError", "bad upstream answer"))
}

/// A DynamoDB JSON-protocol error answer.
fn error(status: u16, kind: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

/// A DynamoDB store with wxopen's client settings whose requests go to
/// `endpoint` (a [`FaultProxy`]); the table must exist already.
pub async fn store_via(
    endpoint: &str,
    table: &str,
    component_appid: &str,
) -> wxopen::store::dynamo::DynamoStore {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let config = wxopen::store::dynamo::client_config(&sdk)
        .endpoint_url(endpoint)
        .build();
    wxopen::store::dynamo::DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        table,
        component_appid,
    )
}
