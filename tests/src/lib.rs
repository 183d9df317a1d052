//! The end-to-end test environment: the WeChat simulator and the whole wxopen
//! app (every route, served by the same `wxopen::http` handlers the Lambdas
//! use, behind `wxopen serve`'s listener) on real loopback listeners, with a real store — SQLite in a temp dir or
//! DynamoDB on the moto server that `scripts/test` starts.
//!
//! One virtual clock rules both worlds: wxopen reads the simulator's clock, so
//! advancing it expires tickets, codes and tokens on both sides consistently.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wxopen::app::App;
use wxopen::clock::Clock;
use wxopen::config::{Config, StoreSpec};
use wxopen::local::ServeLimits;
use wxopen::store::StateStore;
use wxopen::wechat::{RetryPolicy, WechatConfig};
use wxopen_sim::{SimConfig, SimHandle, Simulator};

/// Which real store backs the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Dynamo,
}

/// Both backends, for tests that must hold on each.
pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Dynamo];
/// The data key every test app seals credentials under (32 bytes of 0x01).
pub const TEST_DATA_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// [`TEST_DATA_KEY`] as keys.
pub fn test_data_keys() -> wxopen::crypto::at_rest::DataKeys {
    wxopen::crypto::at_rest::DataKeys::new([1; 32], None)
}

/// wxopen's clock reading the simulator's virtual clock.
pub struct SimClock(pub SimHandle);

impl Clock for SimClock {
    fn now(&self) -> u64 {
        self.0.now()
    }
}

/// A running simulator + wxopen.
pub struct TestEnv {
    pub sim: SimHandle,
    pub app: App,
    /// wxopen's base URL, e.g. `http://127.0.0.1:PORT`.
    pub url: String,
    pub backend: Backend,
    pub http: reqwest::Client,
    /// `app.store` as its own type, for its request counters.
    counted: CountedStore,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Options for `TestEnv::start_with`.
pub struct EnvOptions {
    pub backend: Backend,
    pub sim: SimConfig,
    /// Extra WXOPEN_* settings.
    pub settings: Vec<(String, String)>,
    /// WeChat client timeout (short, so fault tests are quick).
    pub wechat_timeout: Duration,
    /// The listener's connection cap and timeouts.
    pub serve_limits: ServeLimits,
    /// Where the DynamoDB store sends its requests (a fault proxy) instead of
    /// `AWS_ENDPOINT_URL_DYNAMODB`; the table is created there directly.
    pub dynamo_endpoint: Option<String>,
}

impl EnvOptions {
    pub fn new(backend: Backend) -> Self {
        EnvOptions {
            backend,
            sim: test_sim_config(),
            settings: Vec::new(),
            wechat_timeout: Duration::from_secs(2),
            serve_limits: ServeLimits::default(),
            dynamo_endpoint: None,
        }
    }
}

/// The sandbox simulator with test-friendly push timings.
pub fn test_sim_config() -> SimConfig {
    let mut c = SimConfig::sandbox();
    c.push_timeout = Duration::from_secs(2);
    c
}

impl TestEnv {
    pub async fn start(backend: Backend) -> TestEnv {
        Self::start_with(EnvOptions::new(backend)).await
    }

    pub async fn start_with(opts: EnvOptions) -> TestEnv {
        // Metric lines stay in memory (`wxopen::telemetry::captured`) instead of the test output.
        wxopen::telemetry::set_metric_sink(wxopen::telemetry::MetricSink::Capture);
        let sim = Simulator::start(opts.sim.clone(), loopback())
            .await
            .unwrap_or_else(|e| panic!("simulator failed to start: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let listener = tokio::net::TcpListener::bind(loopback())
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let url = format!("http://{addr}");
        let component = &opts.sim.component;
        let store_spec = match opts.backend {
            Backend::Sqlite => format!("sqlite:{}", dir.path().join("wxopen.db").display()),
            Backend::Dynamo => format!("dynamodb:{}", unique_table_name()),
        };
        let mut settings: std::collections::BTreeMap<String, String> = [
            ("WXOPEN_COMPONENT_APPID", component.appid.clone()),
            (
                "WXOPEN_COMPONENT_SECRET",
                component.secret.expose().to_owned(),
            ),
            ("WXOPEN_MESSAGE_TOKEN", component.token.expose().to_owned()),
            (
                "WXOPEN_ENCODING_AES_KEY",
                component.encoding_aes_key.expose().to_owned(),
            ),
            ("WXOPEN_WECHAT_API_BASE", sim.base_url()),
            ("WXOPEN_PUBLIC_URL", url.clone()),
            ("WXOPEN_STORE", store_spec),
            ("WXOPEN_DATA_KEY", TEST_DATA_KEY.to_owned()),
            ("WXOPEN_LISTEN", addr.to_string()),
            (
                "WXOPEN_RETURN_URL_ORIGINS",
                "https://erp.example.com".to_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        settings.extend(opts.settings);
        let config = Config::from_map(&settings).unwrap_or_else(|e| panic!("{e}"));
        let counted = open_counted_store(&config, opts.dynamo_endpoint.as_deref()).await;
        let store = counted.shared();
        let wechat = WechatConfig {
            base_url: sim.base_url(),
            timeout: opts.wechat_timeout,
            connect_timeout: Duration::from_secs(1),
            retry: RetryPolicy {
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
                ..RetryPolicy::default()
            },
        };
        let app = App::build(config, store, Arc::new(SimClock(sim.clone())), Some(wechat))
            .unwrap_or_else(|e| panic!("app: {e}"));
        let server = tokio::spawn(wxopen::local::serve(
            listener,
            app.clone(),
            None,
            opts.serve_limits,
            std::future::pending(),
        ));
        sim.set_push_urls(
            format!("{url}/wechat/component/events"),
            authorizer_push_url(&url),
        );
        TestEnv {
            sim,
            app,
            url,
            backend: opts.backend,
            http: reqwest::Client::new(),
            counted,
            _dir: dir,
            server,
        }
    }

    /// From now on the simulator's pushes to the component URL (tickets,
    /// authorization changes) are lost on the way; each authorizer's still arrive.
    pub fn lose_component_pushes(&self) {
        self.sim
            .set_push_urls(LOST_URL.to_owned(), authorizer_push_url(&self.url));
    }

    /// Absolute URL of a wxopen path.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.app.store
    }

    /// Chunk listings the store has read so far. SQLite counts its
    /// `list_chunks` reads; DynamoDB cannot tell its queries apart, so it
    /// counts every Query: exact only around work whose sole queries list
    /// chunks.
    pub fn chunk_listings(&self) -> u64 {
        match &self.counted {
            CountedStore::Sqlite(s) => s
                .reads_by_operation()
                .get("list_chunks")
                .copied()
                .unwrap_or(0),
            CountedStore::Dynamo(d) => d.request_counts().query,
        }
    }
}

/// A store as its own type, whose clones share its request counters.
enum CountedStore {
    Sqlite(wxopen::store::sqlite::SqliteStore),
    Dynamo(wxopen::store::dynamo::DynamoStore),
}

impl CountedStore {
    /// The store as the app holds it (a clone, counted with this one).
    fn shared(&self) -> Arc<dyn StateStore> {
        match self {
            CountedStore::Sqlite(s) => Arc::new(s.clone()),
            CountedStore::Dynamo(d) => Arc::new(d.clone()),
        }
    }
}

/// Opens the configured store; for DynamoDB creates a fresh table on moto.
pub async fn open_store(config: &Config) -> Arc<dyn StateStore> {
    open_counted_store(config, None).await.shared()
}

/// [`open_store`], with a DynamoDB store reaching the table through `dynamo_endpoint` when given.
async fn open_counted_store(config: &Config, dynamo_endpoint: Option<&str>) -> CountedStore {
    match &config.store {
        StoreSpec::Sqlite(path) => CountedStore::Sqlite(
            wxopen::store::sqlite::SqliteStore::open(path, &config.component_appid)
                .unwrap_or_else(|e| panic!("sqlite: {e}"))
                .with_data_keys(config.data_keys.clone()),
        ),
        StoreSpec::Dynamodb(table) => {
            if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
                panic!(
                    "DynamoDB tests need a DynamoDB-compatible server: run scripts/test (it starts moto_server), \
                     or start `moto_server -p 5000` and set AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:5000"
                );
            }
            let store =
                wxopen::store::dynamo::DynamoStore::from_env(table, &config.component_appid).await;
            wxopen::store::dynamo::create_table(store.client(), table)
                .await
                .unwrap_or_else(|e| panic!("create_table: {e}"));
            CountedStore::Dynamo(match dynamo_endpoint {
                Some(endpoint) => {
                    dynamo_faults::store_via(endpoint, table, &config.component_appid)
                        .await
                        .with_data_keys(config.data_keys.clone())
                }
                None => store.with_data_keys(config.data_keys.clone()),
            })
        }
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A table name unique within this process and across runs.
pub fn unique_table_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "wxopen-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Polls `check` until it returns Some, or panics after `deadline` — the
/// bounded wait that replaces sleeps as synchronisation.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// --- WeChat-side push helpers (pushes, tokens, refresh tests) ---

/// The crypto WeChat uses toward this environment (the simulator's component credentials).
pub fn wechat_crypt(env: &TestEnv) -> wxopen::crypto::MsgCrypt {
    let c = &env.sim.config().component;
    wxopen::crypto::MsgCrypt::new(
        c.token.expose(),
        c.encoding_aes_key.expose(),
        None,
        &c.appid,
    )
    .unwrap_or_else(|e| panic!("sim crypto: {e}"))
}

/// A push as WeChat sends it: `inner` (decrypted XML) encrypted into an envelope
/// whose head is `head` (e.g. `<AppId>…</AppId>`), signed for `timestamp`.
pub struct SignedPush {
    /// The query string (signature, timestamp, nonce, encrypt_type, msg_signature).
    pub query: String,
    pub body: String,
}

impl SignedPush {
    pub fn new(
        crypt: &wxopen::crypto::MsgCrypt,
        token: &str,
        head: &str,
        inner: &str,
        timestamp: u64,
    ) -> Self {
        Self::with_encrypt(crypt, token, head, &crypt.encrypt(inner), timestamp)
    }

    /// With a given `Encrypt` value (tests that tamper with the ciphertext).
    pub fn with_encrypt(
        crypt: &wxopen::crypto::MsgCrypt,
        token: &str,
        head: &str,
        encrypt: &str,
        timestamp: u64,
    ) -> Self {
        let nonce = "1234567890";
        let ts = timestamp.to_string();
        let msg_signature = crypt.msg_signature(&ts, nonce, encrypt);
        let signature = wxopen::crypto::signature(&[token, &ts, nonce]);
        SignedPush {
            query: format!("signature={signature}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_signature}"),
            body: format!("<xml>{head}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
        }
    }
}

impl TestEnv {
    /// POSTs a push to a wxopen path (`/wechat/...`) with `query`; returns (status, body).
    pub async fn post_push(
        &self,
        path: &str,
        query: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, String) {
        let resp = self
            .http
            .post(format!("{}{}?{}", self.url, path, query))
            .header("content-type", "text/xml")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("push to {path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// Every stored byte: the SQLite database files, or every item of the DynamoDB table.
    pub async fn store_snapshot(&self) -> Vec<u8> {
        match &self.app.config.store {
            StoreSpec::Sqlite(path) => {
                let mut all = Vec::new();
                for suffix in ["", "-wal"] {
                    let file = format!("{}{suffix}", path.display());
                    all.extend(std::fs::read(&file).unwrap_or_default());
                    all.push(0xff);
                }
                all
            }
            StoreSpec::Dynamodb(table) => {
                let store = wxopen::store::dynamo::DynamoStore::from_env(
                    table,
                    &self.app.config.component_appid,
                )
                .await;
                let mut items: Vec<String> = Vec::new();
                let mut start = None;
                loop {
                    let out = store
                        .client()
                        .scan()
                        .table_name(table)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("scan: {e}"));
                    for item in out.items() {
                        let mut fields: Vec<String> =
                            item.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                        fields.sort();
                        items.push(fields.join(","));
                    }
                    start = out.last_evaluated_key().cloned();
                    if start.is_none() {
                        break;
                    }
                }
                items.sort();
                items.join("\n").into_bytes()
            }
        }
    }

    /// Pushes a ticket and waits until wxopen has stored it.
    pub async fn deliver_ticket(&self) {
        let out = self.sim.push_ticket().await;
        assert!(
            out.delivered,
            "ticket push not delivered: {:?}",
            out.last_error
        );
        let store = self.store().clone();
        let now = self.sim.now();
        eventually("ticket stored", Duration::from_secs(5), || {
            let store = store.clone();
            async move { store.get_ticket(now).await.ok().flatten().map(|_| ()) }
        })
        .await;
    }

    /// A ticket, then `appid` authorized through the `authorized` push; returns the code.
    pub async fn authorized(&self, appid: &str) -> wxopen_sim::AuthCode {
        self.deliver_ticket().await;
        let code = self
            .sim
            .authorize(appid, &[1, 2, 3])
            .await
            .unwrap_or_else(|e| panic!("authorize {appid}: {e}"));
        assert!(
            code.push.delivered,
            "authorized push not delivered: {:?}",
            code.push.last_error
        );
        code
    }
}

/// A URL where nothing listens: pushes sent there are lost.
const LOST_URL: &str = "http://127.0.0.1:9/lost";

/// The push URL of every authorizer (the simulator fills in `$APPID$`).
fn authorizer_push_url(wxopen_url: &str) -> String {
    format!("{wxopen_url}/wechat/authorizers/$APPID$/events")
}

pub mod dynamo_faults;
pub mod lambda_runtime;

/// Runs a scenario `async fn name(backend: Backend)` once per backend, as two
/// tests: `sqlite::name` and `dynamo::name`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Dynamo).await
                }
            )*
        }
    };
}
