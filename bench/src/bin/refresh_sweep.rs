//! The refresh sweep at scale: N authorizers (default 10,000) all due at once,
//! 50 ms injected latency on WeChat's api_authorizer_token, on each store.
//!
//! `cargo run --release -p wxopen-bench --bin refresh_sweep [-- sqlite|dynamo|both [AUTHORIZERS]]`
//! (DynamoDB needs `AWS_ENDPOINT_URL_DYNAMODB`, e.g. moto_server as `scripts/test` starts it.)
//!
//! Prints, per store: the sweep's wall time against the ideal (N × 50 ms /
//! the sweep's concurrency; target ≤ 60 s), store operations per renewal
//! (target ≤ 3: SQLite transactions, DynamoDB requests), and
//! whether every token was renewed exactly once (each authorizer's version
//! moved on by one, and WeChat saw one renewal per authorizer). On DynamoDB it
//! also times moto's own GetItem, which bounds that store's figure here.
//! Then the daily reconcile over the same authorizers (the same latency on
//! api_get_authorizer_info): its wall time, and every profile refreshed once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wxopen::app::App;
use wxopen::service::refresh::{self, SWEEP_CONCURRENCY};
use wxopen::store::{AuthorizationGrant, AuthorizerStore, StateStore};
use wxopen::wechat::paths;
use wxopen_sim::{AccountConfig, Fault, FaultSpec};
use wxopen_tests::{Backend, EnvOptions, SimClock, TestEnv};

const LATENCY: Duration = Duration::from_millis(50);
const TARGET_WALL: Duration = Duration::from_secs(60);
const TARGET_OPS_PER_RENEWAL: f64 = 3.0;
/// Authorizers set up at once (exchanges and grants).
const SETUP_CONCURRENCY: usize = 16;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "both".to_owned());
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dynamo_available = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok();
    let backends = match which.as_str() {
        "sqlite" => vec![Backend::Sqlite],
        "dynamo" => vec![Backend::Dynamo],
        _ if dynamo_available => vec![Backend::Sqlite, Backend::Dynamo],
        _ => {
            println!("(DynamoDB skipped: AWS_ENDPOINT_URL_DYNAMODB is not set)");
            vec![Backend::Sqlite]
        }
    };
    println!(
        "refresh_sweep: {count} authorizers due at once, {} ms per api_authorizer_token, sweep concurrency {SWEEP_CONCURRENCY}",
        LATENCY.as_millis()
    );
    for backend in backends {
        run(backend, count).await?;
    }
    Ok(())
}

fn appid(i: usize) -> String {
    format!("wx5add0b{i:010}")
}

/// The store of the environment's database, opened again so its operations can be counted.
enum Counted {
    Sqlite(wxopen::store::sqlite::SqliteStore),
    Dynamo(wxopen::store::dynamo::DynamoStore),
}

impl Counted {
    async fn open(app: &App) -> Result<Counted, Failure> {
        let cappid = &app.config.component_appid;
        Ok(match &app.config.store {
            wxopen::config::StoreSpec::Sqlite(path) => {
                Counted::Sqlite(wxopen::store::sqlite::SqliteStore::open(path, cappid)?)
            }
            wxopen::config::StoreSpec::Dynamodb(table) => {
                Counted::Dynamo(wxopen::store::dynamo::DynamoStore::from_env(table, cappid).await)
            }
        })
    }

    fn store(&self) -> Arc<dyn StateStore> {
        match self {
            Counted::Sqlite(s) => Arc::new(s.clone()),
            Counted::Dynamo(s) => Arc::new(s.clone()),
        }
    }

    /// Store operations so far: SQLite read or write transactions, DynamoDB requests.
    fn operations(&self) -> u64 {
        match self {
            Counted::Sqlite(s) => {
                let c = s.operation_counts();
                c.reads + c.writes
            }
            Counted::Dynamo(s) => s.request_counts().total(),
        }
    }

    fn unit(&self) -> &'static str {
        match self {
            Counted::Sqlite(_) => "SQLite transactions",
            Counted::Dynamo(_) => "DynamoDB requests",
        }
    }
}

async fn run(backend: Backend, count: usize) -> Result<(), Failure> {
    let mut opts = EnvOptions::new(backend);
    opts.sim.push_attempts = 1;
    opts.sim.max_call_records = 4 * count + 1000;
    let template = opts.sim.accounts.first().cloned().unwrap_or_default();
    opts.sim.accounts = (0..count)
        .map(|i| AccountConfig {
            appid: appid(i),
            user_name: format!("gh_bench{i:010}"),
            nick_name: format!("Bench {i}"),
            ..template.clone()
        })
        .collect();
    opts.wechat_timeout = Duration::from_secs(10);
    let env = TestEnv::start_with(opts).await;
    env.deliver_ticket().await;
    // The authorizations are set up directly (their pushes would go nowhere).
    env.sim.set_push_urls(
        "http://127.0.0.1:9/".into(),
        "http://127.0.0.1:9/$APPID$".into(),
    );

    let counted = Counted::open(&env.app).await?;
    let wechat = wxopen::wechat::WechatConfig {
        base_url: env.sim.base_url(),
        timeout: Duration::from_secs(10),
        ..wxopen::wechat::WechatConfig::default()
    };
    let app = App::build(
        (*env.app.config).clone(),
        counted.store(),
        Arc::new(SimClock(env.sim.clone())),
        Some(wechat),
    )?;
    let setup = Instant::now();
    set_up(&env, &app, count).await?;
    let before = versions(&app, count).await?;
    println!(
        "\n== {backend:?} == ({count} authorizers set up in {:.1} s)",
        setup.elapsed().as_secs_f64()
    );
    if let Counted::Dynamo(store) = &counted {
        moto_get_item(store).await?;
    }

    env.sim.set_fault(
        paths::AUTHORIZER_TOKEN,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Latency(LATENCY),
        },
    );
    let calls_before = env.sim.calls_to(paths::AUTHORIZER_TOKEN).len();
    let ops_before = counted.operations();
    let started = Instant::now();
    let report = refresh::run(&app).await?;
    let wall = started.elapsed();
    let ops = counted.operations() - ops_before;
    env.sim.clear_faults();

    let after = versions(&app, count).await?;
    let moved_once = before
        .iter()
        .filter(|(appid, v)| after.get(*appid) == Some(&(**v + 1)))
        .count();
    let mut wechat_calls: HashMap<String, usize> = HashMap::new();
    for call in &env.sim.calls_to(paths::AUTHORIZER_TOKEN)[calls_before..] {
        if let Some(appid) = call.params["authorizer_appid"].as_str() {
            *wechat_calls.entry(appid.to_owned()).or_default() += 1;
        }
    }
    let once = wechat_calls.values().filter(|n| **n == 1).count();
    let renewed = report.renewed.len().max(1) as f64;
    let ideal = LATENCY.as_secs_f64() * count as f64 / SWEEP_CONCURRENCY as f64;
    println!(
        "sweep: renewed {}, still valid {}, failed {}, needs re-auth {}",
        report.renewed.len(),
        report.still_valid.len(),
        report.failed.len(),
        report.needs_reauth.len()
    );
    println!(
        "wall time      {:>8.2} s   ideal {ideal:.2} s (WeChat latency / concurrency)   (target ≤ {} s) {}",
        wall.as_secs_f64(),
        TARGET_WALL.as_secs(),
        verdict(wall <= TARGET_WALL)
    );
    let per_renewal = ops as f64 / renewed;
    println!(
        "store ops      {per_renewal:>8.3} per renewal ({ops} {}) (target ≤ {TARGET_OPS_PER_RENEWAL}) {}",
        counted.unit(),
        verdict(per_renewal <= TARGET_OPS_PER_RENEWAL)
    );
    println!(
        "renewed once   {moved_once} of {count} versions moved on by exactly one; WeChat renewed {once} of {count} exactly once ({} calls) {}",
        wechat_calls.values().sum::<usize>(),
        verdict(moved_once == count && once == count && wechat_calls.len() == count)
    );
    reconcile(&env, &app, &counted, count).await
}

/// The daily reconcile over the same authorizers, with the same latency on
/// api_get_authorizer_info: every profile fetched and stored once.
async fn reconcile(
    env: &TestEnv,
    app: &App,
    counted: &Counted,
    count: usize,
) -> Result<(), Failure> {
    env.sim.set_fault(
        paths::AUTHORIZER_INFO,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Latency(LATENCY),
        },
    );
    let ops_before = counted.operations();
    let started = Instant::now();
    let report = refresh::reconcile(app).await?;
    let wall = started.elapsed();
    let ops = counted.operations() - ops_before;
    env.sim.clear_faults();
    let ideal = LATENCY.as_secs_f64() * count as f64 / SWEEP_CONCURRENCY as f64;
    println!(
        "reconcile      {:>8.2} s   profiles refreshed {} of {count}, failed {}; profile fetches alone ideally {ideal:.2} s; {:.3} {} per authorizer {}",
        wall.as_secs_f64(),
        report.profiles_refreshed,
        report.profiles_failed.len(),
        ops as f64 / count.max(1) as f64,
        counted.unit(),
        verdict(report.profiles_refreshed == count as u64 && report.profiles_failed.is_empty())
    );
    Ok(())
}

/// Each account authorized at WeChat and stored with a token due now.
async fn set_up(env: &TestEnv, app: &App, count: usize) -> Result<(), Failure> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let cappid = app.config.component_appid.clone();
    let component = app.tokens.component_token().await?;
    let now = env.sim.now();
    stream::iter(0..count)
        .map(|i| {
            let (cappid, component) = (cappid.clone(), component.clone());
            async move {
                let code = env.sim.authorize(&appid(i), &[1, 2, 3]).await?;
                let info = app
                    .wechat
                    .query_auth(&component, &cappid, &wxopen::secret::Secret::new(code.code))
                    .await?;
                app.store
                    .put_grant(&AuthorizationGrant {
                        appid: info.authorizer_appid,
                        tenant: Some("bench".into()),
                        auth_code_hash: format!("bench-{i}"),
                        access_token: info.authorizer_access_token,
                        // Due now: well inside the sweep's margin.
                        expires_at: now + 60,
                        refresh_token: info.authorizer_refresh_token,
                        func_info: info.func_info,
                        now,
                    })
                    .await?;
                Ok::<_, Failure>(())
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn versions(app: &App, count: usize) -> Result<HashMap<String, u64>, Failure> {
    let mut found = HashMap::with_capacity(count);
    for i in 0..count {
        let appid = appid(i);
        if let Some(a) = app.store.get_authorizer(&appid).await? {
            found.insert(appid, a.token.version);
        }
    }
    Ok(found)
}

/// moto's own time for a GetItem (median of 200): what bounds the DynamoDB figures here.
async fn moto_get_item(store: &wxopen::store::dynamo::DynamoStore) -> Result<(), Failure> {
    let mut times = Vec::with_capacity(200);
    for i in 0..200 {
        let started = Instant::now();
        store.get_authorizer(&appid(i)).await?;
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "moto GetItem  median {:.2} ms (p90 {:.2} ms): DynamoDB itself answers in single-digit ms",
        times[100].as_secs_f64() * 1e3,
        times[180].as_secs_f64() * 1e3
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "OK"
    } else {
        "MISSED"
    }
}
