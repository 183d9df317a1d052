//! A 100,000-recipient template job (a service account's daily template quota)
//! against the simulator with 50 ms injected latency per send and the default
//! concurrency of 32 per authorizer.
//!
//! `cargo run --release -p wxopen-bench --bin send_job [-- sqlite|dynamo|both [RECIPIENTS]] [--floor]`
//! (DynamoDB needs `AWS_ENDPOINT_URL_DYNAMODB`, e.g. moto_server.)
//!
//! `--floor` measures, instead of the job, the same number of sends straight
//! through the WeChat client in 32 loops (no job, store or worker): the wall
//! time that the HTTP round trip and the simulator allow, and the memory the
//! simulator itself grows by, to hold the job's against.
//!
//! Prints, per store: wall time against the ideal (recipients × 50 ms / 32;
//! target ≤ 1.10×), peak memory (target ≤ 64 MiB; the in-process simulator is
//! included, so this is an upper bound), CPU per recipient (simulator included),
//! and on DynamoDB the store writes per recipient (target ≤ 0.05). It also
//! samples the authorizer's send permits in use, to show how much of the time
//! above the ideal is permits left idle (worker) rather than sends taking
//! longer than the injected latency (HTTP, simulator, CPU contention).

use std::time::{Duration, Instant};
use wxopen::service::{send, worker};
use wxopen::store::StateStore;
use wxopen::wechat::{paths, TemplateMessage, TemplateValue};
use wxopen_sim::{Fault, FaultSpec};
use wxopen_tests::{Backend, EnvOptions, TestEnv};

const APPID: &str = "wx5add0a0000000001";
const TEMPLATE: &str = "SimTpl01OrderShipped";
const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: usize = 32;
const TARGET_RATIO: f64 = 1.10;
const TARGET_PEAK_MIB: f64 = 64.0;
const TARGET_WRITES_PER_RECIPIENT: f64 = 0.05;
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Failure> {
    let floor = std::env::args().any(|a| a == "--floor");
    let mut args = std::env::args().skip(1).filter(|a| a != "--floor");
    let which = args.next().unwrap_or_else(|| "both".to_owned());
    let recipients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dynamo_available = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok();
    let backends: Vec<Backend> = match which.as_str() {
        "sqlite" => vec![Backend::Sqlite],
        "dynamo" => vec![Backend::Dynamo],
        _ if dynamo_available => vec![Backend::Sqlite, Backend::Dynamo],
        _ => {
            println!("(DynamoDB skipped: AWS_ENDPOINT_URL_DYNAMODB is not set)");
            vec![Backend::Sqlite]
        }
    };
    println!(
        "send_job: {recipients} recipients, {} ms latency per send, concurrency {CONCURRENCY}, chunks of 200",
        LATENCY.as_millis()
    );
    for backend in backends {
        run(backend, recipients, floor).await?;
    }
    Ok(())
}

fn openids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("oBenchFollower{i:014}")).collect()
}

async fn run(backend: Backend, recipients: usize, floor: bool) -> Result<(), Failure> {
    let mut opts = EnvOptions::new(backend);
    opts.sim.finish_pushes = false;
    opts.sim.max_call_records = 1000;
    opts.sim.limits.template_sends_per_day = u64::MAX;
    opts.sim.push_timeout = Duration::from_secs(30);
    if let Some(account) = opts.sim.accounts.first_mut() {
        account.followers.extend(openids(recipients));
    }
    opts.settings = vec![("WXOPEN_SEND_CONCURRENCY".into(), CONCURRENCY.to_string())];
    opts.wechat_timeout = Duration::from_secs(10);
    let env = TestEnv::start_with(opts).await;
    env.authorized(APPID).await;
    env.store()
        .bind_tenant(APPID, "bench", env.sim.now())
        .await?;
    env.sim.set_fault(
        paths::TEMPLATE_SEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Latency(LATENCY),
        },
    );

    // On DynamoDB, a store of our own over the same table, so its requests can be counted.
    let counted = match &env.app.config.store {
        wxopen::config::StoreSpec::Dynamodb(table) => Some(
            wxopen::store::dynamo::DynamoStore::from_env(table, &env.app.config.component_appid)
                .await,
        ),
        _ => None,
    };
    let app = match &counted {
        Some(store) => wxopen::app::App {
            store: std::sync::Arc::new(store.clone()) as std::sync::Arc<dyn StateStore>,
            ..env.app.clone()
        },
        None => env.app.clone(),
    };
    // Warm the token and connection pool so the timing is the job's.
    app.tokens.authorizer_token(APPID).await?;

    let message = TemplateMessage {
        touser: String::new(),
        template_id: TEMPLATE.into(),
        url: Some("https://erp.example.com/orders/1".into()),
        miniprogram: None,
        data: [("first".to_owned(), TemplateValue::new("Your order shipped"))]
            .into_iter()
            .collect(),
        client_msg_id: None,
    };
    let sampler = InFlightSampler::start(wxopen::service::delivery::limiter(&app, APPID));
    if floor {
        return client_floor(&app, &message, recipients).await;
    }
    let rss_before = memory_kib("VmRSS");
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let job = send::enqueue_job(
        &app,
        APPID,
        "bench",
        send::TemplateSend {
            message,
            recipients: openids(recipients),
        },
        send::new_job_id(),
    )
    .await?;
    let created = started.elapsed();
    let report = worker::drain(&app, "bench-worker").await;
    let wall = started.elapsed();
    let busy = sampler.finish();
    let cpu = cpu_seconds() - cpu_before;
    let peak = memory_kib("VmHWM");
    let view = wxopen::service::jobs::job_view(&app, &job.job_id, 0, 1)
        .await?
        .ok_or("job vanished")?;
    let sent_unique = env.sim.template_sends(APPID).len();

    let ideal =
        Duration::from_secs_f64(recipients as f64 * LATENCY.as_secs_f64() / CONCURRENCY as f64);
    let ratio = wall.as_secs_f64() / ideal.as_secs_f64();
    println!("\n== {backend:?} ==");
    println!(
        "job {}: {} chunks, state {}, sent {} (simulator recorded {sent_unique}), failed {}, unknown {}, unsent {}, store errors {}",
        job.job_id, job.chunks, view.state, view.counts.sent, view.counts.failed, view.counts.unknown, view.counts.unsent, report.failed.len()
    );
    println!(
        "wall time      {:>8.2} s   ideal {:.2} s   ratio {ratio:.3} (target ≤ {TARGET_RATIO}) {}",
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        verdict(ratio <= TARGET_RATIO)
    );
    println!(
        "job created in {:.2} s (its writes, inside the wall time)",
        created.as_secs_f64()
    );
    busy.print(CONCURRENCY, wall);
    let peak_mib = peak as f64 / 1024.0;
    println!(
        "peak memory    {peak_mib:>8.1} MiB (process, simulator included; {:.1} MiB before the job) (target ≤ {TARGET_PEAK_MIB}) {}",
        rss_before as f64 / 1024.0,
        verdict(peak_mib <= TARGET_PEAK_MIB)
    );
    println!(
        "CPU            {:>8.1} µs per recipient ({cpu:.2} s user+sys, simulator included)",
        cpu * 1e6 / recipients as f64
    );
    if let Some(store) = &counted {
        let c = store.request_counts();
        let writes = c.put_item + c.update_item + c.delete_item + c.transact_items;
        let billed = c.put_item + c.update_item + c.delete_item + 2 * c.transact_items;
        let per = writes as f64 / recipients as f64;
        println!(
            "store writes   {per:>8.4} per recipient ({writes} item writes: {} updates, {} puts, {} in one transaction; {:.4} billed per recipient) (target ≤ {TARGET_WRITES_PER_RECIPIENT}) {}",
            c.update_item,
            c.put_item,
            c.transact_items,
            billed as f64 / recipients as f64,
            verdict(per <= TARGET_WRITES_PER_RECIPIENT)
        );
        println!(
            "store reads    {} get, {} query, {} batch get",
            c.get_item, c.query, c.batch_get_item
        );
    }
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "OK"
    } else {
        "MISSED"
    }
}

/// A `/proc/self/status` figure in KiB (0 where unavailable).
fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of this process (Linux clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// Samples the authorizer's permits in use every few milliseconds on a plain
/// thread, so the figures show where the wall time above the ideal goes.
struct InFlightSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Duration, usize)>>,
}

struct Busy {
    samples: Vec<(Duration, usize)>,
}

impl InFlightSampler {
    fn start(limiter: std::sync::Arc<tokio::sync::Semaphore>) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let used = CONCURRENCY.saturating_sub(limiter.available_permits());
                samples.push((started.elapsed(), used));
                std::thread::sleep(SAMPLE_EVERY);
            }
            samples
        });
        InFlightSampler { stop, thread }
    }

    fn finish(self) -> Busy {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        Busy {
            samples: self.thread.join().unwrap_or_default(),
        }
    }
}

impl Busy {
    /// Idle permit-time turned into wall time (÷ limit), split into before the
    /// first send, while sending, and after the last send.
    fn print(&self, limit: usize, wall: Duration) {
        let first = self.samples.iter().position(|&(_, u)| u > 0).unwrap_or(0);
        let last = self.samples.iter().rposition(|&(_, u)| u > 0).unwrap_or(0);
        let mut lost = [0f64; 3];
        let mut sum = 0f64;
        let mut span = 0f64;
        let mut histogram = [0f64; 4];
        for (i, pair) in self.samples.windows(2).enumerate() {
            let (t0, used) = pair[0];
            let dt = (pair[1].0 - t0).as_secs_f64();
            let phase = if i < first {
                0
            } else if i <= last {
                1
            } else {
                2
            };
            lost[phase] += (limit - used.min(limit)) as f64 * dt / limit as f64;
            sum += used as f64 * dt;
            span += dt;
            let bucket = match used {
                u if u >= limit => 0,
                u if u * 4 >= limit * 3 => 1,
                u if u * 2 >= limit => 2,
                _ => 3,
            };
            histogram[bucket] += dt;
        }
        println!(
            "permits in use mean {:.1} of {limit}; idle turned into wall time: {:.2} s before the first send, {:.2} s while sending, {:.2} s after the last (wall {:.2} s)",
            sum / span.max(1e-9),
            lost[0], lost[1], lost[2], wall.as_secs_f64()
        );
        println!(
            "time at all {limit}: {:.2} s, at >=3/4: {:.2} s, at >=1/2: {:.2} s, below 1/2: {:.2} s",
            histogram[0], histogram[1], histogram[2], histogram[3]
        );
    }
}

/// The same sends as the job, straight through the WeChat client in
/// `CONCURRENCY` loops: the floor the job's wall time is held against.
async fn client_floor(
    app: &wxopen::app::App,
    message: &TemplateMessage,
    recipients: usize,
) -> Result<(), Failure> {
    let token = app.tokens.authorizer_token(APPID).await?;
    let per_loop = recipients / CONCURRENCY;
    let started = Instant::now();
    let mut loops = tokio::task::JoinSet::new();
    for lane in 0..CONCURRENCY {
        let (app, token, message) = (app.clone(), token.clone(), message.clone());
        loops.spawn(async move {
            let mut busy = Duration::ZERO;
            for i in 0..per_loop {
                let m = TemplateMessage {
                    touser: format!("oBenchFollower{:014}", lane * per_loop + i),
                    client_msg_id: Some(format!("floor-{lane}-{i}")),
                    ..message.clone()
                };
                let call = Instant::now();
                let _ = app.wechat.send_template(&token, &m).await;
                busy += call.elapsed();
            }
            busy
        });
    }
    let mut busy = Duration::ZERO;
    while let Some(done) = loops.join_next().await {
        busy += done?;
    }
    let wall = started.elapsed();
    let sends = per_loop * CONCURRENCY;
    let ideal = sends as f64 * LATENCY.as_secs_f64() / CONCURRENCY as f64;
    println!(
        "client floor: {sends} sends in {CONCURRENCY} loops, wall {:.2} s, ideal {ideal:.2} s, ratio {:.3}, mean call {:.2} ms",
        wall.as_secs_f64(),
        wall.as_secs_f64() / ideal,
        busy.as_secs_f64() * 1e3 / sends.max(1) as f64
    );
    // The simulator keeps every send (dedupe ids, the sends it reports): the
    // job's peak less this one is what the job itself holds.
    println!(
        "client floor peak memory {:.1} MiB (process, simulator included)",
        memory_kib("VmHWM") as f64 / 1024.0
    );
    Ok(())
}
