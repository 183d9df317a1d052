//! Pushes handled per second end to end on SQLite (target: 2,000/s on 2 cores),
//! and the push handler's median latency excluding the store.
//!
//! `cargo run --release -p wxopen-bench --bin pushes [-- PUSHES [CONCURRENCY]]`
//!
//! Starts the simulator and the whole wxopen app (the same `http::handle` the
//! Lambdas use, served over loopback) on a temporary SQLite store, authorizes a
//! sandbox account through the real flow, then posts PUSHES signed, encrypted
//! TEMPLATESENDJOBFINISH events (distinct MsgIDs) over CONCURRENCY keep-alive
//! connections. Each is verified, decrypted, parsed and stored before it is
//! answered. Then, in-process, it times the handler's own work on one push
//! (signature check, decryption, XML parsing, the answer) without any store call.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wxopen::app::App;
use wxopen::crypto::MsgCrypt;
use wxopen::telemetry::{self, MetricSink};
use wxopen_bench::{signed_push, sqlite_app, Failure};
use wxopen_sim::{SimConfig, Simulator};

const TARGET_PER_SEC: f64 = 2_000.0;
const APPID: &str = "wx5add0a0000000001";
const USER_NAME: &str = "gh_5add0a000001";
/// Handler timings taken for the median.
const LATENCY_SAMPLES: usize = 20_000;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let pushes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    // One EMF line per push on stdout would drown the figures; CloudWatch reads
    // them in production, here they are dropped.
    telemetry::set_metric_sink(MetricSink::Off);

    let mut cfg = SimConfig::sandbox();
    cfg.max_call_records = 10_000;
    let sim = Simulator::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let dir = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (app, _) = sqlite_app(&sim, &dir, &url, &[])?;
    let router = wxopen::local::router(app.clone(), None);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    sim.set_push_urls(
        format!("{url}/wechat/component/events"),
        format!("{url}/wechat/authorizers/$APPID$/events"),
    );
    sim.push_ticket().await;
    let auth = sim.authorize(APPID, &[1, 2, 3]).await?;
    if app.store.get_authorizer(APPID).await?.is_none() {
        return Err(format!("authorization push failed: {:?}", auth.push.last_error).into());
    }

    let c = &sim.config().component;
    let crypt = MsgCrypt::new(
        c.token.expose(),
        c.encoding_aes_key.expose(),
        None,
        &c.appid,
    )?;
    let token = c.token.expose().to_owned();
    let now = sim.now();
    let requests: Vec<(String, String)> = (0..pushes)
        .map(|i| signed_finish(&crypt, &token, now, 1_000_000 + i as u64))
        .collect();

    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let target = format!("{url}/wechat/authorizers/{APPID}/events");
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, requests, next, failures, target) = (
                http.clone(),
                requests.clone(),
                next.clone(),
                failures.clone(),
                target.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((query, body)) = requests.get(i) else {
                        break;
                    };
                    let ok = match http
                        .post(format!("{target}?{query}"))
                        .body(body.clone())
                        .send()
                        .await
                    {
                        Ok(resp) => {
                            resp.status().is_success()
                                && resp.text().await.is_ok_and(|t| t == "success")
                        }
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
    let elapsed = started.elapsed();
    let failed = failures.load(Ordering::Relaxed);
    let per_sec = pushes as f64 / elapsed.as_secs_f64();

    let stored = app
        .store
        .get_finish_events(APPID, &[1_000_000, 1_000_000 + pushes as u64 - 1], now)
        .await?
        .len();

    let median = handler_median(&crypt, &token, now, &app);

    println!(
        "pushes end to end (SQLite, {concurrency} connections): {pushes} in {:.2} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  pushes/s: {per_sec:.0} (target {TARGET_PER_SEC:.0}/s: {})",
        if per_sec >= TARGET_PER_SEC {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "  failed: {failed}; first and last event stored: {}",
        stored == 2
    );
    println!(
        "handler median latency excluding the store ({LATENCY_SAMPLES} pushes): {:.1} µs",
        median.as_secs_f64() * 1e6
    );
    sim.shutdown().await;
    if failed > 0 || stored != 2 {
        return Err("some pushes were not handled".into());
    }
    Ok(())
}

/// (query, body) of a TEMPLATESENDJOBFINISH push for `msg_id`, as WeChat sends it.
fn signed_finish(crypt: &MsgCrypt, token: &str, now: u64, msg_id: u64) -> (String, String) {
    let inner = finish_xml(now, msg_id);
    signed_push(crypt, token, USER_NAME, now, 1_000_000_000 + msg_id, &inner)
}

fn finish_xml(now: u64, msg_id: u64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{USER_NAME}]]></ToUserName><FromUserName><![CDATA[oBench{msg_id}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{msg_id}</MsgID><Status><![CDATA[success]]></Status></xml>"
    )
}

/// The median time of the handler's own work on one push: query parsing,
/// envelope XML, msg_signature, decryption, message XML, the `success` answer.
fn handler_median(crypt: &MsgCrypt, token: &str, now: u64, app: &App) -> Duration {
    let samples: Vec<(String, String)> = (0..LATENCY_SAMPLES as u64)
        .map(|i| signed_finish(crypt, token, now, 5_000_000 + i))
        .collect();
    let mut times: Vec<Duration> = samples
        .iter()
        .map(|(query, body)| {
            let started = Instant::now();
            // The query carries only hex and digits: no percent-decoding needed.
            let params: std::collections::HashMap<&str, &str> = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let get = |k: &str| params.get(k).copied().unwrap_or_default();
            let opened = app.crypto.open_envelope(
                body.as_bytes(),
                get("msg_signature"),
                get("timestamp"),
                get("nonce"),
            );
            let parsed = opened
                .ok()
                .and_then(|o| wxopen::xml::parse_authorizer_message(&o.opened.message).ok());
            let answer = bytes_of_answer(parsed.is_some());
            std::hint::black_box((parsed, answer));
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// The plain `success` answer (what the handler returns for a finish event).
fn bytes_of_answer(ok: bool) -> Vec<u8> {
    if ok {
        b"success".to_vec()
    } else {
        Vec::new()
    }
}
