//! How `serve`'s listener treats clients that vanish, dawdle or overreach: a
//! send outlives the client that asked for it; a body is refused before it is
//! read when its route takes less, and a stranger cannot make the server hold
//! more than 64 KiB; request heads and bodies have deadlines; connections are
//! capped; and an early answer closes its connection openly, so a keep-alive
//! client carries on. Store-independent: SQLite only.

#[allow(unused_imports)] // the shared module also exports a macro for other suites
use crate::api_common;

use api_common::*;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wxopen::http::limits;
use wxopen::local::ServeLimits;
use wxopen_sim::{Fault, FaultSpec};
use wxopen_tests::{eventually, Backend, EnvOptions, TestEnv};

const PUSH_PATH: &str = "/wechat/component/events?timestamp=1&nonce=2&msg_signature=3";

/// The API environment with a WeChat client patient enough for slow sends.
async fn api_with_slow_wechat(latency: Duration) -> Api {
    let mut opts = options(Backend::Sqlite, 0, &[]);
    opts.wechat_timeout = latency * 4;
    let api = Api::start_with(opts).await;
    api.env.sim.set_fault(
        TEMPLATE_SEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Latency(latency),
        },
    );
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_outlives_a_client_that_disconnects_and_its_key_replays_the_answer() {
    // Given WeChat answering template sends only after 1.5 s
    let api = api_with_slow_wechat(Duration::from_millis(1500)).await;
    let openid = wxopen_sim::sandbox_openid(1, 1);
    let body = template_body(std::slice::from_ref(&openid));

    // When a client with a 0.5 s timeout sends with an Idempotency-Key and gives up
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let first = impatient
        .post(api.env.at(&template_path(APPID)))
        .bearer_auth(&api.key)
        .header("idempotency-key", "order-1001-shipped")
        .json(&body)
        .send()
        .await;
    assert!(
        first.as_ref().err().is_some_and(reqwest::Error::is_timeout),
        "the client should have timed out: {first:?}"
    );

    // Then its retries meet "in progress" only while the send is under way, and
    // then the first answer, replayed
    let replay = eventually("the key to complete", Duration::from_secs(20), || async {
        let r = api
            .post(
                &template_path(APPID),
                &api.key,
                &body,
                Some("order-1001-shipped"),
            )
            .await;
        (r.code() != "idempotency_in_progress").then_some(r)
    })
    .await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(
        replay.body["results"][0]["status"], "sent",
        "{}",
        replay.body
    );
    // and WeChat got the message exactly once
    assert_eq!(api.sends_per_openid().get(&openid), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_over_its_routes_limit_is_refused_before_it_is_sent() {
    // Given wxopen with a key that may send
    let api = Api::start(Backend::Sqlite).await;
    let auth = format!("Bearer {}", api.key);
    for (path, limit, headers) in [
        (PUSH_PATH.to_owned(), limits::PUSH_BODY_BYTES, vec![]),
        (
            template_path(APPID),
            limits::TEMPLATE_BODY_BYTES,
            vec![("authorization", auth.as_str())],
        ),
        (
            format!("/v1/authorizers/{APPID}/custom-messages"),
            limits::JSON_BODY_BYTES,
            vec![("authorization", auth.as_str())],
        ),
        (
            format!("/v1/authorizers/{APPID}/media"),
            limits::MEDIA_BODY_BYTES,
            vec![("authorization", auth.as_str())],
        ),
    ] {
        // When a client announces one byte more than the route takes, and sends none of it
        let mut raw = Raw::open(&api.env).await;
        raw.send_head("POST", &path, &headers, Some(limit + 1))
            .await;
        // Then the answer is a 413 that closes the connection
        let answer = raw.answer().await;
        assert_eq!(answer.status, 413, "{path}: {}", answer.body);
        assert_eq!(answer.header("connection"), Some("close"), "{path}");
        assert!(raw.closed_by_server().await, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_refused_before_the_server_holds_more_than_64_kib_of_a_body() {
    let api = Api::start(Backend::Sqlite).await;
    let media = format!("/v1/authorizers/{APPID}/media");
    for (headers, length) in [
        (vec![], Some(5 << 20)),
        (
            vec![("authorization", "Bearer wxk_not_a_key")],
            Some(5 << 20),
        ),
        (vec![("authorization", "Bearer wxk_not_a_key")], None),
    ] {
        // When a client without a valid key announces a large upload (or a chunked one)
        let mut raw = Raw::open(&api.env).await;
        raw.send_head("POST", &media, &headers, length).await;
        // Then it is refused at once, without waiting for the body
        let answer = raw.answer().await;
        assert_eq!(answer.status, 401, "{headers:?}: {}", answer.body);
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(raw.closed_by_server().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_client_carries_on_after_a_413() {
    // Given a client that keeps connections alive between requests
    let env = TestEnv::start(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    for size in [limits::PUSH_BODY_BYTES + 1, 20 << 20] {
        // When it sends a push over the limit
        let refused = client
            .post(env.at(PUSH_PATH))
            .header("content-type", "text/xml")
            .body(vec![b'x'; size])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{size} bytes: the 413 was lost: {e}"));
        // Then it hears 413, and that the connection closes
        assert_eq!(refused.status(), 413, "{size} bytes");
        assert_eq!(refused.headers()["connection"], "close", "{size} bytes");
        // and its next request works
        let next = client.get(env.at("/healthz")).send().await;
        assert_eq!(next.map(|r| r.status()).ok(), Some(reqwest::StatusCode::OK));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_writes_a_whole_oversized_body_before_reading_hears_the_413() {
    let env = TestEnv::start(Backend::Sqlite).await;
    for size in [limits::PUSH_BODY_BYTES + 1, 20 << 20] {
        // When a client writes an oversized push in full before it reads anything
        // (as Python's http.client does)
        let mut raw = Raw::open(&env).await;
        raw.send_head("POST", PUSH_PATH, &[], Some(size)).await;
        raw.send(&vec![b'x'; size]).await;
        // Then the 413 is there to read, and the connection closes in order
        let answer = raw.answer().await;
        assert_eq!(answer.status, 413, "{size} bytes: {}", answer.body);
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(raw.closed_by_server().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_over_the_memory_budget_are_answered_503_with_retry_after() {
    // Given room for 1 MiB of large bodies
    let mut opts = options(Backend::Sqlite, 0, &[]);
    opts.serve_limits.large_body_memory = 1 << 20;
    let api = Api::start_with(opts).await;
    let auth = format!("Bearer {}", api.key);
    let media = format!("/v1/authorizers/{APPID}/media");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "multipart/form-data; boundary=b"),
        ("expect", "100-continue"),
    ];
    // and a client given the go-ahead for a 1 MiB upload (its room reserved)
    let mut first = Raw::open(&api.env).await;
    first
        .send_head("POST", &media, &headers, Some(1 << 20))
        .await;
    assert_eq!(first.answer().await.status, 100);
    // When a second client announces a 100 KiB upload
    let mut second = Raw::open(&api.env).await;
    second
        .send_head("POST", &media, &headers, Some(100 << 10))
        .await;
    // Then it is told to come back shortly
    let answer = second.answer().await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert_eq!(answer.header("connection"), Some("close"));
}

fn env_options(limits: ServeLimits) -> EnvOptions {
    let mut opts = EnvOptions::new(Backend::Sqlite);
    opts.serve_limits = limits;
    opts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_head_is_closed_after_the_header_timeout() {
    // Given a header timeout of 300 ms
    let env = TestEnv::start_with(env_options(ServeLimits {
        header_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    }))
    .await;
    // When a client sends half a request head and stops
    let mut raw = Raw::open(&env).await;
    raw.send(b"POST /wechat/component/events HTTP/1.1\r\nHost: wxopen\r\n")
        .await;
    // Then the server closes the connection
    assert!(raw.closed_by_server().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_answered_408_and_its_connection_closed() {
    // Given bodies allowed 300 ms beyond what their length earns
    let env = TestEnv::start_with(env_options(ServeLimits {
        body_grace: Duration::from_millis(300),
        body_min_rate: 1 << 30,
        ..ServeLimits::default()
    }))
    .await;
    // When a push announces 1,000 bytes and sends 10
    let mut raw = Raw::open(&env).await;
    raw.send_head("POST", PUSH_PATH, &[], Some(1000)).await;
    raw.send(b"<xml><Encr").await;
    // Then the answer is 408, and the connection closes
    let answer = raw.answer().await;
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(raw.closed_by_server().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes() {
    // Given room for two connections
    let env = TestEnv::start_with(env_options(ServeLimits {
        max_connections: 2,
        header_timeout: Duration::from_secs(30),
        ..ServeLimits::default()
    }))
    .await;
    // and two clients holding theirs with half a request head each
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut raw = Raw::open(&env).await;
        raw.send(b"GET /healthz HTTP/1.1\r\n").await;
        holders.push(raw);
    }
    // When a third client asks for the health check
    let mut third = Raw::open(&env).await;
    third.send_head("GET", "/healthz", &[], None).await;
    // Then it gets no answer while both are held
    let early = tokio::time::timeout(Duration::from_millis(500), third.answer()).await;
    assert!(
        early.is_err(),
        "answered over the cap: {:?}",
        early.map(|a| a.status)
    );
    // and its answer once one of them leaves
    drop(holders.pop());
    assert_eq!(third.answer().await.status, 200);
}

/// A raw connection, for what a well-behaved HTTP client never does.
struct Raw(TcpStream);

/// An HTTP answer as read off the wire.
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Bounds every wait on the server, so a test fails rather than hangs.
const PATIENCE: Duration = Duration::from_secs(10);

impl Raw {
    async fn open(env: &TestEnv) -> Raw {
        let addr = env.url.trim_start_matches("http://");
        Raw(TcpStream::connect(addr).await.unwrap())
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).await.unwrap();
    }

    /// A request head; `length` as Content-Length, or chunked when `None` on a POST.
    async fn send_head(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        length: Option<usize>,
    ) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: wxopen\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        match (method, length) {
            (_, Some(n)) => head.push_str(&format!("content-length: {n}\r\n")),
            ("POST", None) => head.push_str("transfer-encoding: chunked\r\n"),
            _ => {}
        }
        head.push_str("\r\n");
        self.send(head.as_bytes()).await;
    }

    /// The next answer (head and Content-Length body).
    async fn answer(&mut self) -> Answer {
        tokio::time::timeout(PATIENCE, self.read_answer())
            .await
            .unwrap_or_else(|_| panic!("no answer within {PATIENCE:?}"))
    }

    async fn read_answer(&mut self) -> Answer {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = self.0.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed without an answer");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = self.0.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed in the middle of an answer");
            body.extend_from_slice(&chunk[..n]);
        }
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Whether the server closes the connection (reading gives end-of-file or
    /// a reset) before [`PATIENCE`] runs out.
    async fn closed_by_server(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match tokio::time::timeout(PATIENCE, self.0.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }
}
