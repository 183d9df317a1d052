//! The whole HTTP entry, `wxopen::http::handle`, as `wxopen serve` calls it:
//! every route (the /v1 bodies and query strings, the multipart reader of the
//! media route, the authorization page and callback queries, the push URLs)
//! over an in-memory SQLite store, with WeChat unreachable (a closed local
//! port, one attempt) so nothing leaves the machine.
//!
//! Input: `METHOD PATH?QUERY\n` then `Name: value\n` header lines, an empty
//! line, and the body. `$KEY` in a header is replaced by a valid API key (all
//! scopes, tenant `acme`), `$LINK` in the path by a usable link's id, so the
//! fuzzer gets past authentication and link lookup.
//!
//! Invariants (a panic is the finding): no 500, and no answer carries the API
//! key, the component secret or a stored token.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wxopen::app::App;
use wxopen::clock::ManualClock;
use wxopen::config::Config;
use wxopen::store::sqlite::SqliteStore;
use wxopen::store::{AuthorizationGrant, StateStore, TenantScope};
use wxopen::wechat::{RetryPolicy, WechatConfig};

pub const COMPONENT_APPID: &str = "wxfuzzcomponent001";
pub const APPID: &str = "wx5add0a0000000001";
const SECRET: &str = "fuzz-component-secret";
const ACCESS_TOKEN: &str = "fuzz-access-token-0123456789";
const REFRESH_TOKEN: &str = "fuzz-refresh-token-0123456789";
const NOW: u64 = 1_764_000_000;

struct Harness {
    rt: tokio::runtime::Runtime,
    app: App,
    key: String,
    link: String,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let values: BTreeMap<String, String> = [
            ("WXOPEN_COMPONENT_APPID", COMPONENT_APPID),
            ("WXOPEN_COMPONENT_SECRET", SECRET),
            ("WXOPEN_MESSAGE_TOKEN", "fuzztoken"),
            (
                "WXOPEN_ENCODING_AES_KEY",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            ),
            ("WXOPEN_PUBLIC_URL", "https://wx.example.com"),
            ("WXOPEN_WECHAT_API_BASE", "http://127.0.0.1:9"),
            ("WXOPEN_RETURN_URL_ORIGINS", "https://erp.example.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = Config::from_map(&values).unwrap_or_else(|e| panic!("config: {e}"));
        let store: Arc<dyn StateStore> = Arc::new(
            SqliteStore::open_in_memory(COMPONENT_APPID).unwrap_or_else(|e| panic!("store: {e}")),
        );
        let wechat = WechatConfig {
            base_url: "http://127.0.0.1:9".into(),
            timeout: Duration::from_millis(200),
            connect_timeout: Duration::from_millis(100),
            retry: RetryPolicy {
                max_attempts: 1,
                base_delay: Duration::ZERO,
                max_delay: Duration::ZERO,
            },
        };
        let app = App::build(config, store, Arc::new(ManualClock::new(NOW)), Some(wechat))
            .unwrap_or_else(|e| panic!("app: {e}"));
        let (key, link) = rt.block_on(async {
            app.store
                .put_grant(&AuthorizationGrant {
                    appid: APPID.into(),
                    tenant: Some("acme".into()),
                    auth_code_hash: "fuzz".into(),
                    access_token: ACCESS_TOKEN.into(),
                    expires_at: NOW + 365 * 86_400,
                    refresh_token: REFRESH_TOKEN.into(),
                    func_info: vec![1, 2, 3],
                    now: NOW,
                })
                .await
                .unwrap_or_else(|e| panic!("grant: {e}"));
            let (key, _) = wxopen::service::keys::create_key(
                &app,
                TenantScope::Only(vec!["acme".into()]),
                vec!["send".into(), "token:read".into(), "admin".into()],
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("key: {e}"));
            let link = wxopen::service::links::create(
                &app,
                wxopen::service::links::NewLink {
                    tenant: wxopen::domain::Tenant::parse("acme")
                        .unwrap_or_else(|e| panic!("tenant: {e:?}")),
                    auth_type: None,
                    biz_appid: None,
                    return_url: None,
                    expires_in: Some(30 * 86_400),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("link: {e}"));
            (key, link.link.id)
        });
        Harness { rt, app, key, link }
    })
}

/// The request `data` describes, or `None` when it is not one.
fn request_of(data: &[u8], h: &Harness) -> Option<wxopen::http::Request> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let (method, target) = lines.next()?.split_once(' ')?;
    let target = target.replace("$LINK", &h.link);
    let mut req = http::Request::builder()
        .method(http::Method::from_bytes(method.as_bytes()).ok()?)
        .uri(http::Uri::try_from(target).ok()?);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().replace("$KEY", &h.key);
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.trim().as_bytes()),
            http::HeaderValue::from_str(&value),
        ) else {
            continue;
        };
        req = req.header(name, value);
    }
    req.body(Bytes::copy_from_slice(body)).ok()
}

/// Feed `data` as one request; panics only when an invariant breaks.
/// Returns the answer's status, `None` when `data` is no request.
pub fn exercise(data: &[u8]) -> Option<http::StatusCode> {
    let h = harness();
    let req = request_of(data, h)?;
    let path = req.uri().path().to_owned();
    let resp = h.rt.block_on(wxopen::http::handle(&h.app, None, req));
    let status = resp.status();
    assert_ne!(
        status,
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "500 on {path}: {:?}",
        resp.body()
    );
    let body = String::from_utf8_lossy(resp.body());
    for secret in [h.key.as_str(), SECRET, REFRESH_TOKEN] {
        assert!(!body.contains(secret), "{path} answered a secret: {body}");
    }
    // The access token is given only by its own route.
    if !path.ends_with("/access-token") {
        assert!(
            !body.contains(ACCESS_TOKEN),
            "{path} answered the access token: {body}"
        );
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seeds run clean and reach their routes past the key check.
    #[test]
    fn every_seed_runs_clean_and_gets_past_authentication() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/http");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let status =
                exercise(&data).unwrap_or_else(|| panic!("{} is no request", path.display()));
            // The /v1 seeds carry the key; the push seeds are refused by signature, as they should.
            if data.windows(4).take(8).any(|w| w == b"/v1/") {
                assert!(
                    status != http::StatusCode::UNAUTHORIZED
                        && status != http::StatusCode::FORBIDDEN,
                    "{}: {status}",
                    path.display()
                );
            }
            seen += 1;
        }
        assert!(seen >= 10, "{seen} seeds");
        let listed = exercise(b"GET /v1/authorizers\nAuthorization: Bearer $KEY\n\n");
        assert_eq!(listed, Some(http::StatusCode::OK));
    }
}
