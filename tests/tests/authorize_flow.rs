//! The merchant authorization flow over plain HTTP, end to end on both stores:
//! a client creates a link through the API, the merchant opens our page,
//! follows its button to the simulator's authorization page, approves, and
//! WeChat's redirect lands on our callback. Also every way it can fail.

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wxopen::store::TenantScope;
use wxopen_sim::{Fault, FaultSpec};
use wxopen_tests::{eventually, Backend, TestEnv};

const TENANT: &str = "acme";
const OTHER_TENANT: &str = "globex";
/// The first sandbox account, "Sandbox Coffee".
const COFFEE: &str = "wx5add0a0000000001";
const COFFEE_NAME: &str = "Sandbox Coffee";
/// The second sandbox account.
const SECOND: &str = "wx5add0a0000000002";
const DESKTOP_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const WECHAT_PHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN";
const QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";
const CREATE_PREAUTHCODE: &str = "/cgi-bin/component/api_create_preauthcode";

/// Runs a scenario once per store backend, as two tests.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name(wxopen_tests::Backend::Sqlite).await } )*
        }
        mod dynamo {
            $( #[tokio::test] async fn $name() { super::$name(wxopen_tests::Backend::Dynamo).await } )*
        }
    };
}

on_both_backends!(
    a_link_authorizes_an_account_bound_to_the_tenant,
    reloading_the_callback_shows_the_same_result,
    a_used_link_is_refused_naming_the_account,
    an_expired_link_is_gone,
    an_unknown_link_is_not_found,
    a_callback_without_a_code_is_refused_and_the_link_stays_usable,
    a_wechat_failure_writes_nothing_and_a_reload_finishes,
    a_return_url_off_the_allow_list_is_refused_at_creation,
    a_return_url_receives_the_appid_and_status,
    an_account_of_another_tenant_is_refused_and_left_unchanged,
    push_first_then_browser_callback_gives_the_same_result,
    the_user_agent_picks_the_pc_or_the_mobile_page,
    creating_a_link_needs_an_admin_key_for_the_tenant,
    every_page_refuses_to_be_framed,
    a_code_completes_only_its_own_link,
    a_used_code_completes_no_other_link,
    two_browsers_approving_through_one_link_bind_one_account,
    a_made_up_code_is_refused_at_once,
    views_of_a_link_reuse_its_pre_auth_code_until_its_callback,
);

/// The flow under test: an environment with a ticket, a client without redirects, and an admin key.
struct Flow {
    env: TestEnv,
    browser: reqwest::Client,
    key: String,
}

impl Flow {
    async fn start(backend: Backend) -> Flow {
        let env = TestEnv::start(backend).await;
        let pushed = env.sim.push_ticket().await;
        assert!(pushed.delivered, "ticket push not delivered: {pushed:?}");
        let (key, _) = wxopen::service::keys::create_key(
            &env.app,
            TenantScope::All,
            vec!["admin".into()],
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("create_key: {e}"));
        let browser = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        Flow { env, browser, key }
    }

    /// WeChat's pushes go nowhere useful (a 404 of ours), so only the browser path acts.
    fn withhold_pushes(&self) {
        self.env
            .sim
            .set_push_urls(self.env.at("/nowhere"), self.env.at("/nowhere/$APPID$"));
    }

    async fn create_link_as(&self, key: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .env
            .http
            .post(self.env.at("/v1/authorization-links"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST link: {e}"));
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A new link's URL.
    async fn link(&self, body: Value) -> String {
        let (status, json) = self.create_link_as(&self.key, body).await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        json["url"]
            .as_str()
            .unwrap_or_else(|| panic!("no url in {json}"))
            .to_owned()
    }

    async fn get(&self, url: &str, ua: &str) -> Page {
        let resp = self
            .browser
            .get(url)
            .header(reqwest::header::USER_AGENT, ua)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        Page::read(resp).await
    }

    /// Opens the link, follows the button to the simulator's page, approves
    /// `appid` there, and returns where WeChat sends the browser back.
    async fn approve(&self, link_url: &str, appid: &str) -> String {
        let href = self.open(link_url).await;
        self.approve_at(&href, appid).await
    }

    /// Opens the link's page, as one browser does; returns its button's href
    /// (WeChat's page with a pre_auth_code for this view).
    async fn open(&self, link_url: &str) -> String {
        let page = self.get(link_url, DESKTOP_UA).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page.button_href()
    }

    /// The href the link's page would show when served by another instance
    /// (another Lambda, another `serve`): its own pre_auth_code.
    async fn open_elsewhere(&self, link_url: &str) -> String {
        let other = wxopen::app::App {
            preauth_codes: Default::default(),
            ..self.env.app.clone()
        };
        let id = link_url.rsplit('/').next().unwrap_or_default();
        let link = self
            .env
            .store()
            .get_link(id, self.env.sim.now())
            .await
            .unwrap_or_else(|e| panic!("get_link: {e}"))
            .unwrap_or_else(|| panic!("link {id} not found"));
        wxopen::service::links::start(&other, &link, wxopen::service::links::Device::Pc)
            .await
            .unwrap_or_else(|e| panic!("start elsewhere: {e}"))
    }

    /// Approves `appid` on WeChat's page `href`; returns where WeChat sends
    /// the browser back.
    async fn approve_at(&self, href: &str, appid: &str) -> String {
        let href = href.to_owned();
        let wechat_page = self.get(&href, DESKTOP_UA).await;
        assert_eq!(wechat_page.status, StatusCode::OK, "{}", wechat_page.body);
        assert!(
            wechat_page.body.contains(&format!("approve-{appid}")),
            "{}",
            wechat_page.body
        );
        let url = reqwest::Url::parse(&href).unwrap_or_else(|e| panic!("href {href}: {e}"));
        let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        form.push(("appid".into(), appid.into()));
        let action = format!("{}{}", self.env.sim.base_url(), url.path());
        let resp = self
            .browser
            .post(action)
            .form(&form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("approve: {e}"));
        assert_eq!(
            resp.status(),
            StatusCode::FOUND,
            "approve was not redirected"
        );
        location(&resp)
    }

    async fn authorizer(&self, appid: &str) -> (StatusCode, Value) {
        let resp = self
            .env
            .http
            .get(self.env.at(&format!("/v1/authorizers/{appid}")))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET authorizer: {e}"));
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn link_is_used(&self, link_url: &str) -> bool {
        let id = link_url.rsplit('/').next().unwrap_or_default();
        let link = self
            .env
            .store()
            .get_link(id, self.env.sim.now())
            .await
            .unwrap_or_else(|e| panic!("get_link: {e}"))
            .unwrap_or_else(|| panic!("link {id} not found"));
        link.used
    }
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location on a {}", resp.status()))
        .to_owned()
}

/// A fetched page.
struct Page {
    status: StatusCode,
    content_type: String,
    location: Option<String>,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    async fn read(resp: reqwest::Response) -> Page {
        let status = resp.status();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let location = header(reqwest::header::LOCATION);
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        Page {
            status,
            content_type,
            location,
            headers,
            body,
        }
    }

    /// The href of the page's one button, unescaped.
    fn button_href(&self) -> String {
        let start = self
            .body
            .find("id=\"authorize\"")
            .unwrap_or_else(|| panic!("no authorize button in {}", self.body));
        let rest = &self.body[start..];
        let href = rest
            .split_once("href=\"")
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(h, _)| h)
            .unwrap_or_else(|| panic!("no href in {rest}"));
        href.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    /// Whether a browser would refuse to show this page in a frame and run
    /// nothing on it (the modern header, and the old one for old browsers).
    fn refuses_framing_and_scripts(&self) -> bool {
        let header = |name: &str| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        let csp = header("content-security-policy");
        header("x-frame-options") == "DENY"
            && csp.contains("frame-ancestors 'none'")
            && csp.contains("default-src 'none'")
            && !csp.contains("script-src")
    }

    fn is_html(&self) -> bool {
        self.content_type.starts_with("text/html")
    }
}

async fn a_link_authorizes_an_account_bound_to_the_tenant(backend: Backend) {
    // Given a link created through the API for a tenant
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT})).await;
    assert!(link.starts_with(&flow.env.at("/authorize/")), "{link}");
    // When the merchant approves an account and WeChat sends the browser back
    let back = flow.approve(&link, COFFEE).await;
    assert!(
        back.starts_with(&format!("{link}/callback?auth_code=")),
        "{back}"
    );
    let result = flow.get(&back, DESKTOP_UA).await;
    // Then the result page names the account, and the API shows it bound to the tenant
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    assert!(result.is_html());
    assert!(
        result.body.contains(COFFEE_NAME) && result.body.contains(COFFEE),
        "{}",
        result.body
    );
    let (status, authorizer) = flow.authorizer(COFFEE).await;
    assert_eq!(status, StatusCode::OK, "{authorizer}");
    assert_eq!(authorizer["tenant"], TENANT);
    assert_eq!(authorizer["name"], COFFEE_NAME);
    assert_eq!(authorizer["status"], "active");
    assert!(flow.link_is_used(&link).await);
}

async fn reloading_the_callback_shows_the_same_result(backend: Backend) {
    // Given an authorization finished through the callback
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT})).await;
    let back = flow.approve(&link, COFFEE).await;
    assert_eq!(flow.get(&back, DESKTOP_UA).await.status, StatusCode::OK);
    // When the merchant reloads the result page
    let again = flow.get(&back, DESKTOP_UA).await;
    // Then the same result is shown, and nothing moved
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(again.body.contains(COFFEE_NAME), "{}", again.body);
    assert_eq!(flow.authorizer(COFFEE).await.1["tenant"], TENANT);
}

async fn a_used_link_is_refused_naming_the_account(backend: Backend) {
    // Given a link that authorized an account
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT})).await;
    let back = flow.approve(&link, COFFEE).await;
    assert_eq!(flow.get(&back, DESKTOP_UA).await.status, StatusCode::OK);
    // When it is opened again
    let page = flow.get(&link, DESKTOP_UA).await;
    // Then it is gone, says so, names the account, and offers no button
    assert_eq!(page.status, StatusCode::GONE, "{}", page.body);
    assert!(
        page.body.contains("链接已使用") && page.body.contains("already been used"),
        "{}",
        page.body
    );
    assert!(page.body.contains(COFFEE_NAME), "{}", page.body);
    assert!(!page.body.contains("id=\"authorize\""));
    // And a callback with some other code is refused too
    let other = flow
        .get(
            &format!("{link}/callback?auth_code=another-code&expires_in=3600"),
            DESKTOP_UA,
        )
        .await;
    assert_eq!(other.status, StatusCode::GONE, "{}", other.body);
}

async fn an_expired_link_is_gone(backend: Backend) {
    // Given a link that lives a minute
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT, "expires_in": 60})).await;
    assert_eq!(flow.get(&link, DESKTOP_UA).await.status, StatusCode::OK);
    // When the (virtual) minute passes
    flow.env.sim.advance(Duration::from_secs(61));
    // Then the page and the callback both say it expired
    let page = flow.get(&link, DESKTOP_UA).await;
    assert_eq!(page.status, StatusCode::GONE, "{}", page.body);
    assert!(
        page.body.contains("链接已过期") && page.body.contains("expired"),
        "{}",
        page.body
    );
    let callback = flow
        .get(
            &format!("{link}/callback?auth_code=x&expires_in=3600"),
            DESKTOP_UA,
        )
        .await;
    assert_eq!(callback.status, StatusCode::GONE, "{}", callback.body);
    assert!(
        flow.env.sim.calls_to(QUERY_AUTH).is_empty(),
        "an expired link must not exchange a code"
    );
}

async fn an_unknown_link_is_not_found(backend: Backend) {
    // Given no link at all
    let flow = Flow::start(backend).await;
    for id in [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "not-a-link",
        "%3Cscript%3E",
    ] {
        // When such a link is opened, or its callback called
        let page = flow
            .get(&flow.env.at(&format!("/authorize/{id}")), DESKTOP_UA)
            .await;
        let callback = flow
            .get(
                &flow
                    .env
                    .at(&format!("/authorize/{id}/callback?auth_code=x")),
                DESKTOP_UA,
            )
            .await;
        // Then both are a friendly 404 page
        for p in [&page, &callback] {
            assert_eq!(p.status, StatusCode::NOT_FOUND, "{id}: {}", p.body);
            assert!(
                p.is_html() && p.body.contains("链接无效") && p.body.contains("not valid"),
                "{}",
                p.body
            );
            assert!(!p.body.contains("<script>"));
        }
    }
}

async fn a_callback_without_a_code_is_refused_and_the_link_stays_usable(backend: Backend) {
    // Given a fresh link
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT})).await;
    // When the callback arrives without a code (or with an empty one)
    for query in ["", "?expires_in=3600", "?auth_code=&expires_in=3600"] {
        let page = flow
            .get(&format!("{link}/callback{query}"), DESKTOP_UA)
            .await;
        // Then a 400 page explains it, and the link can still be used
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            page.body
        );
        assert!(
            page.body.contains("授权未完成") && page.body.contains("not completed"),
            "{}",
            page.body
        );
    }
    assert!(!flow.link_is_used(&link).await);
    assert_eq!(flow.get(&link, DESKTOP_UA).await.status, StatusCode::OK);
}

async fn a_wechat_failure_writes_nothing_and_a_reload_finishes(backend: Backend) {
    // Given an approval whose code WeChat cannot exchange for now (and no push to help)
    let flow = Flow::start(backend).await;
    flow.withhold_pushes();
    let link = flow.link(json!({"tenant": TENANT})).await;
    let back = flow.approve(&link, COFFEE).await;
    flow.env.sim.set_fault(
        QUERY_AUTH,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Busy,
        },
    );
    // When WeChat sends the browser back
    let failed = flow.get(&back, DESKTOP_UA).await;
    // Then a 503 page asks to retry, no authorizer was stored and the link is unused
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );
    assert!(
        failed.body.contains("刷新") && failed.body.contains("reload"),
        "{}",
        failed.body
    );
    assert_eq!(flow.authorizer(COFFEE).await.0, StatusCode::NOT_FOUND);
    assert!(!flow.link_is_used(&link).await);
    // And once WeChat recovers, reloading the page finishes the authorization
    flow.env.sim.clear_faults();
    let done = flow.get(&back, DESKTOP_UA).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(flow.authorizer(COFFEE).await.1["tenant"], TENANT);
}

async fn a_return_url_off_the_allow_list_is_refused_at_creation(backend: Backend) {
    // Given the allow-list https://erp.example.com (the test environment's)
    let flow = Flow::start(backend).await;
    for bad in [
        "https://evil.example.com/done",
        "https://erp.example.com.evil.com/",
        "https://erp.example.com@evil.com/",
        "javascript:alert(1)",
    ] {
        // When a link is asked for with another return URL
        let (status, body) = flow
            .create_link_as(&flow.key, json!({"tenant": TENANT, "return_url": bad}))
            .await;
        // Then it is a 400 naming the problem
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "return_url_not_allowed", "{body}");
    }
}

async fn a_return_url_receives_the_appid_and_status(backend: Backend) {
    // Given a link with an allowed return URL
    let flow = Flow::start(backend).await;
    let link = flow
        .link(json!({"tenant": TENANT, "return_url": "https://erp.example.com/wechat/done?shop=7"}))
        .await;
    // When the merchant approves
    let back = flow.approve(&link, COFFEE).await;
    let page = flow.get(&back, DESKTOP_UA).await;
    // Then the browser is sent to the return URL with the appid and status
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some(format!("https://erp.example.com/wechat/done?shop=7&authorizer_appid={COFFEE}&status=authorized").as_str())
    );
    assert_eq!(flow.authorizer(COFFEE).await.1["tenant"], TENANT);
}

async fn an_account_of_another_tenant_is_refused_and_left_unchanged(backend: Backend) {
    // Given an account authorized for one tenant
    let flow = Flow::start(backend).await;
    let first = flow.link(json!({"tenant": TENANT})).await;
    let back = flow.approve(&first, COFFEE).await;
    assert_eq!(flow.get(&back, DESKTOP_UA).await.status, StatusCode::OK);
    let before = flow.authorizer(COFFEE).await.1;
    // When the same account is approved through another tenant's link (the browser alone acting)
    flow.withhold_pushes();
    let second = flow.link(json!({"tenant": OTHER_TENANT})).await;
    let back = flow.approve(&second, COFFEE).await;
    let page = flow.get(&back, DESKTOP_UA).await;
    // Then it is refused, the account stays with the first tenant, and the second link is unused
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(
        page.body.contains("已绑定其他商户") && page.body.contains(COFFEE_NAME),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(TENANT),
        "another tenant's name must not be shown: {}",
        page.body
    );
    let after = flow.authorizer(COFFEE).await.1;
    assert_eq!(after["tenant"], TENANT);
    assert_eq!(after["authorized_at"], before["authorized_at"]);
    assert!(!flow.link_is_used(&second).await);
}

async fn push_first_then_browser_callback_gives_the_same_result(backend: Backend) {
    // Given an approval whose `authorized` push is handled before the browser comes back
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT})).await;
    let back = flow.approve(&link, COFFEE).await;
    let sim = flow.env.sim.clone();
    eventually(
        "WeChat's `authorized` push is answered",
        Duration::from_secs(5),
        || {
            let sim = sim.clone();
            async move {
                sim.pushes()
                    .iter()
                    .any(|p| p.kind == "authorized" && p.delivered)
                    .then_some(())
            }
        },
    )
    .await;
    let store = flow.env.store().clone();
    let bound = store
        .get_authorizer(COFFEE)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the push stored no authorizer"));
    assert_eq!(bound.tenant.as_deref(), Some(TENANT));
    let exchanges = flow.env.sim.calls_to(QUERY_AUTH).len();
    // When the browser callback arrives
    let page = flow.get(&back, DESKTOP_UA).await;
    // Then it shows the same result without a second exchange, and uses up the link
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(COFFEE_NAME), "{}", page.body);
    assert_eq!(flow.env.sim.calls_to(QUERY_AUTH).len(), exchanges);
    let after = store.get_authorizer(COFFEE).await.ok().flatten();
    assert_eq!(
        after.map(|a| (a.tenant, a.authorized_at)),
        Some((bound.tenant, bound.authorized_at))
    );
    assert!(flow.link_is_used(&link).await);
}

async fn the_user_agent_picks_the_pc_or_the_mobile_page(backend: Backend) {
    // Given a link
    let flow = Flow::start(backend).await;
    let link = flow
        .link(json!({"tenant": TENANT, "biz_appid": COFFEE}))
        .await;
    let sim = flow.env.sim.base_url();
    // When it is opened on a computer
    let pc = flow.get(&link, DESKTOP_UA).await.button_href();
    // Then the button leads to the PC page (QR code)
    assert!(
        pc.starts_with(&format!(
            "{sim}/cgi-bin/componentloginpage?component_appid="
        )),
        "{pc}"
    );
    // When it is opened in WeChat on a phone
    let mobile = flow.get(&link, WECHAT_PHONE_UA).await.button_href();
    // Then the button leads to the mobile page in WeChat's form
    assert!(
        mobile.starts_with(&format!(
            "{sim}/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&"
        )),
        "{mobile}"
    );
    assert!(mobile.ends_with("#wechat_redirect"), "{mobile}");
    // And both carry the link's pre_auth_code (reused while valid), the callback, auth_type and biz_appid
    let params = |href: &str| -> std::collections::HashMap<String, String> {
        reqwest::Url::parse(href)
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    };
    let (p, m) = (params(&pc), params(&mobile));
    assert_eq!(p["pre_auth_code"], m["pre_auth_code"]);
    for q in [&p, &m] {
        assert_eq!(q["redirect_uri"], format!("{link}/callback"));
        assert_eq!(q["auth_type"], "1");
        assert_eq!(q["biz_appid"], COFFEE);
    }
    // And the simulator accepts the mobile page as WeChat would
    let page = flow.get(&mobile, WECHAT_PHONE_UA).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&format!("approve-{COFFEE}")));
}

async fn creating_a_link_needs_an_admin_key_for_the_tenant(backend: Backend) {
    // Given a key without the admin scope, and an admin key for another tenant
    let flow = Flow::start(backend).await;
    let (send_key, _) = wxopen::service::keys::create_key(
        &flow.env.app,
        TenantScope::All,
        vec!["send".into()],
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (other_admin, _) = wxopen::service::keys::create_key(
        &flow.env.app,
        TenantScope::Only(vec![OTHER_TENANT.into()]),
        vec!["admin".into()],
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let body = json!({"tenant": TENANT});
    // When each asks for a link (and one asks with no key)
    let (none, _) = flow.create_link_as("", body.clone()).await;
    let (send, _) = flow.create_link_as(&send_key, body.clone()).await;
    let (other, _) = flow.create_link_as(&other_admin, body.clone()).await;
    let (own, _) = flow
        .create_link_as(&other_admin, json!({"tenant": OTHER_TENANT}))
        .await;
    // Then only the admin key for the tenant gets one
    assert_eq!(none, StatusCode::UNAUTHORIZED);
    assert_eq!(send, StatusCode::FORBIDDEN);
    assert_eq!(other, StatusCode::FORBIDDEN);
    assert_eq!(own, StatusCode::CREATED);
    // And bad fields are 400s naming them
    for (bad, code) in [
        (json!({"tenant": "no spaces"}), "invalid_tenant"),
        (
            json!({"tenant": TENANT, "auth_type": 9}),
            "invalid_auth_type",
        ),
        (
            json!({"tenant": TENANT, "biz_appid": "nope"}),
            "invalid_biz_appid",
        ),
        (
            json!({"tenant": TENANT, "expires_in": 5}),
            "invalid_expires_in",
        ),
        (json!({"tenant": TENANT, "color": "red"}), "invalid_request"),
        (json!({}), "invalid_request"),
    ] {
        let (status, json) = flow.create_link_as(&flow.key, bad.clone()).await;
        assert_eq!(
            (status, json["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{bad}: {json}"
        );
    }
}

async fn every_page_refuses_to_be_framed(backend: Backend) {
    // Given a link, and the pages of its whole life: the start page, the
    // result page, and error pages
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT})).await;
    let start = flow.get(&link, DESKTOP_UA).await;
    let back = flow.approve(&link, COFFEE).await;
    let result = flow.get(&back, DESKTOP_UA).await;
    let used = flow.get(&link, DESKTOP_UA).await;
    let unknown = flow
        .get(&flow.env.at("/authorize/no-such-link"), DESKTOP_UA)
        .await;
    // Then each is served with a policy that forbids framing it and running script
    for (name, page, status) in [
        ("start", &start, StatusCode::OK),
        ("result", &result, StatusCode::OK),
        ("used link", &used, StatusCode::GONE),
        ("unknown link", &unknown, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(page.status, status, "{name}: {}", page.body);
        assert!(page.is_html(), "{name}");
        assert!(
            page.refuses_framing_and_scripts(),
            "{name} can be framed: {:?}",
            page.headers
        );
    }
}

/// The `auth_code` of a callback URL.
fn auth_code_of(callback: &str) -> String {
    let url = reqwest::Url::parse(callback).unwrap_or_else(|e| panic!("{callback}: {e}"));
    url.query_pairs()
        .find(|(k, _)| k == "auth_code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no auth_code in {callback}"))
}

/// Issue #18, item 3: a code issued through link A completed link B, binding
/// the account to B's tenant and using B up.
async fn a_code_completes_only_its_own_link(backend: Backend) {
    // Given an approval through acme's link A, whose push WeChat delivered
    let flow = Flow::start(backend).await;
    let a = flow.link(json!({"tenant": TENANT})).await;
    let b = flow.link(json!({"tenant": OTHER_TENANT})).await;
    let back = flow.approve(&a, COFFEE).await;
    eventually(
        "the authorized push was handled",
        Duration::from_secs(10),
        || async { (flow.authorizer(COFFEE).await.0 == StatusCode::OK).then_some(()) },
    )
    .await;
    // When its code is presented at globex's link B
    let code = auth_code_of(&back);
    let at_b = flow
        .get(
            &format!("{b}/callback?auth_code={code}&expires_in=3600"),
            DESKTOP_UA,
        )
        .await;
    // Then B refuses it and stays usable, and A finishes as usual
    assert_eq!(at_b.status, StatusCode::BAD_REQUEST, "{}", at_b.body);
    assert!(!flow.link_is_used(&b).await);
    let at_a = flow.get(&back, DESKTOP_UA).await;
    assert_eq!(at_a.status, StatusCode::OK, "{}", at_a.body);
    assert_eq!(flow.authorizer(COFFEE).await.1["tenant"], TENANT);
}

/// Issue #18, item 3: a code already used (here by link A's callback, the
/// push withheld) completed a fresh link B.
async fn a_used_code_completes_no_other_link(backend: Backend) {
    // Given an authorization finished through link A by the browser alone
    let flow = Flow::start(backend).await;
    flow.withhold_pushes();
    let a = flow.link(json!({"tenant": TENANT})).await;
    let back = flow.approve(&a, COFFEE).await;
    assert_eq!(flow.get(&back, DESKTOP_UA).await.status, StatusCode::OK);
    // When the used code is presented at a fresh link B of the same tenant
    let b = flow.link(json!({"tenant": TENANT})).await;
    let code = auth_code_of(&back);
    let at_b = flow
        .get(
            &format!("{b}/callback?auth_code={code}&expires_in=3600"),
            DESKTOP_UA,
        )
        .await;
    // Then it is refused and B is not used up
    assert_eq!(at_b.status, StatusCode::BAD_REQUEST, "{}", at_b.body);
    assert!(!flow.link_is_used(&b).await);
}

/// Issue #18, item 4: two browsers opened one link and both approved; the
/// second saw "already used", but its `authorized` push bound its account.
async fn two_browsers_approving_through_one_link_bind_one_account(backend: Backend) {
    // Given one link opened in two browsers, served by two instances (one
    // instance hands both views the same pre_auth_code, which WeChat accepts once)
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT})).await;
    let first_page = flow.open(&link).await;
    let second_page = flow.open_elsewhere(&link).await;
    assert_ne!(first_page, second_page);
    // When the first approves one account and finishes, then the second approves another
    let first = flow.approve_at(&first_page, COFFEE).await;
    assert_eq!(flow.get(&first, DESKTOP_UA).await.status, StatusCode::OK);
    let second = flow.approve_at(&second_page, SECOND).await;
    let second_result = flow.get(&second, DESKTOP_UA).await;
    // Then the second is told the link is used, and once its push is handled
    // its account is kept but bound to no tenant
    assert_eq!(
        second_result.status,
        StatusCode::GONE,
        "{}",
        second_result.body
    );
    let everyone = wxopen::service::keys::create_key(
        &flow.env.app,
        TenantScope::All,
        vec!["send".into()],
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("create_key: {e}"))
    .0;
    let url = flow.env.at(&format!("/v1/authorizers/{SECOND}"));
    let second_account: Value = eventually(
        "the second account's push was handled",
        Duration::from_secs(10),
        || {
            let req = flow.env.http.get(&url).bearer_auth(&everyone);
            async move {
                let resp = req.send().await.ok()?;
                resp.status().is_success().then_some(())?;
                resp.json().await.ok()
            }
        },
    )
    .await;
    assert_eq!(second_account["tenant"], Value::Null, "{second_account}");
    assert_eq!(flow.authorizer(COFFEE).await.1["tenant"], TENANT);
    let used_by = {
        let id = link.rsplit('/').next().unwrap_or_default();
        flow.env
            .store()
            .get_link(id, flow.env.sim.now())
            .await
            .unwrap()
            .unwrap()
            .used_by
    };
    assert_eq!(used_by.as_deref(), Some(COFFEE));
}

/// Issue #18, item 7: a made-up `auth_code` held its request about 3 s
/// while the callback polled the store for another path's exchange.
async fn a_made_up_code_is_refused_at_once(backend: Backend) {
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT})).await;
    let started = std::time::Instant::now();
    let page = flow
        .get(
            &format!("{link}/callback?auth_code=made-up-code&expires_in=3600"),
            DESKTOP_UA,
        )
        .await;
    let took = started.elapsed();
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        took < Duration::from_millis(1500),
        "a made-up code took {took:?}"
    );
    assert!(!flow.link_is_used(&link).await);
}

/// Issue #18, item 7: each view of a link's page called
/// api_create_preauthcode and stored a row, unthrottled.
async fn views_of_a_link_reuse_its_pre_auth_code_until_its_callback(backend: Backend) {
    // Given a link viewed three times
    let flow = Flow::start(backend).await;
    let link = flow.link(json!({"tenant": TENANT})).await;
    let before = flow.env.sim.calls_to(CREATE_PREAUTHCODE).len();
    let views = [
        flow.open(&link).await,
        flow.open(&link).await,
        flow.open(&link).await,
    ];
    // Then WeChat was asked for one pre_auth_code, and every view carries it
    assert_eq!(flow.env.sim.calls_to(CREATE_PREAUTHCODE).len() - before, 1);
    assert!(views.iter().all(|v| *v == views[0]), "{views:?}");
    // and once its callback was reached (here without a code), the next view
    // gets a new one, which WeChat takes
    let failed = flow
        .get(&format!("{link}/callback?expires_in=3600"), DESKTOP_UA)
        .await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST, "{}", failed.body);
    let fresh = flow.open(&link).await;
    assert_ne!(fresh, views[0]);
    assert_eq!(flow.env.sim.calls_to(CREATE_PREAUTHCODE).len() - before, 2);
    let back = flow.approve_at(&fresh, COFFEE).await;
    assert_eq!(flow.get(&back, DESKTOP_UA).await.status, StatusCode::OK);
    // and when the code is older than its reuse margin, a view gets a new one
    let other = flow.link(json!({"tenant": TENANT})).await;
    let first = flow.open(&other).await;
    flow.env.sim.advance(Duration::from_secs(
        600 - wxopen::service::preauth_cache::MIN_LEFT_SECS + 1,
    ));
    assert_ne!(flow.open(&other).await, first);
}
