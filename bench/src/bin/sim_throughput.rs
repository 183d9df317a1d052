//! How many template sends per second the simulator answers (target: 20,000/s on 2 cores).
//!
//! `cargo run --release -p wxopen-bench --bin sim_throughput [-- SENDS [CONCURRENCY]]`
//! Starts the simulator in-process (finish pushes off), gets an authorizer token through the
//! real endpoints (ticket push → component token → authorization → api_query_auth), then
//! fires template sends over a pool of keep-alive connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use wxopen::crypto::MsgCrypt;
use wxopen_sim::{sandbox, sandbox_openid, SimConfig, Simulator};

const TARGET_PER_SEC: f64 = 20_000.0;
const APPID: &str = "wx5add0a0000000001";
const TEMPLATE: &str = "SimTpl01OrderShipped";

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let sends: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);

    let mut cfg = SimConfig::sandbox();
    cfg.finish_pushes = false;
    cfg.limits.template_sends_per_day = u64::MAX;
    cfg.max_call_records = sends + 1000;
    let sim = Simulator::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let (ticket_tx, mut ticket_rx) = watch::channel(String::new());
    let receiver = start_ticket_receiver(ticket_tx).await?;
    sim.set_push_urls(
        format!("{receiver}/component"),
        format!("{receiver}/a/$APPID$"),
    );

    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let base = sim.base_url();
    sim.push_ticket().await;
    let ticket = ticket_rx.wait_for(|t| !t.is_empty()).await?.clone();
    let c = post(
        &http,
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
        &http,
        &format!("{base}/cgi-bin/component/api_query_auth?component_access_token={ctoken}"),
        json!({"component_appid": sandbox::COMPONENT_APPID, "authorization_code": code.code}),
    )
    .await?;
    let token = auth["authorization_info"]["authorizer_access_token"]
        .as_str()
        .ok_or("no authorizer token")?
        .to_owned();

    let url = Arc::new(format!(
        "{base}/cgi-bin/message/template/send?access_token={token}"
    ));
    let openids: Arc<Vec<String>> = Arc::new((1..=5).map(|i| sandbox_openid(1, i)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, openids, next, failures) =
                (http.clone(), url.clone(), openids.clone(), next.clone(), failures.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= sends {
                        return;
                    }
                    let body = json!({
                        "touser": openids[i % openids.len()],
                        "template_id": TEMPLATE,
                        "client_msg_id": format!("bench-{i}"),
                        "data": {"first": {"value": "Your order shipped"}, "keyword1": {"value": i.to_string()}},
                    });
                    let ok = match post(&http, &url, body).await {
                        Ok(v) => v["errcode"].as_i64() == Some(0),
                        Err(_) => false,
                    };
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = sends as f64 / elapsed;
    println!("template sends:     {sends} at concurrency {concurrency}");
    println!("failures:           {}", failures.load(Ordering::Relaxed));
    println!("recorded by sim:    {}", sim.template_sends(APPID).len());
    println!("elapsed:            {elapsed:.2} s");
    println!("throughput:         {rate:.0} sends/s");
    println!("ratio to 20,000/s:  {:.2}", rate / TARGET_PER_SEC);
    sim.shutdown().await;
    Ok(())
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Result<Value, Failure> {
    Ok(http.post(url).json(&body).send().await?.json().await?)
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
