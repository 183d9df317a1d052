//! Shared set-up for the client-API tests: an environment with one sandbox
//! account authorized through the real flow and bound to a tenant, API keys,
//! and small HTTP helpers.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::time::Duration;
use wxopen::store::TenantScope;
use wxopen_tests::{eventually, Backend, EnvOptions, TestEnv};

pub const APPID: &str = "wx5add0a0000000001";
pub const OTHER_APPID: &str = "wx5add0a0000000002";
pub const TEMPLATE: &str = "SimTpl01OrderShipped";
pub const TENANT: &str = "acme";
pub use wxopen_tests::on_both_stores;

pub const TEMPLATE_SEND: &str = wxopen::wechat::paths::TEMPLATE_SEND;

/// `n` extra followers of the first sandbox account (28-character openids).
pub fn extra_followers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("oApiTestFollower{i:012}")).collect()
}

/// Options with `n` extra followers on the first account and the given settings.
pub fn options(backend: Backend, followers: usize, settings: &[(&str, &str)]) -> EnvOptions {
    let mut opts = EnvOptions::new(backend);
    // Generous: on a loaded 2-core machine an authorization exchange against moto can take seconds.
    opts.sim.push_timeout = Duration::from_secs(10);
    if let Some(account) = opts.sim.accounts.first_mut() {
        account.followers.extend(extra_followers(followers));
    }
    opts.settings = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    opts
}

/// A running environment with `APPID` authorized, bound to `TENANT`, and a `send` key for it.
pub struct Api {
    pub env: TestEnv,
    /// A key with scope `send` for `TENANT`.
    pub key: String,
}

impl Api {
    pub async fn start(backend: Backend) -> Api {
        Self::start_with(options(backend, 0, &[])).await
    }

    pub async fn start_with(opts: EnvOptions) -> Api {
        let env = TestEnv::start_with(opts).await;
        env.authorized(APPID).await;
        let bound = env
            .store()
            .bind_tenant(APPID, TENANT, env.sim.now())
            .await
            .unwrap_or_else(|e| panic!("bind_tenant: {e}"));
        assert!(bound, "authorizer {APPID} could not be bound to {TENANT}");
        let mut api = Api {
            env,
            key: String::new(),
        };
        api.key = api
            .new_key(TenantScope::Only(vec![TENANT.into()]), &["send"])
            .await;
        api
    }

    /// A fresh API key.
    pub async fn new_key(&self, tenants: TenantScope, scopes: &[&str]) -> String {
        let (key, _) = wxopen::service::keys::create_key(
            &self.env.app,
            tenants,
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("create_key: {e}"));
        key
    }

    fn url(&self, path: &str) -> String {
        self.env.at(path)
    }

    /// POSTs JSON with `key` (and an Idempotency-Key when given).
    pub async fn post(
        &self,
        path: &str,
        key: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Reply {
        let mut req = self
            .env
            .http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body);
        if let Some(k) = idempotency_key {
            req = req.header("idempotency-key", k);
        }
        Reply::read(
            req.send()
                .await
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        )
        .await
    }

    /// POSTs a raw body with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let req = self
            .env
            .http
            .post(self.url(path))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body);
        Reply::read(
            req.send()
                .await
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        )
        .await
    }

    /// GETs with `key` (`None`: no Authorization header).
    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        let mut req = self.env.http.get(self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        Reply::read(
            req.send()
                .await
                .unwrap_or_else(|e| panic!("GET {path}: {e}")),
        )
        .await
    }

    /// Sends a template message to `openids` with the `send` key.
    pub async fn send_template(&self, openids: &[String], idempotency_key: Option<&str>) -> Reply {
        self.post(
            &template_path(APPID),
            &self.key,
            &template_body(openids),
            idempotency_key,
        )
        .await
    }

    /// GET /v1/jobs/{id} with a page big enough for every recipient.
    pub async fn job(&self, job_id: &str) -> Value {
        let r = self
            .get(&format!("/v1/jobs/{job_id}?limit=10000"), Some(&self.key))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// Polls the job until its state is final (done or stopped).
    pub async fn job_settled(&self, job_id: &str) -> Value {
        eventually("job settled", Duration::from_secs(60), || async {
            let job = self.job(job_id).await;
            matches!(job["state"].as_str(), Some("done" | "stopped")).then_some(job)
        })
        .await
    }

    /// Successful template sends WeChat recorded, per openid.
    pub fn sends_per_openid(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for (openid, _, _) in self.env.sim.template_sends(APPID) {
            *counts.entry(openid).or_insert(0) += 1;
        }
        counts
    }

    /// Runs the worker until nothing is claimable.
    /// `serve`'s in-process send worker, polling the queue, until stopped.
    pub fn start_serve_worker(&self) -> ServeWorker {
        use wxopen::service::worker::{Feed, Worker, POLL_INTERVAL};
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(Worker::new(self.env.app.clone(), "serve-test").run_until(
            Feed::polling(POLL_INTERVAL),
            async {
                let _ = stopped.await;
            },
        ));
        ServeWorker { stop, task }
    }

    pub async fn drain(&self, owner: &str) -> wxopen::service::worker::WorkReport {
        let report = wxopen::service::worker::drain(&self.env.app, owner).await;
        assert!(report.failed.is_empty(), "drain: {report:?}");
        report
    }
}

/// A running [`Api::start_serve_worker`].
pub struct ServeWorker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<wxopen::service::worker::WorkReport>,
}

impl ServeWorker {
    /// Stops it, once its chunks in flight are finished or released.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// A job the account's daily quota stopped (WeChat's 45009) after `sent`
/// recipients, `unsent` left.
pub fn assert_stopped_by_quota(job: &Value, sent: u64, unsent: u64) {
    assert_eq!(job["state"], "stopped", "{job}");
    assert_eq!(job["stop_reason"], "quota_exhausted");
    assert_eq!(job["wechat_errcode"], 45009);
    assert_eq!(job["counts"]["sent"], sent);
    assert_eq!(job["counts"]["unsent"], unsent);
}

pub fn template_path(appid: &str) -> String {
    format!("/v1/authorizers/{appid}/template-messages")
}

pub fn template_body(openids: &[String]) -> Value {
    json!({
        "touser": openids,
        "template_id": TEMPLATE,
        "url": "https://erp.example.com/orders/1",
        "data": {"first": {"value": "Your order shipped", "color": "#173177"}, "keyword1": "A-1001", "keyword2": "SF Express"},
    })
}

/// An answer: status, JSON body (Null if not JSON) and headers.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    async fn read(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        }
    }

    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}
