//! `wxopen serve --sandbox` under hostile clients: resident memory while 30
//! clients upload 12 MiB bodies slowly (1 MiB/s each, never sending the last
//! byte), and how long a half-sent request head keeps its connection open.
//! Target: memory under 30 slow uploads stays under ~150 MB; a half-sent head
//! is closed within the header timeout (10 s).
//!
//! Each scenario runs against a fresh process, whose RSS is sampled every
//! 50 ms for the whole window:
//!   strangers    no API key, to the media route
//!   key holders  the sandbox's API key, to the media route
//!   pushes       to the component push route
//!
//! Build the CLI first; by default the `wxopen` beside this benchmark's binary
//! is run, or name another build (an older one, to compare):
//!   cargo build --release -p wxopen-cli
//!   cargo run --release -p wxopen-bench --bin slow_clients [-- --wxopen PATH --window SECS]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENTS: usize = 30;
const BODY_BYTES: usize = 12 * 1024 * 1024;
const CHUNK_BYTES: usize = 64 * 1024;
/// 1 MiB/s per client: 16 chunks of 64 KiB a second.
const CHUNK_PERIOD: Duration = Duration::from_micros(62_500);
const TARGET_MB: f64 = 150.0;
/// How long a half-sent head is watched before giving up on its closing.
const HEAD_PATIENCE: Duration = Duration::from_secs(120);

struct Args {
    wxopen: PathBuf,
    window: Duration,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args {
        wxopen: std::env::current_exe()
            .ok()
            .map(|exe| exe.with_file_name("wxopen"))
            .ok_or("cannot find this executable's directory")?,
        window: Duration::from_secs(15),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--wxopen" => parsed.wxopen = it.next().ok_or("--wxopen needs a path")?.into(),
            "--window" => {
                parsed.window = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_secs)
                    .ok_or("--window needs whole seconds")?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

/// A running `wxopen serve --sandbox` and what it printed.
struct Served {
    child: Child,
    addr: String,
    api_key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(wxopen: &PathBuf) -> Result<Served, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let store = format!("sqlite:{}", dir.path().join("wxopen.db").display());
        let mut child = Command::new(wxopen)
            .args(["serve", "--sandbox", "--listen", "127.0.0.1:0", "--store"])
            .arg(&store)
            .env_remove("WXOPEN_STORE")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", wxopen.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (mut addr, mut api_key) = (None, None);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("wxopen URL: ") {
                addr = Some(url.trim().trim_start_matches("http://").to_owned());
            }
            if let Some(key) = line.strip_prefix("API key: ") {
                api_key = Some(key.trim().to_owned());
            }
            if addr.is_some() && api_key.is_some() {
                break;
            }
        }
        match (addr, api_key) {
            (Some(addr), Some(api_key)) => Ok(Served {
                child,
                addr,
                api_key,
                _dir: dir,
            }),
            _ => Err("wxopen serve --sandbox did not print its URL and key".to_owned()),
        }
    }

    fn rss_mb(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .map_or(0.0, |kib| kib * 1024.0 / 1e6)
    }
}

/// One slow upload: the head, then the body at 1 MiB/s but for its last byte;
/// returns the status the server answered, if it answered within `window`.
async fn slow_upload(addr: String, head: String, window: Duration) -> Option<u16> {
    let stream = TcpStream::connect(&addr).await.ok()?;
    let (mut reader, mut writer) = stream.into_split();
    let write = async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b'x'; CHUNK_BYTES];
        let mut sent = 0;
        while sent + CHUNK_BYTES < BODY_BYTES {
            writer.write_all(&chunk).await?;
            sent += CHUNK_BYTES;
            tokio::time::sleep(CHUNK_PERIOD).await;
        }
        writer.write_all(&chunk[..BODY_BYTES - sent - 1]).await?;
        // Hold the connection, the last byte unsent.
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(writer)
    };
    let read = async move {
        let mut answer = [0u8; 16];
        let n = reader.read(&mut answer).await.ok()?;
        std::str::from_utf8(&answer[..n])
            .ok()?
            .split(' ')
            .nth(1)?
            .parse()
            .ok()
    };
    tokio::time::timeout(window, async {
        let mut read = std::pin::pin!(read);
        tokio::select! {
            status = &mut read => status,
            // Writing failed: the server closed, perhaps with an answer to read.
            _ = write => read.await,
        }
    })
    .await
    .ok()
    .flatten()
}

/// Peak RSS of a fresh server while 30 clients upload to `path`.
async fn scenario(args: &Args, name: &str, path: &str, with_key: bool) -> Result<f64, String> {
    let served = Served::start(&args.wxopen)?;
    let idle = served.rss_mb();
    let auth = if with_key {
        format!("authorization: Bearer {}\r\n", served.api_key)
    } else {
        String::new()
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: wxopen\r\n{auth}content-type: multipart/form-data; boundary=b\r\ncontent-length: {BODY_BYTES}\r\n\r\n"
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(slow_upload(served.addr.clone(), head.clone(), args.window)))
        .collect();
    let started = Instant::now();
    let mut peak = idle;
    while started.elapsed() < args.window {
        peak = peak.max(served.rss_mb());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut answers = std::collections::BTreeMap::new();
    for client in clients {
        let status = client.await.ok().flatten();
        let label = status.map_or("none".to_owned(), |s| s.to_string());
        *answers.entry(label).or_insert(0) += 1;
    }
    let answers: Vec<String> = answers.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    println!(
        "{name:<12} idle {idle:6.1} MB, peak {peak:6.1} MB (+{:.1}) over {:?}; answers: {}",
        peak - idle,
        args.window,
        answers.join(", ")
    );
    Ok(peak)
}

/// Seconds until the server closes a connection that sent half a request head.
async fn half_sent_head(args: &Args) -> Result<Option<Duration>, String> {
    let served = Served::start(&args.wxopen)?;
    let mut stream = TcpStream::connect(&served.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(b"POST /v1/authorization-links HTTP/1.1\r\nhost: wxopen\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(HEAD_PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    Ok(closed.ok().map(|()| started.elapsed()))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = args()?;
    println!(
        "{} slow uploads of {} MiB at 1 MiB/s each, against {}",
        CLIENTS,
        BODY_BYTES >> 20,
        args.wxopen.display()
    );
    let media = "/v1/authorizers/wx5add0a0000000001/media";
    let mut worst: f64 = 0.0;
    worst = worst.max(scenario(&args, "strangers", media, false).await?);
    worst = worst.max(scenario(&args, "key holders", media, true).await?);
    let push = "/wechat/component/events?timestamp=1&nonce=2&msg_signature=3";
    worst = worst.max(scenario(&args, "pushes", push, false).await?);
    println!(
        "worst peak {worst:.1} MB (target {TARGET_MB:.0} MB): {}",
        if worst <= TARGET_MB { "ok" } else { "OVER" }
    );
    match half_sent_head(&args).await? {
        Some(after) => println!(
            "a half-sent request head was closed after {:.1} s",
            after.as_secs_f64()
        ),
        None => println!(
            "a half-sent request head was still open after {} s",
            HEAD_PATIENCE.as_secs()
        ),
    }
    Ok(())
}
