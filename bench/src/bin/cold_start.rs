//! Cold start of each Lambda binary under the loopback Runtime API
//! (tests/src/lambda_runtime.rs): time from process spawn to its first `next`
//! call (init: config, secrets through the extension endpoint, store, app),
//! peak RSS after one representative invocation, and the binary's size.
//! Targets: init ≤ 30 ms, RSS ≤ 32 MiB, stripped binary ≤ 12 MiB.
//!
//! The functions are built as AWS runs them: DynamoDB only (no SQLite linked), so
//! this needs a DynamoDB endpoint: start moto_server as `scripts/test` does and
//! export `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_REGION` and test credentials.
//!
//! Build the release binaries first, then run:
//!   cargo build --release -p wxopen-fn-callback -p wxopen-fn-authorize -p wxopen-fn-send \
//!       -p wxopen-fn-refresh -p wxopen-fn-send-worker
//!   cargo run --release -p wxopen-bench --bin cold_start [-- --bin-dir target/release --runs 10]

use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wxopen_tests::lambda_runtime::{
    function_env, http_event, scheduler_event, LambdaProcess, RuntimeApi,
};

const BINARIES: [&str; 5] = ["callback", "authorize", "send", "refresh", "send-worker"];
const TARGET_INIT_MS: f64 = 30.0;
const TARGET_RSS_KIB: u64 = 32 * 1024;
const TARGET_SIZE_BYTES: u64 = 12 * 1024 * 1024;

struct Args {
    bin_dir: PathBuf,
    runs: usize,
}

fn args() -> Result<Args, String> {
    let default_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
        .ok_or("cannot find this executable's directory")?;
    let mut parsed = Args {
        bin_dir: default_dir,
        runs: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bin-dir" => parsed.bin_dir = it.next().ok_or("--bin-dir needs a value")?.into(),
            "--runs" => {
                parsed.runs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--runs needs a positive number")?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

/// A representative first invocation for each function.
fn first_event(binary: &str) -> serde_json::Value {
    match binary {
        "callback" => http_event(
            "GET",
            "/wechat/component/events",
            "signature=x&timestamp=1&nonce=n&echostr=e",
            &[],
            "",
        ),
        "authorize" => http_event(
            "GET",
            "/authorize/unknown-link",
            "",
            &[("user-agent", "Mozilla/5.0")],
            "",
        ),
        "send" => http_event("GET", "/healthz", "", &[], ""),
        "refresh" => scheduler_event("refresh"),
        _ => json!({"Records": []}),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cold_start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let sim = match wxopen_sim::Simulator::start(
        wxopen_sim::SimConfig::sandbox(),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cold_start: simulator: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // A fresh table per run, so a previous run's table on the same server is no obstacle.
    let table = &format!("wxopen-cold-start-{}", std::process::id());
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
        eprintln!("cold_start: set AWS_ENDPOINT_URL_DYNAMODB (e.g. moto_server, see scripts/test): the functions store state in DynamoDB");
        return std::process::ExitCode::FAILURE;
    }
    let store =
        wxopen::store::dynamo::DynamoStore::from_env(table, &sim.config().component.appid).await;
    if let Err(e) = wxopen::store::dynamo::create_table(store.client(), table).await {
        eprintln!("cold_start: creating table {table}: {e}");
        return std::process::ExitCode::FAILURE;
    }
    println!(
        "cold start under the loopback Runtime API, {} runs each, binaries from {}",
        args.runs,
        args.bin_dir.display()
    );
    println!(
        "{:<12} {:>10} {:>14} {:>12} {:>14}",
        "function", "size MiB", "init median ms", "init max ms", "peak RSS MiB"
    );
    let mut all_met = true;
    for name in BINARIES {
        let binary = args.bin_dir.join(name);
        let Ok(meta) = std::fs::metadata(&binary) else {
            eprintln!("cold_start: {} is missing: build the release binaries first (see the top of this file)", binary.display());
            return std::process::ExitCode::FAILURE;
        };
        let mut inits = Vec::new();
        let mut rss_max = 0u64;
        for _ in 0..args.runs {
            let api = Arc::new(RuntimeApi::start().await);
            let env = function_env(
                &api,
                &sim,
                &format!("dynamodb:{table}"),
                "https://wx.example.com",
            );
            let mut process = LambdaProcess::spawn(&binary, &api, &env);
            let init = api.wait_ready(&mut process, Duration::from_secs(10)).await;
            let _ = api.invoke(first_event(name), Duration::from_secs(20)).await;
            inits.push(init.as_secs_f64() * 1000.0);
            rss_max = rss_max.max(process.peak_rss_kib().unwrap_or(0));
        }
        let init_max = inits.iter().copied().fold(0.0, f64::max);
        let init_median = median(&mut inits);
        let size = meta.len();
        println!(
            "{:<12} {:>10.2} {:>14.1} {:>12.1} {:>14.1}",
            name,
            size as f64 / (1024.0 * 1024.0),
            init_median,
            init_max,
            rss_max as f64 / 1024.0
        );
        all_met &=
            init_median <= TARGET_INIT_MS && rss_max <= TARGET_RSS_KIB && size <= TARGET_SIZE_BYTES;
    }
    println!(
        "targets (init ≤ {TARGET_INIT_MS} ms median, RSS ≤ {} MiB, size ≤ {} MiB): {}",
        TARGET_RSS_KIB / 1024,
        TARGET_SIZE_BYTES / (1024 * 1024),
        if all_met { "met" } else { "NOT met" }
    );
    sim.shutdown().await;
    std::process::ExitCode::SUCCESS
}
