//! One wxopen app per fuzzing process: SQLite in memory, a fixed clock, and a
//! WeChat base URL that refuses connections at once (nothing listens on port 1
//! of the loopback), with a single attempt per call, so a handler that calls
//! WeChat gets its error in microseconds and no input ever leaves the machine.
//! Seeded with a component ticket, one authorized account bound to a tenant, an
//! unused authorization link and an API key with every scope, so fuzzed
//! requests get past authentication into the handlers.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wxopen::app::App;
use wxopen::clock::ManualClock;
use wxopen::config::Config;
use wxopen::domain::Tenant;
use wxopen::secret::Secret;
use wxopen::service::{keys, links};
use wxopen::store::sqlite::SqliteStore;
use wxopen::store::{AuthorizationGrant, AuthorizerStatus, TenantScope};
use wxopen::wechat::{RetryPolicy, WechatConfig};

pub const COMPONENT_APPID: &str = "wx134c8103faa5a59e";
pub const TOKEN: &str = "fuzztoken";
pub const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// The authorized account and its tenant.
pub const APPID: &str = "wx5add0a0000000001";
pub const TENANT: &str = "acme";
/// The fixed "now" of the clock (pushes must be signed within the replay window of it).
pub const NOW: u64 = 1_767_225_600;
/// Nothing listens here: connections are refused immediately.
const REFUSING_WECHAT: &str = "http://127.0.0.1:1";

pub struct Env {
    pub rt: tokio::runtime::Runtime,
    pub app: App,
    /// `Bearer …` value of the key with every scope for every tenant.
    pub authorization: String,
    /// Id of an unused authorization link of `TENANT`.
    pub link_id: String,
    grants: std::sync::atomic::AtomicU64,
}

/// The process's environment, built on first use.
pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(build)
}

fn build() -> Env {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let settings: BTreeMap<String, String> = [
        ("WXOPEN_COMPONENT_APPID", COMPONENT_APPID),
        ("WXOPEN_COMPONENT_SECRET", "fuzz-component-secret"),
        ("WXOPEN_MESSAGE_TOKEN", TOKEN),
        ("WXOPEN_ENCODING_AES_KEY", ENCODING_AES_KEY),
        ("WXOPEN_PUBLIC_URL", "https://wxopen.example.com"),
        ("WXOPEN_WECHAT_API_BASE", REFUSING_WECHAT),
        ("WXOPEN_WECHAT_WEB_BASE", REFUSING_WECHAT),
        ("WXOPEN_RETURN_URL_ORIGINS", "https://erp.example.com"),
        // Credentials are sealed at rest; a fixed key keeps runs reproducible.
        (
            "WXOPEN_DATA_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::from_map(&settings).unwrap_or_else(|e| panic!("{e}"));
    let store =
        SqliteStore::open_in_memory(COMPONENT_APPID).unwrap_or_else(|e| panic!("sqlite: {e}"));
    let wechat = WechatConfig {
        base_url: REFUSING_WECHAT.to_owned(),
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_millis(200),
        retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        },
    };
    let app = App::build(
        config,
        Arc::new(store),
        Arc::new(ManualClock::new(NOW)),
        Some(wechat),
    )
    .unwrap_or_else(|e| panic!("app: {e}"));
    let (authorization, link_id) = rt.block_on(seed(&app));
    let env = Env {
        rt,
        app,
        authorization,
        link_id,
        grants: std::sync::atomic::AtomicU64::new(0),
    };
    env.rt.block_on(env.keep_authorized());
    env
}

async fn seed(app: &App) -> (String, String) {
    app.store
        .put_ticket_if_newer(&Secret::new("fuzz-ticket"), NOW as i64, NOW)
        .await
        .unwrap_or_else(|e| panic!("ticket: {e}"));
    let (key, _) = keys::create_key(
        app,
        TenantScope::All,
        keys::SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        Some("fuzz".into()),
    )
    .await
    .unwrap_or_else(|e| panic!("key: {e}"));
    let link = links::create(
        app,
        links::NewLink {
            tenant: Tenant::parse(TENANT).unwrap_or_else(|e| panic!("tenant: {e:?}")),
            auth_type: None,
            biz_appid: None,
            return_url: None,
            expires_in: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("link: {e}"));
    (format!("Bearer {key}"), link.link.id)
}

impl Env {
    /// Runs a future to completion on the process's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// (Re)authorizes `APPID` for `TENANT` with a token valid for a day: the
    /// seed, and the repair after a fuzzed push revoked it (an `unauthorized`
    /// push is valid input), so later inputs still reach the /v1 handlers.
    pub async fn keep_authorized(&self) {
        let active = matches!(
            self.app.store.get_authorizer(APPID).await,
            Ok(Some(a)) if matches!(a.status, AuthorizerStatus::Active) && a.tenant.as_deref() == Some(TENANT)
        );
        if active {
            return;
        }
        let n = self
            .grants
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let grant = AuthorizationGrant {
            appid: APPID.into(),
            tenant: Some(TENANT.into()),
            auth_code_hash: format!("fuzz-grant-{n}"),
            access_token: Secret::new("fuzz-access-token"),
            expires_at: NOW + 86_400,
            refresh_token: Secret::new("fuzz-refresh-token"),
            func_info: vec![1, 2, 3],
            now: NOW,
        };
        let _ = self.app.store.put_grant(&grant).await;
        let _ = self.app.store.bind_tenant(APPID, TENANT, NOW).await;
    }
}
