//! Test harness: a simulator on port 0, a receiver standing for our server, and a small API client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use wxopen::crypto::MsgCrypt;
use wxopen_sim::{sandbox, SimConfig, SimHandle, Simulator};

pub const A1: &str = "wx5add0a0000000001";
pub const A2: &str = "wx5add0a0000000002";
pub const TPL1: &str = "SimTpl01OrderShipped";

/// The sandbox with fast pushes for tests.
pub fn config() -> SimConfig {
    SimConfig {
        push_timeout: Duration::from_millis(800),
        release_test_wait: Duration::from_secs(3),
        ..SimConfig::sandbox()
    }
}

pub fn crypt() -> MsgCrypt {
    MsgCrypt::new(
        sandbox::MESSAGE_TOKEN,
        sandbox::ENCODING_AES_KEY,
        None,
        sandbox::COMPONENT_APPID,
    )
    .expect("sandbox key is valid")
}

/// The text of `<tag>…</tag>` (CDATA unwrapped).
pub fn field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let inner = &xml[start..end];
    Some(
        inner
            .strip_prefix("<![CDATA[")
            .and_then(|r| r.strip_suffix("]]>"))
            .unwrap_or(inner)
            .to_owned(),
    )
}

/// One push as our server saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub query: HashMap<String, String>,
    pub body: String,
    /// The decrypted message, after the msg_signature was verified.
    pub plaintext: String,
}

type Reply = Arc<dyn Fn(&Received) -> (StatusCode, String) + Send + Sync>;

/// A stand-in for our server: verifies and decrypts every push, then answers with `reply`.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<AtomicUsize>,
    reply: Reply,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::with_reply(Arc::new(|_| (StatusCode::OK, "success".to_owned()))).await
    }

    pub async fn with_reply(reply: Reply) -> Receiver {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind receiver");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let rx = Receiver {
            url,
            got: Arc::default(),
            fail_first: Arc::default(),
            reply,
        };
        let app = Router::new()
            .route("/component", post(receive_component))
            .route("/authorizers/{appid}/events", post(receive_authorizer))
            .with_state(rx.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        rx
    }

    /// The next `n` pushes are answered HTTP 500.
    pub fn fail_next(&self, n: usize) {
        self.fail_first.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// Wait (bounded) for a push whose plaintext satisfies `pred`.
    pub async fn wait_for(&self, pred: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(r) = self.received().into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "push did not arrive in time: {:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Push URLs for the simulator.
    pub fn attach(&self, sim: &SimHandle) {
        sim.set_push_urls(
            format!("{}/component", self.url),
            format!("{}/authorizers/$APPID$/events", self.url),
        );
    }
}

fn handle(rx: &Receiver, path: String, query: HashMap<String, String>, body: String) -> Response {
    let crypt = crypt();
    let encrypt = field(&body, "Encrypt").unwrap_or_default();
    let q = |k: &str| query.get(k).cloned().unwrap_or_default();
    let plaintext = crypt
        .open(&q("msg_signature"), &q("timestamp"), &q("nonce"), &encrypt)
        .map(|o| o.message)
        .unwrap_or_default();
    let received = Received {
        path,
        query,
        body,
        plaintext,
    };
    rx.got.lock().expect("lock").push(received.clone());
    let failing = rx
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response();
    }
    (rx.reply)(&received).into_response()
}

async fn receive_component(
    State(rx): State<Receiver>,
    Query(q): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    handle(&rx, "/component".into(), q, body)
}

async fn receive_authorizer(
    State(rx): State<Receiver>,
    Path(appid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    handle(&rx, format!("/authorizers/{appid}/events"), q, body)
}

/// A simulator and a receiver wired together, and an HTTP client for the API.
pub struct Env {
    pub sim: SimHandle,
    pub rx: Receiver,
    pub http: reqwest::Client,
}

pub async fn env_with(cfg: SimConfig) -> Env {
    let sim = Simulator::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("simulator starts");
    let rx = Receiver::start().await;
    rx.attach(&sim);
    Env {
        sim,
        rx,
        http: client(),
    }
}

pub async fn env() -> Env {
    env_with(config()).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// POST JSON; `query` is appended as is (e.g. `access_token=…`).
    pub async fn post(&self, path: &str, query: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}?{query}", self.url(path)))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "WeChat answers HTTP 200");
        resp.json().await.expect("json")
    }

    pub async fn get(&self, path: &str, query: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}?{query}", self.url(path)))
            .send()
            .await
            .expect("request");
        resp.json().await.expect("json")
    }

    /// A ticket as our server received it.
    pub async fn ticket(&self) -> String {
        let out = self.sim.push_ticket().await;
        assert!(out.delivered, "{out:?}");
        let pushes = self.rx.received();
        let last = pushes
            .iter()
            .rev()
            .find(|r| field(&r.plaintext, "InfoType").as_deref() == Some("component_verify_ticket"))
            .expect("ticket push");
        field(&last.plaintext, "ComponentVerifyTicket").expect("ticket field")
    }

    pub async fn component_token_reply(&self, ticket: &str) -> Value {
        self.post(
            "/cgi-bin/component/api_component_token",
            "",
            json!({
                "component_appid": sandbox::COMPONENT_APPID,
                "component_appsecret": sandbox::COMPONENT_SECRET,
                "component_verify_ticket": ticket,
            }),
        )
        .await
    }

    pub async fn component_token(&self) -> String {
        let ticket = self.ticket().await;
        let reply = self.component_token_reply(&ticket).await;
        reply["component_access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    pub async fn query_auth(&self, ctoken: &str, code: &str) -> Value {
        self.post(
            "/cgi-bin/component/api_query_auth",
            &format!("component_access_token={ctoken}"),
            json!({"component_appid": sandbox::COMPONENT_APPID, "authorization_code": code}),
        )
        .await
    }

    /// Authorize `appid` and exchange the code: (component token, access token, refresh token).
    pub async fn authorizer(&self, appid: &str) -> (String, String, String) {
        let ctoken = self.component_token().await;
        let code = self
            .sim
            .authorize(appid, &[1, 2, 3])
            .await
            .expect("authorize");
        let reply = self.query_auth(&ctoken, &code.code).await;
        let info = &reply["authorization_info"];
        let access = info["authorizer_access_token"]
            .as_str()
            .expect("access")
            .to_owned();
        let refresh = info["authorizer_refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
        (ctoken, access, refresh)
    }

    pub async fn template_send(
        &self,
        token: &str,
        touser: &str,
        client_msg_id: Option<&str>,
    ) -> Value {
        let mut body = json!({
            "touser": touser,
            "template_id": TPL1,
            "data": {"first": {"value": "hi"}, "keyword1": {"value": "A-1"}},
        });
        if let Some(id) = client_msg_id {
            body["client_msg_id"] = json!(id);
        }
        self.post(
            "/cgi-bin/message/template/send",
            &format!("access_token={token}"),
            body,
        )
        .await
    }
}

pub fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}
