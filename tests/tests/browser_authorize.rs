//! The merchant authorization flow in a real browser: headless Chromium driven
//! over WebDriver (chromedriver) opens a link created through the API, clicks
//! the button, approves on the simulator's authorization page and reads our
//! result page. Each page is laid out at a desktop and a phone width: the
//! Chinese and English lines of every title, paragraph and button must not
//! overlap, nothing may be wider than the screen, and avatars must load; a
//! screenshot of each page at each width goes to `target/screenshots/`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium`, `chromium-driver`;
//! scripts/test installs them). Without them this test FAILS, saying so: it
//! never passes without having run. `CHROMEDRIVER` and `CHROME_BIN` override
//! where they are looked for.

use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use wxopen::store::TenantScope;
use wxopen_tests::{eventually, Backend, TestEnv};

const TENANT: &str = "acme";
const COFFEE: &str = "wx5add0a0000000001";
const COFFEE_NAME: &str = "Sandbox Coffee";
/// Bounded waits for the browser; generous because a cold Chromium start on a busy CI machine is slow.
const BROWSER_WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_merchant_authorizes_in_a_real_browser() {
    // Given a running system, a ticket, and a link created through the API
    let env = TestEnv::start(Backend::Sqlite).await;
    assert!(
        env.sim.push_ticket().await.delivered,
        "ticket push not delivered"
    );
    let (key, _) =
        wxopen::service::keys::create_key(&env.app, TenantScope::All, vec!["admin".into()], None)
            .await
            .unwrap_or_else(|e| panic!("create_key: {e}"));
    let created: Value = env
        .http
        .post(env.at("/v1/authorization-links"))
        .bearer_auth(&key)
        .json(&json!({"tenant": TENANT}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST link: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("link JSON: {e}"));
    let link = created["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url in {created}"))
        .to_owned();
    let driver = ChromeDriver::start().await;
    let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(chrome_capabilities(&driver.chromium, profile.path()))
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("could not start headless Chromium through chromedriver: {e}"));
    let shots = screenshot_dir();

    // When the merchant opens the link
    browser
        .goto(&link)
        .await
        .unwrap_or_else(|e| panic!("open link: {e}"));
    let button = browser
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Id("authorize"))
        .await
        .unwrap_or_else(|e| panic!("no authorize button on our page: {e}"));
    check_layout(&browser, &shots, "1-authorize-page", Titles::Bilingual).await;
    assert_styled_under_its_policy(&browser, "the authorize page").await;
    let title = text_of(&browser, "title").await;
    assert!(
        title.contains("授权公众号") && title.contains("Authorize"),
        "title: {title}"
    );

    // And clicks the button, landing on WeChat's (the simulator's) page with our page as referrer
    button
        .click()
        .await
        .unwrap_or_else(|e| panic!("click authorize: {e}"));
    let approve = browser
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Id(&format!("approve-{COFFEE}")))
        .await
        .unwrap_or_else(|e| {
            panic!("the simulator's authorization page did not show {COFFEE}: {e}")
        });
    check_layout(
        &browser,
        &shots,
        "2-wechat-authorization-page",
        Titles::Simulator,
    )
    .await;
    let here = browser
        .current_url()
        .await
        .unwrap_or_else(|e| panic!("current_url: {e}"));
    assert!(
        here.as_str().starts_with(&format!(
            "{}/cgi-bin/componentloginpage?",
            env.sim.base_url()
        )),
        "{here}"
    );
    let referrer = browser
        .execute("return document.referrer", vec![])
        .await
        .unwrap_or_else(|e| panic!("document.referrer: {e}"));
    assert!(
        referrer.as_str().is_some_and(|r| r.starts_with(&env.url)),
        "WeChat checks the Referer: it must be our page, got {referrer}"
    );

    // And approves the account there
    approve
        .click()
        .await
        .unwrap_or_else(|e| panic!("click approve: {e}"));
    let name = browser
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Id("account-name"))
        .await
        .unwrap_or_else(|e| panic!("our result page did not appear: {e}"));
    check_layout(&browser, &shots, "3-result-page", Titles::Bilingual).await;
    assert_styled_under_its_policy(&browser, "the result page").await;

    // Then our result page names the account
    let shown = name
        .text()
        .await
        .unwrap_or_else(|e| panic!("account name: {e}"));
    assert_eq!(shown, COFFEE_NAME);
    let title = text_of(&browser, "title").await;
    assert!(
        title.contains("授权成功") && title.contains("Authorization complete"),
        "title: {title}"
    );
    let back = browser
        .current_url()
        .await
        .unwrap_or_else(|e| panic!("current_url: {e}"));
    assert!(
        back.as_str()
            .starts_with(&format!("{link}/callback?auth_code=")),
        "{back}"
    );
    // The simulator serves the account's avatar, and our page shows it.
    let avatar = browser
        .execute(
            "const i = document.querySelector('#account img'); return i ? [i.src, i.naturalWidth] : null",
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("avatar: {e}"));
    assert!(
        avatar[0]
            .as_str()
            .is_some_and(|src| src.starts_with(&env.sim.base_url()))
            && avatar[1].as_u64().is_some_and(|w| w > 0),
        "the result page's avatar did not load: {avatar}"
    );

    // And an error page (a link that does not exist) is laid out as well
    browser
        .goto(&format!("{}/authorize/no-such-link", env.url))
        .await
        .unwrap_or_else(|e| panic!("open unknown link: {e}"));
    browser
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Id("what-to-do"))
        .await
        .unwrap_or_else(|e| panic!("no error page for an unknown link: {e}"));
    check_layout(&browser, &shots, "4-error-page", Titles::Bilingual).await;
    browser
        .close()
        .await
        .unwrap_or_else(|e| panic!("close browser: {e}"));

    // And the client API shows the account bound to the tenant
    let authorizer: Value = eventually(
        "the authorizer is readable through the API",
        Duration::from_secs(5),
        || {
            let req = env
                .http
                .get(env.at(&format!("/v1/authorizers/{COFFEE}")))
                .bearer_auth(&key);
            async move {
                let resp = req.send().await.ok()?;
                resp.status().is_success().then_some(())?;
                resp.json().await.ok()
            }
        },
    )
    .await;
    assert_eq!(authorizer["tenant"], TENANT);
    assert_eq!(authorizer["name"], COFFEE_NAME);
    assert_eq!(authorizer["status"], "active");
}

/// The page's one style applied though its Content-Security-Policy refuses
/// every style but that one (by hash): a hash left behind by a change of the
/// style would leave the page unstyled here, in a real browser.
async fn assert_styled_under_its_policy(browser: &fantoccini::Client, what: &str) {
    let styled = browser
        .execute(
            "return [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.querySelector('.card')).borderRadius]",
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("computed style of {what}: {e}"));
    assert_eq!(
        styled,
        json!(["rgb(245, 246, 247)", "12px"]),
        "{what} is not styled under its CSP"
    );
}

/// The text of the element with `id`.
async fn text_of(browser: &fantoccini::Client, id: &str) -> String {
    let element = browser
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"));
    element
        .text()
        .await
        .unwrap_or_else(|e| panic!("text of #{id}: {e}"))
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
                "--window-size=1024,900",
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

/// The page kinds `check_layout` knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Titles {
    /// Ours: `#title` holds a Chinese and an English line.
    Bilingual,
    /// The simulator's stand-in for WeChat's page (English only).
    Simulator,
}

/// (width, height, name) of the viewports every page is checked at.
const VIEWPORTS: [(u32, u32, &str); 2] = [(1200, 900, "desktop"), (390, 844, "phone")];

/// Lays the current page out at each of [`VIEWPORTS`]: a screenshot each, no
/// Chinese line overlapping its English line (titles, paragraphs, buttons),
/// nothing wider than the screen, every image loaded. Ends at the desktop width.
async fn check_layout(browser: &fantoccini::Client, dir: &Path, name: &str, titles: Titles) {
    for (width, height, viewport) in VIEWPORTS {
        browser
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("window size {width}x{height}: {e}"));
        let report = browser
            .execute(LAYOUT_REPORT, vec![])
            .await
            .unwrap_or_else(|e| panic!("layout of {name} at {viewport}: {e}"));
        save_screenshot(browser, dir, &format!("{name}-{viewport}")).await;
        let at = format!("{name} at {viewport} ({width} px): {report}");
        let inner = report["innerWidth"].as_f64().unwrap_or_default();
        assert!(
            (inner - f64::from(width)).abs() <= 40.0,
            "the window did not take the width: {at}"
        );
        assert!(
            report["scrollWidth"].as_f64() <= Some(inner),
            "wider than the screen: {at}"
        );
        assert_eq!(report["overlaps"], json!([]), "overlapping lines: {at}");
        assert_eq!(report["brokenImages"], json!([]), "images not loaded: {at}");
        if titles == Titles::Bilingual {
            let zh = &report["title"]["zh"];
            let en = &report["title"]["en"];
            assert!(
                zh["height"].as_f64() > Some(0.0) && en["height"].as_f64() > Some(0.0),
                "the title's two lines are not both shown: {at}"
            );
            assert!(
                en["top"].as_f64() >= zh["bottom"].as_f64(),
                "the English title is not below the Chinese one: {at}"
            );
        }
    }
    let (width, height, _) = VIEWPORTS[0];
    browser
        .set_window_size(width, height)
        .await
        .unwrap_or_else(|e| panic!("window size: {e}"));
}

/// Boxes of the title's lines, every `.zh` element whose `.en` sibling
/// intersects it, images that did not load, and the page's widths.
const LAYOUT_REPORT: &str = r#"
const box = (el) => { const r = el.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height}; };
const meets = (a, b) => a.bottom > b.top + 0.5 && b.bottom > a.top + 0.5
  && a.right > b.left + 0.5 && b.right > a.left + 0.5;
const overlaps = [];
for (const zh of document.querySelectorAll('.zh')) {
  const en = zh.nextElementSibling;
  if (en && en.classList.contains('en') && meets(box(zh), box(en))) {
    overlaps.push(zh.textContent + ' / ' + en.textContent);
  }
}
const zh = document.querySelector('#title .zh'), en = document.querySelector('#title .en');
return {
  innerWidth: window.innerWidth,
  scrollWidth: document.documentElement.scrollWidth,
  title: zh && en ? {zh: box(zh), en: box(en)} : null,
  overlaps,
  brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
};
"#;

async fn save_screenshot(browser: &fantoccini::Client, dir: &Path, name: &str) {
    let png = browser
        .screenshot()
        .await
        .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    let path = dir.join(format!("authorize-{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
