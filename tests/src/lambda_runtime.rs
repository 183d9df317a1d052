//! The Lambda Runtime API on loopback, for running the real function binaries
//! as Lambda runs them: a binary started with `AWS_LAMBDA_RUNTIME_API`
//! pointing here long-polls `next`, gets the events a test queues with
//! [`RuntimeApi::invoke`], and posts a response or an error. The same server
//! plays the AWS Parameters and Secrets Lambda Extension's localhost endpoint,
//! so a binary reads its secrets exactly as it does on AWS.
//!
//! It also measures cold start (process spawn → first `next` call) and peak RSS.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// What the function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Posted to `/invocation/{id}/response`.
    Response(Value),
    /// Posted to `/invocation/{id}/error` (`errorType`, `errorMessage`).
    Error(Value),
}

impl Outcome {
    /// The response, or a panic naming the error the function reported.
    pub fn response(self) -> Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("the function reported an invocation error: {e}"),
        }
    }
}

struct Pending {
    request_id: String,
    event: Value,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Pending>>,
    queued: Notify,
    answers: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_next: OnceLock<Instant>,
    next_calls: AtomicU64,
    init_error: Mutex<Option<Value>>,
    /// The extension's secrets: secret id → SecretString.
    secrets: Mutex<HashMap<String, String>>,
    session_token: String,
    ids: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running Runtime API (one per function process: Lambda runs one
/// invocation at a time per execution environment).
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The session token the fake extension expects in `X-Aws-Parameters-Secrets-Token`.
pub const SESSION_TOKEN: &str = "test-session-token";

impl RuntimeApi {
    /// Listens on a free loopback port.
    pub async fn start() -> RuntimeApi {
        let shared = Arc::new(Shared {
            session_token: SESSION_TOKEN.to_owned(),
            ..Shared::default()
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/secretsmanager/get", get(secret))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        RuntimeApi {
            addr,
            shared,
            server,
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Makes `secret_id` readable through the fake extension.
    pub fn put_secret(&self, secret_id: &str, secret_string: &str) {
        lock(&self.shared.secrets).insert(secret_id.to_owned(), secret_string.to_owned());
    }

    /// Queues `event` for the function and waits (bounded) for its answer.
    pub async fn invoke(&self, event: Value, deadline: Duration) -> Outcome {
        let n = self.shared.ids.fetch_add(1, Ordering::SeqCst);
        let request_id = format!("00000000-0000-4000-8000-{n:012}");
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.answers).insert(request_id.clone(), tx);
        lock(&self.shared.queue).push_back(Pending { request_id, event });
        self.shared.queued.notify_one();
        match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "no answer within {deadline:?} (next calls so far: {}, init error: {:?})",
                self.next_calls(),
                self.init_error()
            ),
        }
    }

    /// When the function first asked for an invocation (its init was done).
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.first_next.get().copied()
    }

    pub fn next_calls(&self) -> u64 {
        self.shared.next_calls.load(Ordering::SeqCst)
    }

    /// What the function posted to `/init/error`, if anything.
    pub fn init_error(&self) -> Option<Value> {
        lock(&self.shared.init_error).clone()
    }

    /// Waits (bounded) until the function asks for its first invocation.
    pub async fn wait_ready(&self, process: &mut LambdaProcess, deadline: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if let Some(at) = self.first_next() {
                return at.saturating_duration_since(process.spawned_at);
            }
            if let Some(status) = process.exited() {
                panic!(
                    "{} exited before its first `next` ({status}):\n{}",
                    process.name,
                    process.output()
                );
            }
            if start.elapsed() > deadline {
                panic!(
                    "{} did not call `next` within {deadline:?}:\n{}",
                    process.name,
                    process.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let _ = shared.first_next.set(Instant::now());
    shared.next_calls.fetch_add(1, Ordering::SeqCst);
    let pending = loop {
        let notified = shared.queued.notified();
        if let Some(p) = lock(&shared.queue).pop_front() {
            break p;
        }
        notified.await;
    };
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 60_000)
        .unwrap_or(0);
    (
        [
            ("lambda-runtime-aws-request-id", pending.request_id),
            ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:test".to_owned(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
        ],
        pending.event.to_string(),
    )
        .into_response()
}

fn answer(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match lock(&shared.answers).remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    answer(&shared, &id, Outcome::Response(parse(&body)))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    answer(&shared, &id, Outcome::Error(parse(&body)))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: String) -> StatusCode {
    *lock(&shared.init_error) = Some(parse(&body));
    StatusCode::ACCEPTED
}

async fn secret(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let token = headers
        .get("x-aws-parameters-secrets-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(shared.session_token.as_str()) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong session token").into_response();
    }
    let id = query.get("secretId").cloned().unwrap_or_default();
    match lock(&shared.secrets).get(&id) {
        Some(s) => axum::Json(json!({"ARN": id, "Name": id, "SecretString": s})).into_response(),
        None => (StatusCode::BAD_REQUEST, "ResourceNotFoundException").into_response(),
    }
}

/// A function binary running against a [`RuntimeApi`].
pub struct LambdaProcess {
    pub name: String,
    child: Child,
    pub spawned_at: Instant,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LambdaProcess {
    /// Starts `binary` as Lambda would: a clean environment with the Lambda
    /// variables, the fake extension's port and session token, plus `env`.
    pub fn spawn(binary: &FsPath, api: &RuntimeApi, env: &[(String, String)]) -> LambdaProcess {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let log = dir.path().join("output.log");
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env(
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                api.addr.port().to_string(),
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        LambdaProcess {
            name,
            child,
            spawned_at,
            log,
            _dir: dir,
        }
    }

    /// The exit status, once the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits (bounded) for the process to end.
    pub async fn wait_exit(&mut self, deadline: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if start.elapsed() > deadline {
                panic!(
                    "{} still running after {deadline:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Peak resident set size (`VmHWM`), in KiB, while the process runs.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// An API Gateway HTTP API (payload format 2.0) event.
pub fn http_event(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String((*v).to_owned())))
        .collect();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "wx.example.com",
            "domainPrefix": "wx",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test"
            },
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// The HTTP answer inside an API Gateway v2 response: status, lowercase headers, body text.
pub fn http_answer(response: &Value) -> (u16, HashMap<String, String>, String) {
    let status = response["statusCode"].as_u64().unwrap_or(0) as u16;
    let headers = response["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // lambda_http sends JSON, HTML and text bodies as text; wxopen has no binary answers.
    assert_ne!(
        response["isBase64Encoded"].as_bool(),
        Some(true),
        "unexpected binary body: {response}"
    );
    let body = response["body"].as_str().unwrap_or_default().to_owned();
    (status, headers, body)
}

/// An EventBridge Scheduler invocation with the template's `Input`.
pub fn scheduler_event(task: &str) -> Value {
    json!({ "task": task })
}

/// A DynamoDB stream record announcing a new chunk item (NEW_IMAGE, as the
/// table's stream delivers it; only the attributes the worker reads matter).
pub fn stream_record(sequence_number: &str, pk: &str, sk: &str, image: Value) -> Value {
    json!({
        "eventID": format!("event-{sequence_number}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1767225600.0,
            "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
            "NewImage": image,
            "SequenceNumber": sequence_number,
            "SizeBytes": 512,
            "StreamViewType": "NEW_IMAGE"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/wxopen/stream/2026-01-01T00:00:00.000"
    })
}

/// The Lambda environment for a sandbox simulator: component settings, the
/// simulator as WeChat, a store, and the secrets behind the fake extension.
pub fn function_env(
    api: &RuntimeApi,
    sim: &wxopen_sim::SimHandle,
    store: &str,
    public_url: &str,
) -> Vec<(String, String)> {
    let c = &sim.config().component;
    let secret_id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:wxopen-test";
    api.put_secret(
        secret_id,
        &json!({
            "component_secret": c.secret.expose(),
            "message_token": c.token.expose(),
            "encoding_aes_key": c.encoding_aes_key.expose(),
            "data_key": crate::TEST_DATA_KEY,
        })
        .to_string(),
    );
    let mut env: Vec<(String, String)> = [
        ("WXOPEN_COMPONENT_APPID", c.appid.clone()),
        ("WXOPEN_SECRETS_ARN", secret_id.to_owned()),
        ("WXOPEN_WECHAT_API_BASE", sim.base_url()),
        ("WXOPEN_PUBLIC_URL", public_url.to_owned()),
        ("WXOPEN_STORE", store.to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for name in [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ] {
        if let Ok(v) = std::env::var(name) {
            env.push((name.to_owned(), v));
        }
    }
    env
}

/// A loopback stand-in for API Gateway in front of one function: every HTTP
/// request becomes a payload-2.0 event for the function, and its answer
/// becomes the HTTP response. Lets the simulator push to a Lambda and a
/// browser-like client walk through one.
pub async fn api_gateway(api: Arc<RuntimeApi>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"))
    );
    let router = Router::new().fallback(proxy).with_state(api);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, task)
}

async fn proxy(State(api): State<Arc<RuntimeApi>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let event = http_event(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        &header_refs,
        &body,
    );
    let outcome = api.invoke(event, Duration::from_secs(20)).await;
    let Outcome::Response(answer) = outcome else {
        return (StatusCode::BAD_GATEWAY, "the function reported an error").into_response();
    };
    let (status, headers, body) = http_answer(&answer);
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        body,
    )
        .into_response();
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// One function binary running as a Lambda against a sandbox simulator and a
/// fresh SQLite store, behind a loopback API Gateway.
pub struct FunctionUnderTest {
    pub api: Arc<RuntimeApi>,
    pub process: LambdaProcess,
    pub sim: wxopen_sim::SimHandle,
    /// The API Gateway stand-in's base URL (also the function's WXOPEN_PUBLIC_URL).
    pub url: String,
    /// The function's store, opened by the test too.
    pub store: Arc<dyn wxopen::store::StateStore>,
    /// Time from spawn to the first `next`.
    pub init: Duration,
    gateway: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for FunctionUnderTest {
    fn drop(&mut self) {
        self.gateway.abort();
    }
}

impl FunctionUnderTest {
    /// Starts the simulator, the Runtime API, the gateway and the binary, and
    /// waits until the binary asks for its first invocation.
    pub async fn start(binary: &FsPath) -> FunctionUnderTest {
        let sim = wxopen_sim::Simulator::start(
            crate::test_sim_config(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
        let api = Arc::new(RuntimeApi::start().await);
        let (url, gateway) = api_gateway(api.clone()).await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let db = dir.path().join("wxopen.db");
        let appid = sim.config().component.appid.clone();
        let store: Arc<dyn wxopen::store::StateStore> = Arc::new(
            wxopen::store::sqlite::SqliteStore::open(&db, &appid)
                .unwrap_or_else(|e| panic!("sqlite: {e}"))
                // The function seals under the secret's data_key: the test reads with it.
                .with_data_keys(crate::test_data_keys()),
        );
        let env = function_env(&api, &sim, &format!("sqlite:{}", db.display()), &url);
        let mut process = LambdaProcess::spawn(binary, &api, &env);
        let init = api.wait_ready(&mut process, Duration::from_secs(10)).await;
        sim.set_push_urls(
            format!("{url}/wechat/component/events"),
            crate::authorizer_push_url(&url),
        );
        FunctionUnderTest {
            api,
            process,
            sim,
            url,
            store,
            init,
            gateway,
            _dir: dir,
        }
    }

    /// Sends one payload-2.0 request and returns (status, headers, body).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, HashMap<String, String>, String) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let outcome = self
            .api
            .invoke(
                http_event(method, path, query, headers, body),
                Duration::from_secs(10),
            )
            .await;
        http_answer(&outcome.response())
    }

    /// Prints the cold-start figures (a test output line, not an assertion).
    pub fn report_figures(&self) {
        println!(
            "{}: init {:.1} ms, peak RSS {} KiB (debug build)",
            self.process.name,
            self.init.as_secs_f64() * 1000.0,
            self.process.peak_rss_kib().unwrap_or(0)
        );
    }
}

/// The body of wxopen's 404 for a path outside a function's routes.
pub fn is_no_such_route(status: u16, body: &str) -> bool {
    status == 404 && body.contains("no such route")
}

/// A concrete path for a route pattern (`{param}` → `x1`).
pub fn sample_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| if seg.starts_with('{') { "x1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Checks that the running HTTP function serves exactly the routes the route
/// table assigns to it: each of its routes reaches a handler, every other
/// route is answered as unknown.
pub async fn assert_serves_exactly(fut: &FunctionUnderTest, function: wxopen::http::Function) {
    for route in wxopen::http::ROUTES {
        let path = sample_path(route.pattern);
        let (status, _, body) = fut.request(route.method, &path, &[], "").await;
        if route.function == function {
            assert!(
                !is_no_such_route(status, &body) && status != 405,
                "{} should serve {} {} but answered {status}: {body}",
                function.name(),
                route.method,
                route.pattern
            );
        } else {
            assert!(
                is_no_such_route(status, &body),
                "{} should not serve {} {} but answered {status}: {body}",
                function.name(),
                route.method,
                route.pattern
            );
        }
    }
}
