//! The README walkthrough against the real `wxopen serve --sandbox` binary,
//! over plain HTTP only: read what it prints, authorize a sandbox account
//! through our page and the simulator's, send a template message with the
//! printed key, follow the job until WeChat's finish event is joined in,
//! subscribe a local receiver to events and see a follower's message reach it
//! signed, then stop the process with Ctrl-C (SIGINT) and see it exit cleanly.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const SANDBOX_ACCOUNT: &str = "wx5add0a0000000001";
const DESKTOP_BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

/// The running `wxopen serve --sandbox` and what it printed.
struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start() -> Served {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = format!("sqlite:{}", dir.path().join("wxopen.db").display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_wxopen"))
            .args([
                "serve",
                "--sandbox",
                "--listen",
                "127.0.0.1:0",
                "--store",
                &store,
            ])
            .env_remove("WXOPEN_STORE")
            .env_remove("WXOPEN_LISTEN")
            // Every template send becomes a job, so the walkthrough sees the worker and the finish event.
            .env("WXOPEN_INLINE_SEND_LIMIT", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting wxopen serve --sandbox");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Served {
            child,
            lines,
            seen: Vec::new(),
            _dir: dir,
        }
    }

    /// The value of the first printed line `label: value`, waiting (bounded) for it.
    fn printed(&mut self, label: &str) -> String {
        let prefix = format!("{label}: ");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = self.seen.iter().find_map(|l| l.strip_prefix(&prefix)) {
                return v.trim().to_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no `{label}:` line within 20 s; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn drain_output(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

/// What a local webhook receiver got: each request's headers and body.
type Received = Arc<Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>;

/// A real HTTP server on a loopback port answering 200 to every POST.
struct Receiver;

impl Receiver {
    async fn start() -> (String, Received) {
        let received = Received::default();
        let got = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let got = got.clone();
                    async move {
                        got.lock().expect("received").push((headers, body));
                        "ok"
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, received)
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(DESKTOP_BROWSER)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// The first `href="…"` in `html` that starts with `base`, HTML-unescaped.
fn link_to(html: &str, base: &str) -> Option<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .find(|href| href.starts_with(base))
}

#[tokio::test]
async fn the_readme_walkthrough_runs_against_the_real_binary() {
    let mut served = Served::start();
    let url = served.printed("wxopen URL");
    let sim_url = served.printed("Simulator URL");
    let key = served.printed("API key");
    let link = served.printed("Authorization link");
    assert!(served.printed("Store").starts_with("sqlite:"));
    assert!(link.starts_with(&format!("{url}/authorize/")), "{link}");
    let http = client();

    // The merchant opens the link: our page, whose button leads to WeChat's (the simulator's) page.
    let page = http.get(&link).send().await.expect("link page");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page body");
    let wechat_page =
        link_to(&page, &sim_url).unwrap_or_else(|| panic!("no link to {sim_url} in:\n{page}"));
    let sim_page = http.get(&wechat_page).send().await.expect("simulator page");
    assert_eq!(sim_page.status(), 200);
    let sim_html = sim_page.text().await.expect("simulator page body");
    assert!(
        sim_html.contains(&format!("approve-{SANDBOX_ACCOUNT}")),
        "{sim_html}"
    );

    // They approve the first sandbox account: the page's form carries the query's fields and the account.
    let query: HashMap<String, String> = url::Url::parse(&wechat_page)
        .expect("simulator page URL")
        .query_pairs()
        .into_owned()
        .collect();
    let mut form: Vec<(&str, &str)> = [
        "component_appid",
        "pre_auth_code",
        "redirect_uri",
        "auth_type",
    ]
    .into_iter()
    .filter_map(|k| query.get(k).map(|v| (k, v.as_str())))
    .collect();
    form.push(("appid", SANDBOX_ACCOUNT));
    let action = wechat_page
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let approved = http
        .post(&action)
        .form(&form)
        .send()
        .await
        .expect("approve");
    assert!(
        approved.status().is_redirection(),
        "approve answered {}",
        approved.status()
    );
    let back = approved
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("redirect back")
        .to_owned();
    assert!(
        back.starts_with(&format!("{url}/authorize/")) && back.contains("auth_code="),
        "{back}"
    );

    // WeChat sends the browser back to our callback: the authorization is done.
    let done = http.get(&back).send().await.expect("callback");
    assert!(
        done.status().is_success(),
        "callback answered {}",
        done.status()
    );
    let authorizer: Value = http
        .get(format!("{url}/v1/authorizers/{SANDBOX_ACCOUNT}"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("get authorizer")
        .json()
        .await
        .expect("authorizer json");
    assert_eq!(authorizer["status"], "active", "{authorizer}");

    // The client sends a template message with the printed key: a job.
    let openid = "oSbx01Follower00000000000001";
    let sent = http
        .post(format!("{url}/v1/authorizers/{SANDBOX_ACCOUNT}/template-messages"))
        .bearer_auth(&key)
        .json(&json!({
            "touser": [openid],
            "template_id": "SimTpl01OrderShipped",
            "data": {"first": {"value": "Your order is on its way"}, "keyword1": {"value": "A-1001"},
                     "keyword2": {"value": "Sandbox Express"}, "remark": {"value": "Thank you!"}}
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(sent.status(), 202);
    let sent: Value = sent.json().await.expect("send json");
    let job_id = sent["job_id"].as_str().expect("job_id").to_owned();

    // The worker sends it and WeChat's TEMPLATESENDJOBFINISH push is joined into the job.
    let deadline = Instant::now() + Duration::from_secs(20);
    let job = loop {
        let job: Value = http
            .get(format!("{url}/v1/jobs/{job_id}"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("get job")
            .json()
            .await
            .expect("job json");
        let delivered = job["recipients"].as_array().is_some_and(|r| {
            r.iter()
                .any(|r| r["openid"] == openid && r.get("delivery").is_some())
        });
        if job["state"] == "done" && delivered {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "job not done with a finish event in 20 s: {job}\n{}",
            served.drain_output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["counts"]["sent"], 1, "{job}");

    // A webhook at a local receiver, then the sandbox follower writes, as printed.
    let (receiver, received) = Receiver::start().await;
    let created = http
        .post(format!("{url}/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": receiver, "events": ["message.*"], "tenant": "sandbox"}))
        .send()
        .await
        .expect("create webhook");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("webhook json");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let wrote = http
        .post(format!(
            "{sim_url}/_sim/accounts/{SANDBOX_ACCOUNT}/messages"
        ))
        .json(&json!({"openid": openid, "content": "Where is my order?"}))
        .send()
        .await
        .expect("follower writes");
    assert!(wrote.status().is_success(), "{}", wrote.status());

    // serve's delivery loop posts it, signed with the secret, once.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (headers, body) = loop {
        if let Some(first) = received.lock().expect("received").first().cloned() {
            break first;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery in 20 s:\n{}",
            served.drain_output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(headers["wxopen-event-type"], "message.text");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let signature = headers["wxopen-signature"].to_str().expect("ascii");
    wxopen::service::events::signing::verify(signature, &secret, &body, now, 300)
        .expect("a valid signature");
    let event: Value = serde_json::from_slice(&body).expect("event json");
    assert_eq!(event["data"]["content"], "Where is my order?", "{event}");
    let event_id = event["id"].as_str().expect("event id");
    // The receiver answers before the worker records the answer, so the attempt is
    // looked for until it is recorded.
    let deadline = Instant::now() + Duration::from_secs(20);
    let recorded = loop {
        let recorded: Value = http
            .get(format!("{url}/v1/events/{event_id}"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("get event")
            .json()
            .await
            .expect("event view");
        if recorded["deliveries"][0]["state"] != "pending" {
            break recorded;
        }
        assert!(
            Instant::now() < deadline,
            "attempt not recorded in 20 s: {recorded}\n{}",
            served.drain_output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let delivery = &recorded["deliveries"][0];
    assert_eq!(delivery["state"], "succeeded", "{recorded}");
    assert_eq!(delivery["attempt_count"], 1, "{recorded}");
    assert_eq!(received.lock().expect("received").len(), 1);

    // Ctrl-C: the process stops cleanly.
    let pid = served.child.id().to_string();
    let signalled = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(signalled.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = served.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 15 s after SIGINT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        served.drain_output()
    );
}
