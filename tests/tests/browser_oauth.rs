//! Web OAuth on behalf (issue 16) in a real browser: headless Chromium with a
//! phone's WeChat User-Agent, driven over WebDriver, opens an OAuth link
//! created through the API, lands on the simulator's consent page, allows as a
//! follower and comes back to a real local HTTP receiver (the tenant's
//! `return_url`) with `wxopen_result`, which the API then reads once; a second
//! opening refuses and comes back with `error=access_denied`; an unknown link
//! is our zh + en page. Screenshots go to `target/screenshots/oauth-*.png`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium`, `chromium-driver`;
//! scripts/test installs them). Without them this test FAILS, saying so.

// Only the set-up of the shared module is used here, not its macro.
#[allow(unused_imports)]
use crate::api_common;

use api_common::*;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wxopen_sim::sandbox_openid;
use wxopen_tests::{eventually, Backend};

const BROWSER_WAIT: Duration = Duration::from_secs(20);
const PHONE_WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN";

/// The tenant's return page: a real HTTP listener that records each request line.
struct Receiver {
    origin: String,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                if let Some(line) = head.lines().next() {
                    seen.lock().unwrap().push(line.to_owned());
                }
                let body =
                    "<!doctype html><meta charset=utf-8><p id=received>back at the tenant</p>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    Receiver { origin, requests }
}

async fn current_query(browser: &fantoccini::Client) -> std::collections::HashMap<String, String> {
    let here = browser.current_url().await.unwrap();
    here.query_pairs().into_owned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_is_identified_in_a_real_phone_browser() {
    // Given an authorized account, a tenant's return page, and an OAuth link
    let back = receiver().await;
    let api = Api::start_with(options(
        Backend::Sqlite,
        0,
        &[("WXOPEN_RETURN_URL_ORIGINS", back.origin.as_str())],
    ))
    .await;
    let return_url = format!("{}/identified", back.origin);
    let r = api
        .post(
            &format!("/v1/authorizers/{APPID}/oauth-links"),
            &api.key,
            &json!({"scope": "snsapi_userinfo", "return_url": return_url, "state": "order-1042"}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let link = r.body["url"].as_str().unwrap().to_owned();

    let driver = ChromeDriver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(chrome_capabilities(&driver.chromium, profile.path()))
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("could not start headless Chromium through chromedriver: {e}"));
    let shots = screenshot_dir();

    // When a follower opens it inside "WeChat" and allows
    let follower = sandbox_openid(1, 1);
    browser.goto(&link).await.unwrap();
    let allow = browser
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Id(&format!("allow-{follower}")))
        .await
        .unwrap_or_else(|e| panic!("the consent page did not offer {follower}: {e}"));
    save_screenshot(&browser, &shots, "1-consent-page").await;
    allow.click().await.unwrap();

    // Then the browser is back at the tenant's page with a result and the state
    browser
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Id("received"))
        .await
        .unwrap_or_else(|e| panic!("the browser did not come back to return_url: {e}"));
    save_screenshot(&browser, &shots, "2-back-at-the-tenant").await;
    let q = current_query(&browser).await;
    assert_eq!(q["state"], "order-1042");
    let id = q["wxopen_result"].clone();
    assert!(back
        .requests
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(&id)));

    // And the tenant reads who it was, once
    let r = api
        .get(&format!("/v1/oauth-results/{id}"), Some(&api.key))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["openid"], follower.as_str());
    assert_eq!(r.body["appid"], APPID);
    let again = api
        .get(&format!("/v1/oauth-results/{id}"), Some(&api.key))
        .await;
    assert_eq!(again.status, 404);

    // When another customer opens the same link and refuses
    browser.goto(&link).await.unwrap();
    let refuse = browser
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Id("refuse"))
        .await
        .unwrap_or_else(|e| panic!("no refuse button: {e}"));
    refuse.click().await.unwrap();
    browser
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Id("received"))
        .await
        .unwrap_or_else(|e| panic!("the refusal did not come back to return_url: {e}"));
    let q = current_query(&browser).await;
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "order-1042");
    assert!(!q.contains_key("wxopen_result"));

    // And a link that does not exist is our page in both languages
    browser
        .goto(&api.env.at(&format!("/oauth/{}", "B".repeat(32))))
        .await
        .unwrap();
    let title = browser
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Id("title"))
        .await
        .unwrap_or_else(|e| panic!("no title on the problem page: {e}"))
        .text()
        .await
        .unwrap();
    assert!(
        title.contains("链接无效或已过期") && title.contains("not valid"),
        "{title}"
    );
    save_screenshot(&browser, &shots, "3-unknown-link").await;
    let _ = browser.close().await;
}

fn chrome_capabilities(chromium: &Path, profile: &Path) -> fantoccini::wd::Capabilities {
    let mut caps = fantoccini::wd::Capabilities::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                // Nothing but loopback resolves: the test never reaches the network.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--window-size=390,844",
                format!("--user-agent={PHONE_WECHAT_UA}"),
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    caps
}

/// A chromedriver process on a free loopback port, killed when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl ChromeDriver {
    async fn start() -> ChromeDriver {
        let driver = find_program("CHROMEDRIVER", &["chromedriver", "chromium.chromedriver"]);
        let chromium = find_program(
            "CHROME_BIN",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            panic!(
                "the browser test needs Chromium and ChromeDriver: install them (Debian: \
                 `apt-get install -y chromium chromium-driver`; scripts/test does this) or set \
                 CHROMEDRIVER and CHROME_BIN"
            );
        };
        let port = free_port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", driver.display()));
        let driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
        };
        let status = format!("{}/status", driver.url);
        let http = reqwest::Client::new();
        eventually("chromedriver answers /status ready", BROWSER_WAIT, || {
            let req = http.get(&status);
            async move {
                let v: Value = req.send().await.ok()?.json().await.ok()?;
                (v["value"]["ready"] == true).then_some(())
            }
        })
        .await;
        driver
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$env_var` if set, else the first of `names` found on PATH.
fn find_program(env_var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env_var).map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// `target/screenshots/` of this build (`CARGO_TARGET_DIR` when set).
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

async fn save_screenshot(browser: &fantoccini::Client, dir: &Path, name: &str) {
    let png = browser
        .screenshot()
        .await
        .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    let path = dir.join(format!("oauth-{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
