//! How many template sends per second the simulator answers (target: 20,000/s on 2 cores).
//!
//! `cargo run --release -p wxopen-bench --bin sim_throughput [-- SENDS [CONNECTIONS [raw|reqwest]]]`
//!
//! The simulator runs in this process on its own tokio runtime (threads `sim-rt`, finish
//! pushes off); the client runs on another (threads `bench-client`). After getting an
//! authorizer token through the real endpoints (ticket push → component token →
//! authorization → api_query_auth) it fires template sends over keep-alive connections,
//! each with a fresh client_msg_id, and reads every thread's CPU time from
//! `/proc/self/task/*/schedstat` before and after. It prints two figures:
//! - end-to-end sends/s: this client and the simulator sharing the machine's cores;
//! - simulator capacity: cores ÷ the simulator threads' CPU time per send, i.e. what the
//!   simulator could answer if a client cost nothing.
//!
//! The `raw` client (default) writes pre-serialised HTTP/1.1 requests on tokio TcpStreams;
//! `reqwest` uses the HTTP client our code uses, serialising each body with serde_json.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use wxopen::crypto::MsgCrypt;
use wxopen_sim::{sandbox, sandbox_openid, SimConfig, SimHandle, Simulator};

const TARGET_PER_SEC: f64 = 20_000.0;
const APPID: &str = "wx5add0a0000000001";
const TEMPLATE: &str = "SimTpl01OrderShipped";
const SIM_THREADS: &str = "sim-rt";
const CLIENT_THREADS: &str = "bench-client";

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, PartialEq)]
enum ClientKind {
    Raw,
    Reqwest,
}

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let sends: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let connections: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(64)
        .max(1);
    let kind = match args.next().as_deref() {
        None | Some("raw") => ClientKind::Raw,
        Some("reqwest") => ClientKind::Reqwest,
        Some(other) => return Err(format!("unknown client {other:?}: raw or reqwest").into()),
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let sim_rt = runtime(SIM_THREADS, cores)?;
    let client_rt = runtime(CLIENT_THREADS, cores)?;

    let mut cfg = SimConfig::sandbox();
    cfg.finish_pushes = false;
    cfg.limits.template_sends_per_day = u64::MAX;
    cfg.max_call_records = sends + 1000;
    let sim = sim_rt.block_on(Simulator::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))))?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(connections)
        .build()?;
    let token = client_rt.block_on(authorizer_token(&sim, &http))?;
    let base = sim.base_url();
    let path = format!("/cgi-bin/message/template/send?access_token={token}");
    let bodies: Vec<Vec<u8>> = (0..sends).map(send_body).collect::<Result<_, _>>()?;

    let addr: SocketAddr = base.trim_start_matches("http://").parse()?;
    let host = addr.to_string();
    let requests: Vec<Vec<u8>> = match kind {
        ClientKind::Raw => bodies
            .iter()
            .map(|b| raw_request(&path, &host, b))
            .collect(),
        ClientKind::Reqwest => Vec::new(),
    };

    let before = thread_cpu()?;
    let started = Instant::now();
    let (ok, failed) = match kind {
        ClientKind::Raw => client_rt.block_on(run_raw(addr, Arc::new(requests), connections))?,
        ClientKind::Reqwest => client_rt.block_on(run_reqwest(
            http,
            Arc::new(format!("{base}{path}")),
            Arc::new(bodies),
            connections,
        ))?,
    };
    let elapsed = started.elapsed().as_secs_f64();
    let after = thread_cpu()?;
    let cpu = CpuSplit::between(&before, &after);

    let rate = sends as f64 / elapsed;
    let per_send = |secs: f64| secs / sends as f64 * 1e6;
    let sim_us = per_send(cpu.sim);
    let capacity = cores as f64 * 1e6 / sim_us;
    let client_name = match kind {
        ClientKind::Raw => "raw HTTP/1.1 over tokio TcpStream, pre-serialised",
        ClientKind::Reqwest => "reqwest, body serialised per send",
    };
    println!("template sends:            {sends} over {connections} keep-alive connections");
    println!("client:                    {client_name}");
    println!("answered errcode 0:        {ok}");
    println!("failures:                  {failed}");
    println!(
        "recorded by sim:           {}",
        sim.template_sends(APPID).len()
    );
    println!("elapsed:                   {elapsed:.2} s");
    println!("end-to-end throughput:     {rate:.0} sends/s (client and sim share {cores} cores)");
    println!("sim CPU per send:          {sim_us:.1} µs ({SIM_THREADS} threads)");
    println!(
        "client CPU per send:       {:.1} µs ({CLIENT_THREADS} threads)",
        per_send(cpu.client)
    );
    println!(
        "other CPU per send:        {:.1} µs (main thread and the rest)",
        per_send(cpu.other)
    );
    println!(
        "simulator capacity:        {capacity:.0} sends/s (= {cores} cores / sim CPU per send)"
    );
    println!(
        "ratio to 20,000/s:         end-to-end {:.2}, simulator capacity {:.2}",
        rate / TARGET_PER_SEC,
        capacity / TARGET_PER_SEC
    );
    sim_rt.block_on(sim.shutdown());
    Ok(())
}

fn runtime(name: &str, workers: usize) -> Result<Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// An authorizer access token, obtained the way our server gets one.
async fn authorizer_token(sim: &SimHandle, http: &reqwest::Client) -> Result<String, Failure> {
    let (ticket_tx, mut ticket_rx) = watch::channel(String::new());
    let receiver = start_ticket_receiver(ticket_tx).await?;
    sim.set_push_urls(
        format!("{receiver}/component"),
        format!("{receiver}/a/$APPID$"),
    );
    let base = sim.base_url();
    sim.push_ticket().await;
    let ticket = ticket_rx.wait_for(|t| !t.is_empty()).await?.clone();
    let c = post(
        http,
        &format!("{base}/cgi-bin/component/api_component_token"),
        json!({
            "component_appid": sandbox::COMPONENT_APPID,
            "component_appsecret": sandbox::COMPONENT_SECRET,
            "component_verify_ticket": ticket,
        }),
    )
    .await?;
    let ctoken = c["component_access_token"]
        .as_str()
        .ok_or("no component token")?
        .to_owned();
    let code = sim.authorize(APPID, &[1, 2]).await?;
    let auth = post(
        http,
        &format!("{base}/cgi-bin/component/api_query_auth?component_access_token={ctoken}"),
        json!({"component_appid": sandbox::COMPONENT_APPID, "authorization_code": code.code}),
    )
    .await?;
    Ok(auth["authorization_info"]["authorizer_access_token"]
        .as_str()
        .ok_or("no authorizer token")?
        .to_owned())
}

/// The JSON body of send `i`: one of five followers, a fresh client_msg_id.
fn send_body(i: usize) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&json!({
        "touser": sandbox_openid(1, (i % 5) as u32 + 1),
        "template_id": TEMPLATE,
        "client_msg_id": format!("bench-{i}"),
        "data": {"first": {"value": "Your order shipped"}, "keyword1": {"value": i.to_string()}},
    }))
}

fn raw_request(path: &str, host: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// Send every request over `connections` keep-alive connections; (errcode 0, other) counts.
async fn run_raw(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
) -> Result<(usize, usize), Failure> {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(raw_connection(addr, requests.clone(), next.clone())))
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for w in workers {
        let (o, f) = w.await??;
        ok += o;
        failed += f;
    }
    Ok((ok, failed))
}

async fn raw_connection(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
) -> Result<(usize, usize), Failure> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(8192);
    let (mut ok, mut failed) = (0, 0);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(request) = requests.get(i) else {
            return Ok((ok, failed));
        };
        stream.write_all(request).await?;
        let (status_ok, body) = read_response(&mut stream, &mut buf).await?;
        if status_ok && body_is_success(&buf[body.clone()]) {
            ok += 1;
        } else {
            failed += 1;
        }
        buf.drain(..body.end);
    }
}

/// Read one response into `buf`: (status 200, the body's byte range in `buf`).
async fn read_response(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<(bool, std::ops::Range<usize>), Failure> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..head_end])?;
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .ok_or("response without content-length")?;
            let start = head_end + 4;
            if buf.len() >= start + length {
                return Ok((head.starts_with("HTTP/1.1 200"), start..start + length));
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed mid-response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn body_is_success(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v["errcode"].as_i64() == Some(0))
}

async fn run_reqwest(
    http: reqwest::Client,
    url: Arc<String>,
    bodies: Arc<Vec<Vec<u8>>>,
    connections: usize,
) -> Result<(usize, usize), Failure> {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (http, url, bodies, next) =
                (http.clone(), url.clone(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0usize, 0usize);
                while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                    // Like our client: a JSON value serialised per request.
                    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                    match post(&http, &url, value).await {
                        Ok(v) if v["errcode"].as_i64() == Some(0) => ok += 1,
                        _ => failed += 1,
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for w in workers {
        let (o, f) = w.await?;
        ok += o;
        failed += f;
    }
    Ok((ok, failed))
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Result<Value, Failure> {
    Ok(http.post(url).json(&body).send().await?.json().await?)
}

/// CPU seconds spent in the simulator's threads, the client's, and the rest.
struct CpuSplit {
    sim: f64,
    client: f64,
    other: f64,
}

impl CpuSplit {
    fn between(before: &HashMap<u64, (String, u64)>, after: &HashMap<u64, (String, u64)>) -> Self {
        let mut split = CpuSplit {
            sim: 0.0,
            client: 0.0,
            other: 0.0,
        };
        for (tid, (name, ns)) in after {
            let spent = ns - before.get(tid).map_or(0, |(_, b)| (*b).min(*ns));
            let secs = spent as f64 / 1e9;
            if name.starts_with(SIM_THREADS) {
                split.sim += secs;
            } else if name.starts_with(&CLIENT_THREADS[..CLIENT_THREADS.len().min(15)]) {
                split.client += secs;
            } else {
                split.other += secs;
            }
        }
        split
    }
}

/// Every thread of this process: tid → (name, CPU nanoseconds so far).
fn thread_cpu() -> Result<HashMap<u64, (String, u64)>, Failure> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        let dir = entry?.path();
        let Some(tid) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse().ok())
        else {
            continue;
        };
        // A thread may end between listing and reading.
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("schedstat")),
        ) else {
            continue;
        };
        let ns = stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or("unreadable schedstat")?;
        out.insert(tid, (comm.trim().to_owned(), ns));
    }
    Ok(out)
}

/// A minimal HTTP/1.1 endpoint that answers `success` to every push and reports tickets.
async fn start_ticket_receiver(tx: watch::Sender<String>) -> Result<String, Failure> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let crypt = Arc::new(MsgCrypt::new(
        sandbox::MESSAGE_TOKEN,
        sandbox::ENCODING_AES_KEY,
        None,
        sandbox::COMPONENT_APPID,
    )?);
    let tx = Arc::new(tx);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (crypt, tx) = (crypt.clone(), tx.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if let Some(ticket) =
                        complete_request(&text).and_then(|(q, b)| open_ticket(&crypt, &q, &b))
                    {
                        tx.send_replace(ticket);
                    }
                    if complete_request(&text).is_some() {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nsuccess")
                            .await;
                        return;
                    }
                }
            });
        }
    });
    Ok(url)
}

/// (query, body) once the whole request has arrived.
fn complete_request(text: &str) -> Option<(String, String)> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if body.len() < length {
        return None;
    }
    let target = head.lines().next()?.split(' ').nth(1)?;
    let query = target
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default();
    Some((query, body.to_owned()))
}

fn open_ticket(crypt: &MsgCrypt, query: &str, body: &str) -> Option<String> {
    let params: std::collections::HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let encrypt = between(body, "<Encrypt><![CDATA[", "]]></Encrypt>")?;
    let opened = crypt
        .open(
            params.get("msg_signature")?,
            params.get("timestamp")?,
            params.get("nonce")?,
            encrypt,
        )
        .ok()?;
    between(&opened.message, "<ComponentVerifyTicket><![CDATA[", "]]>").map(str::to_owned)
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}
